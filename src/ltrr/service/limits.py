"""The request body limit: refused with 413 before the body is read, or, for a body sent without
a length (chunked), as soon as it grows past the limit, so a huge upload costs neither memory
nor a worker.

A chunked body is read here (at most the limit) and handed to the application whole: refusing
from inside the application would not work, as FastAPI turns any error raised while it reads a
body into a 400.
"""

from __future__ import annotations

import orjson
from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: The API's hard ceilings (the request schemas' bounds); ``[service]`` may only lower them.
MAX_BATCH = 1000
MAX_OFFSET = 1000


def check_at_most(value: int, limit: int, field: str, setting: str) -> None:
    """422 naming ``field`` if ``value`` (a count or an offset) is past ``[service] setting``."""
    if value > limit:
        raise HTTPException(
            422,
            detail={
                "field": field,
                "message": f"at most {limit} allowed ([service] {setting}), got {value}",
            },
        )


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers", ())).get(b"content-length")
        if length is not None:  # the server never passes on more than the length
            if not length.isdigit() or int(length) > self.max_bytes:
                await self._refuse(send)
            else:
                await self.app(scope, receive, send)
            return
        first = await whole_body(receive, self.max_bytes)
        if first is None:
            await self._refuse(send)
            return
        await self.app(scope, replayed(first, receive), send)

    async def _refuse(self, send: Send) -> None:
        body = orjson.dumps(
            {
                "error": {
                    "status": 413,
                    "field": "body",
                    "message": f"request body larger than {self.max_bytes} bytes",
                }
            }
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


async def whole_body(receive: Receive, max_bytes: int | None = None) -> Message | None:
    """The request's body as one ``http.request`` message (or the disconnect that cut it),
    ``None`` once it grows past ``max_bytes``."""
    chunks: list[bytes] = []
    seen = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return message
        chunk = message.get("body", b"")
        seen += len(chunk)
        if max_bytes is not None and seen > max_bytes:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            if len(chunks) == 1:
                return message
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}


def replayed(first: Message, receive: Receive) -> Receive:
    """``receive`` that hands out ``first`` (a body already read) before anything else."""
    done = False

    async def replay() -> Message:
        nonlocal done
        if done:
            return await receive()
        done = True
        return first

    return replay
