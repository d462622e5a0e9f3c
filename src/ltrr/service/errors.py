"""Every error the service answers, as one JSON body naming the field (``{"error": {"status",
"field", "message"}}``): 4xx for bad input, 5xx only for a bug.

One function (``error_response``) maps an exception to its answer, so that the app's exception
handlers and the hot routes' fast path (``service.fast_path``) answer the same error the same
way.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from ltrr.errors import CatalogError, LtrrError, UnknownStrategyError
from ltrr.log.events import EventError
from ltrr.service.encoding import JSON

logger = logging.getLogger(__name__)


def error(status: int, field: str | None, message: str, **extra: Any) -> JSON:
    return JSON(
        {"error": {"status": status, "field": field, "message": message, **extra}},
        status_code=status,
    )


def _location(loc: tuple[Any, ...]) -> str:
    """``("body", "actions", 3, "kind")`` -> ``"actions[3].kind"``."""
    out = ""
    for part in loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def _field_error(error: Mapping[str, Any]) -> dict[str, str]:
    """One validation error; a body that is not JSON at all is located in the message (its
    ``loc`` holds the character position, not a field)."""
    if error.get("type") == "json_invalid":
        position = error["loc"][-1]
        reason = (error.get("ctx") or {}).get("error", "")
        return {"field": "body", "message": f"not JSON: {reason} (at character {position})"}
    return {"field": _location(tuple(error["loc"])), "message": str(error["msg"])}


def error_response(exc: Exception, path: str) -> JSON:
    """The answer to ``exc`` raised while serving ``path``; an exception that is not an error
    of the request is logged (with its traceback) and answered 500."""
    if isinstance(exc, RequestValidationError):
        errors = [_field_error(e) for e in exc.errors()]
        first = errors[0] if errors else {"field": "body", "message": "invalid request"}
        return error(422, first["field"], first["message"], errors=errors[:20])
    if isinstance(exc, HTTPException):
        detail = exc.detail if isinstance(exc.detail, dict) else {"message": str(exc.detail)}
        field = detail.get("field", "body" if exc.status_code in (400, 422) else None)
        response = error(exc.status_code, field, str(detail.get("message")))
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response
    if isinstance(exc, EventError):
        return error(422, exc.field if exc.index is None else f"actions[{exc.index}].{exc.field}",
                     exc.reason)  # fmt: skip
    if isinstance(exc, CatalogError):
        where = f"records[{exc.line - 1}]" if exc.line is not None else "records"
        return error(422, f"{where}.{exc.field}" if exc.field else where, exc.reason)
    if isinstance(exc, UnknownStrategyError):
        return error(422, "strategies", str(exc))
    if isinstance(exc, LtrrError):
        return error(400, getattr(exc, "field", None), str(exc))
    logger.error("unhandled error on %s", path, exc_info=exc)
    return error(500, None, "internal error (logged)")


def add_error_handlers(app: FastAPI) -> None:
    async def answer(request: Request, exc: Exception) -> JSON:
        return error_response(exc, request.url.path)

    # Starlette picks the handler of the nearest class in the exception's MRO: each class the
    # mapping tells apart gets the one handler, so none falls to a wider class's.
    for kind in (
        RequestValidationError, HTTPException, EventError, CatalogError, UnknownStrategyError,
        LtrrError, Exception,
    ):  # fmt: skip
        app.add_exception_handler(kind, answer)
