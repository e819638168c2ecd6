"""`GET /v1/results`: the leaderboard over HTTP, its filters, owners, and 422 on unknown filter values."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ab_core import registry
from services.plane import ControlPlane
from services.records import Principal
from services.settings import Settings
from tests.services.results_jobs import evaluate, pretrain, probe, sweep

ALICE, BOB = Principal("alice"), Principal("bob")


@pytest.fixture
def root(settings: Settings) -> Path:
    return settings.data_dir / "datasets" / "synth"


def test_rows_name_backbone_evaluator_metrics_and_finish_time(
    client: TestClient, plane: ControlPlane, alice: dict[str, str], root: Path
):
    backbone = pretrain(plane, ALICE, root, temperature=0.3)
    aurocs = {"carpet": 0.9, "screw": 0.8}
    evaluation = evaluate(plane, ALICE, root, aurocs, backbone={"from_job": backbone.id})
    response = client.get("/v1/results", headers=alice)
    assert response.status_code == 200
    page = response.json()
    assert (page["total"], page["sort"], page["category"]) == (1, None, None)
    (row,) = page["items"]
    assert row["backbone"] == {
        "source": "job", "arch": "resnet18", "job_id": backbone.id, "method": "simclr",
        "params": row["backbone"]["params"], "spec_hash": backbone.spec_hash,
        "dataset_fingerprint": "classes-simclr", "parent_id": None, "sweep_id": None,
        "checkpoint": str(plane.settings.runs_dir / backbone.id / "checkpoint_000004"),
    }  # fmt: skip
    assert row["backbone"]["params"]["temperature"] == 0.3
    assert row["evaluator"]["job_id"] == evaluation.id and row["evaluator"]["method"] == "padim"
    assert row["evaluator"]["categories"] == ["carpet", "screw"]
    assert row["metrics"]["image_auroc"] == pytest.approx(0.85)
    assert row["categories"]["carpet"]["image_auroc"] == 0.9
    assert row["finished_at"] is not None


def test_a_sweep_backbone_is_its_best_trial_and_a_probe_row_has_top1(
    client: TestClient, plane: ControlPlane, alice: dict[str, str], root: Path
):
    sweep_id, trials = sweep(plane, ALICE, root, [0.1, 0.4], best=0)
    probe(plane, ALICE, root, 0.6, backbone={"from_job": sweep_id})
    (row,) = client.get("/v1/results", headers=alice).json()["items"]
    assert row["backbone"]["job_id"] == trials[0].id and row["backbone"]["sweep_id"] == sweep_id
    assert row["backbone"]["parent_id"] == sweep_id
    assert row["metrics"] == {"top1": 0.6, "top5": 1.0}


def test_query_parameters_filter_sort_and_limit(
    client: TestClient, plane: ControlPlane, alice: dict[str, str], root: Path
):
    simclr = pretrain(plane, ALICE, root)
    evaluate(plane, ALICE, root, {"carpet": 0.7, "screw": 0.9}, backbone={"from_job": simclr.id})
    evaluate(plane, ALICE, root, {"carpet": 0.95}, method="rd4ad", backbone={"weights": "imagenet"})

    def get(**params: str | int) -> list[tuple[str, float]]:
        response = client.get("/v1/results", headers=alice, params=params)
        assert response.status_code == 200, response.text
        return [(r["evaluator"]["method"], r["metrics"]["image_auroc"]) for r in response.json()["items"]]

    assert get() == [("rd4ad", 0.95), ("padim", pytest.approx(0.8))]
    assert get(evaluator="padim") == [("padim", pytest.approx(0.8))]
    assert get(method="imagenet") == [("rd4ad", 0.95)]
    assert get(category="screw") == [("padim", 0.9)]
    assert get(dataset="stl10") == []
    assert get(sort="pixel_f1_max", limit=1) == [("rd4ad", 0.95)]  # ties: newest first


def test_another_owners_rows_are_invisible(
    client: TestClient, plane: ControlPlane, tokens: dict[str, dict[str, str]], root: Path
):
    evaluate(plane, BOB, root, {"carpet": 0.9}, backbone={"weights": "imagenet"})
    assert client.get("/v1/results", headers=tokens["alice"]).json() == {
        "items": [], "total": 0, "sort": None, "category": None
    }  # fmt: skip
    assert client.get("/v1/results", headers=tokens["bob"]).json()["total"] == 1
    assert client.get("/v1/results", headers=tokens["admin"]).json()["total"] == 1
    assert client.get("/v1/results").status_code == 401


def _registered(role: str) -> list[str]:
    return [name for name, entry in registry.entries().items() if entry.role == role]


@pytest.mark.parametrize(
    ("parameter", "value", "accepted"),
    [("evaluator", "fastflow", _registered("evaluate")),
     ("method", "moco", [*_registered("pretrain"), "imagenet", "none", "checkpoint"])],
)  # fmt: skip
def test_an_unknown_evaluator_or_method_is_a_422_listing_what_is_accepted(
    client: TestClient, alice: dict[str, str], parameter: str, value: str, accepted: list[str]
):
    response = client.get("/v1/results", headers=alice, params={parameter: value})
    assert response.status_code == 422
    body = response.json()
    assert body["type"] == "UnknownFilterError" and value in body["detail"]
    assert body["problems"] == [f"{parameter}: unknown value {value!r}; accepted: {', '.join(accepted)}"]
    assert "padim" in accepted or "simclr" in accepted


def test_limit_outside_1_to_500_is_refused(client: TestClient, alice: dict[str, str]):
    assert client.get("/v1/results", headers=alice, params={"limit": 501}).status_code == 422
    assert client.get("/v1/results", headers=alice, params={"limit": 0}).status_code == 422
    assert client.get("/v1/results", headers=alice, params={"limit": 500}).status_code == 200


def test_no_generated_request_to_the_leaderboard_causes_a_server_error(
    settings: Settings, plane: ControlPlane, alice: dict[str, str], root: Path
):
    import schemathesis
    from hypothesis import HealthCheck, given
    from hypothesis import settings as hypothesis_settings
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error, response_schema_conformance

    from api.app import create_app

    evaluate(plane, ALICE, root, {"carpet": 0.9}, backbone={"weights": "imagenet"})
    probe(plane, ALICE, root, 0.5, backbone={"weights": "none"})
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(settings, plane))
    (operation,) = [op.ok() for op in schema.include(path="/v1/results").get_all_operations()]

    @given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE)
           | operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))  # fmt: skip
    @hypothesis_settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck),
                         derandomize=True, database=None)  # fmt: skip
    def no_server_error(case: object) -> None:
        case.call_and_validate(  # type: ignore[attr-defined]
            headers=alice, checks=[not_a_server_error, response_schema_conformance]
        )

    no_server_error()
