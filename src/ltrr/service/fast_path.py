"""The hot routes (search, feedback) answered without FastAPI's per-request machinery, when the
request is well-formed; anything else goes to the app's own route, which answers it.

Why: under load, a feedback request spent about two thirds of a worker's GIL time in FastAPI,
Starlette and uvicorn (dependency solving alone 18%, py-spy), and the engine's part a sixth.
Routing, solving five dependencies and validating a decoded dict cost more than storing the
action. Here a request to a hot route is read whole, its key checked and its body validated by
pydantic-core straight from the bytes (``model_validate_json``); the route's own answer
function (the one the FastAPI route calls) does the rest.

What stays the app's, by construction: a request this path does not fully accept (no valid
key, a content type other than JSON, a body that does not validate, no engine yet) is passed
on, its body replayed, to the FastAPI route, so every refusal is the app's own answer
(401, 422 with the app's field names, and so on). An error raised while answering is answered
by ``service.errors.error_response``, the function behind the app's exception handlers. The
routes stay declared in FastAPI, so the OpenAPI document is unchanged, and the metrics see the
same route template.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from ltrr.engine import Engine
from ltrr.service.auth import scope_of
from ltrr.service.encoding import JSON
from ltrr.service.errors import error_response
from ltrr.service.limits import replayed, whole_body
from ltrr.service.metrics import Metrics
from ltrr.service.settings import ServiceParams

#: What a hot route does with its validated body: the JSON answer (errors raise).
Answer = Callable[[Any, Engine, Metrics, ServiceParams], Awaitable[JSON]]


@dataclass(frozen=True)
class FastRoute:
    """A POST route's body model, its answer, and its FastAPI route (the metrics' label)."""

    model: type[BaseModel]
    answer: Answer
    route: BaseRoute


class FastPaths:
    """ASGI middleware answering ``routes`` (POST path -> ``FastRoute``) when the request is
    well-formed; innermost of the app's middleware, so the body limit and the metrics apply."""

    def __init__(self, app: ASGIApp, routes: Mapping[str, FastRoute]) -> None:
        self.app = app
        self.routes = dict(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        fast = None
        if scope["type"] == "http" and scope["method"] == "POST":
            fast = self.routes.get(scope["path"])
        if fast is None:
            await self.app(scope, receive, send)
            return
        message = await whole_body(receive)
        assert message is not None  # no limit here: the app's BodyLimit applied it
        response = None
        if message["type"] == "http.request":
            response = await _answer(fast, scope, message["body"], scope["app"].state)
        if response is None:  # the app answers it, from the same body
            await self.app(scope, replayed(message, receive), send)
            return
        scope["route"] = fast.route
        await response(scope, receive, send)


async def _answer(fast: FastRoute, scope: Scope, body: bytes, state: Any) -> JSON | None:
    """The answer, or ``None`` when the app's route must answer the request."""
    engine: Engine | None = state.engine
    params: ServiceParams = state.params
    key = content_type = None
    for name, value in scope["headers"]:
        if name == b"x-api-key":
            key = value
        elif name == b"content-type":
            content_type = value
    if engine is None or not _is_json(content_type):
        return None
    try:
        if scope_of(None if key is None else key.decode("latin-1"), params) is None:
            return None
        parsed = fast.model.model_validate_json(body)
    except (ValidationError, UnicodeDecodeError):
        return None
    try:
        return await fast.answer(parsed, engine, state.metrics, params)
    except Exception as exc:  # answered as the app's handlers answer it
        return error_response(exc, scope["path"])


def _is_json(content_type: bytes | None) -> bool:
    """FastAPI decodes a body as JSON under ``application/json`` (or ``+json``); without a
    content type (its strict default) or with any other, the body is the app's to refuse."""
    if content_type is None:
        return False
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or (
        media.startswith(b"application/") and media.endswith(b"+json")
    )


def fast_routes(
    routes: list[BaseRoute], answers: Mapping[str, tuple[type[BaseModel], Answer]]
) -> dict[str, FastRoute]:
    """``answers`` (POST path -> (model, answer)) joined with the app's routes of those paths."""
    out: dict[str, FastRoute] = {}
    for route in routes:
        path = getattr(route, "path", None)
        if (
            isinstance(path, str)
            and path in answers
            and "POST" in (getattr(route, "methods", None) or ())
        ):
            out[path] = FastRoute(*answers[path], route)
    missing = set(answers) - set(out)
    if missing:
        raise ValueError(f"no POST route for the fast path's {sorted(missing)}")
    return out
