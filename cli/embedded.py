"""`abs serve` (the whole service on this machine) and `abs dispatcher` (the dispatcher process alone).

Embedded mode: a local Ray head (dashboard 127.0.0.1:8265, token auth with the token kept in
<data dir>/ray_auth_token (mode 0600; `abs dashboard` prints it), GCS port 6380, its own temp dir
/tmp/ray-ab-<GCS port>, its address pinned in every Ray job), the API on
127.0.0.1:8000 and the dispatcher in a thread beside it, on SQLite, sharing one in-process event bus.
Ctrl-C stops the API, then the dispatcher, then the Ray jobs and the head.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

LOCAL_OWNER = "local"


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--api-only", action="store_true", help="only the REST API (Ray and the dispatcher run elsewhere)"
    )
    parser.add_argument("--dashboard-port", type=int, default=8265, help="the local Ray dashboard")
    parser.add_argument("--gcs-port", type=int, default=6380, help="the local Ray GCS (not Redis's 6379)")
    parser.add_argument("--num-cpus", type=float, help="CPUs the local Ray offers (default: all)")
    parser.add_argument("--num-gpus", type=float, help="GPUs the local Ray offers (default: all)")
    parser.add_argument(
        "--dataset-root", type=Path, action="append", default=[],
        help="a directory specs may read data from (repeatable; default: the current one)",
    )  # fmt: skip
    parser.add_argument(
        "--mlflow", nargs="?", const="", metavar="URI",
        help="log every job as an MLflow run (default URI: a SQLite store under the data dir; "
        "with --api-only set AB_MLFLOW_TRACKING_URI instead)",
    )  # fmt: skip


def add_commands(commands: argparse._SubParsersAction) -> None:
    dispatcher = commands.add_parser("dispatcher", help="run the dispatcher: queued jobs -> Ray jobs")
    dispatcher.set_defaults(handler=lambda args: run_dispatcher())


def run_dispatcher() -> int:
    """The dispatcher alone, until SIGTERM / Ctrl-C (settings from AB_*: database, Ray address, API URL)."""
    from services.dispatcher import Dispatcher
    from services.plane import ControlPlane
    from services.ray_jobs import RayJobs
    from services.settings import load_settings

    _log_to_stderr()
    settings = load_settings()
    plane = ControlPlane.build(settings)
    ray = RayJobs(settings.ray_address, settings.ray_auth_token)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        plane.migrate()
        Dispatcher(plane, ray).run(stop)
    except KeyboardInterrupt:
        pass
    finally:
        ray.close()
        plane.close()
    return 0


def serve_embedded(args: argparse.Namespace) -> int:
    """Ray head, API and dispatcher on this machine; prints the URLs; Ctrl-C stops everything."""
    import uvicorn

    from api.app import create_app
    from services.dispatcher import Dispatcher
    from services.plane import ControlPlane
    from services.ray_head import RayHead, check_ports, default_temp_dir, kept_token, token_path
    from services.ray_jobs import RayJobs
    from services.settings import load_settings
    from services.tracking import require_mlflow

    check_ports(gcs_port=args.gcs_port, dashboard_port=args.dashboard_port)  # a message, not a traceback
    _log_to_stderr()
    signal.signal(signal.SIGTERM, _interrupt)  # `kill`, docker stop: the same clean stop as Ctrl-C
    base = load_settings()
    roots = [root.resolve() for root in args.dataset_root] or [Path.cwd()]
    tracking_uri = mlflow_uri(args.mlflow, base)
    require_mlflow(tracking_uri)  # before Ray starts
    print(f"starting Ray (logs: {base.data_dir / 'logs' / 'ray-head.log'}, "
          f"temp dir {default_temp_dir(args.gcs_port)}) ...", flush=True)  # fmt: skip
    head = RayHead.start(
        base.data_dir / "logs" / "ray-head.log", gcs_port=args.gcs_port, dashboard_port=args.dashboard_port,
        num_cpus=args.num_cpus, num_gpus=args.num_gpus, reserved_ports=[args.port],
        token=kept_token(token_path(base.data_dir)),
    )  # fmt: skip
    overrides: dict[str, Any] = {
        "ray_address": head.dashboard_url,
        "ray_auth_token": head.token,
        "ray_gcs_address": head.gcs_address,
        "api_url": f"http://{_reachable(args.host)}:{args.port}",
        "allowed_dataset_roots": [*base.allowed_dataset_roots, *roots],
        "mlflow_tracking_uri": tracking_uri,
    }
    settings = load_settings(**overrides)
    plane = ControlPlane.build(settings)
    ray = RayJobs(head.dashboard_url, head.token)
    stop = threading.Event()
    dispatcher = threading.Thread(target=Dispatcher(plane, ray).run, args=(stop,), name="dispatcher")
    try:
        plane.migrate()
        token = local_token(plane, settings.data_dir)
        dispatcher.start()
        banner = f"""
  API             http://{args.host}:{args.port}   (OpenAPI docs: /docs)
  Ray dashboard   {head.dashboard_url}   (to log in: abs dashboard)
  database        {settings.database_url}
  dataset roots   {", ".join(str(root) for root in settings.dataset_roots())}

  export AB_URL=http://{args.host}:{args.port} AB_TOKEN={token}
  Ctrl-C stops the API, the dispatcher and Ray.
"""
        server = uvicorn.Server(uvicorn.Config(create_app(settings, plane), args.host, args.port))
        threading.Thread(target=_print_when_started, args=(server, banner), daemon=True).start()
        try:
            server.run()
        except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it handled: it is how we stop
            pass
    finally:
        for stop_signal in (signal.SIGINT, signal.SIGTERM):  # a second one must not leave Ray running
            signal.signal(stop_signal, signal.SIG_IGN)
        print("stopping the dispatcher and Ray ...", flush=True)
        stop.set()
        if dispatcher.is_alive():
            dispatcher.join(timeout=30)
        ray.close()
        head.stop()
        plane.close()
    return 0


def mlflow_uri(flag: str | None, base: Any) -> str | None:
    """Where `--mlflow [URI]` logs runs: URI, else a SQLite store under the data dir; without the flag,
    AB_MLFLOW_TRACKING_URI (or nowhere)."""
    from services.tracking import local_store_uri

    if flag is None:
        return base.mlflow_tracking_uri
    return flag or local_store_uri(base.data_dir)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _log_to_stderr() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not one line per dispatcher poll


def _print_when_started(server: Any, banner: str) -> None:
    while not server.started and not server.should_exit:
        time.sleep(0.05)
    if server.started:
        print(banner, flush=True)


def local_token(plane: Any, data_dir: Path) -> str:
    """The API token of the local owner, created on the first start and kept in <data_dir>/local_token."""
    from services.ray_head import write_private

    path = data_dir / "local_token"
    if path.is_file():
        token = path.read_text().strip()
        try:
            plane.tokens.verify(token)
            return token
        except Exception:  # noqa: BLE001  (a token of another database: make a new one)
            pass
    token = plane.tokens.create(LOCAL_OWNER)
    write_private(path, token + "\n")
    return token


@contextmanager
def serving_in_thread(app: Any, host: str = "127.0.0.1", port: int = 8000) -> Iterator[str]:
    """The app under a real uvicorn server in a daemon thread (tests, benchmarks); yields its base URL."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"uvicorn did not start on {host}:{port}")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _reachable(host: str) -> str:
    """The address Ray jobs on this machine use to reach the API."""
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
