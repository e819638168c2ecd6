"""The API's documents: `/openapi.json` for users (no worker endpoints) and a full one for worker code.

`/docs` and `/redoc` come from `fastapi_offline.FastAPIOffline`, which serves Swagger UI's and ReDoc's
files from the installed package, so they work on a machine with no internet.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

INTERNAL_PREFIX = "/v1/internal/"
FULL_SCHEMA_URL = "/v1/internal/openapi.json"
SWAGGER_UI_PARAMETERS = {"validatorUrl": None}  # Swagger UI's badge asks validator.swagger.io otherwise
_REF = re.compile(r'"#/components/schemas/([^"]+)"')


def _refs(node: Any) -> set[str]:
    return set(_REF.findall(json.dumps(node)))


def without_internal(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` less the worker endpoints and the component schemas only they use."""
    paths = {path: item for path, item in schema["paths"].items() if not path.startswith(INTERNAL_PREFIX)}
    components = schema.get("components", {})
    models = components.get("schemas", {})
    kept: set[str] = set()
    wanted = _refs(paths)
    while wanted:  # every model a public path reaches, through any chain of $ref
        name = wanted.pop()
        if name not in kept:
            kept.add(name)
            wanted |= _refs(models[name])
    models = {name: model for name, model in models.items() if name in kept}
    return {**schema, "paths": paths, "components": {**components, "schemas": models}}


def install(app: FastAPI) -> None:
    """Leave the worker-only endpoints out of `/openapi.json` (they keep working) and serve the whole API,
    worker endpoints included, unlisted at FULL_SCHEMA_URL (for worker developers and the fuzz tests).
    Call it once every router is included."""

    @functools.cache
    def public_openapi() -> dict[str, Any]:
        return without_internal(FastAPI.openapi(app))

    @app.get(FULL_SCHEMA_URL, include_in_schema=False)
    def full_openapi() -> JSONResponse:
        return JSONResponse(FastAPI.openapi(app))

    app.openapi = public_openapi  # type: ignore[method-assign]
