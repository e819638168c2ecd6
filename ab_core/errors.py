"""Domain errors of ab_core; every message names the bad value and what would be accepted."""


class AbError(Exception):
    """Base class of every error this project raises on purpose."""


class SpecError(AbError):
    """A job spec that does not validate; `problems` lists one line per bad field."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid job spec:\n" + "\n".join(f"  - {p}" for p in problems))


class DataError(AbError):
    """A dataset that is missing, in the wrong layout, or holds an unreadable file."""


class CheckpointError(AbError):
    """A weight file or checkpoint directory that is missing or does not fit the model."""


class TrainingError(AbError):
    """Training that cannot go on: a non-finite loss, a dataset smaller than one batch, a resume mismatch."""
