"""`backbone.weights` at submit: only checkpoint directories under the allowed roots, or in the run store
inside a job the submitter may see; anything else is a 422 naming the field."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest
import torch
from fastapi.testclient import TestClient


def with_weights(spec_body: dict[str, Any], weights: str) -> dict[str, Any]:
    spec = spec_body["spec"]
    return {"spec": {**spec, "backbone": {**spec.get("backbone", {}), "weights": weights}}}


def checkpoint_dir(path: Path) -> Path:
    path.mkdir(parents=True)
    torch.save({"conv1.weight": torch.zeros(1)}, path / "backbone.pt")
    return path


def refusal(
    client: TestClient, headers: dict[str, str], body: dict[str, Any], field: str = "backbone.weights: "
) -> str:
    response = client.post("/v1/jobs", json=body, headers=headers)
    assert response.status_code == 422, response.text
    (problem,) = response.json()["problems"]
    assert problem.startswith(field)
    return str(problem)


@pytest.fixture
def root(settings) -> Path:
    """The allowed dataset root of the API tests."""
    return settings.dataset_roots()[0]


def test_a_system_file_a_missing_path_and_a_relative_one_are_refused(client, alice, spec_body, root):
    assert "outside the allowed roots" in refusal(client, alice, with_weights(spec_body, "/etc/passwd"))
    missing = root / "no-such-checkpoint"
    assert "does not exist" in refusal(client, alice, with_weights(spec_body, str(missing)))
    assert "is relative" in refusal(client, alice, with_weights(spec_body, "runs/x/checkpoint"))


def test_a_bare_pickle_is_no_checkpoint(client, alice, spec_body, root):
    pickled = root / "pickled"
    pickled.mkdir(parents=True)
    (pickled / "backbone.pt").write_bytes(pickle.dumps({"conv1.weight": [0.0]}))
    assert "saved by torch.save" in refusal(client, alice, with_weights(spec_body, str(pickled)))
    assert "is a file" in refusal(client, alice, with_weights(spec_body, str(pickled / "backbone.pt")))


def test_a_checkpoint_directory_under_an_allowed_root_is_accepted(client, alice, spec_body, root):
    weights = checkpoint_dir(root / "imported" / "step_00000002")
    response = client.post("/v1/jobs", json=with_weights(spec_body, str(weights)), headers=alice)
    assert response.status_code == 201, response.text


def test_a_checkpoint_in_the_run_store_only_of_a_job_the_submitter_sees(
    client, tokens, spec_body, settings
):
    alices = client.post("/v1/jobs", json=spec_body, headers=tokens["alice"]).json()["id"]
    weights = checkpoint_dir(settings.runs_dir / alices / "checkpoint_000001")
    body = with_weights(spec_body, str(weights))
    assert client.post("/v1/jobs", json=body, headers=tokens["alice"]).status_code == 201
    assert client.post("/v1/jobs", json=body, headers=tokens["admin"]).status_code == 201
    assert "jobs you see" in refusal(client, tokens["bob"], body)
    stray = checkpoint_dir(settings.runs_dir / "not-a-job" / "checkpoint")
    assert "jobs you see" in refusal(client, tokens["alice"], with_weights(spec_body, str(stray)))


def regad_body(root: Path, registration: Any) -> dict[str, Any]:
    data = {"dataset": "mvtec", "root": str(root / "mvtec"), "categories": ["wood"], "resize": 32, "crop": 32}
    method = {"method": "regad", "registration": registration}
    return {"spec": {"kind": "evaluate", "data": data, "method": method}}


def registration_refusal(client: TestClient, headers: dict[str, str], body: dict[str, Any]) -> str:
    return refusal(client, headers, body, field="method.registration")


def test_a_regad_registration_path_is_confined_like_weights(client, tokens, root, settings):
    alice = tokens["alice"]
    assert "outside the allowed roots" in registration_refusal(client, alice, regad_body(root, "/etc/passwd"))
    assert "does not exist" in registration_refusal(client, alice, regad_body(root, str(root / "nothing.pt")))
    root.mkdir(parents=True, exist_ok=True)
    pickled = root / "registration.pt"
    pickled.write_bytes(pickle.dumps({"meta": {}, "state": {}}))
    assert "torch.save" in registration_refusal(client, alice, regad_body(root, str(pickled)))
    # a path smuggled beside from_job is checked as well (the service fills it in itself)
    smuggled = {"from_job": "x", "path": "/etc"}
    problem = registration_refusal(client, alice, regad_body(root, smuggled))
    assert problem.startswith("method.registration.path: ") and "outside the allowed roots" in problem
    saved = root / "regad-out"
    (saved / "wood").mkdir(parents=True)
    torch.save({"meta": {}, "state": {}}, saved / "wood" / "registration.pt")
    accepted = client.post("/v1/jobs", json=regad_body(root, str(saved)), headers=alice)
    assert accepted.status_code == 201, accepted.text
    bobs_view = settings.runs_dir / accepted.json()["id"]
    bobs_view.mkdir(parents=True, exist_ok=True)
    assert "jobs you see" in registration_refusal(client, tokens["bob"], regad_body(root, str(bobs_view)))
