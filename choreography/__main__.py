"""`python -m choreography <command>`: the choreographed sagas' operator commands
(choreography/cli.py; the same as `saga choreography <command>`)."""

from choreography.cli import app

if __name__ == "__main__":
    app()
