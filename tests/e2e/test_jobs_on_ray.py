"""A job submitted over REST (or with the `abs` CLI) runs as a Ray job: progress, result, artifacts, the
dashboard link, its log; and a PaDiM evaluation submitted at once with `backbone.from_job` waits for that
pretraining, then loads its checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from cli.main import main as abs_main
from tests.e2e.conftest import Service, padim_spec, pretrain_spec, state_events


def test_a_pretraining_then_a_padim_evaluation_from_that_job_run_on_ray(
    service: Service, dispatcher, synth_root: Path, tmp_path: Path, capsys
):
    simclr = service.submit(pretrain_spec(synth_root, steps=2))
    padim = padim_spec(synth_root) | {"backbone": {"from_job": simclr}}
    (tmp_path / "padim.yaml").write_text(yaml.safe_dump(padim))
    flags = ["--url", service.url, "--token", service.token]
    assert abs_main(["submit", str(tmp_path / "padim.yaml"), *flags]) == 0
    padim_id = capsys.readouterr().out.strip()
    service.wait(simclr, lambda job: job["state"] == "running")
    assert service.job(padim_id)["state"] == "queued"  # it waits while its backbone trains

    job = service.wait_terminal(simclr)
    assert job["state"] == "succeeded", job["error"]
    assert job["location"]["dashboard_url"].endswith(f"/#/jobs/{simclr}-a1")
    checkpoint = Path(job["result"]["checkpoint"])
    assert (checkpoint / "backbone.pt").is_file()
    assert job["result"]["spec_hash"] == job["spec_hash"] and job["result"]["dataset_fingerprint"]
    events = service.events(simclr)
    assert [e["data"]["step"] for e in events if e["kind"] == "progress"] == [1, 2]
    assert state_events(events) == [(0, "queued"), (1, "running"), (1, "succeeded")]
    with service.http as http:
        names = {a["name"] for a in http.get(f"/v1/jobs/{simclr}/artifacts").json()}
        history = http.get(f"/v1/jobs/{simclr}/metrics").json()
    assert {"backbone.pt", "curves.png", "metrics.csv"} <= names
    assert [row["step"] for row in history["rows"]] == [1, 2] and "loss" in history["columns"]
    assert (checkpoint / "curves.png").stat().st_size > 0
    assert (checkpoint / "metrics.csv").read_text().splitlines()[0].startswith("step,epoch,loss,lr")

    assert abs_main(["watch", padim_id, *flags]) == 0
    out = capsys.readouterr().out
    final = json.loads(out[out.index("{") :])
    assert final["state"] == "succeeded" and "image_auroc" in str(final["result"])
    assert final["result"]["backbone"] == {"arch": "resnet18", "weights": str(checkpoint), "from_job": simclr}
    assert service.job(padim_id)["started_at"] >= job["finished_at"]
    with service.http as http:
        kinds = {a["kind"] for a in http.get(f"/v1/jobs/{padim_id}/artifacts").json()}
    assert {"picture", "metrics"} <= kinds

    assert abs_main(["logs", padim_id, *flags]) == 0
    assert f"Running entrypoint for job {padim_id}-a1" in capsys.readouterr().out
    assert abs_main(["jobs", *flags]) == 0
    listing = capsys.readouterr().out
    assert f"{padim_id}  succeeded" in listing and f"{simclr}  succeeded" in listing
