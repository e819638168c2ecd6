"""Requests generated from our own OpenAPI schema (valid and invalid ones, integers past their columns
included): none may cause a server error or a response the schema does not describe. A second pass
submits valid specs under an allowed root, then sends generated requests to the jobs they made.
(`python -m tests.api.fuzzing` runs the same passes at the size of the figures in docs/benchmarks.md.)"""

from __future__ import annotations

from tests.api.fuzzing import Fuzzer

EXAMPLES = 15


def test_no_generated_request_causes_a_server_error(settings, plane):
    fuzzer = Fuzzer(settings, plane)
    assert fuzzer.every_operation(EXAMPLES) >= 14
    assert fuzzer.tally.findings == []
    assert any(" 422" in key for key in fuzzer.tally.statuses)  # the invalid half reached validation


def test_valid_submits_then_requests_linked_to_the_jobs_they_made_find_nothing(settings, plane):
    fuzzer = Fuzzer(settings, plane)
    fuzzer.valid_submits(EXAMPLES)
    fuzzer.linked(scenarios=8)
    assert fuzzer.tally.findings == []
    assert fuzzer.tally.created_jobs() >= EXAMPLES // 2  # the others reused an Idempotency-Key (200, 409)
    reached = {key for key in fuzzer.tally.statuses if "{job_id}" in key and key.endswith((" 200", " 201"))}
    assert any("/internal/" in key for key in reached) and any("/internal/" not in key for key in reached)
