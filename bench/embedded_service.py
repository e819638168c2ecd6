"""The service as `abs serve` runs it, for benchmarks: a local Ray head (2 CPUs), the control plane on
SQLite, a dispatcher thread and the API under uvicorn, all stopped at the end."""

from __future__ import annotations

import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


@dataclass
class EmbeddedService:
    http: Any  # an httpx.Client on the API, authenticated
    ray: Any  # services.ray_jobs.RayJobs on the same head (for the baseline side)


@contextmanager
def embedded_service(work: Path, **settings: Any) -> Iterator[EmbeddedService]:
    """`settings`: overrides of the service's settings (a worker entrypoint, a poll interval)."""
    import httpx

    from api.app import create_app
    from cli.embedded import serving_in_thread
    from services.dispatcher import Dispatcher
    from services.plane import ControlPlane
    from services.ray_head import RayHead, free_ports
    from services.ray_jobs import RayJobs
    from services.settings import load_settings

    gcs, dashboard, port = free_ports(3)
    head = RayHead.start(work / "ray.log", gcs_port=gcs, dashboard_port=dashboard, num_cpus=2,
                         reserved_ports=[port], temp_dir=Path(tempfile.mkdtemp(prefix="abray-")))  # fmt: skip
    plane = ControlPlane.build(load_settings(
        data_dir=work, redis_url=None, allowed_dataset_roots=[work], ray_address=head.dashboard_url,
        ray_auth_token=head.token, api_url=f"http://127.0.0.1:{port}", **settings,
    ))  # fmt: skip
    plane.migrate()
    ray, stop = RayJobs(head.dashboard_url, head.token), threading.Event()
    dispatcher = threading.Thread(target=Dispatcher(plane, RayJobs(head.dashboard_url, head.token)).run,
                                  args=(stop,), daemon=True)  # fmt: skip
    dispatcher.start()
    try:
        with serving_in_thread(create_app(plane.settings, plane), port=port) as url:
            headers = {"Authorization": f"Bearer {plane.tokens.create('bench')}"}
            with httpx.Client(base_url=url, headers=headers, timeout=30) as http:
                yield EmbeddedService(http, ray)
    finally:
        stop.set()
        dispatcher.join(timeout=10)
        ray.close()
        head.stop()
        plane.close()
