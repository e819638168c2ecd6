"""Fault census: jobs run through kill -9 of each part of the service; none may be lost, run twice in one
attempt, stuck, or have two attempts running side by side.

One local Ray head (2 CPUs), the API (`abs serve --api-only`) and the dispatcher (`abs dispatcher`) as
processes of their own on SQLite. For each fault, `--jobs` short pretrainings (simclr, 32 px, checkpoint
every 2 steps) are submitted; once they run, the fault strikes:
  api            kill -9 of the API, restarted 5 s later (workers retry their calls meanwhile)
  control_plane  kill -9 of the API and the dispatcher together, both restarted
  dispatcher     kill -9 of the dispatcher, restarted 1 s later (within its lease if `--lease` exceeds
                 the restart, ~5-10 s on a busy 2-core box with its imports)
  past_lease     kill -9 of the dispatcher, restarted after its lease (`--lease`, default 4 s) expired:
                 the reaper requeues, the old attempt's driver exits, attempt 2 resumes
  driver         kill -9 of each job's Ray job driver (`python -m workers.entrypoint`)
  train_worker   kill -9 of each job's Ray Train worker (Ray Train restarts it from the last checkpoint)
One JSON line per fault, then a total: tried, succeeded, failed, lost, twice_in_one_attempt, stuck,
overlapping_attempts, attempts.

    .venv/bin/python bench/fault_census.py --jobs 4
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FAULTS = ("api", "control_plane", "dispatcher", "past_lease", "driver", "train_worker")
TERMINAL = ("succeeded", "failed", "cancelled")


class Census:
    def __init__(self, work: Path, head: Any, data: Path, lease_seconds: float):
        from services.ray_head import free_port
        from services.ray_jobs import RayJobs

        self.work, self.head, self.data = work, head, data
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = os.environ | {
            "AB_DATA_DIR": str(work), "AB_ALLOWED_DATASET_ROOTS": json.dumps([str(data)]),
            "AB_RAY_ADDRESS": head.dashboard_url, "AB_RAY_AUTH_TOKEN": head.token,
            "AB_RAY_GCS_ADDRESS": head.gcs_address, "AB_API_URL": self.url, "AB_DISPATCHER_ID": "census",
            "AB_LEASE_SECONDS": f"{lease_seconds:g}", "AB_REAPER_INTERVAL_SECONDS": "1",
            "AB_DISPATCH_POLL_SECONDS": "0.2", "AB_RECONCILE_SECONDS": "0.5", "AB_SWEEP_SECONDS": "2",
            "AB_REDIS_URL": "",
        }  # fmt: skip
        self.ray = RayJobs(head.dashboard_url, head.token)
        self.api = self.dispatcher = None
        self.api = self._start(["serve", "--api-only", "--port", str(self.port)], "api")
        self.dispatcher = self._start(["dispatcher"], "dispatcher")
        self.token = self._token()

    def _start(self, args: list[str], name: str) -> subprocess.Popen[bytes]:
        log = (self.work / f"{name}.log").open("ab")
        return subprocess.Popen([sys.executable, "-m", "cli.main", *args], cwd=ROOT, env=self.env,
                                stdout=log, stderr=subprocess.STDOUT)  # fmt: skip

    def _token(self) -> str:
        out = subprocess.run([sys.executable, "-m", "cli.main", "token", "create", "--owner", "census"],
                             cwd=ROOT, env=self.env, capture_output=True, text=True, check=True)  # fmt: skip
        return out.stdout.strip()

    def http(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        headers = {"Authorization": f"Bearer {self.token}"}
        for _ in range(120):  # the API may be down on purpose
            try:
                response = httpx.request(method, self.url + path, headers=headers, timeout=10, **kwargs)
                return response.raise_for_status().json()
            except (httpx.TransportError, httpx.HTTPStatusError):
                time.sleep(0.5)
        raise RuntimeError(f"{method} {path}: the API did not answer for a minute")

    def submit(self, steps: int) -> str:
        spec = {"kind": "pretrain", "method": {"method": "simclr"}, "schedule": {"steps": steps,
                "checkpoint_every": 2}, "data": {"dataset": "image_folder", "root": str(self.data),
                "resize": 32, "crop": 32, "batch_size": 4, "cache": "none"}}  # fmt: skip
        return str(self.http("POST", "/v1/jobs", json={"spec": spec})["id"])

    def events(self, job_id: str) -> list[dict[str, Any]]:
        items, after = [], 0
        while True:
            page = self.http("GET", f"/v1/jobs/{job_id}/events", params={"after": after, "limit": 200})
            items += page["items"]
            if not page["next_cursor"]:
                return items
            after = int(page["next_cursor"])

    def wait_progress(self, job_ids: list[str], timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            jobs = [self.http("GET", f"/v1/jobs/{j}") for j in job_ids]
            if all(job["state"] in TERMINAL or (job["progress"] or {}).get("step") for job in jobs):
                return
            time.sleep(0.5)

    def strike(self, fault: str, job_ids: list[str]) -> None:
        kill = signal.SIGKILL
        if fault in ("api", "control_plane"):
            self.api.send_signal(kill)
            self.api.wait()
            if fault == "control_plane":
                self.dispatcher.send_signal(kill)
                self.dispatcher.wait()
            time.sleep(5)
            self.api = self._start(["serve", "--api-only", "--port", str(self.port)], "api")
            if fault == "control_plane":
                self.dispatcher = self._start(["dispatcher"], "dispatcher")
        elif fault in ("dispatcher", "past_lease"):
            self.dispatcher.send_signal(kill)
            self.dispatcher.wait()
            time.sleep(1 if fault == "dispatcher" else census_past_lease(self.env))
            self.dispatcher = self._start(["dispatcher"], "dispatcher")
        else:
            for job_id in job_ids:
                for pid in self._pids(job_id if fault == "driver" else None, fault):
                    os.kill(pid, kill)

    def _pids(self, job_id: str | None, fault: str) -> list[int]:
        """This head's processes only: the job's driver, or the Ray Train workers (one per job)."""
        found = []
        for pid, line in descendants(self.head.process.pid):
            if fault == "driver" and f"workers.entrypoint {job_id}" in line:
                found.append(pid)
            if fault == "train_worker" and "RayTrainWorker" in line:
                found.append(pid)
        return found[:1] if fault == "driver" else found

    def outcome(self, job_ids: list[str], deadline: float) -> dict[str, Any]:
        while time.monotonic() < deadline:
            if all(self.http("GET", f"/v1/jobs/{j}")["state"] in TERMINAL for j in job_ids):
                break
            time.sleep(1)
        runs = {info["submission_id"]: info for info in self._ray_jobs()}
        tally: Counter[str] = Counter({key: 0 for key in ("succeeded", "failed", "cancelled", "stuck", "lost",
                                                          "twice_in_one_attempt", "overlapping_attempts")})
        tally["tried"] = len(job_ids)
        for job_id in job_ids:
            job = self.http("GET", f"/v1/jobs/{job_id}")
            tally[job["state"] if job["state"] in TERMINAL else "stuck"] += 1
            tally["attempts"] += job["attempt"]
            starts = Counter(e["attempt"] for e in self.events(job_id) if e["kind"] == "log"
                             and "started on" in e["data"].get("message", ""))  # fmt: skip
            tally["twice_in_one_attempt"] += sum(1 for n in starts.values() if n > 1)
            for attempt in range(1, job["attempt"]):
                old, new = runs.get(f"{job_id}-a{attempt}"), runs.get(f"{job_id}-a{attempt + 1}")
                if old and new and (old.get("end_time") or 1e18) > (new.get("start_time") or 0):
                    tally["overlapping_attempts"] += 1
        # lost: a job the service no longer knows would have failed the GETs above (and the run)
        return dict(tally)

    def _ray_jobs(self) -> list[dict[str, Any]]:
        return list(self.ray._call("GET", "/api/jobs/").json())

    def stop(self) -> None:
        for process in (self.api, self.dispatcher):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=30)
        self.ray.close()


def census_past_lease(env: dict[str, str]) -> float:
    """Long enough for the reaper to requeue: the lease and two reaper passes."""
    return float(env["AB_LEASE_SECONDS"]) + 3


def descendants(root: int) -> list[tuple[int, str]]:
    """(pid, command line) of every process below `root`, from /proc."""
    parents, lines = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            parents[int(entry.name)] = int(stat[stat.rindex(")") + 2 :].split()[1])
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            lines[int(entry.name)] = command.decode(errors="replace")
        except (OSError, ValueError):
            continue
    below, frontier = [], [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        below += children
        frontier += children
    return [(pid, lines.get(pid, "")) for pid in below]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=4, help="jobs per fault")
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--faults", nargs="*", default=list(FAULTS), choices=FAULTS)
    parser.add_argument("--lease", type=float, default=4.0, help="the dispatcher's lease, seconds")
    args = parser.parse_args()
    from ab_core.data.synth import generate
    from services.ray_head import RayHead, free_ports

    total: Counter[str] = Counter()
    with tempfile.TemporaryDirectory(prefix="ab-census-") as tmp:
        work = Path(tmp)
        generate(work / "synth", seed=0, size=32, per_category=8)
        gcs, dashboard = free_ports(2)
        head = RayHead.start(work / "ray.log", gcs_port=gcs, dashboard_port=dashboard, num_cpus=2,
                             temp_dir=Path(tempfile.mkdtemp(prefix="abray-")))  # fmt: skip
        census = Census(work, head, work / "synth" / "classes", args.lease)
        try:
            for fault in args.faults:
                started = time.monotonic()
                job_ids = [census.submit(args.steps) for _ in range(args.jobs)]
                census.wait_progress(job_ids[:2])  # two run at once on 2 CPUs
                census.strike(fault, job_ids[:2])
                tally = census.outcome(job_ids, deadline=time.monotonic() + 600)
                total.update(tally)
                print(json.dumps({"fault": fault, **tally, "seconds": round(time.monotonic() - started)}),
                      flush=True)  # fmt: skip
        finally:
            census.stop()
            head.stop()
    print(json.dumps({"fault": "all", **dict(total)}))


if __name__ == "__main__":
    main()
