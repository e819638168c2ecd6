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
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
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
    sys.path.insert(0, str(ROOT))
    import httpx

    from api.app import create_app
    from cli.embedded import serving_in_thread
    from services.dispatcher import Dispatcher
    from services.plane import ControlPlane
    from services.ray_head import RayHead, free_ports
    from services.ray_jobs import RayJobs
    from services.settings import load_settings

    work = Path(tempfile.mkdtemp(prefix="abbench-"))
    entrypoint = f"{sys.executable} {Path(__file__).resolve()} --trivial-job"
    gcs, dashboard, port = free_ports(3)
    head = RayHead.start(work / "ray.log", gcs_port=gcs, dashboard_port=dashboard, num_cpus=2,
                         reserved_ports=[port], temp_dir=Path(tempfile.mkdtemp(prefix="abray-")))  # fmt: skip
    settings = load_settings(
        data_dir=work, redis_url=None, allowed_dataset_roots=[work], ray_address=head.dashboard_url,
        ray_auth_token=head.token, api_url=f"http://127.0.0.1:{port}", worker_entrypoint=entrypoint,
        dispatch_poll_seconds=0.5,  # wake-ups come from the in-process bus, as in `abs serve`
    )  # fmt: skip
    plane = ControlPlane.build(settings)
    plane.migrate()
    ray, stop = RayJobs(head.dashboard_url, head.token), threading.Event()
    dispatcher = threading.Thread(target=Dispatcher(plane, RayJobs(head.dashboard_url, head.token)).run,
                                  args=(stop,), daemon=True)  # fmt: skip
    dispatcher.start()
    spec = {"kind": "pretrain", "method": {"method": "simclr"},
            "data": {"dataset": "image_folder", "root": str(work / "unused")}}  # fmt: skip
    direct: list[tuple[float, float]] = []
    service: list[tuple[float, float]] = []
    try:
        with serving_in_thread(create_app(settings, plane), port=port) as url:
            headers = {"Authorization": f"Bearer {plane.tokens.create('bench')}"}
            with httpx.Client(base_url=url, headers=headers, timeout=30) as http:
                direct_round(ray, -1, entrypoint), service_round(http, spec)  # warm both paths once
                for index in range(args.rounds):
                    direct.append(direct_round(ray, index, entrypoint))
                    service.append(service_round(http, spec))
    finally:
        stop.set()
        dispatcher.join(timeout=10)
        ray.close()
        head.stop()
        plane.close()
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
