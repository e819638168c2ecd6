"""Sweeps and pipelines on a real local Ray cluster (2 CPUs): trials as child jobs ranked by their
evaluation's AUROC, ASHA, cancel, restore after the driver died, and `from_job` of a failed job (the
waiting `from_job` is tests/e2e/test_jobs_on_ray.py's)."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import yaml

from cli.main import main as abs_main
from tests.e2e.conftest import Service, padim_spec, pretrain_spec


def sweep_spec(trial: dict[str, Any], space: dict[str, Any], **rest: Any) -> dict[str, Any]:
    return {"kind": "sweep", "trial": trial, "space": space, **rest}


def children(service: Service, parent: str) -> list[dict[str, Any]]:
    with service.http as http:
        return http.get("/v1/jobs", params={"parent": parent}).raise_for_status().json()["items"]  # type: ignore


def wait_children(service: Service, parent: str, until: Any, timeout: float = 240) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while not until(found := children(service, parent)):
        assert time.monotonic() < deadline, f"children of {parent}: {found}"
        time.sleep(0.5)
    return found


def test_a_three_trial_pipeline_sweep_over_temperature_posts_its_trials_and_the_best_by_auroc(
    service: Service, dispatcher, synth_root: Path, tmp_path: Path, capsys
):
    space = {"method.temperature": {"grid": [0.1, 0.5, 1.0]}}
    spec = sweep_spec(pretrain_spec(synth_root, steps=2), space, evaluate=padim_spec(synth_root))
    spec_file = tmp_path / "sweep.yaml"
    spec_file.write_text(yaml.safe_dump(spec))
    assert abs_main(["sweep", str(spec_file), "--url", service.url, "--token", service.token]) == 0
    printed = capsys.readouterr().out.splitlines()
    sweep_id = printed[0]
    sweep = service.job(sweep_id)
    assert sweep["state"] == "succeeded", sweep["error"]
    table = [line for line in printed if re.match(r"[* ] [0-9a-f-]{36}  ", line)]  # after the final JSON
    assert len(table) == 3 and all('"method.temperature"' in line for line in table)
    assert [line[0] for line in table].count("*") == 1  # the best trial, marked

    trials = children(service, sweep_id)
    assert sorted(t["params"]["method.temperature"] for t in trials) == [0.1, 0.5, 1.0]
    assert all(t["state"] == "succeeded" and t["kind"] == "pretrain" for t in trials)
    assert all(t["spec"]["method"]["temperature"] == t["params"]["method.temperature"] for t in trials)
    aurocs = {}
    for trial in trials:  # each trial's backbone evaluated by its own child job
        (evaluation,) = children(service, trial["id"])
        assert evaluation["kind"] == "evaluate" and evaluation["state"] == "succeeded"
        assert evaluation["spec"]["backbone"]["from_job"] == trial["id"]
        assert evaluation["spec"]["backbone"]["weights"] == trial["result"]["checkpoint"]
        aurocs[trial["id"]] = evaluation["result"]["mean"]["image_auroc"]
        history = [e["data"]["step"] for e in service.events(trial["id"]) if e["kind"] == "progress"]
        assert history == [1, 2]  # each trial's metric history is in SQL
    result = sweep["result"]
    assert (result["metric"], result["mode"]) == ("image_auroc", "max")
    assert result["best"]["value"] == max(aurocs.values()) == aurocs[result["best"]["job_id"]]
    assert result["trials"] == {"total": 3, "succeeded": 3, "stopped_early": 0, "failed": 0}
    assert Path(result["best"]["checkpoint"], "backbone.pt").is_file()
    with service.http as http:
        names = {a["name"] for a in http.get(f"/v1/jobs/{sweep_id}/artifacts").json()}
    assert {"best/backbone.pt", "best/curves.png", "trials.png"} <= names


def test_asha_stops_a_clearly_worse_trial_early(service: Service, dispatcher, synth_root: Path):
    trial = pretrain_spec(synth_root, steps=4) | {"method": {"method": "triplet"}}
    spec = sweep_spec(trial, {"method.margin": {"grid": [0.1, 2.0]}}, max_concurrent_trials=1,
                      scheduler={"name": "asha", "grace_period": 1, "reduction_factor": 2})  # fmt: skip
    sweep_id = service.submit(spec)
    sweep = service.wait_terminal(sweep_id, timeout=400)
    assert sweep["state"] == "succeeded", sweep["error"]
    by_margin = {t["params"]["method.margin"]: t for t in children(service, sweep_id)}
    assert by_margin[0.1]["result"]["steps"] == 4 and not by_margin[0.1]["result"].get("stopped_early")
    cut = by_margin[2.0]
    assert cut["state"] == "succeeded" and cut["result"]["stopped_early"] is True
    assert cut["result"]["steps"] < 4
    assert sweep["result"]["best"]["job_id"] == by_margin[0.1]["id"]
    assert sweep["result"]["trials"]["stopped_early"] == 1


def test_cancelling_a_sweep_stops_every_trial(service: Service, dispatcher, synth_root: Path):
    from ray.util.state import list_actors

    space = {"method.temperature": {"grid": [0.2, 0.4]}}
    sweep_id = service.submit(sweep_spec(pretrain_spec(synth_root, steps=400), space))
    wait_children(service, sweep_id, lambda found: len(found) == 2 and all(t["progress"] for t in found))
    with service.http as http:
        trial_id = children(service, sweep_id)[0]["id"]
        assert http.post(f"/v1/jobs/{trial_id}/cancel").status_code == 409  # a trial ends with its sweep
        assert http.post(f"/v1/jobs/{sweep_id}/cancel").json()["cancel_requested"]
    assert service.wait_terminal(sweep_id, timeout=90)["state"] == "cancelled"
    assert {t["state"] for t in children(service, sweep_id)} == {"cancelled"}
    deadline = time.monotonic() + 60
    alive = [("state", "=", "ALIVE")]
    while workers := [a for a in list_actors(service.ray.address, filters=alive) if "Train" in a.class_name]:
        assert time.monotonic() < deadline, f"still alive after the cancel: {workers}"
        time.sleep(1)


def test_a_sweep_whose_driver_died_is_restored_not_restarted(service: Service, dispatcher, synth_root: Path):
    space = {"method.temperature": {"grid": [0.2]}}
    sweep_id = service.submit(sweep_spec(pretrain_spec(synth_root, steps=8), space))
    wait_children(service, sweep_id, lambda found: found and (found[0]["progress"] or {}).get("step", 0) >= 2)
    assert service.ray.stop(f"{sweep_id}-a1")  # the driver dies; the dispatcher retries as attempt 2

    sweep = service.wait_terminal(sweep_id, timeout=400)
    assert sweep["state"] == "succeeded" and sweep["attempt"] == 2, sweep["error"]
    assert any("restoring the sweep" in e["data"].get("message", "") for e in service.events(sweep_id))
    (trial,) = children(service, sweep_id)  # the same trial, carried on
    assert trial["state"] == "succeeded" and sweep["result"]["best"]["job_id"] == trial["id"]
    steps = [e["data"]["step"] for e in service.events(trial["id"]) if e["kind"] == "progress"]
    assert steps.count(1) == 1 and steps[-1] == 8, steps  # resumed from its checkpoint, not from step 1


def test_an_evaluation_from_a_failed_job_fails_naming_it(service: Service, dispatcher, synth_root: Path):
    broken = service.submit(pretrain_spec(synth_root, steps=2) | {
        "data": {"dataset": "image_folder", "root": str(synth_root / "missing")}})  # fmt: skip
    evaluation = service.submit(padim_spec(synth_root) | {"backbone": {"from_job": broken}})
    assert service.wait_terminal(broken)["state"] == "failed"
    failed = service.wait_terminal(evaluation, timeout=60)
    assert failed["state"] == "failed" and failed["attempt"] == 1
    assert failed["error"].startswith(f"backbone.from_job: job {broken} failed: ")
