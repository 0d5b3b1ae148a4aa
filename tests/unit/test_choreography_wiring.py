"""Each service reacts to exactly the events choreography/topology.py subscribes it to."""

import pytest

from choreography.events import StudentCreated
from choreography.runtime import check_reactions
from choreography.topology import BILLING, ENROLLMENT
from services.billing import consumers as billing
from services.enrollment import consumers as enrollment


@pytest.mark.parametrize(
    ("consumer", "reactions"),
    [(ENROLLMENT, enrollment.reactions()), (BILLING, billing.reactions())],
)
def test_each_service_reacts_to_exactly_its_subscriptions(consumer, reactions):
    check_reactions(consumer, reactions)


def test_a_subscribed_event_without_a_reaction_is_refused_at_startup():
    reactions = enrollment.reactions()
    del reactions[StudentCreated]
    with pytest.raises(ValueError, match=r"missing \['StudentCreated'\]"):
        check_reactions(ENROLLMENT, reactions)


def test_a_reaction_to_an_event_the_consumer_does_not_receive_is_refused_at_startup():
    reactions = billing.reactions() | {StudentCreated: billing.on_confirmation_failed}
    with pytest.raises(ValueError, match=r"not subscribed \['StudentCreated'\]"):
        check_reactions(BILLING, reactions)
