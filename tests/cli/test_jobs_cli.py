"""`abs jobs | status | watch | artifacts` against a served API: tables, JSON, why a job waits, the bar."""

from __future__ import annotations

import json
import re
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

import cli.watch
from cli.api import Client
from cli.main import main
from services.models import Job, JobEvent
from tests.cli.conftest import Served

CapSys = pytest.CaptureFixture[str]
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


def abs_cli(capsys: CapSys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def cells(line: str) -> list[str]:
    return re.split(r" {2,}", line.strip())


def backdate(served: Served, job_id: str, **columns: datetime) -> None:
    with served.plane.db.write() as session:
        session.execute(update(Job).where(Job.id == job_id).values(**columns))


def run_to_the_end(served: Served, job_id: str, steps: int = 0) -> None:
    (claim,) = served.plane.queue.claim("w", job_ids=[job_id])
    lease = served.plane.workers.authenticate(job_id, claim.worker_token)
    for step in range(1, steps + 1):
        progress = {"step": step, "total_steps": steps, "metrics": {"loss": 0.5}}  # as workers post it
        served.plane.workers.post_event(lease, "progress", progress)
    served.plane.workers.finish(lease, "succeeded", result={"checkpoint": "/runs/x"})


def evaluation(served: Served, from_job: str, **rest: Any) -> dict[str, Any]:
    return {"kind": "evaluate", "method": {"method": "padim"}, "backbone": {"from_job": from_job},
            "data": {"dataset": "mvtec", "root": str(served.root)}, **rest}  # fmt: skip


def submit_raw(served: Served, spec: dict[str, Any]) -> str:
    from ab_core.sweeps import parse_submitted
    from tests.cli.conftest import ALICE

    return served.plane.jobs.submit(ALICE, parse_submitted(spec))[0].id


def test_jobs_prints_a_header_then_each_job_with_its_name_and_how_long_it_ran(served: Served, capsys):
    queued = served.submit(name="first run")
    done = served.submit()
    run_to_the_end(served, done, steps=2)
    backdate(served, done, started_at=T0, finished_at=T0 + timedelta(seconds=75))
    code, out, _ = abs_cli(capsys, "jobs", *served.flags)
    header, newest, oldest = (cells(line) for line in out.splitlines())
    assert code == 0
    assert header == ["id", "state", "name", "kind", "method", "attempt", "step", "duration", "created"]
    assert newest[:8] == [done, "succeeded", "-", "pretrain", "cdo", "1/3", "2/2", "1m15s"]
    assert oldest[:8] == [queued, "queued", "first run", "pretrain", "cdo", "0/3", "-", "-"]

    code, out, _ = abs_cli(capsys, "jobs", "--state", "queued", *served.flags)
    assert [cells(line)[0] for line in out.splitlines()[1:]] == [queued]


def test_jobs_json_is_the_api_read_model_with_why_a_queued_job_waits(served: Served, capsys):
    queued = served.submit()
    code, out, _ = abs_cli(capsys, "jobs", "--json", *served.flags)
    (job,) = json.loads(out)
    assert code == 0 and job["id"] == queued
    assert job["waiting"]["position"] == 1 and job["waiting"]["needs"] == {"cpus": 1.0, "gpus": 0.0}


def test_status_of_a_queued_job_names_the_unfinished_job_it_waits_for(served: Served, capsys):
    upstream = served.submit(method={"method": "simclr"})
    served.plane.queue.claim("w", job_ids=[upstream])
    job_id = submit_raw(served, evaluation(served, upstream))
    code, out, err = abs_cli(capsys, "status", job_id, *served.flags)
    waiting = json.loads(out)["waiting"]
    assert code == 0
    assert waiting["from_job"] == {"field": "backbone.from_job", "job_id": upstream, "state": "running"}
    assert err.startswith(f"{job_id}: queued: waits for job {upstream} (backbone.from_job) to succeed; "
                          "it is running; position 1 of 1 in the queue")  # fmt: skip


def test_watch_says_why_a_queued_job_waits_then_labels_the_bar_with_its_name_and_short_id(
    served: Served, capsys, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(cli.watch, "QUEUED_POLL_SECONDS", 0.05)
    upstream = served.submit(method={"method": "simclr"})
    served.plane.queue.claim("w", job_ids=[upstream])
    job_id = submit_raw(served, evaluation(served, upstream, name="nightly padim"))
    polled, read = threading.Event(), Client.job

    def counting(client: Client, job: str) -> dict[str, Any]:
        answer = read(client, job)
        polled.set() if answer["state"] == "queued" and answer["waiting"]["from_job"] else None
        return answer

    monkeypatch.setattr(Client, "job", counting)

    def upstream_then_job() -> None:
        polled.wait(timeout=30)  # the watch has seen the job waiting
        (claim,) = [c for c in served.plane.queue.running() if c.id == upstream]
        served.plane.queue.complete(upstream, claim.attempt, {"checkpoint": "/runs/up"})
        run_to_the_end(served, job_id, steps=2)

    worker = threading.Thread(target=upstream_then_job)
    worker.start()
    code, out, err = abs_cli(capsys, "watch", job_id, *served.flags)
    worker.join()
    label = f"nightly padim ({job_id[-8:]})"
    assert code == 0 and json.loads(out)["state"] == "succeeded"
    lines = err.splitlines()
    assert lines[0].startswith(f"{label}: queued: waits for job {upstream} (backbone.from_job) to succeed")
    assert f"{label}: running (attempt 1)" in lines and f"{label}: succeeded (attempt 1)" in lines
    bar = lines[-1]
    assert bar.startswith(label) and "2/2" in bar and "loss=0.5" in bar


def test_the_bar_counts_time_from_running_not_from_submit(served: Served, capsys):
    job_id = served.submit()
    run_to_the_end(served, job_id, steps=1)
    backdate(served, job_id, created_at=T0)
    at = {"queued": T0, "running": T0 + timedelta(hours=1), "succeeded": T0 + timedelta(hours=1, seconds=75)}
    with served.plane.db.write() as session:  # queued at noon, ran at one for 75 s
        for state, moment in at.items():
            session.execute(update(JobEvent).where(JobEvent.job_id == job_id, JobEvent.kind == "state",
                                                   JobEvent.data["state"].as_string() == state)
                            .values(created_at=moment))  # fmt: skip
    code, _, err = abs_cli(capsys, "watch", job_id, *served.flags)
    assert code == 0
    assert "0:01:15" in err.splitlines()[-1] and "1:01:15" not in err


def test_artifacts_lists_the_files_then_downloads_them(served: Served, capsys, tmp_path: Path):
    job_id = served.submit()
    (claim,) = served.plane.queue.claim("w", job_ids=[job_id])
    lease = served.plane.workers.authenticate(job_id, claim.worker_token)
    folder = served.plane.workers.job_dir(job_id)
    for name, body in (("curves.png", b"png"), ("carpet/map.csv", b"a,b\n")):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(body)
        served.plane.workers.register_artifact(lease, name, "picture", str(folder / name))
    code, out, _ = abs_cli(capsys, "artifacts", job_id, *served.flags)
    header, *rows = (cells(line) for line in out.splitlines())
    assert code == 0 and header == ["id", "name", "kind", "attempt", "bytes", "created"]
    assert [row[1:5] for row in rows] == [["curves.png", "picture", "1", "3"], ["carpet/map.csv", "picture",
                                                                               "1", "4"]]  # fmt: skip
    target = tmp_path / "got"
    code, out, _ = abs_cli(capsys, "artifacts", job_id, "--download", str(target), *served.flags)
    assert code == 0 and out.split() == [str(target / "curves.png"), str(target / "carpet" / "map.csv")]
    assert (target / "carpet" / "map.csv").read_bytes() == b"a,b\n"
