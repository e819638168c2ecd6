"""A local Ray head (`ray start --head --block` as a child process) for `abs serve`, tests and benchmarks.

Token auth is on (`abs serve` keeps the token in a file only its owner reads: `kept_token`); the GCS port
defaults to 6380 (6379 is Redis's); each head has a temp dir of its own.
The `ray` CLI runs in its own process group, so stopping it stops only this cluster's processes, never
another Ray on the same machine (which `ray stop` would). The venv's bin directory goes first on the
head's PATH, so a job entrypoint's `python` is this project's interpreter.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Collection
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from services.errors import ServiceError
from services.ray_jobs import RayJobs, RayUnavailableError

WORKER_PORTS = range(10002, 20000)  # Ray's default --min-worker-port / --max-worker-port
TOKEN_FILE = "ray_auth_token"  # under the service's data dir: `abs serve` writes it, `abs dashboard` reads it


class RayHeadError(ServiceError):
    """The local Ray head did not come up, or was asked for ports it cannot use."""


def check_ports(**ports: int) -> None:
    """Refuse a GCS or dashboard port inside Ray's worker-port range: `ray start` fails on it."""
    for name, port in ports.items():
        flag = "--" + name.replace("_", "-")
        if not 1 <= port <= 65535:
            raise RayHeadError(f"{flag} {port} is no TCP port; give one in 1-65535")
        if port in WORKER_PORTS:
            raise RayHeadError(
                f"{flag} {port} lies in Ray's worker-port range {WORKER_PORTS.start}-{WORKER_PORTS[-1]}, "
                f"which `ray start` refuses; pick a port below {WORKER_PORTS.start} or above "
                f"{WORKER_PORTS[-1]} (defaults: --gcs-port 6380, --dashboard-port 8265)"
            )


def token_path(data_dir: Path) -> Path:
    return data_dir / TOKEN_FILE


def kept_token(path: Path) -> str:
    """The local head's auth token kept at `path` (mode 0600): the one there, else a new one written there.
    Kept, it outlives restarts, so a browser's dashboard login (a cookie of it) stays valid."""
    if token := read_kept_token(path):
        path.chmod(0o600)
        return token
    token = secrets.token_hex(16)
    write_private(path, token + "\n")
    return token


def read_kept_token(path: Path) -> str | None:
    return (path.read_text().strip() or None) if path.is_file() else None


def write_private(path: Path, text: str) -> None:
    """Write `text` to a file readable and writable by its owner only, whatever the umask or its old mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        os.fchmod(descriptor, 0o600)
        file.write(text)


def default_temp_dir(gcs_port: int) -> Path:
    """A temp dir of this head alone: Ray's job supervisor finds "the" cluster through
    `<temp dir>/ray_current_cluster`, so two heads sharing /tmp/ray send each other's jobs astray. Short:
    Ray's socket paths must fit in 107 bytes."""
    return Path(tempfile.gettempdir()) / f"ray-ab-{gcs_port}"


def _stop_with_parent() -> Callable[[], None] | None:
    """Linux: a pre-exec hook so the head gets SIGTERM (and stops its cluster) if its starter dies, even
    by kill -9. libc is loaded here, before the fork."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    return lambda: prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int, reserved: Collection[int] = ()) -> list[int]:
    """`count` distinct free ports, none of them `reserved` (picked for another use, not bound yet).

    Each probe stays bound until all are picked: the kernel may hand a port it just released out again.
    """
    with ExitStack() as probes:
        ports: list[int] = []
        while len(ports) < count:
            probe = probes.enter_context(socket.socket())
            probe.bind(("127.0.0.1", 0))
            if (port := int(probe.getsockname()[1])) not in reserved:
                ports.append(port)
        return ports


@dataclass
class RayHead:
    process: subprocess.Popen[bytes]
    dashboard_url: str
    gcs_address: str
    token: str
    log_path: Path

    @classmethod
    def start(
        cls,
        log_path: Path,
        *,
        gcs_port: int = 6380,
        dashboard_port: int = 8265,
        num_cpus: float | None = None,
        num_gpus: float | None = None,
        token: str | None = None,
        temp_dir: Path | None = None,
        timeout: float = 180.0,
        reserved_ports: Collection[int] = (),
    ) -> RayHead:
        """Start the head and wait until its Jobs API answers and it has reported its resources.

        `temp_dir`: default /tmp/ray-ab-<gcs port>, never the /tmp/ray other heads on the machine share.

        `reserved_ports`: ports the caller picked for something else (the API) that Ray must not take."""
        check_ports(gcs_port=gcs_port, dashboard_port=dashboard_port)
        temp_dir = temp_dir or default_temp_dir(gcs_port)
        token = token or secrets.token_hex(16)
        client_port, agent_port = free_ports(2, reserved={gcs_port, dashboard_port, *reserved_ports})
        bin_dir = Path(sys.executable).parent
        ray = bin_dir / "ray" if (bin_dir / "ray").exists() else Path("ray")
        command = [
            str(ray), "start", "--head", "--block", "--disable-usage-stats",
            "--node-ip-address=127.0.0.1", f"--port={gcs_port}",
            "--include-dashboard=true", "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard_port}",
            f"--ray-client-server-port={client_port}", f"--dashboard-agent-listen-port={agent_port}",
        ]  # fmt: skip
        if num_cpus is not None:
            command.append(f"--num-cpus={num_cpus:g}")
        if num_gpus is not None:
            command.append(f"--num-gpus={num_gpus:g}")
        command.append(f"--temp-dir={temp_dir}")
        env = os.environ | {
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN": token,
            # what this cluster's own processes (Ray Train's state-API calls) connect to, even when other
            # Ray clusters run on the machine: without it they may pick another and time out
            "RAY_ADDRESS": f"127.0.0.1:{gcs_port}",
            "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0",  # a local head has nothing to drain: stop at once
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=_stop_with_parent(),
            )  # fmt: skip
        head = cls(process, f"http://127.0.0.1:{dashboard_port}", f"127.0.0.1:{gcs_port}", token, log_path)
        head._wait_ready(timeout)
        return head

    def _wait_ready(self, timeout: float) -> None:
        client = RayJobs(self.dashboard_url, self.token, timeout=5.0)
        deadline = time.monotonic() + timeout
        try:
            while True:
                if self.process.poll() is not None:
                    raise RayHeadError(
                        f"`ray start` exited with {self.process.returncode}; see {self.log_path}"
                    )
                try:
                    client.resources()
                    return
                except RayUnavailableError as error:
                    if time.monotonic() > deadline:
                        self.stop()
                        raise RayHeadError(f"Ray head not ready after {timeout:g} s: {error}") from error
                time.sleep(0.5)
        finally:
            client.close()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the live Ray jobs (their drivers run in sessions of their own), SIGTERM the head (Ray shuts
        its processes down), then SIGKILL whatever is left of its process group."""
        if self.process.poll() is None:
            self._stop_jobs(deadline=time.monotonic() + 15)
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()

    def _stop_jobs(self, deadline: float) -> None:
        client = RayJobs(self.dashboard_url, self.token, timeout=5.0)
        try:
            live = [job.submission_id for job in client.jobs() if not job.terminal]
            for submission in live:
                client.stop(submission)
            while live and time.monotonic() < deadline:
                time.sleep(0.5)
                live = [job.submission_id for job in client.jobs() if not job.terminal]
        except RayUnavailableError:
            pass  # the head is already going: nothing left to ask
        finally:
            client.close()
