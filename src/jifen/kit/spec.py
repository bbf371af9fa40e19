"""The OpenAPI document says what the server does, not what FastAPI assumes.

FastAPI documents its own 422 body (`detail` as a list); jifen answers `{error, detail, errors}` with
`detail` a sentence. It cannot know that a body that does not parse is a 400 (`invalid_json`,
`invalid_body`), that control characters anywhere are refused at the edge (`invalid_characters`, see
`kit/control.py`), or what a missing or reused Idempotency-Key answers. One pass over the generated
document adds all of that to every operation it applies to.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

ERROR_REF = "#/components/schemas/ErrorBody"
VALIDATION_REF = "#/components/schemas/ValidationErrorBody"

VALIDATION_SCHEMAS: dict[str, Any] = {
    "ValidationErrorItem": {
        "title": "ValidationErrorItem",
        "type": "object",
        "properties": {
            "loc": {
                "title": "Loc",
                "type": "array",
                "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            },
            "msg": {"title": "Msg", "type": "string"},
            "type": {"title": "Type", "type": "string"},
            "message": {"title": "Message", "type": "string", "description": "the error in Chinese"},
        },
        "required": ["loc", "msg", "type", "message"],
    },
    "ValidationErrorBody": {
        "title": "ValidationErrorBody",
        "type": "object",
        "description": "422 validation_error: `detail` sums the errors up in Chinese, `errors` lists them",
        "properties": {
            "error": {"title": "Error", "type": "string", "enum": ["validation_error"]},
            "detail": {"title": "Detail", "type": "string"},
            "errors": {
                "title": "Errors",
                "type": "array",
                "items": {"$ref": "#/components/schemas/ValidationErrorItem"},
            },
        },
        "required": ["error", "detail", "errors"],
    },
}


def _codes(response: dict[str, Any] | None) -> set[str]:
    if not response:
        return set()
    return {code for code in response.get("description", "").split(" | ") if code.isidentifier()}


def _declare(operation: dict[str, Any], status: str, *codes: str) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    known = _codes(responses.get(status))
    responses[status] = {
        "description": " | ".join(sorted(known | set(codes))),
        "content": {"application/json": {"schema": {"$ref": ERROR_REF}}},
    }


def shape(spec: dict[str, Any]) -> dict[str, Any]:
    schemas: dict[str, Any] = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas.update(VALIDATION_SCHEMAS)
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            responses: dict[str, Any] = operation.setdefault("responses", {})
            if "422" in responses:
                # a few refusals of the service itself are 422 too (declared with `error_responses`)
                own = _codes(responses["422"])
                schema: dict[str, Any] = {"$ref": VALIDATION_REF}
                if own:
                    schema = {"anyOf": [schema, {"$ref": ERROR_REF}]}
                responses["422"] = {
                    "description": " | ".join(["validation_error", *sorted(own)]),
                    "content": {"application/json": {"schema": schema}},
                }
            parameters = operation.get("parameters", [])
            body = operation.get("requestBody", {}).get("content", {})
            refusals = []
            if parameters or body:
                refusals.append("invalid_characters")
            if "application/json" in body:
                refusals.append("invalid_json")
            if "multipart/form-data" in body or "application/x-www-form-urlencoded" in body:
                refusals.append("invalid_body")
            if any(p.get("in") == "header" and p.get("name") == "Idempotency-Key" for p in parameters):
                refusals.append("idempotency_key_required")
                _declare(operation, "409", "idempotency_key_reused")
            if refusals:
                _declare(operation, "400", *refusals)
            operation["responses"] = dict(sorted(responses.items()))
    return spec


def install(app: FastAPI) -> None:
    """Shape the document FastAPI generates, once, when it is first asked for."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = shape(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
