"""The one place where domain errors become HTTP status codes, with one JSON error shape for all of them."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ab_core.errors import AbError, CheckpointError, DataError, SpecError
from ab_core.specs import problem_lines
from services import errors
from services.ray_jobs import RayUnavailableError

SPEC_KINDS = ("pretrain", "evaluate", "sweep")
UNPARSABLE_BODY = "not a JSON document in UTF-8, or nested deeper than the JSON parser allows (~1000 levels)"

STATUS_OF: dict[type[AbError], int] = {
    errors.NotFoundError: 404,
    errors.UnauthorizedError: 401,
    errors.ForbiddenError: 403,
    errors.ConflictError: 409,
    errors.SpecRejectedError: 422,
    errors.InvalidArtifactError: 422,
    errors.InvalidEventError: 422,
    errors.InvalidOwnerError: 422,
    errors.InvalidInputError: 422,
    errors.PayloadTooLargeError: 413,
    errors.DatabaseUnavailableError: 503,
    RayUnavailableError: 503,
    SpecError: 422,
    DataError: 422,
    CheckpointError: 422,
    AbError: 400,
}


def status_of(error: AbError) -> int:
    """The status of the nearest class in the error's MRO that the table names."""
    for cls in type(error).__mro__:
        if cls in STATUS_OF:
            return STATUS_OF[cls]
    return 400


def error_response(status: int, kind: str, detail: str, problems: list[str] | None = None) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    if status == 503:
        headers["Retry-After"] = "5"
    body = {"detail": detail, "type": kind, "problems": problems or []}
    return JSONResponse(body, status_code=status, headers=headers)


async def domain_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, AbError)
    problems = getattr(error, "problems", None)
    detail = str(error).splitlines()[0] if problems else str(error)
    return error_response(status_of(error), type(error).__name__, detail, problems)


def _problem_lines(item: dict[str, Any]) -> list[str]:
    loc = [str(part) for part in item.get("loc", ())]
    if loc and loc[0] in ("body", "query", "path", "header"):
        loc = loc[1:] if loc[0] == "body" else loc
    if loc[:1] == ["spec"] and len(loc) > 1 and loc[1] in SPEC_KINDS:
        del loc[1]  # the tag pydantic adds for the union of job and sweep specs
    return problem_lines(".".join(loc) or "<body>", str(item.get("msg", "invalid")))


async def http_error(_request: Request, error: Exception) -> JSONResponse:
    """Starlette's and FastAPI's own refusals (an unknown path, a wrong method, a body that does not
    parse) in the same envelope as every other error."""
    assert isinstance(error, StarletteHTTPException)
    if error.status_code == 400:  # FastAPI could not parse the body: not UTF-8, or nested too deep
        problems = [f"<body>: {UNPARSABLE_BODY}"]
        return error_response(400, "MalformedBodyError", "the request body could not be parsed", problems)
    try:
        kind = HTTPStatus(error.status_code).phrase.replace(" ", "").replace("-", "") + "Error"
    except ValueError:  # a status code without a standard phrase
        kind = "HTTPError"
    response = error_response(error.status_code, kind, str(error.detail))
    response.headers.update(error.headers or {})
    return response


async def validation_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    problems = [line for item in error.errors() for line in _problem_lines(item)]
    return error_response(422, "RequestValidationError", "invalid request", problems)


def install(app: FastAPI) -> None:
    app.add_exception_handler(AbError, domain_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
