"""Request bodies of the HTTP API: every string, list and number bounded, unknown fields refused.

Strings must be valid Unicode (a lone surrogate, which JSON can encode but UTF-8 cannot, is
refused here rather than failing deep inside storage).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints


def _encodable(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"not valid Unicode text (at character {exc.start})") from None
    if "\x00" in text:
        raise ValueError("must not contain NUL characters")
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
    offset: int = Field(0, ge=0, le=1000)
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

    actions: list[FeedbackRequest] = Field(min_length=1, max_length=1000)


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
        min_length=1, max_length=1000, description="ltrr JSONL records (docs/reference.md)"
    )


class CatalogDelete(_Body):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"ids": ["track:new-1"]}]}
    )

    ids: list[LongId] = Field(min_length=1, max_length=1000)
