"""What the service adds to a sweep: the same trials as a bare Ray Tune script and as a service sweep.

Both run as Ray jobs on one local Ray head, alternately, over the same synthetic data: three SimCLR trials
(a temperature grid), each a TorchTrainer running ab_core's training loop, as many at once as the cluster
holds. The bare script is the Train V2 + Tune pattern with nothing else; the service adds the queue, the
dispatcher, a child job per trial with its progress history in SQL, and the best trial's artifacts.

Figure (median over --rounds, one JSON line): submit -> terminal wall time, as a polling client sees it
(Ray's job status for the bare script, GET /v1/jobs/{id} for the service), and their ratio.

    .venv/bin/python bench/sweep_overhead.py --rounds 2
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
POLL_SECONDS = 0.1
TEMPERATURES = [0.1, 0.5, 1.0]


def sweep_spec(data_root: Path, steps: int) -> dict[str, Any]:
    trial = {"kind": "pretrain", "method": {"method": "simclr"}, "schedule": {"steps": steps},
             "data": {"dataset": "image_folder", "root": str(data_root), "resize": 32, "crop": 32,
                      "batch_size": 8}}  # fmt: skip
    return {"kind": "sweep", "trial": trial, "space": {"method.temperature": {"grid": TEMPERATURES}}}


def bare_tuner(spec_file: str, storage: str) -> int:
    """The baseline, run as a Ray job: a Tuner whose trials each fit a TorchTrainer of ab_core's loop."""
    import ray
    from ray import tune
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer
    from ray.tune.integration.ray_train import TuneReportCallback

    from ab_core.sweeps import SweepSpec
    from workers.search_space import max_concurrent_trials
    from workers.train_fn import train_fn

    spec = SweepSpec.model_validate_json(Path(spec_file).read_text())

    def trial(config: dict[str, Any]) -> None:
        trial_spec = spec.trial_spec(config["params"])
        TorchTrainer(
            train_fn,
            train_loop_config={"spec": trial_spec.model_dump(mode="json"), "job_id": "bare"},
            scaling_config=ScalingConfig(num_workers=1, resources_per_worker={"CPU": 1}),
            run_config=RunConfig(name=tune.get_context().get_trial_id(), storage_path=storage,
                                 callbacks=[TuneReportCallback()]),  # fmt: skip
        ).fit()

    ray.init()
    concurrent = max_concurrent_trials(spec, ray.cluster_resources())
    tuner = tune.Tuner(
        tune.with_resources(trial, {"cpu": 0, "memory": 1 << 20}),
        param_space={"params": {"method.temperature": tune.grid_search(TEMPERATURES)}},
        tune_config=tune.TuneConfig(metric="loss", mode="min", max_concurrent_trials=concurrent),
        run_config=tune.RunConfig(name="tune", storage_path=storage, verbose=0),
    )
    best = tuner.fit().get_best_result()
    print(f"best={best.config} loss={best.metrics['loss']}", flush=True)
    return 0


def bare_round(ray: Any, index: int, spec_file: Path, work: Path) -> float:
    name = f"bare-sweep-{index}-{time.time_ns()}"
    entrypoint = f"{sys.executable} {Path(__file__).resolve()} --bare-tuner {spec_file} {work / name}"
    submitted = time.time()
    ray.submit(name, entrypoint, {"PYTHONPATH": str(ROOT)})
    while not (info := ray.info(name)).terminal:
        time.sleep(POLL_SECONDS)
    assert info.status == "SUCCEEDED", ray.logs(name)
    return time.time() - submitted


def service_round(http: Any, spec: dict[str, Any]) -> float:
    submitted = time.time()
    job_id = http.post("/v1/jobs", json={"spec": spec}).raise_for_status().json()["id"]
    while (job := http.get(f"/v1/jobs/{job_id}").json())["state"] not in ("succeeded", "failed", "cancelled"):
        time.sleep(POLL_SECONDS)
    assert job["state"] == "succeeded", job
    trials = http.get("/v1/jobs", params={"parent": job_id}).json()["items"]
    assert len(trials) == len(TEMPERATURES) and all(t["state"] == "succeeded" for t in trials)
    return time.time() - submitted


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=20, help="optimiser steps per trial")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from embedded_service import embedded_service

    from ab_core.data.synth import generate

    work = Path(tempfile.mkdtemp(prefix="abbench-"))
    generate(work / "synth", seed=0, size=32, per_category=8)
    spec = sweep_spec(work / "synth" / "classes", args.steps)
    spec_file = work / "sweep.json"
    spec_file.write_text(json.dumps(spec))
    bare: list[float] = []
    service: list[float] = []
    with embedded_service(work, dispatch_poll_seconds=0.5) as embedded:
        for index in range(args.rounds):  # alternate, so drift hits both alike
            bare.append(bare_round(embedded.ray, index, spec_file, work))
            service.append(service_round(embedded.http, spec))
    bare_s, service_s = statistics.median(bare), statistics.median(service)
    print(json.dumps({"bench": "sweep_overhead", "figure": "submit_to_terminal_s", "rounds": args.rounds,
                      "trials": len(TEMPERATURES), "steps_per_trial": args.steps,
                      "bare_tuner": round(bare_s, 2), "service": round(service_s, 2),
                      "bare_tuner_rounds": [round(x, 1) for x in bare],
                      "service_rounds": [round(x, 1) for x in service],
                      "ratio": round(service_s / bare_s, 3), "target_ratio_max": 1.1}))  # fmt: skip
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--bare-tuner":
        sys.exit(bare_tuner(sys.argv[2], sys.argv[3]))
    sys.exit(main())
