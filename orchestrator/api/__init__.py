"""The API process (`python -m orchestrator`): app.py builds it, routes.py are thin adapters over
the use cases (orchestrator/sagas.py, recovery.py, modes.py), schemas.py its bodies, deps.py what
the routes are given, waiting.py `Prefer: wait`."""
