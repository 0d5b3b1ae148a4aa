"""Dead letters of the intake: what each one records, and which ones a redrive sends again.

A dead letter is the original message (body, content type, headers) with these headers added:
its id, the refusal (contract.Refusal), the reason in words, where it came from and when. The
brokers store them (a JetStream stream, a RabbitMQ queue of the intake's own); this module knows
nothing of either.

A redrive republishes the selected dead letters whose message passes the contract now, with
the original headers, and removes them; the others stay, with their reason of today. A letter
passes when the intake learnt to read it (a new version supported, a rule relaxed) or when the
operator hands a corrected body (then sent as application/json).
"""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from orchestrator.intake.contract import CONTENT_TYPE, BadMessage, parse_event

HEADER_PREFIX = "saga-dead-letter-"
ID_HEADER = f"{HEADER_PREFIX}id"
REFUSAL_HEADER = f"{HEADER_PREFIX}refusal"
REASON_HEADER = f"{HEADER_PREFIX}reason"
SOURCE_HEADER = f"{HEADER_PREFIX}source"
AT_HEADER = f"{HEADER_PREFIX}at"
# A reason quotes pydantic's messages; a broker header has room, but not for a novel.
REASON_MAX_LENGTH = 2000


@dataclass(frozen=True)
class DeadLetter:
    id: str
    refusal: str
    reason: str
    source: str
    dead_lettered_at: str
    body: bytes
    content_type: str | None
    # The original message's headers, without the dead-letter ones.
    headers: dict[str, str] = field(default_factory=dict)
    student_id: str | None = None


def dead_letter_headers(error: BadMessage, source: str) -> dict[str, str]:
    """The headers added to the original message's own."""
    return {
        ID_HEADER: uuid.uuid4().hex[:12],
        REFUSAL_HEADER: str(error.refusal),
        REASON_HEADER: error.detail[:REASON_MAX_LENGTH],
        SOURCE_HEADER: source,
        AT_HEADER: datetime.now(UTC).isoformat(timespec="seconds"),
    }


def read_dead_letter(
    body: bytes, content_type: str | None, headers: Mapping[str, str]
) -> DeadLetter:
    lowered = {name.lower(): value for name, value in headers.items()}
    original = {
        name: value for name, value in headers.items() if not name.lower().startswith(HEADER_PREFIX)
    }
    student_id: str | None = None
    try:
        parse_event(body, content_type)
    except BadMessage as error:
        student_id = error.student_id
    return DeadLetter(
        id=lowered.get(ID_HEADER, ""),
        refusal=lowered.get(REFUSAL_HEADER, ""),
        reason=lowered.get(REASON_HEADER, ""),
        source=lowered.get(SOURCE_HEADER, ""),
        dead_lettered_at=lowered.get(AT_HEADER, ""),
        body=body,
        content_type=content_type,
        headers=original,
        student_id=student_id,
    )


@dataclass(frozen=True)
class Republish:
    """What a redrive sends again for one dead letter."""

    body: bytes
    content_type: str | None
    headers: dict[str, str]


@dataclass(frozen=True)
class RedriveOutcome:
    letter: DeadLetter
    redriven: bool  # or, in a dry run, would be
    # Why it stays, when it stays: the contract's refusal of today.
    reason: str | None = None


class RedrivePlan:
    """Which letters to send again: `ids` (all when empty), each with its own body or, for a
    single id, `replacement` (a corrected body, sent as application/json)."""

    def __init__(
        self,
        ids: frozenset[str] = frozenset(),
        replacement: bytes | None = None,
        dry_run: bool = False,
    ) -> None:
        if replacement is not None and len(ids) != 1:
            raise ValueError("a corrected body replaces exactly one dead letter: name its id")
        self.ids = ids
        self.replacement = replacement
        self.dry_run = dry_run
        self.outcomes: list[RedriveOutcome] = []

    def decide(self, letter: DeadLetter) -> Republish | None:
        """The message to republish for `letter`, or None to keep it (recorded in outcomes)."""
        if self.ids and letter.id not in self.ids:
            return None
        body, content_type = letter.body, letter.content_type
        if self.replacement is not None:
            body, content_type = self.replacement, CONTENT_TYPE
        try:
            parse_event(body, content_type)
        except BadMessage as error:
            self.outcomes.append(RedriveOutcome(letter, redriven=False, reason=str(error)))
            return None
        self.outcomes.append(RedriveOutcome(letter, redriven=True))
        if self.dry_run:
            return None
        return Republish(body, content_type, dict(letter.headers))
