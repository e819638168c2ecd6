"""The REST API under load on PostgreSQL with 10^5 stored jobs, beside the framework's floor, in one run.

Columns (each phase: `--clients` keep-alive connections issuing requests back to back for `--seconds`):
  status       GET /v1/jobs/{id} of random stored jobs (token check, one SQL read, JSON of the spec)
  status_floor GET of a constant-returning FastAPI endpoint in the same server
  polled       status again, each client polling once per `--poll-interval` s (scripts waiting for jobs)
  polled_floor the floor at the same pace
  submit       POST /v1/jobs (spec validation, dataset-root check, INSERT job + event, bus publish)
  submit_floor POST of the same body to a constant-returning endpoint (JSON parsing only)
Rounds alternate the phases; figures are medians over rounds. One uvicorn worker serves; the load
generator is a raw asyncio HTTP/1.1 client in this process (httpx would be the bottleneck).
Prints one JSON line per figure. Usage (the defaults):
  .venv/bin/python bench/api_load.py --jobs 100000 --clients 100 --seconds 5 --rounds 3 --poll-interval 0.5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from ab_core.specs import parse_spec
from services.db import utcnow
from services.ids import new_job_id
from services.models import Job
from services.plane import ControlPlane
from services.settings import load_settings
from services.testing import sample_spec, temporary_postgres_database

OWNER = "bench"


def serve(port: int) -> None:
    """The server process: the real app (settings from AB_*) plus the two floor endpoints."""
    import uvicorn

    from api.app import create_app

    app = create_app(load_settings())

    @app.get("/bench/floor")
    async def floor_get() -> dict[str, bool]:
        return {"ok": True}

    @app.post("/bench/floor")
    async def floor_post(body: dict[str, Any]) -> dict[str, bool]:
        return {"ok": True}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, loop="uvloop")


def seed(settings_env: dict[str, str], jobs: int) -> tuple[str, list[str], dict[str, Any]]:
    """Insert `jobs` finished jobs of OWNER in batches; returns (token, job ids, a submit body)."""
    settings = load_settings(**{k[3:].lower(): v for k, v in settings_env.items()})
    plane = ControlPlane.build(settings)
    plane.migrate()
    token = plane.tokens.create(OWNER)
    raw = sample_spec(settings.data_dir / "datasets" / "bench")
    spec = parse_spec(raw)
    dumped, spec_hash = spec.model_dump(mode="json"), spec.spec_hash()
    ids: list[str] = []
    start = utcnow() - timedelta(days=30)
    for batch_start in range(0, jobs, 5000):
        rows = []
        for i in range(batch_start, min(jobs, batch_start + 5000)):
            created = start + timedelta(seconds=i)
            job_id = new_job_id()
            ids.append(job_id)
            rows.append(
                dict(
                    id=job_id, kind=spec.kind, spec=dumped, spec_hash=spec_hash, owner=OWNER, priority=0,
                    state="succeeded", cancel_requested=False, attempt=1, max_attempts=3, last_event_seq=3,
                    progress={"epoch": 1, "step": 100, "total_steps": 100, "metrics": {"loss": 0.1}},
                    result={"top1": 0.9, "steps": 100}, created_at=created, updated_at=created,
                    started_at=created, finished_at=created,
                )
            )  # fmt: skip
        with plane.db.write() as session:
            session.execute(insert(Job), rows)
    plane.close()
    return token, ids, {"spec": raw}


class Connection:
    """A minimal keep-alive HTTP/1.1 client connection (JSON bodies, Content-Length responses)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    async def request(self, head: bytes) -> int:
        self.writer.write(head)
        header = await self.reader.readuntil(b"\r\n\r\n")
        status = int(header[9:12])
        length = 0
        for line in header.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await self.reader.readexactly(length)
        return status


def request_head(method: str, path: str, token: str | None, body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: bench", "Connection: keep-alive"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    if body:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def load(
    port: int, clients: int, seconds: float, make_head, interval: float | None = None
) -> dict[str, float]:
    """`clients` connections send requests back to back (or each one every `interval` seconds, spread
    evenly: scripts polling); latencies after a 1 s warm-up count."""
    connections = [Connection(*await asyncio.open_connection("127.0.0.1", port)) for _ in range(clients)]
    latencies: list[float] = []
    errors = 0
    warm_until = time.perf_counter() + 1.0
    stop_at = warm_until + seconds

    async def client(index: int, connection: Connection) -> None:
        nonlocal errors
        next_at = time.perf_counter() + (interval or 0) * index / clients
        while (now := time.perf_counter()) < stop_at:
            if interval is not None:
                await asyncio.sleep(max(0.0, next_at - now))
                now, next_at = time.perf_counter(), next_at + interval
                if now >= stop_at:
                    break
            status = await connection.request(make_head())
            if status >= 300:
                errors += 1
            if now >= warm_until:
                latencies.append(time.perf_counter() - now)

    await asyncio.gather(*(client(i, c) for i, c in enumerate(connections)))
    for connection in connections:
        connection.writer.close()
    latencies.sort()
    return {
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)],
        "per_second": len(latencies) / seconds,
        "errors": errors,
    }


def wait_for_server(port: int, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the server did not listen on port {port} within {timeout} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--poll-interval", type=float, default=0.5,
                        help="paced phases: each client polls once per this many seconds")  # fmt: skip
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)  # internal: run the server on this port
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return

    with temporary_postgres_database() as url, tempfile.TemporaryDirectory() as data_dir:
        env = {"AB_DATABASE_URL": url, "AB_DATA_DIR": data_dir, "AB_REDIS_URL": "",
               "AB_REAPER_INTERVAL_SECONDS": "3600"}  # fmt: skip
        started = time.perf_counter()
        token, ids, submit_body = seed(env, args.jobs)
        print(
            json.dumps(
                {
                    "figure": "seeded_jobs",
                    "jobs": len(ids),
                    "seconds": round(time.perf_counter() - started, 1),
                }
            )
        )
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server_env = {**os.environ, **env}
        command = [sys.executable, str(Path(__file__).resolve()), "--serve", str(port)]
        server = subprocess.Popen(command, env=server_env)
        try:
            wait_for_server(port, server)
            body = json.dumps(submit_body).encode()
            status = lambda: request_head("GET", f"/v1/jobs/{random.choice(ids)}", token)  # noqa: E731
            status_floor = lambda: request_head("GET", "/bench/floor", None)  # noqa: E731
            phases = {  # name: (request maker, seconds between a client's requests or None = back to back)
                "status_floor": (status_floor, None),
                "status": (status, None),
                "polled_floor": (status_floor, args.poll_interval),
                "polled": (status, args.poll_interval),
                "submit_floor": (lambda: request_head("POST", "/bench/floor", None, body), None),
                "submit": (lambda: request_head("POST", "/v1/jobs", token, body), None),
            }
            results: dict[str, list[dict[str, float]]] = {name: [] for name in phases}
            for _ in range(args.rounds):
                for name, (make_head, interval) in phases.items():
                    figures = asyncio.run(load(port, args.clients, args.seconds, make_head, interval))
                    results[name].append(figures)
        finally:
            server.terminate()
            server.wait(timeout=30)

    def median(name: str, key: str) -> float:
        return statistics.median(r[key] for r in results[name])

    for api, floor in (("status", "status_floor"), ("polled", "polled_floor"), ("submit", "submit_floor")):
        for key in ("p50_ms", "p99_ms", "per_second"):
            value, base = median(api, key), median(floor, key)
            figure = {"figure": f"{api}_{key}", "api": round(value, 2), "floor": round(base, 2)}
            figure |= {"ratio": round(value / base, 2), "clients": args.clients, "jobs": args.jobs}
            print(json.dumps(figure))
        print(json.dumps({"figure": f"{api}_errors", "api": sum(r["errors"] for r in results[api])}))


if __name__ == "__main__":
    main()
