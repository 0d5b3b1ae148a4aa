"""`python -m devstack.chaos` (`make chaos`): many sagas while things break, then the checker.

A dev stack of its own (free ports, a temporary data dir, fault injection on) runs N sagas with
a realistic mix of outcomes, a share of them (`--choreography-share`) choreographed by events
instead of orchestrated, while, for `--duration` seconds:

- random fault rules come and go in both services (errors before and after commit, latency, the
  odd crash), and once the confirm command fails for longer than a step's deadline;
- the worker, one service at a time and the Temporal server are SIGKILLed at random moments and
  restarted after a random outage (a service sometimes stays down past the step deadline); with
  choreographed sagas, the API (outbox relay and tracker) and the embedded NATS server too.

The fault rules act on the services' commands whichever style invokes them: on the HTTP routes
the orchestrated sagas call, and on the consumer deliveries that perform the same commands for
the choreographed ones (choreography/faults.py CommandFaults: an error before commit fails the
delivery, which the broker redelivers with backoff; one after commit fails it after the effect
committed, and the inbox stops the effect repeating; latency delays it; a crash exits the service
before the effect). `withdraw`, `refund_part` and `reverse_refund` are orchestrated only (a
transfer's commands). Each rule's hits, counted by the service, are the tally's, from both. The
choreographed sagas meet the kills too: a consumer dies between its effect and its ack, an event
waits in the broker for a service that is down, the relay stops with events staged, the broker
itself goes away. The confirm outage holds their PaymentCaptured in redelivery (or the dead
letters, re-driven after the chaos) instead of compensating them: a choreographed step has no
deadline, only the reservation's expiry.

Then the faults stop, every process is up, and the run waits for quiescence: no orchestrated saga
running, every choreographed saga ended (dead letters, if any, are redriven as an operator would,
and counted). It reads each saga's outcome, runs the invariant checker (both modes) and prints a
summary. Exit status 1 on any violation or saga still running after `--quiet-timeout`.
"""

import asyncio
import contextlib
import random
import shutil
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from choreography.config import BrokerConfig
from choreography.operations import redrive_dead_letters
from common.faults import CRASH_EXIT_CODE
from devstack.config import DevstackSettings
from devstack.stack import Stack
from devstack.system import Faults, System, running_system
from orchestrator.ops.invariant_rules import Report
from orchestrator.ops.invariants import check, print_report
from orchestrator.process_exit import run_and_exit
from sagas import SagaDeadlines, SagaProgress

SERVICES = ("enrollment", "billing")
COMMANDS = {
    "enrollment": ("reserve", "confirm", "cancel", "withdraw"),
    "billing": ("charge", "refund", "refund_part", "reverse_refund"),
}


@dataclass(frozen=True)
class Scenario:
    course_id: str
    payment_token: str
    weight: float
    # Once onboarded (if it completes), the student transfers to this course.
    transfer_to: str | None = None


# What students do: most pay for an ample course; some cards are declined; a crowd asks for
# the two-seat seminar (2 get in, the rest find it full); an unknown course is refused; some
# move to another course once enrolled, to a cheaper one (a partial refund) or a dearer one.
MIX = (
    Scenario("CS101", "tok_visa", 0.39),
    Scenario("CS101", "tok_visa", 0.08, transfer_to="MATH201"),
    Scenario("MATH201", "tok_visa", 0.08, transfer_to="CS101"),
    Scenario("MATH201", "tok_visa", 0.12),
    Scenario("CS101", "tok_declined", 0.08),
    Scenario("MATH201", "tok_insufficient_funds", 0.05),
    Scenario("SEM1", "tok_visa", 0.15),
    Scenario("NOPE404", "tok_visa", 0.05),
)


# Shorter than the defaults, so that a service down for half a minute outlasts a step.
CHAOS_DEADLINES = SagaDeadlines(
    step_seconds=20,
    attempt_seconds=5,
    max_retry_interval_seconds=2,
    max_compensation_retry_interval_seconds=2,
)


@dataclass(frozen=True)
class ChaosPlan:
    sagas: int = 300
    duration_seconds: float = 90.0
    seed: int | None = None
    quiet_timeout_seconds: float = 600.0
    seconds_between_kills: tuple[float, float] = (3.0, 10.0)
    deadlines: SagaDeadlines = field(default_factory=lambda: CHAOS_DEADLINES)
    # Of the onboardings, the share posted in choreography mode (through the API).
    choreography_share: float = 0.25


@dataclass
class ChaosResult:
    seed: int
    sagas_started: int = 0
    transfers_started: int = 0  # of onboarded students, once their onboarding completed
    choreographed_started: int = 0  # of the onboardings (sagas_started counts them too)
    dead_letters_redriven: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)  # why sagas failed, ids left out
    faults: Counter[str] = field(default_factory=Counter)
    kills: Counter[str] = field(default_factory=Counter)
    unexpected_exits: Counter[str] = field(default_factory=Counter)
    still_running: int = 0
    seconds_to_quiescence: float | None = None
    total_seconds: float = 0.0
    report: Report | None = None

    @property
    def ok(self) -> bool:
        return (
            self.report is not None
            and self.report.ok
            and self.still_running == 0
            and self.seconds_to_quiescence is not None
        )


class Chaos:
    def __init__(self, system: System, plan: ChaosPlan, say: Callable[[str], None]) -> None:
        self.system = system
        self.plan = plan
        self.seed = plan.seed if plan.seed is not None else random.randrange(2**32)
        self.rng = random.Random(self.seed)
        self.result = ChaosResult(seed=self.seed)
        self.say = say
        self.student_ids: list[str] = []
        self.choreographed_ids: list[str] = []
        self.run_id = uuid.uuid4().hex[:6]  # a second run with the same seed starts new sagas
        # Killed on purpose or being restarted: neither killed nor restarted by anyone else.
        self.down: set[str] = set()
        self.faults_lock = asyncio.Lock()
        # Rule ids installed per service, each with the time before which rotation keeps it.
        self.rules: dict[str, list[tuple[int, float]]] = {service: [] for service in SERVICES}
        self.chaos_over = asyncio.Event()
        self.transfers: list[asyncio.Task[None]] = []

    async def run(self) -> ChaosResult:
        started = time.monotonic()
        chaos = [
            asyncio.create_task(task())
            for task in (self.rotate_faults, self.kill_processes, self.confirm_outage)
        ]
        supervising = asyncio.Event()
        supervising.set()
        supervisor = asyncio.create_task(self.supervise(supervising))
        await self.start_sagas()
        remaining = self.plan.duration_seconds - (time.monotonic() - started)
        await asyncio.sleep(max(remaining, 0))
        self.chaos_over.set()
        await asyncio.gather(*chaos)
        await self.clear_faults()
        supervising.clear()
        await supervisor  # finishes a restart it began, so heal() does not start a second one
        await self.system.heal()
        self.say("chaos over; waiting for every saga to end")
        calm = time.monotonic()
        await asyncio.gather(*self.transfers)
        deadline = calm + self.plan.quiet_timeout_seconds
        if await self.system.wait_until_quiet(self.plan.quiet_timeout_seconds) and (
            await self.choreography_ends(deadline)
        ):
            self.result.seconds_to_quiescence = time.monotonic() - calm
        running = await self.system.running_sagas()
        choreographed = await self.system.running_choreographed(self.choreographed_ids)
        self.result.still_running = (running or 0) + choreographed
        await self.collect_outcomes()
        self.result.report = await check(self.system.temporal, self.system.settings)
        self.result.total_seconds = time.monotonic() - started
        return self.result

    async def choreography_ends(self, deadline: float) -> bool:
        """Until every choreographed saga has ended (True) or `deadline` passes (False), the
        dead letters redriven every few seconds: the chaos is over, the causes with it."""
        while True:
            if not await self.system.running_choreographed(self.choreographed_ids):
                return True
            if time.monotonic() > deadline:
                return False
            settings = self.system.stack.settings
            broker = BrokerConfig(
                url=settings.effective_broker_url, namespace=settings.broker_namespace
            )
            redriven = await redrive_dead_letters(broker, lambda _letter: True)
            if redriven:
                self.say(f"redrove {len(redriven)} dead letter(s)")
                self.result.dead_letters_redriven += len(redriven)
            await asyncio.sleep(5)

    async def start_sagas(self) -> None:
        """Arrivals spread over the first two thirds of the chaos period."""
        interval = self.plan.duration_seconds * 2 / 3 / max(self.plan.sagas, 1)
        weights = [scenario.weight for scenario in MIX]
        for number in range(self.plan.sagas):
            scenario = self.rng.choices(MIX, weights)[0]
            student_id = f"chaos-{self.seed}-{self.run_id}-{number}"
            if self.rng.random() < self.plan.choreography_share:
                await self.system.start_choreographed_saga(
                    scenario.course_id, scenario.payment_token, student_id, timeout=120
                )
                self.choreographed_ids.append(student_id)
                self.result.sagas_started += 1
                self.result.choreographed_started += 1
                await asyncio.sleep(self.rng.uniform(0, 2 * interval))
                continue  # transfers are orchestrated sagas of orchestrated students
            await self.system.start_saga(
                scenario.course_id,
                scenario.payment_token,
                self.plan.deadlines,
                student_id=student_id,
                timeout=120,
            )
            self.student_ids.append(student_id)
            self.result.sagas_started += 1
            if scenario.transfer_to is not None:
                self.transfers.append(
                    asyncio.create_task(self.transfer_once_enrolled(student_id, scenario))
                )
            await asyncio.sleep(self.rng.uniform(0, 2 * interval))

    async def transfer_once_enrolled(self, student_id: str, scenario: Scenario) -> None:
        """The student's transfer, started once their onboarding completed (chaos or not)."""
        assert scenario.transfer_to is not None
        state = await self.system.wait_for_terminal(student_id, timeout=600)
        if state.status != "COMPLETED":
            return
        saga_id = await self.system.start_transfer(
            student_id, scenario.course_id, scenario.transfer_to, self.plan.deadlines, timeout=120
        )
        self.student_ids.append(saga_id)
        self.result.transfers_started += 1

    async def rotate_faults(self) -> None:
        """Every few seconds, drop each service's rules (counting their hits) and draw new."""
        while not self.chaos_over.is_set():
            async with self.faults_lock:
                for service in SERVICES:
                    if self.is_up(service):
                        await self.drain(service, everything=False)
                        for _ in range(self.rng.randint(1, 3)):
                            await self.install(service, self.random_rule(service))
            await self.pause(2, 5)

    def random_rule(self, service: str) -> dict[str, Any]:
        operation = self.rng.choice(COMMANDS[service])
        kind = self.rng.choices(
            ["error_before_commit", "error_after_commit", "latency", "crash"],
            [0.35, 0.35, 0.25, 0.05],
        )[0]
        rule: dict[str, Any] = {
            "operation": operation,
            "kind": kind,
            "probability": round(self.rng.uniform(0.1, 0.4), 2),
        }
        if kind == "latency":
            rule["latency_ms"] = self.rng.randint(100, 3000)
        elif kind == "error_after_commit":
            rule["drop_connection"] = self.rng.random() < 0.5
        elif kind == "crash":
            rule |= {"probability": 0.2, "count": 1}
        return rule

    async def confirm_outage(self) -> None:
        """Once, confirm fails for longer than a step may take: those orchestrated sagas
        compensate after the tuition was charged (refund, then cancel); the choreographed ones
        confirm late, once the redelivered (or re-driven) PaymentCaptured gets through."""
        await self.pause(0.2 * self.plan.duration_seconds, 0.5 * self.plan.duration_seconds)
        outage = self.plan.deadlines.step_seconds + 3
        rule = {"operation": "confirm", "kind": "error_before_commit", "probability": 1.0}
        async with self.faults_lock:
            if self.is_up("enrollment"):
                await self.install("enrollment", rule, keep_until=time.monotonic() + outage)
                self.say(f"confirm outage for {outage:g}s")

    async def kill_processes(self) -> None:
        """Kill the worker, a service and Temporal (with choreographed sagas, the API and the
        embedded NATS too), each at least once, at random moments; one service outage (only
        one, or few sagas would complete) outlasts the step deadline."""
        first = ["worker", "long service outage", "temporal", *self.choreography_targets()]
        self.rng.shuffle(first)
        targets = ["worker", "service", "temporal", *self.choreography_targets()]
        while first or not self.chaos_over.is_set():
            await self.pause(*self.plan.seconds_between_kills)
            if self.chaos_over.is_set() and not first:
                return
            target = first.pop() if first else self.rng.choice(targets)
            if target == "long service outage":
                step = self.plan.deadlines.step_seconds
                await self.outage(self.rng.choice(SERVICES), self.rng.uniform(step + 2, step + 6))
            elif target == "service":
                await self.outage(self.rng.choice(SERVICES), self.rng.uniform(1, 8))
            else:
                low, high = (0.5, 5) if target in ("worker", "api") else (1, 8)
                await self.outage(target, self.rng.uniform(low, high))

    def choreography_targets(self) -> list[str]:
        """What only the choreographed sagas lean on: the API's relay and tracker, the broker
        (when the stack runs it)."""
        if self.plan.choreography_share <= 0:
            return []
        return ["api", "nats"] if self.system.stack.settings.embedded_nats else ["api"]

    async def outage(self, name: str, seconds: float) -> None:
        while not self.is_up(name):  # being restarted after a crash: kill it once it is back
            await asyncio.sleep(0.2)
        self.down.add(name)
        try:
            if name in SERVICES:
                async with self.faults_lock:
                    await self.drain(name)  # its rules die with it: count their hits first
                    await self.system.kill(name)
            else:
                await self.system.kill(name)
            self.result.kills[name] += 1
            self.say(f"killed {name} for {seconds:.1f}s")
            await asyncio.sleep(seconds)
            await self.system.restart(name)
        finally:
            self.down.discard(name)

    async def supervise(self, supervising: asyncio.Event) -> None:
        """Restart what died without being killed: injected crashes, or anything else."""
        while supervising.is_set():
            await asyncio.sleep(0.5)
            for process in self.system.stack.processes:
                if process.running or process.name in self.down:
                    continue
                if process.exit_code == CRASH_EXIT_CODE:
                    self.result.faults["crash"] += 1
                else:
                    self.result.unexpected_exits[process.name] += 1
                async with self.faults_lock:
                    self.rules.get(process.name, []).clear()  # they died with it
                self.say(f"{process.name} exited ({process.exit_code}); restarting it")
                self.down.add(process.name)  # not to be killed while it starts
                try:
                    await self.system.restart(process.name)
                except Exception as error:
                    self.say(f"{process.name} did not restart ({error}); trying again")
                finally:
                    self.down.discard(process.name)

    def is_up(self, name: str) -> bool:
        return name not in self.down and self.system.stack.process(name).running

    async def install(self, service: str, rule: dict[str, Any], keep_until: float = 0) -> None:
        try:
            installed = await self.faults(service).install(**rule)
        except Exception:
            return  # the service just crashed: no rule
        self.rules[service].append((installed["rule_id"], keep_until))

    async def drain(self, service: str, everything: bool = True) -> None:
        """Remove the service's rules (all, or those due), adding their hits to the figures."""
        now = time.monotonic()
        kept = []
        for rule_id, keep_until in self.rules[service]:
            if not everything and keep_until > now:
                kept.append((rule_id, keep_until))
                continue
            try:
                removed = await self.faults(service).remove(rule_id)
            except Exception:
                removed = None  # crashed meanwhile: its rules and hits are gone
            if removed is not None:
                self.result.faults[removed["kind"]] += removed["hits"]
        self.rules[service] = kept

    async def clear_faults(self) -> None:
        async with self.faults_lock:
            for service in SERVICES:
                if self.is_up(service):
                    await self.drain(service)
                    await self.faults(service).clear()

    def faults(self, service: str) -> Faults:
        return self.system.faults[service]

    async def pause(self, low: float, high: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.chaos_over.wait(), self.rng.uniform(low, high))

    async def collect_outcomes(self) -> None:
        limit = asyncio.Semaphore(20)

        async def state(student_id: str) -> SagaProgress | None:
            async with limit:
                return await self.system.state(student_id)

        async def choreographed(student_id: str) -> SagaProgress | None:
            async with limit:
                return await self.system.choreographed_state(student_id)

        states = await asyncio.gather(*(state(sid) for sid in self.student_ids))
        choreographed_states = await asyncio.gather(
            *(choreographed(sid) for sid in self.choreographed_ids)
        )
        self.result.outcomes.update(describe(state) for state in states)
        self.result.outcomes.update(
            f"{CHOREOGRAPHED} {describe(state)}" for state in choreographed_states
        )
        self.result.reasons.update(
            _shortened(state.failure_reason)
            for state in [*states, *choreographed_states]
            if state and state.failure_reason
        )


CHOREOGRAPHED = "choreographed"  # the outcomes of the choreographed sagas begin with it


def describe(state: SagaProgress | None) -> str:
    """'COMPLETED', or e.g. 'COMPENSATED at charge_tuition: refused' (a business refusal)
    or '...: deadline' (the step kept failing past its deadline)."""
    if state is None:
        return "(unreadable)"
    if state.failed_step is None:
        return state.status.value
    # The failure's kind, never its text: refused, deadline, contract-violation, ...
    cause = state.failure.kind if state.failure is not None else "unknown"
    return f"{state.status.value} at {state.failed_step}: {cause}"


def _shortened(reason: str) -> str:
    """A failure reason without the ids and keys that make every one unique."""
    words = [
        "<id>" if any(ch.isdigit() for ch in word) and len(word) > 12 else word
        for word in reason.split()
    ]
    return " ".join(words)[:120]


def reasons_table(result: ChaosResult) -> Table:
    table = Table(title="Why sagas compensated")
    table.add_column("failure reason")
    table.add_column("sagas", justify="right")
    for reason, count in result.reasons.most_common(10):
        table.add_row(reason, str(count))
    return table


def summary(result: ChaosResult, plan: ChaosPlan) -> Table:
    table = Table(
        title=f"Chaos run: {result.sagas_started} onboardings "
        f"({result.choreographed_started} choreographed) and "
        f"{result.transfers_started} transfers, seed {result.seed}"
    )
    table.add_column("what")
    table.add_column("count", justify="right")
    for outcome, count in sorted(result.outcomes.items()):
        table.add_row(f"saga {outcome}", str(count))
    for kind, count in sorted(result.faults.items()):
        table.add_row(f"fault {kind}", str(count))
    for name, count in sorted(result.kills.items()):
        table.add_row(f"SIGKILL {name}", str(count))
    for name, count in sorted(result.unexpected_exits.items()):
        table.add_row(f"unexpected exit {name}", str(count))
    table.add_row("dead letters redriven", str(result.dead_letters_redriven))
    violations = len(result.report.violations) if result.report else "not checked"
    table.add_row("violations", str(violations), style="red" if violations else "green")
    table.add_row("still running", str(result.still_running))
    quiet = result.seconds_to_quiescence
    table.add_row(
        "seconds to quiescence",
        f"{quiet:.1f}" if quiet is not None else f"> {plan.quiet_timeout_seconds:g}",
    )
    table.add_row("total seconds", f"{result.total_seconds:.1f}")
    return table


async def run_chaos(
    system: System, plan: ChaosPlan, say: Callable[[str], None] = print
) -> ChaosResult:
    return await Chaos(system, plan, say).run()


def stack_settings(data_dir: Path) -> DevstackSettings:
    return DevstackSettings.on_free_ports(
        data_dir=data_dir,
        enrollment_database_url=None,
        billing_database_url=None,
        fault_injection=True,
    )


def main(
    sagas: Annotated[int, typer.Option(min=1, help="How many sagas to run.")] = 300,
    duration: Annotated[float, typer.Option(min=5, help="Seconds of chaos.")] = 90.0,
    seed: Annotated[int | None, typer.Option(help="Random seed (printed if not given).")] = None,
    quiet_timeout: Annotated[
        float, typer.Option(help="Seconds to wait for every saga to end after the chaos.")
    ] = 600.0,
    choreography_share: Annotated[
        float,
        typer.Option(min=0, max=1, help="Share of the onboardings choreographed by events."),
    ] = 0.25,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            help="Where the stack keeps its state (default: a temp dir, removed if the run passes)."
        ),
    ] = None,
) -> None:
    """Run sagas while faults are injected and processes are killed; check the invariants."""
    console = Console()
    plan = ChaosPlan(
        sagas=sagas,
        duration_seconds=duration,
        seed=seed,
        quiet_timeout_seconds=quiet_timeout,
        choreography_share=choreography_share,
    )
    directory = data_dir or Path(tempfile.mkdtemp(prefix="saga-chaos-"))
    log_path = directory / "stack.log"
    directory.mkdir(parents=True, exist_ok=True)
    console.print(f"chaos: stack state and logs in {directory}")

    async def run(stack: Stack) -> ChaosResult:
        async with running_system(stack) as system:
            return await run_chaos(system, plan, lambda line: console.print(f"chaos: {line}"))

    with (
        log_path.open("a", buffering=1) as log,
        Stack(stack_settings(directory / "data"), log=lambda line: print(line, file=log)) as stack,
    ):
        result = asyncio.run(run(stack))
    console.print(reasons_table(result))
    console.print(summary(result, plan))
    if result.report is not None:
        print_report(result.report, console)
    if not result.ok:
        console.print(
            f"[red]chaos run failed[/red]: violations or sagas still running; see {directory}"
        )
        raise typer.Exit(1)
    if data_dir is None:
        shutil.rmtree(directory, ignore_errors=True)  # nothing to look into


if __name__ == "__main__":
    run_and_exit(lambda: typer.run(main))
