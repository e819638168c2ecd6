"""Domain errors of the control plane; `api.errors` maps each class to one HTTP status code."""

from __future__ import annotations

from ab_core.errors import AbError


class ServiceError(AbError):
    """Base of the control plane's own errors."""


class NotFoundError(ServiceError):
    """A job, artifact or token that does not exist, or that belongs to another owner."""


class UnauthorizedError(ServiceError):
    """A request without a valid API or job token."""


class ForbiddenError(ServiceError):
    """A valid token that lacks the scope the request needs (e.g. admin)."""


class ConflictError(ServiceError):
    """A request that contradicts the current state of a resource."""


class IllegalTransitionError(ConflictError):
    """A job state change the state machine forbids, e.g. anything out of a terminal state."""


class StaleAttemptError(ConflictError):
    """A worker write for an attempt that is no longer the job's live claim."""


class IdempotencyConflictError(ConflictError):
    """An `Idempotency-Key` reused by the same owner for a different spec."""


class SpecRejectedError(ServiceError):
    """A spec that validates but that this service refuses (dataset outside the allowed roots ...)."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("job spec rejected:\n" + "\n".join(f"  - {p}" for p in problems))


class InvalidArtifactError(ServiceError):
    """An artifact whose path is missing or lies outside the job's storage directory."""


class InvalidInputError(ServiceError):
    """A value the database cannot store (a NUL byte in text, a number out of range)."""


class InvalidOwnerError(ServiceError):
    """An API token requested for an empty or overlong owner name."""


class InvalidEventError(ServiceError):
    """An event a worker may not post (unknown kind)."""


class PayloadTooLargeError(ServiceError):
    """A request body over `AB_MAX_BODY_BYTES`."""


class DatabaseUnavailableError(ServiceError):
    """The database cannot be reached; the request may be retried later."""
