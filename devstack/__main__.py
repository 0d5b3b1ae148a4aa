"""`python -m devstack` (`make up`): the whole saga stack in one terminal, without Docker.

Ctrl-C or SIGTERM stops it cleanly (exit 0). A process that dies on its own is restarted
(devstack/supervision.py); one that keeps dying stops the stack with exit status 1, and so
does a stack that cannot start.
"""

import signal
import sys
from types import FrameType

from pydantic import ValidationError

from devstack.config import DevstackSettings
from devstack.processes import print_line
from devstack.secrets import DevelopmentSecretsError
from devstack.stack import Stack, StackError, StopRequested
from devstack.supervision import CrashLoop, Supervisor
from orchestrator.process_exit import run_and_exit

SAMPLE_STUDENT = (
    '{"name": "Ada Lovelace", "email": "ada@example.com", '
    '"course_id": "CS101", "payment_token": "tok_visa"}'
)


SAMPLE_CHOREOGRAPHED = SAMPLE_STUDENT[:-1] + ', "mode": "choreography"}'


def banner(stack: Stack) -> str:
    settings = stack.settings
    api = settings.local_api_url
    auth = '-H "Authorization: Bearer $SAGA_API_KEY"'
    crash_loop = (
        f"A process that dies is restarted; one that exits {settings.crash_loop_exits} times "
        f"in {settings.crash_loop_seconds:g}s stops the stack."
    )
    return f"""
Saga stack is up; state in {stack.data_dir}. Ctrl-C stops everything.
{crash_loop}

  Orchestrator API docs  {api}/docs  (Authorize: paste $SAGA_API_KEY)
  Temporal UI            {settings.temporal_ui_url}  (payloads decoded by the codec server)
  Codec server           {settings.codec_server_url}
  Enrollment docs        {settings.enrollment_url}/docs
  Billing docs           {settings.billing_url}/docs
  Worker metrics         {settings.worker_metrics_url}  (Temporal SDK, saga outcomes)
  HTTP metrics           {api}/metrics, {settings.enrollment_url}/metrics,
                         {settings.billing_url}/metrics
  Development secrets    {settings.secrets_file.resolve()}  (API key, service token, ...)

The API wants its key; the saga CLI and make demo read it from that file, a shell needs:
  export SAGA_API_KEY={stack.secrets["SAGA_API_KEY"]}
  (or all of them: set -a; . {settings.secrets_file}; set +a)
Start a saga, then read its status (student_id is in the answer):
  curl -s -X POST {api}/students {auth} \\
       -H 'Content-Type: application/json' -d '{SAMPLE_STUDENT}'
  curl -s {api}/sagas/<student_id> {auth}
The same saga choreographed by events on {settings.effective_broker_url}:
  curl -s -X POST {api}/students {auth} \\
       -H 'Content-Type: application/json' -d '{SAMPLE_CHOREOGRAPHED}'
Move that student to another course (a course transfer saga):
  saga transfer --student-id <student_id> --from-course CS101 --to-course MATH201 \\
       --payment-token tok_visa
Or publish the registry's StudentCreated event; the intake starts the saga:
  saga publish-student --name Ada --email ada@example.com --course CS101
The choreography's dead letters, and their redrive once the cause is fixed:
  saga choreography dead-letters --broker-url {settings.effective_broker_url}
  saga choreography redrive --broker-url {settings.effective_broker_url} [--student <student_id>]
Or run three sagas (success, declined card, full course): make demo
Kill the worker under sagas in flight and watch them finish: make demo-crash
"""


def settings_problems(error: ValidationError) -> str:
    """One line, naming the environment variables: 'SAGA_API_PORT: Input should be ...'."""
    problems = []
    for problem in error.errors():
        location = problem["loc"]
        variable = f"SAGA_{str(location[0]).upper()}: " if location else ""
        problems.append(variable + problem["msg"])
    return "; ".join(problems)


def stop_on_signals(stack: Stack) -> None:
    def handle(signum: int, _frame: FrameType | None) -> None:
        # Only set a flag: printing here could deadlock on a lock the main thread holds.
        stack.request_stop(f"{signal.Signals(signum).name} received")

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, handle)


def main() -> int:
    try:
        settings = DevstackSettings()
    except ValidationError as error:
        print(f"devstack: invalid settings: {settings_problems(error)}", file=sys.stderr)
        return 2
    try:
        stack = Stack(settings)
    except DevelopmentSecretsError as error:
        print(f"devstack: {error}", file=sys.stderr)
        return 1
    stop_on_signals(stack)
    try:
        stack.start()
        print_line(banner(stack))
        Supervisor(stack).run()
        return 0
    except CrashLoop as error:
        print(f"devstack: {error}\nStopping the rest.", file=sys.stderr)
        return 1
    except StopRequested:
        return 0
    except StackError as error:
        print(f"devstack: {error}", file=sys.stderr)
        return 1
    finally:
        stack.stop()


if __name__ == "__main__":
    run_and_exit(main)
