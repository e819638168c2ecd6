"""What the service adds to a Ray job: the same trivial entrypoint, straight to Ray's Jobs API and through
POST /v1/jobs -> queue -> dispatcher -> Ray, alternately, in one run on one local Ray head.

Figures (medians over --rounds, one JSON line each): submit -> running (the entrypoint's first line ran:
it records its own clock) and submit -> terminal (as a polling client sees it: Ray's job status directly,
GET /v1/jobs/{id} through the service). The service runs embedded (API + dispatcher threads, SQLite).

    .venv/bin/python bench/dispatch_overhead.py --rounds 10
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

POLL_SECONDS = 0.02


def trivial_job(job_id: str) -> int:
    """The entrypoint both paths run: note the start time; under the service, post it and succeed."""
    started = time.time()
    import httpx

    print(f"started_at={started!r} job={job_id}", flush=True)
    api, token = os.environ.get("AB_API_URL"), os.environ.get("AB_JOB_TOKEN")
    if api and token:
        base, headers = f"{api}/v1/internal/jobs/{job_id}", {"Authorization": f"Bearer {token}"}
        httpx.post(f"{base}/events", headers=headers,
                   json={"kind": "log", "data": {"started_at": started}}).raise_for_status()  # fmt: skip
        httpx.post(
            f"{base}/result", headers=headers, json={"state": "succeeded", "result": {}}
        ).raise_for_status()
    return 0


def direct_round(ray, index: int, entrypoint: str) -> tuple[float, float]:
    name = f"direct-{os.getpid()}-{index}"
    submitted = time.time()
    ray.submit(name, f"{entrypoint} {name}", {})
    while not ray.info(name).terminal:
        time.sleep(POLL_SECONDS)
    ended = time.time()
    started = float(re.search(r"started_at=([0-9.]+)", ray.logs(name) or "")[1])
    return started - submitted, ended - submitted


def service_round(http, spec: dict) -> tuple[float, float]:
    submitted = time.time()
    job_id = http.post("/v1/jobs", json={"spec": spec}).raise_for_status().json()["id"]
    while (job := http.get(f"/v1/jobs/{job_id}").json())["state"] not in ("succeeded", "failed", "cancelled"):
        time.sleep(POLL_SECONDS)
    ended = time.time()
    assert job["state"] == "succeeded", job
    events = http.get(f"/v1/jobs/{job_id}/events").json()["items"]
    started = next(
        e["data"]["started_at"] for e in events if e["kind"] == "log" and "started_at" in e["data"]
    )
    return started - submitted, ended - submitted


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    from embedded_service import embedded_service

    work = Path(tempfile.mkdtemp(prefix="abbench-"))
    entrypoint = f"{sys.executable} {Path(__file__).resolve()} --trivial-job"
    spec = {"kind": "pretrain", "method": {"method": "simclr"},
            "data": {"dataset": "image_folder", "root": str(work / "unused")}}  # fmt: skip
    direct: list[tuple[float, float]] = []
    service: list[tuple[float, float]] = []
    # wake-ups come from the in-process bus, as in `abs serve`
    with embedded_service(work, worker_entrypoint=entrypoint, dispatch_poll_seconds=0.5) as embedded:
        direct_round(embedded.ray, -1, entrypoint), service_round(embedded.http, spec)  # warm both paths once
        for index in range(args.rounds):
            direct.append(direct_round(embedded.ray, index, entrypoint))
            service.append(service_round(embedded.http, spec))
    for position, figure in enumerate(("submit_to_running_s", "submit_to_terminal_s")):
        ray_s = statistics.median(pair[position] for pair in direct)
        service_s = statistics.median(pair[position] for pair in service)
        print(json.dumps({"bench": "dispatch_overhead", "figure": figure, "rounds": args.rounds,
                          "ray_jobs_api": round(ray_s, 3), "service": round(service_s, 3),
                          "added": round(service_s - ray_s, 3), "target_added_max": 0.3}))  # fmt: skip
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--trivial-job":
        sys.exit(trivial_job(sys.argv[2]))
    sys.exit(main())
