"""API keys and their scopes: ``search`` (search, feedback) and ``admin`` (everything).

A key travels in the ``X-API-Key`` header. With no key configured the service is open (and
bound to loopback, ``settings.check_binding``); otherwise a route answers 401 without a valid
key and 403 with a key whose scope is too narrow. Keys are compared in constant time.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any, Literal

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader

from ltrr.service.settings import ServiceParams

Scope = Literal["search", "admin"]
_HEADER = APIKeyHeader(name="X-API-Key", auto_error=False)


def _matches(key: str, keys: tuple[str, ...]) -> bool:
    return any(hmac.compare_digest(key.encode(), k.encode()) for k in keys)


def scope_of(key: str | None, params: ServiceParams) -> Scope | None:
    """The widest scope ``key`` grants, ``None`` for no or an unknown key."""
    if params.open:
        return "admin"
    if key is None:
        return None
    if _matches(key, params.admin_keys):
        return "admin"
    if _matches(key, params.search_keys):
        return "search"
    return None


def require(scope: Scope) -> Any:
    """A dependency that lets a request through only with a key of ``scope`` (or wider)."""

    # async: a plain def would run in the thread pool, a hop per request for a dict lookup
    async def check(request: Request, key: Annotated[str | None, Depends(_HEADER)]) -> None:
        params: ServiceParams = request.app.state.params
        granted = scope_of(key, params)
        if granted is None:
            raise HTTPException(
                401,
                detail={"field": "X-API-Key", "message": "a valid API key is required"},
                headers={"WWW-Authenticate": "ApiKey"},
            )
        if scope == "admin" and granted != "admin":
            raise HTTPException(
                403, detail={"field": "X-API-Key", "message": "this route needs an admin key"}
            )

    return Depends(check)
