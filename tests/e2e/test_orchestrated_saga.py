"""What only the orchestrated API does, end to end on a real Temporal server and real services:
search-attribute listing, generated student ids with links into the Temporal UI, its errors.
The saga's scenarios themselves run in both modes in test_saga_in_both_modes.py.
"""

from tests.e2e.conftest import System, new_student, run_saga
from workflows.contracts import workflow_id_for


async def test_compensated_sagas_can_be_listed_by_their_search_attribute(
    system: System,
) -> None:
    student = new_student(payment_token="tok_insufficient_funds")
    await run_saga(system, student)

    for _ in range(100):  # visibility is eventually consistent
        listed = (await system.api.get("/sagas", params={"status": "COMPENSATED"})).json()
        if any(item["student_id"] == student["student_id"] for item in listed):
            break
    else:
        raise AssertionError("the compensated saga never appeared in the listing")
    assert all(item["status"] == "COMPENSATED" for item in listed)


async def test_a_student_id_is_generated_when_absent_and_the_answer_links_the_ui(
    system: System,
) -> None:
    student = new_student()
    del student["student_id"]
    response = await system.api.post("/students", json=student)

    assert response.status_code == 202
    body = response.json()
    assert body["student_id"]
    assert body["workflow_id"] == workflow_id_for(body["student_id"])
    assert f"/workflows/{body['workflow_id']}/{body['run_id']}" in body["temporal_ui_url"]
    await system.wait_for_terminal(body["student_id"])


async def test_bad_input_to_the_api_gets_problem_details(system: System) -> None:
    text = await system.api.post(
        "/students", content="name=x", headers={"Content-Type": "text/plain"}
    )
    invalid_email = await system.api.post("/students", json={**new_student(), "email": "nope"})
    unknown = await system.api.get("/sagas/nobody-here")

    assert text.status_code == 415
    assert text.headers["content-type"] == "application/problem+json"
    assert "application/json" in text.json()["detail"]
    assert invalid_email.status_code == 422
    assert "email" in invalid_email.json()["detail"]
    assert unknown.status_code == 404
    assert unknown.json()["type"].endswith("saga-not-found")
