"""Fuzzing the API with schemathesis, for the CI test and for the figures in docs/benchmarks.md.

Three passes over the app's own OpenAPI schema (the full one, worker endpoints included): every operation
with generated requests (valid and invalid, half of those with a job id aimed at a real job);
`POST /v1/jobs` with valid specs whose data lies under an allowed root (so jobs get created); linked runs,
each creating a job then sending generated requests to the operations on that job (read, cancel, events,
artifacts, and the internal ones with a live lease); and schemathesis' own state machine over the links
it infers. Each response is checked for a server error and for conformance to the schema; findings are
collected, not raised at the first.

    .venv/bin/python -m tests.api.fuzzing --backend sqlite --examples 80 --valid 400 --linked 150
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, response_schema_conformance

from api.app import create_app
from api.docs import FULL_SCHEMA_URL
from services.plane import ControlPlane
from services.settings import Settings, load_settings
from services.testing import reset_database, sample_spec, throwaway_database

EXCLUDED = r"/(stream|download|logs)$"  # a live stream never ends; downloads and Ray logs: own tests
CHECKS = [not_a_server_error, response_schema_conformance]


@dataclass
class Tally:
    """Every request sent, by pass and status, and every failed check."""

    cases: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    findings: list[str] = field(default_factory=list)

    def record(self, pass_name: str, case: Any, response: Any) -> None:
        self.cases[pass_name] += 1
        self.statuses[f"{case.operation.method.upper()} {case.operation.path} {response.status_code}"] += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except Exception as error:  # noqa: BLE001  (a failed check is a finding to report)
            line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            self.findings.append(f"{pass_name}: {case.operation.method.upper()} {case.operation.path} "
                                 f"-> {response.status_code}: {line}")  # fmt: skip

    def created_jobs(self) -> int:
        return sum(n for key, n in self.statuses.items() if key == "POST /v1/jobs 201")

    def summary(self) -> dict[str, Any]:
        submits = {key.rsplit(" ", 1)[1]: n for key, n in self.statuses.items()
                   if key.startswith("POST /v1/jobs ")}  # fmt: skip
        return {"cases": sum(self.cases.values()), "by_pass": dict(self.cases), "submit_statuses": submits,
                "jobs_created": self.created_jobs(), "findings": len(self.findings),
                "distinct_findings": sorted(set(self.findings))[:20]}  # fmt: skip


def bounded(examples: int, **extra: Any) -> hypothesis_settings:
    return hypothesis_settings(
        max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
        database=None, **extra,
    )  # fmt: skip


def base_specs(root: str) -> list[dict[str, Any]]:
    """One valid spec per registered method whose parameters all have defaults, its data under `root`."""
    from ab_core import registry
    from ab_core.specs import parse_spec

    specs = []
    for name, entry in registry.entries().items():
        for dataset in ("image_folder", "mvtec"):
            spec = {"kind": entry.role, "method": {"method": name}, "schedule": {"steps": 1},
                    "data": {"dataset": dataset, "root": root, "resize": 32, "crop": 32}}  # fmt: skip
            try:
                parse_spec(spec)
            except Exception:  # noqa: BLE001  (needs parameters, or another dataset)
                continue
            specs.append(spec)
            break
    return specs


def valid_bodies(root: str) -> st.SearchStrategy[dict[str, Any]]:
    """POST /v1/jobs bodies that pass validation and the service's policy: registered methods with
    generated seeds, lengths, learning rates, priorities and attempt limits."""
    def body(spec: dict[str, Any], seed: int, steps: int, lr: float, priority: int, attempts: int | None):
        spec = {**spec, "seed": seed, "schedule": {"steps": steps}, "optim": {"lr": lr}}
        extra = {"max_attempts": attempts} if attempts is not None else {}
        return {"spec": spec, "priority": priority, **extra}

    return st.builds(
        body, st.sampled_from(base_specs(root)), st.integers(0, 2**31 - 1), st.integers(1, 10**6),
        st.floats(1e-6, 10.0), st.integers(-1000, 1000), st.none() | st.integers(1, 100),
    )  # fmt: skip


class Fuzzer:
    """The three passes against one app; `alice` and `worker` are Authorization headers."""

    def __init__(self, settings: Settings, plane: ControlPlane):
        self.app, self.plane = create_app(settings, plane), plane
        self.root = str(settings.dataset_roots()[0] / "fuzz")
        self.tally = Tally()
        alice = plane.tokens.create("alice")
        self.alice = {"Authorization": f"Bearer {alice}"}
        job, _ = plane.jobs.submit(plane.tokens.verify(alice), _parse(sample_spec(self.root)))
        (claim,) = plane.queue.claim("fuzz", lease_seconds=3600, job_ids=[job.id])
        self.job_id, self.worker = job.id, {"Authorization": f"Bearer {claim.worker_token}"}

    def schema(self) -> Any:
        return schemathesis.openapi.from_asgi(FULL_SCHEMA_URL, self.app).exclude(path_regex=EXCLUDED)

    def headers(self, path: str) -> dict[str, str]:
        return self.worker if "/internal/" in path else self.alice

    def every_operation(self, examples: int) -> int:
        operations = [result.ok() for result in self.schema().get_all_operations()]
        for operation in operations:
            self._fuzz(operation, examples)
        return len(operations)

    def _fuzz(self, operation: Any, examples: int) -> None:
        both_modes = st.one_of(
            operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
            operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
        )

        @given(case=both_modes, real_job=st.booleans())
        @bounded(examples)
        def run(case: Any, real_job: bool) -> None:
            if case.path_parameters and "job_id" in case.path_parameters and (
                "/internal/" in operation.path or real_job
            ):
                case.path_parameters["job_id"] = self.job_id  # past the 404 / 401 into the handlers
            self.tally.record("operations", case, case.call(headers=self.headers(operation.path)))

        run()

    def valid_submits(self, examples: int) -> None:
        (submit,) = [r.ok() for r in self.schema().get_all_operations() if r.ok().path == "/v1/jobs"
                     and r.ok().method.upper() == "POST"]  # fmt: skip
        strategy = submit.as_strategy(generation_mode=GenerationMode.POSITIVE)

        @given(case=strategy, body=valid_bodies(self.root))
        @bounded(examples)
        def run(case: Any, body: dict[str, Any]) -> None:
            case.body = body
            self.tally.record("valid_submits", case, case.call(headers=self.alice))

        run()

    def linked(self, scenarios: int, steps: int = 6) -> None:
        """Each scenario submits a valid job, claims it half of the time (so the internal endpoints meet a
        live lease), then sends `steps` generated requests, valid or not, to job-scoped operations with
        that job's id: the create -> read / cancel / events / result links, followed by hand."""
        operations = [r.ok() for r in self.schema().get_all_operations()]
        (submit,) = [op for op in operations if op.path == "/v1/jobs" and op.method.upper() == "POST"]
        scoped = [op for op in operations if "{job_id}" in op.path]
        modes = st.sampled_from([GenerationMode.POSITIVE, GenerationMode.NEGATIVE])

        @given(data=st.data())
        @bounded(scenarios)
        def run(data: st.DataObject) -> None:
            case = data.draw(submit.as_strategy(generation_mode=GenerationMode.POSITIVE))
            case.body, case.headers = data.draw(valid_bodies(self.root)), {}
            created = case.call(headers=self.alice)
            self.tally.record("linked", case, created)
            job_id = created.json()["id"]
            worker = dict(self.worker)
            if data.draw(st.booleans()):
                (claim,) = self.plane.queue.claim("fuzz", lease_seconds=3600, job_ids=[job_id])
                worker = {"Authorization": f"Bearer {claim.worker_token}"}
            for _ in range(steps):
                operation = data.draw(st.sampled_from(scoped))
                case = data.draw(operation.as_strategy(generation_mode=data.draw(modes)))
                case.path_parameters = {**(case.path_parameters or {}), "job_id": job_id}
                headers = worker if "/internal/" in operation.path else self.alice
                self.tally.record("linked", case, case.call(headers=headers))

        run()

    def stateful(self, scenarios: int, steps: int = 8) -> None:
        """Schemathesis' own state machine (links it infers). Its roots here are the cancel and result
        operations with random ids: POST /v1/jobs has an incoming link (`parent_id`), so it is no root,
        and `linked` follows the create links instead."""
        schema = self.schema()
        root, fuzzer = self.root, self

        bodies = valid_bodies(root)

        @schema.hook("flatmap_body")
        def valid_submits(context: Any, body: Any) -> Any:
            operation = context.operation
            if operation is not None and operation.method.upper() == "POST" and operation.path == "/v1/jobs":
                return st.one_of(bodies, st.just(body))  # mostly valid: jobs get made and followed
            return st.just(body)

        class Workflow(schema.as_state_machine()):  # type: ignore[misc]
            def get_call_kwargs(self, case: Any) -> dict[str, Any]:
                return {"headers": fuzzer.headers(case.operation.path)}

            def validate_response(self, response: Any, case: Any, *args: Any, **kwargs: Any) -> None:
                fuzzer.tally.record("stateful", case, response)

        Workflow.run(settings=bounded(scenarios, stateful_step_count=steps))


def _parse(raw: dict[str, Any]) -> Any:
    from ab_core.specs import parse_spec

    return parse_spec(raw)


@contextmanager
def fuzz_target(backend: str, work: Path) -> Iterator[Fuzzer]:
    with throwaway_database(backend, work) as db:
        reset_database(db)
        url = db.engine.url.render_as_string(hide_password=False)
        settings = load_settings(data_dir=work, database_url=url, redis_url=None, max_body_bytes=64 * 1024)
        yield Fuzzer(settings, ControlPlane.build(settings, db=db))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.api.fuzzing")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--examples", type=int, default=60, help="per operation, valid and invalid")
    parser.add_argument("--valid", type=int, default=300, help="POST /v1/jobs with valid specs")
    parser.add_argument("--linked", type=int, default=150, help="a job created, then 6 requests on it")
    parser.add_argument("--scenarios", type=int, default=60, help="schemathesis state machine runs")
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ab-fuzz-") as work, fuzz_target(args.backend, Path(work)) as fz:
        operations = fz.every_operation(args.examples)
        fz.valid_submits(args.valid)
        fz.linked(args.linked)
        fz.stateful(args.scenarios)
    summary = {"figure": "schemathesis", "backend": args.backend, "operations": operations,
               **fz.tally.summary(), "seconds": round(time.monotonic() - started, 1)}  # fmt: skip
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
