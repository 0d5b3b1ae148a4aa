from orchestrator.process_exit import run_and_exit
from orchestrator.worker.main import main

if __name__ == "__main__":
    run_and_exit(main)
