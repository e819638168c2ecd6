"""The TorchTrainer of a service job: Ray Train's failure policy, except that a user's error is final.

Ray Train restarts the worker group after any worker error, up to `FailureConfig.max_failures`: right
for a lost worker (it resumes from the last checkpoint), wrong for a corrupt image or a bug in a method,
which fails the same way every time. Ray 2.60 offers no public hook for the decision, so the trainer
wraps the policy it hands its controller (the one private method overridden here).
"""

from __future__ import annotations

from typing import Any

from ray.train.torch import TorchTrainer
from ray.train.v2._internal.execution.failure_handling import FailureDecision, FailurePolicy

from workers.failures import user_cause


class UserErrorsAreFinal(FailurePolicy):
    """RAISE at once when every failed worker raised from user code; otherwise Ray's own decision."""

    def __init__(self, inner: FailurePolicy):
        super().__init__(inner.failure_config)
        self.inner = inner

    def make_decision(self, training_failed_error: Any) -> FailureDecision:
        if user_cause(training_failed_error) is not None:
            return FailureDecision.RAISE
        return self.inner.make_decision(training_failed_error)


class JobTrainer(TorchTrainer):
    """A TorchTrainer whose controller runs with `UserErrorsAreFinal`."""

    def _initialize_and_run_controller(self, **controller_init_kwargs: Any) -> Any:
        policy = controller_init_kwargs["failure_policy"]
        controller_init_kwargs["failure_policy"] = UserErrorsAreFinal(policy)
        return super()._initialize_and_run_controller(**controller_init_kwargs)
