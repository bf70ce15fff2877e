"""The OpenAPI document, with every error answer the API can give declared on each operation.

Every error is an ``application/problem+json`` body (``api.problems``), but FastAPI declares
only the 422 of request validation, as plain JSON with its own shape. Rather than a
``responses=`` map on every route, the statuses an operation can answer are derived here from
what the operation is, once, when the document is built:

- every operation: 500 (the catch-all in ``api.errors``); 503 ``request_timeout`` for the
  operations the request timeout covers (``api.timeout``: all but webhooks);
- an operation with parameters or a body: 422 (request validation, or a domain ``Invalid``);
- an operation with a body: 400 (not JSON at all), 413 (the body limit), and 415 where
  the route says so;
- an operation behind a bearer token: 401, 403, and 429 (failed authentication throttled,
  with ``Retry-After``; ``api.deps``);
- an operation with path or query parameters, or a body (ids it refers to): 404;
- an operation that changes something (not GET): 409 (a conflict or a refused transition).

Statuses a route declares itself keep their description and gain the problem body.
"""

from __future__ import annotations

from typing import Any

PROBLEM = "application/problem+json"
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An error (RFC 9457 style): a stable machine-readable code and a sentence; "
    "some codes add fields (fields, errors, checks, correlation_id on 5xx).",
    "type": "object",
    "required": ["status", "code", "detail"],
    "properties": {
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "code": {"type": "string"},
        "detail": {"type": "string"},
        "correlation_id": {"type": "string"},
    },
    "additionalProperties": True,
}
RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds to wait before trying again",
        "schema": {"type": "integer", "minimum": 1},
    }
}
DESCRIPTIONS = {
    400: "the body cannot be parsed",
    401: "no valid credentials",
    403: "the token's role may not do this",
    404: "something the request names does not exist",
    409: "the request conflicts with the current state",
    413: "the body is over the configured limit",
    422: "the request is not valid (problem code invalid_request names the fields)",
    429: "too many failed authentications or requests: wait Retry-After seconds",
    500: "the server failed; quote the correlation id",
    503: "the request took longer than the request timeout (it may still complete), "
    "or the service is not ready",
}
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def problem_statuses(method: str, operation: dict[str, Any], *, timeout_applies: bool) -> set[int]:
    """The error statuses ``operation`` may answer, by what it is (see the module doc)."""
    statuses = {500}
    if timeout_applies:
        statuses.add(503)
    params = operation.get("parameters", [])
    has_body = "requestBody" in operation
    if params or has_body:
        statuses |= {404, 422}
    if has_body:
        statuses |= {400, 413}
    if operation.get("security"):
        statuses |= {401, 403, 429}
    if method != "get":
        statuses.add(409)
    return statuses


def declare_problems(document: dict[str, Any], *, untimed_prefixes: tuple[str, ...]) -> None:
    """Add the problem responses to every operation of ``document`` (in place)."""
    document.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    schemas = document["components"]["schemas"]
    # FastAPI's own validation-error shapes are never sent: the 422 is a problem.
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    for path, item in document.get("paths", {}).items():
        timeout_applies = not path.startswith(untimed_prefixes)
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            responses: dict[str, Any] = operation.setdefault("responses", {})
            declared = {int(s) for s in responses if s.isdigit() and int(s) >= 400}
            statuses = declared | problem_statuses(
                method, operation, timeout_applies=timeout_applies
            )
            for status in sorted(statuses):
                entry = responses.setdefault(str(status), {})
                entry.setdefault("description", DESCRIPTIONS.get(status, "a problem"))
                entry["content"] = {PROBLEM: {"schema": PROBLEM_REF}}
                if status == 429:
                    entry["headers"] = RETRY_AFTER
