"""Request bodies of the HTTP API: every string, list and number bounded, unknown fields refused.

Strings must be valid Unicode (a lone surrogate, which JSON can encode but UTF-8 cannot, is
refused here rather than failing deep inside storage).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from ltrr.errors import CatalogError
from ltrr.service.limits import MAX_BATCH, MAX_OFFSET


def _text_error(text: str) -> str | None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"not valid Unicode text (at character {exc.start})"
    if "\x00" in text:
        return "must not contain NUL characters"
    return None


def _encodable(text: str) -> str:
    error = _text_error(text)
    if error is not None:
        raise ValueError(error)
    return text


_UNICODE = AfterValidator(_encodable)
Id = Annotated[str, StringConstraints(min_length=1, max_length=256), _UNICODE]
LongId = Annotated[str, StringConstraints(min_length=1, max_length=512), _UNICODE]
Name = Annotated[str, StringConstraints(min_length=1, max_length=64), _UNICODE]
Value = Annotated[str, StringConstraints(min_length=1, max_length=256), _UNICODE]
Query = Annotated[str, StringConstraints(min_length=1, max_length=512), _UNICODE]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class SearchContext(_Body):
    """Who is searching: ids, segment, locale, device, hour and a taste profile."""

    user_id: Id | None = None
    session_id: Id | None = None
    segment: Name | None = None
    locale: Name | None = None
    device: Name | None = None
    hour: int | None = Field(None, ge=0, le=23)
    taste: dict[Value, Annotated[float, Field(ge=0.0, le=1.0)]] = Field(
        default_factory=dict, max_length=64
    )


class SearchRequest(_Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "query": "chill jazz playlist",
                    "k": 10,
                    "context": {"user_id": "u42", "session_id": "s1", "device": "mobile"},
                },
                {"query": "midnigth dreams", "filters": {"type": ["track"]}},
            ]
        },
    )

    query: Query
    k: int = Field(10, ge=1, le=100)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)
    filters: dict[Name, Annotated[list[Value], Field(min_length=1, max_length=50)]] = Field(
        default_factory=dict,
        max_length=16,
        description='"type" filters on the entity type, any other key on an attribute',
    )
    context: SearchContext | None = None
    strategies: list[Name] | None = Field(
        None, min_length=1, max_length=8, description="Run these strategies instead of a plan"
    )
    depth: int | None = Field(None, ge=1, le=1000, description="With strategies: their depth")


class FeedbackRequest(_Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "action_id": "a-0001",
                    "request_id": "ca098bba4924425cb5444125ea2097d4",
                    "entity_id": "track:0000638",
                    "kind": "click",
                },
                {
                    "action_id": "a-0002",
                    "request_id": "ca098bba4924425cb5444125ea2097d4",
                    "entity_id": "track:0000638",
                    "kind": "dwell",
                    "value": 42.5,
                },
            ]
        },
    )

    action_id: Id
    request_id: Id
    entity_id: LongId
    kind: Name = "click"
    value: float | None = Field(None, ge=0.0, le=1e9)
    user_id: Id | None = None
    event_time_s: float | None = Field(
        None, ge=0.0, le=1e10, description="When it happened (default: when received)"
    )


class FeedbackBatch(_Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "actions": [
                        {"action_id": "a-1", "request_id": "r-1", "entity_id": "e-1"},
                        {"action_id": "a-2", "request_id": "r-1", "entity_id": "e-2"},
                    ]
                }
            ]
        },
    )

    actions: list[FeedbackRequest] = Field(min_length=1, max_length=MAX_BATCH)


class CatalogUpsert(_Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "records": [
                        {
                            "id": "track:new-1",
                            "type": "track",
                            "title": "Paper Planes",
                            "fields": {"artist": "M.I.A."},
                            "attributes": {"genre": "hip hop"},
                            "popularity": 71,
                        }
                    ]
                }
            ]
        },
    )

    records: list[dict[Name, Any]] = Field(
        min_length=1, max_length=MAX_BATCH, description="ltrr JSONL records (docs/reference.md)"
    )


def check_record_text(records: Sequence[Mapping[str, Any]]) -> None:
    """Refuse a record holding a string that is not valid Unicode or holds a NUL.

    A record's values are free JSON, so the string checks of the models above do not reach
    them, and a lone surrogate (valid in JSON, not in UTF-8) would fail deep in storage.

    Raises
    ------
    CatalogError
        Naming the record (``line``: its 1-based position) and its top-level field.
    """
    for line, record in enumerate(records, 1):
        for field, value in record.items():
            stack: list[object] = [value]
            while stack:
                item = stack.pop()
                if isinstance(item, str):
                    error = _text_error(item)
                    if error is not None:
                        raise CatalogError(error, line=line, field=field)
                elif isinstance(item, dict):
                    stack.extend(item.keys())
                    stack.extend(item.values())
                elif isinstance(item, list):
                    stack.extend(item)


class CatalogDelete(_Body):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"ids": ["track:new-1"]}]}
    )

    ids: list[LongId] = Field(min_length=1, max_length=MAX_BATCH)


class FieldError(BaseModel):
    field: str
    message: str


class ErrorDetail(BaseModel):
    status: int
    field: str | None = Field(description="The offending field (``actions[3].kind``), if any")
    message: str
    errors: list[FieldError] | None = Field(
        None, description="On 422: every invalid field (at most 20)"
    )


class ErrorBody(BaseModel):
    """Every error the service answers: ``{"error": {"status", "field", "message"}}``."""

    error: ErrorDetail


_ERROR_DESCRIPTIONS = {
    400: "Refused by the engine (e.g. a strategy that is not open)",
    401: "No API key, or an unknown one",
    403: "The API key's scope is too narrow (this needs an admin key)",
    404: "No such entity",
    413: "Request body larger than [service] max_body_bytes",
    422: "Invalid request: the field is named",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of a route's errors, all in the ``ErrorBody`` form."""
    return {s: {"model": ErrorBody, "description": _ERROR_DESCRIPTIONS[s]} for s in statuses}
