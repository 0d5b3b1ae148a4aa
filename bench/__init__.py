"""`make bench`: orchestration, choreography and the bare-Temporal floor, measured side by side."""
