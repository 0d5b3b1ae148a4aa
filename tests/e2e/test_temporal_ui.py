"""The Temporal Web UI as a user sees it, in headless Debian Chromium (tests/support/browser.py).

A compensated saga is found by its `SagaStatus` in the workflow list, and the API's
`temporal_ui_url` link shows its history with the steps and the compensation. Screenshots go to
a temporary directory, or to $SAGA_SCREENSHOT_DIR (`docs/img` refreshes the README's).
"""

import json
import os
import re
from pathlib import Path
from urllib.parse import quote

import pytest

from sagas import SagaStatus
from tests.e2e.conftest import System, new_student
from tests.support.browser import (
    REQUIRE_BROWSER_ENV,
    browser_required,
    chromium_executable,
    chromium_page,
)
from workflows.contracts import Step, workflow_id_for

HISTORY_SCREENSHOT = "temporal-ui-compensated-saga.png"
FILTER_SCREENSHOT = "temporal-ui-saga-status-filter.png"
# What a declined card leaves in the history: two steps and the undo of the first, each
# tried as a local activity (and settled there: nothing went on as a regular activity).
LOCAL = (Step.RESERVE_SEAT, Step.CHARGE_TUITION, Step.CANCEL_ENROLLMENT)


@pytest.fixture
def chromium() -> str:
    executable = chromium_executable()
    if executable is None:
        if browser_required():
            pytest.fail(f"{REQUIRE_BROWSER_ENV} is set but Chromium is not installed")
        pytest.skip("Chromium not installed (apt-get install chromium): Temporal UI test skipped")
    return executable


@pytest.fixture
def screenshot_dir(tmp_path: Path) -> Path:
    return Path(os.environ.get("SAGA_SCREENSHOT_DIR") or tmp_path)


def activity_in_history(name: str, text: str) -> bool:
    """A row of the history table (Activity Task Scheduled, or Local Activity for a local
    activity's marker) names its activity type."""
    return re.search(rf"Activity Type\s+{name}\b", text) is not None


def local_activity_in_history(name: str, text: str) -> bool:
    return re.search(rf"Local Activity\s+Activity Type\s+{name}\b", text) is not None


def only_local_rows_name(name: str, text: str) -> bool:
    """No row but a Local Activity one names `name`: it never went on as a regular activity."""
    rows = re.findall(rf"Activity Type\s+{name}\b", text)
    return len(rows) == len(re.findall(rf"Local Activity\s+Activity Type\s+{name}\b", text))


async def test_a_compensated_saga_is_found_by_status_and_its_history_shows_the_undo(
    system: System, chromium: str, screenshot_dir: Path
) -> None:
    student = new_student(payment_token="tok_declined")
    started = await system.api.post("/students", json=student)
    assert started.status_code == 202, started.text
    saga = await system.wait_for_terminal(student["student_id"])
    assert saga["status"] == SagaStatus.COMPENSATED
    history_url = started.json()["temporal_ui_url"]
    namespace_url = history_url.split("/workflows/")[0]
    query = f'SagaStatus = "COMPENSATED" AND StudentId = "{student["student_id"]}"'

    async with chromium_page(chromium) as page:
        await page.resize(1500, 400)
        await page.navigate(f"{namespace_url}/workflows?query={quote(query)}")
        listed = await page.wait_for_text(
            lambda text: workflow_id_for(student["student_id"]) in text
        )
        await page.screenshot(screenshot_dir / FILTER_SCREENSHOT)

        await page.resize(1500, 1750)  # the whole history of a declined card fits
        await page.navigate(history_url)
        # The failure's message is encrypted: it shows once the UI has decoded it through
        # the codec server (tests/e2e/conftest.py), after the rows themselves.
        history = await page.wait_for_text(
            lambda text: (
                all(local_activity_in_history(step, text) for step in LOCAL)
                and "Card declined" in text
            )
        )
        await page.screenshot(screenshot_dir / HISTORY_SCREENSHOT)

        # The run's tab, opened as a user does (a click, no page load).
        await page.click_link("Search Attributes")
        attributes = await page.wait_for_text(lambda text: '"SagaStatus"' in text)

    assert 'SagaStatus = "COMPENSATED"' in listed  # the filter, as the UI shows it
    assert all(local_activity_in_history(step, history) for step in LOCAL)
    assert all(only_local_rows_name(step, history) for step in LOCAL)
    assert not activity_in_history(Step.REFUND_CHARGE, history)  # nothing was charged
    assert "Card declined" in history
    assert '"SagaStatus": "COMPENSATED"' in attributes
    assert f'"StudentId": "{student["student_id"]}"' in attributes


TRANSFER_SCREENSHOT = "temporal-ui-compensated-transfer.png"
LIST_SCREENSHOT = "temporal-ui-sagas-list.png"
# The Workflows table's columns, as the UI keeps them per browser once a user adds them
# (docs/operations.md, "Watching sagas in the Temporal UI"): the saga's own search attributes
# tell a compensated saga from a completed one at a glance.
SAGA_COLUMNS = [
    {"label": "Status", "pinned": True},
    {"label": "Workflow ID", "pinned": True},
    {"label": "SagaType", "pinned": False},
    {"label": "SagaStatus", "pinned": False},
    {"label": "FailedStep", "pinned": False},
    {"label": "End", "pinned": False},
]


async def test_a_compensated_transfer_tells_its_story_on_its_page_and_in_the_list(
    system: System, chromium: str, screenshot_dir: Path
) -> None:
    student = new_student(course_id="MATH201")
    assert (await system.api.post("/students", json=student)).status_code == 202
    assert (await system.wait_for_terminal(student["student_id"]))["status"] == "COMPLETED"
    started = await system.api.post(
        "/transfers",
        json={
            "student_id": student["student_id"],
            "from_course_id": "MATH201",
            "to_course_id": "CS101",
            "payment_token": "tok_declined",
        },
    )
    assert started.status_code == 202, started.text
    saga = await system.wait_for_terminal(started.json()["saga_id"])
    assert saga["status"] == SagaStatus.COMPENSATED
    page_url = started.json()["temporal_ui_url"]
    namespace_url, namespace = page_url.split("/workflows/")[0], "default"
    query = f'SagaType = "course-transfer" AND StudentId = "{student["student_id"]}"'

    async with chromium_page(chromium) as page:
        await page.resize(1500, 1600)
        await page.navigate(page_url)
        await page.wait_for_text(lambda text: "User Metadata" in text)
        await page.click_link("User Metadata")  # the run's summary and current details
        story = await page.wait_for_text(
            lambda text: (
                "course-transfer: COMPENSATED (refused at settle_difference)" in text
                and "cancel the seat in CS101: undo of reserve_seat" in text
            )
        )
        await page.screenshot(screenshot_dir / TRANSFER_SCREENSHOT)

        await page.evaluate(
            "localStorage.setItem('namespace-workflow-table-columns', "
            f"JSON.stringify({json.dumps({namespace: SAGA_COLUMNS})}))"
        )
        await page.resize(1500, 400)
        await page.navigate(f"{namespace_url}/workflows?query={quote(query)}")
        listed = await page.wait_for_text(
            lambda text: (
                f"course-transfer-{student['student_id']}" in text and "COMPENSATED" in text
            )
        )
        await page.screenshot(screenshot_dir / LIST_SCREENSHOT)

    assert "course transfer from MATH201 to CS101" in story  # the run's summary
    assert "charge 250.00 USD" in story  # the step that was refused, by its summary
    assert "the card was declined" in story
    assert "SagaStatus" in listed and "FailedStep" in listed
    assert "settle_difference" in listed
    for private in (student["name"], student["email"], "tok_declined"):
        assert private not in story
