"""The HTTP error envelope: `{"errors": [{"attr": ..., "code": ..., "detail": ...}]}`.

Every error the server answers with has this shape, whatever raised it (validation, a
`DeskError` from the engine, auth, limits), so clients parse one format.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.errors import Conflict, DeskError, NotFound, RateLimited, StoreUnavailable
from core.identity import REJECTION_CODES as TOKEN_REJECTION_CODES

#: Pydantic error types mapped to our stable codes.
_VALIDATION_CODES = {
    "json_invalid": "invalid_json",
    "missing": "required",
    "extra_forbidden": "unknown_field",
    "string_too_long": "too_long",
    "string_too_short": "too_short",
    "model_type": "wrong_type",
    "model_attributes_type": "wrong_type",
    "dict_type": "wrong_type",
    "string_type": "wrong_type",
    "int_type": "wrong_type",
    "int_parsing": "wrong_type",
    "bool_type": "wrong_type",
    "literal_error": "invalid_choice",
    "enum": "invalid_choice",
}


class ApiError(Exception):
    """An error answer: HTTP status plus one envelope entry."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        attr: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.attr = attr
        self.headers = headers


def envelope(code: str, detail: str, attr: str | None = None) -> dict[str, Any]:
    return {"errors": [{"attr": attr, "code": code, "detail": detail}]}


def error_response(
    status: int,
    code: str,
    detail: str,
    attr: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(envelope(code, detail, attr), status_code=status, headers=headers)


#: What an answer says while the desk's database cannot be reached (503): try again after.
UNAVAILABLE_RETRY_AFTER_S = 2
UNAVAILABLE_DETAIL = "the desk's database cannot be reached just now; nothing was done, try again"


def desk_error_status(exc: DeskError) -> int:
    if isinstance(exc, StoreUnavailable):
        return 503
    if isinstance(exc, RateLimited):
        return 429
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Conflict):
        return 409
    return 400


#: The stable token rejection codes (docs/tokens.md).
REJECTION_CODES = frozenset(TOKEN_REJECTION_CODES)
_FIELDS = {"message": "body", "name": "name", "email": "email", "phone": "phone", "jwt": "jwt"}


def desk_error_attr(exc: DeskError) -> str | None:
    """The field an engine error names: its messages start with `field:` or `field ...`."""
    head = str(exc).split(":", 1)[0].split(" ", 1)[0].strip()
    return _FIELDS.get(head)


def api_error_from_desk(exc: DeskError, *, attr: str | None = None) -> ApiError:
    if isinstance(exc, StoreUnavailable):
        # Never the driver's message: it names the server, and it is no business of a caller.
        headers = {"Retry-After": str(UNAVAILABLE_RETRY_AFTER_S)}
        return ApiError(503, exc.code, UNAVAILABLE_DETAIL, headers=headers)
    detail = getattr(exc, "detail", None) or str(exc)
    if isinstance(exc, RateLimited):
        # About the caller's pace, not a field: Retry-After says when to come back.
        headers = {"Retry-After": str(exc.retry_after_s)}
        return ApiError(429, exc.code, str(detail), headers=headers)
    return ApiError(
        desk_error_status(exc), exc.code, str(detail), attr=attr or desk_error_attr(exc)
    )


async def handle_api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.detail, exc.attr, exc.headers)


async def handle_desk_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DeskError)
    return desk_error_response(exc)


def desk_error_response(exc: DeskError) -> JSONResponse:
    """The answer to an engine or store error (a 503 with Retry-After while the desk's
    database cannot be reached)."""
    error = api_error_from_desk(exc)
    return error_response(error.status, error.code, error.detail, error.attr, error.headers)


async def handle_validation_error(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 becomes our 400 envelope, one entry per problem."""
    assert isinstance(exc, RequestValidationError)
    errors = []
    for problem in exc.errors()[:20]:
        location = [str(part) for part in problem.get("loc", ())]
        kind = str(problem.get("type", "invalid"))
        if location[:1] in (["body"], ["query"], ["path"], ["header"], ["cookie"]):
            location = location[1:]
        if kind == "json_invalid":
            location = []
        code = _VALIDATION_CODES.get(kind, "invalid")
        if kind == "json_invalid":
            detail = "request body is not valid JSON"
        elif kind in ("model_attributes_type", "model_type", "dict_type") and not location:
            detail = "request body must be a JSON object"
        else:
            detail = str(problem.get("msg", "invalid value"))
        attr = ".".join(location)
        errors.append({"attr": attr or None, "code": code, "detail": detail})
    return JSONResponse({"errors": errors}, status_code=400)


async def handle_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}
    code = codes.get(exc.status_code, "http_error")
    return error_response(
        exc.status_code, code, str(exc.detail), headers=getattr(exc, "headers", None)
    )


async def handle_unexpected(request: Request, exc: Exception) -> JSONResponse:
    """A bug: answer 500 in the envelope; the traceback goes to the server log."""
    return error_response(500, "internal", "internal server error; see the server log")
