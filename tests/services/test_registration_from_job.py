"""RegAD's `method.registration: {from_job}`: checked at submit, waits on its job, resolves to its folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ab_core.specs import parse_spec
from services.errors import SpecRejectedError
from services.pipelines import gate, resolve_registration
from services.plane import ControlPlane
from services.records import Principal
from services.testing import sample_spec

ALICE, BOB = Principal("alice"), Principal("bob")


def regad(root: Path, registration: Any = None) -> dict[str, Any]:
    method = {"method": "regad"} | ({"registration": registration} if registration is not None else {})
    return {"kind": "evaluate", "method": method, "data": {"dataset": "mvtec", "root": str(root)}}


def test_registration_from_job_must_name_a_visible_regad_evaluation(plane: ControlPlane, dataset_root: Path):
    trained, _ = plane.jobs.submit(ALICE, parse_spec(regad(dataset_root)))
    simclr = parse_spec(sample_spec(dataset_root, method={"method": "simclr"}))
    pretraining, _ = plane.jobs.submit(ALICE, simclr)
    with pytest.raises(SpecRejectedError, match="method.registration.from_job: no job 'nope' visible"):
        plane.jobs.submit(ALICE, parse_spec(regad(dataset_root, {"from_job": "nope"})))
    with pytest.raises(SpecRejectedError, match="visible to owner 'bob'"):
        plane.jobs.submit(BOB, parse_spec(regad(dataset_root, {"from_job": trained.id})))
    with pytest.raises(SpecRejectedError, match=rf"job {pretraining.id} \(pretrain\) trains no registration"):
        plane.jobs.submit(ALICE, parse_spec(regad(dataset_root, {"from_job": pretraining.id})))
    plane.jobs.submit(ALICE, parse_spec(regad(dataset_root, {"from_job": trained.id})))


def test_a_reusing_job_waits_for_the_regad_job_then_gets_its_output_folder(
    plane: ControlPlane, dataset_root: Path
):
    trained, _ = plane.jobs.submit(ALICE, parse_spec(regad(dataset_root)))
    reuse, _ = plane.jobs.submit(ALICE, parse_spec(regad(dataset_root, {"from_job": trained.id})))
    with plane.db.read() as session:
        assert [job.id for job in gate(session, plane.queue.queued()).waiting] == [reuse.id]
    (claim,) = plane.queue.claim("node", job_ids=[trained.id])
    plane.queue.complete(trained.id, claim.attempt, {"checkpoint": "/runs/regad/out"})
    with plane.db.read() as session:
        assert [job.id for job in gate(session, plane.queue.queued()).ready] == [reuse.id]
        resolved = resolve_registration(session, reuse.spec)
    assert resolved["method"]["registration"] == {"from_job": trained.id, "path": "/runs/regad/out"}
    assert parse_spec(resolved).method.registration.path == "/runs/regad/out"
