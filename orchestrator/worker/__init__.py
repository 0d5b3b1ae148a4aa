"""The worker process (`python -m orchestrator.worker`): main.py runs the saga workflows and
their activities (activities.py, thin adapters over the service clients)."""
