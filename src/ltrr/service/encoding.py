"""The service's JSON responses, encoded by orjson (a module of its own so that routes can
return one directly without importing the app)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import JSONResponse


class JSON(JSONResponse):
    """orjson-encoded JSON (numpy-free dicts of str, numbers, lists): the service's responses.

    A ``JSONResponse`` so that the OpenAPI document gives each route's return type as its JSON
    schema (a plain ``Response`` would be documented as a string).
    """

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
