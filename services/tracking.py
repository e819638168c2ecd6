"""Every job as an MLflow run: when a job ends, a background thread logs it from SQL; never failing a job.

On with `AB_MLFLOW_TRACKING_URI` (or `abs serve --mlflow`): the control plane's event bus is wrapped so
that each terminal state event hands its job to the tracker (every way a job ends publishes one). A run
is found again by its `ab.job_id` tag, so logging a job twice (a retry, a restart) fills the one run; a
sweep's run is the parent (`mlflow.parentRunId`) of its trials' runs. mlflow is imported on first use.
"""

from __future__ import annotations

import importlib.util
import logging
import queue
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from services.bus import EventBus, Signal, SignalKind
from services.db import Database
from services.errors import ServiceError
from services.records import EventRecord, JobRecord
from services.settings import Settings
from services.tracked_run import JOB_ID_TAG, job_record, millis, read_run, run_name

log = logging.getLogger(__name__)

EXPERIMENT = "anomaly-backbone"
INSTALL_EXTRA = "pip install 'anomaly-backbone-service[mlflow]'"


class MlflowMissingError(ServiceError):
    """A tracking URI is set where the `mlflow` extra is not installed."""


def local_store_uri(data_dir: Path) -> str:
    """`abs serve --mlflow` with no URI: a SQLite store under the service's home (MLflow 3's default kind;
    its file store refuses to open without an opt-in)."""
    return f"sqlite:///{(data_dir / 'mlflow' / 'mlflow.db').expanduser().resolve()}"


def track_ended_jobs(bus: EventBus, db: Database, settings: Settings) -> EventBus:
    """`bus` itself when no tracking URI is set, else `bus` logging each job that ends as an MLflow run."""
    uri = settings.mlflow_tracking_uri
    if not uri:
        return bus
    require_mlflow(uri)
    return TrackedBus(bus, MlflowTracker(db, uri))


def require_mlflow(uri: str | None) -> None:
    """MlflowMissingError, naming the extra, when a tracking URI is set and mlflow is not installed."""
    if uri and importlib.util.find_spec("mlflow") is None:
        raise MlflowMissingError(
            f"the MLflow tracking URI is {uri!r} but mlflow is not installed; install the mlflow extra "
            f"({INSTALL_EXTRA}), or unset AB_MLFLOW_TRACKING_URI"
        )


class MlflowTracker:
    """Logs ended jobs one at a time in a daemon thread; a job it cannot log is a warning, never an error."""

    def __init__(self, db: Database, uri: str):
        self.db, self.uri = db, uri
        self._todo: queue.Queue[str | None] = queue.Queue()
        self._client: Any = None  # mlflow.MlflowClient, made on first use
        self._experiment_id = ""
        threading.Thread(target=self._work, name="mlflow-tracking", daemon=True).start()
        log.info("MLflow: every job that ends is logged to %s, experiment %r", uri, EXPERIMENT)

    def job_ended(self, job_id: str) -> None:
        self._todo.put(job_id)

    def flush(self, timeout: float = 60.0) -> bool:
        """Wait until every job handed over so far is logged or given up on; False if `timeout` ran out."""
        deadline = time.monotonic() + timeout
        with self._todo.all_tasks_done:
            while self._todo.unfinished_tasks:
                if (left := deadline - time.monotonic()) <= 0:
                    return False
                self._todo.all_tasks_done.wait(left)
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Log what is pending (for up to `timeout` seconds), then stop the thread."""
        self.flush(timeout)
        self._todo.put(None)

    def _work(self) -> None:
        while (job_id := self._todo.get()) is not None:
            try:
                self.log_job(job_id)
            except Exception as error:  # noqa: BLE001  (MLflow down, a bad store: the job stays as it ended)
                log.warning("MLflow at %s: job %s was not logged: %s", self.uri, job_id, error)
            finally:
                self._todo.task_done()
        self._todo.task_done()

    def log_job(self, job_id: str) -> str:
        """Log a finished job into its run (params, tags, metric history, artifacts, end); the run's id."""
        from mlflow.entities import Metric, Param, RunTag

        client = self._connect()
        with self.db.read() as session:
            run = read_run(session, job_record(session, job_id))
        run_id = self._run_id(run.job)
        logged = self._logged_points(run_id)
        client.log_batch(
            run_id,
            metrics=[Metric(point.key, point.value, point.timestamp_ms, point.step)
                     for point in run.metrics if (point.key, point.step) not in logged],
            params=[Param(key, value) for key, value in run.params.items()],
            tags=[RunTag(key, value) for key, value in run.tags.items()],
        )  # fmt: skip
        for path, folder in run.artifacts:
            client.log_artifact(run_id, str(path), folder)
        client.set_terminated(run_id, run.status, run.end_ms)
        return run_id

    def _run_id(self, job: JobRecord) -> str:
        """The run tagged with the job's id, else a new one (nested under its parent job's run)."""
        found = self._client.search_runs(
            [self._experiment_id], filter_string=f"tags.`{JOB_ID_TAG}` = '{job.id}'", max_results=1
        )
        if found:
            return str(found[0].info.run_id)
        tags = {JOB_ID_TAG: job.id}
        if job.parent_id is not None:  # a sweep's trial: its sweep's run is made first if it has none yet
            with self.db.read() as session:
                tags["mlflow.parentRunId"] = self._run_id(job_record(session, job.parent_id))
        start = millis(job.started_at or job.created_at)
        run = self._client.create_run(self._experiment_id, start, tags, run_name=run_name(job))
        return str(run.info.run_id)

    def _logged_points(self, run_id: str) -> set[tuple[str, int]]:
        """(metric, step) pairs the run already holds, so logging a job again adds no duplicate points."""
        keys = self._client.get_run(run_id).data.metrics
        return {(key, metric.step) for key in keys for metric in self._client.get_metric_history(run_id, key)}

    def _connect(self) -> Any:
        if self._client is None:
            from mlflow.tracking import MlflowClient

            artifacts = None
            if self.uri.startswith("sqlite:"):  # artifacts beside the database, not in the cwd's ./mlruns
                database = Path(make_url(self.uri).database or "mlflow.db").expanduser().resolve()
                database.parent.mkdir(parents=True, exist_ok=True)
                artifacts = (database.parent / "artifacts").as_uri()
            client = MlflowClient(tracking_uri=self.uri)
            experiment = client.get_experiment_by_name(EXPERIMENT)
            if experiment is None:
                self._experiment_id = client.create_experiment(EXPERIMENT, artifact_location=artifacts)
            else:
                self._experiment_id = experiment.experiment_id
            self._client = client
        return self._client


class TrackedBus(EventBus):
    """An event bus that also hands each job that ended to the tracker, after fanning its event out."""

    def __init__(self, inner: EventBus, tracker: MlflowTracker):
        self.inner, self.tracker = inner, tracker

    def publish(self, event: EventRecord) -> None:
        self.inner.publish(event)
        if event.terminal:
            self.tracker.job_ended(event.job_id)

    async def listen(self, job_id: str, after_seq: int, timeout: float) -> list[EventRecord]:
        return await self.inner.listen(job_id, after_seq, timeout)

    def signal(self, kind: SignalKind, job_id: str) -> None:
        self.inner.signal(kind, job_id)

    def wait_for_signals(self, timeout: float) -> list[Signal]:
        return self.inner.wait_for_signals(timeout)

    def ping(self) -> None:
        self.inner.ping()

    def close(self) -> None:
        self.tracker.close()
        self.inner.close()
