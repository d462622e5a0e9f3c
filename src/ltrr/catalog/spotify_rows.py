"""One row of the Spotify songs CSV, read and checked: the cells the catalog needs.

A module of its own because reading a row and folding rows into entities (``catalog.spotify``)
are separate jobs: this one knows the file's columns, R's ``NA`` and its date forms, and turns
``valence`` and ``energy`` into a mood; the other knows that a row is a (track, playlist) pair.
Every check here raises ``CatalogError`` naming the column, so the loader can report the line.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from ltrr.errors import CatalogError

#: Columns the loader reads; the other columns of the file (audio features) are ignored.
REQUIRED_COLUMNS = (
    "track_id",
    "track_name",
    "track_artist",
    "track_popularity",
    "track_album_id",
    "track_album_name",
    "track_album_release_date",
    "playlist_name",
    "playlist_id",
    "playlist_genre",
    "playlist_subgenre",
    "energy",
    "valence",
)

#: Cells that mean "no value": R writes a missing value as the literal ``NA``.
MISSING = frozenset({"", "NA"})

_DATE = re.compile(r"(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?")
_NON_WORD = re.compile(r"[\W_]+")


def mood(valence: float, energy: float) -> str:
    """The quadrant of Russell's circumplex of affect (Russell 1980) a track falls in.

    Spotify's ``valence`` (musical positiveness) stands for the pleasure axis and ``energy``
    for arousal, both in [0, 1] and split at 0.5: high/high -> "happy", low valence with high
    energy -> "intense" (angry, tense), high valence with low energy -> "chill" (calm,
    content), low/low -> "sad".
    """
    if energy >= 0.5:
        return "happy" if valence >= 0.5 else "intense"
    return "chill" if valence >= 0.5 else "sad"


def artist_slug(name: str) -> str:
    """The id part of an artist: NFKC, case-folded, runs of non-letters/digits as ``-``.

    Letters of every script are kept ("Beyoncé" -> "beyoncé"); a name with no letter or digit
    at all ("!!!") is percent-encoded instead, so that it still gets an id of its own.
    """
    folded = unicodedata.normalize("NFKC", name).casefold().strip()
    return _NON_WORD.sub("-", folded).strip("-") or quote(folded, safe="")


def release_time(value: str) -> float:
    """Epoch seconds (UTC) of ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``; a year is its 1 January."""
    match = _DATE.fullmatch(value.strip())
    if match is None:
        raise CatalogError(
            f"must be YYYY, YYYY-MM or YYYY-MM-DD, got {value!r}", field="track_album_release_date"
        )
    year, month, day = (int(part) if part else 1 for part in match.groups())
    try:
        return datetime(year, month, day, tzinfo=UTC).timestamp()
    except ValueError as exc:
        raise CatalogError(
            f"is not a date ({exc}), got {value!r}", field="track_album_release_date"
        ) from None


@dataclass(frozen=True, slots=True)
class Row:
    """The cells of one CSV row the catalog needs, checked; ``None`` for a missing value."""

    track_id: str
    name: str
    artist: str | None
    album_id: str | None
    album_name: str | None
    popularity: float
    released_s: float | None
    mood: str | None
    playlist_id: str | None
    playlist_name: str | None
    genre: str | None
    subgenre: str | None


def _cell(row: list[str], columns: Mapping[str, int], name: str) -> str | None:
    value = row[columns[name]].strip()
    return None if value in MISSING else value


def _number(row: list[str], columns: Mapping[str, int], name: str) -> float | None:
    cell = _cell(row, columns, name)
    if cell is None:
        return None
    try:
        value = float(cell)
    except ValueError:
        raise CatalogError(f"must be a number, got {cell!r}", field=name) from None
    if not math.isfinite(value) or value < 0:
        raise CatalogError(f"must be a finite number >= 0, got {cell!r}", field=name)
    return value


def parse_row(row: list[str], columns: Mapping[str, int], n_header: int) -> Row:
    if len(row) != n_header:
        raise CatalogError(f"has {len(row)} columns, the header has {n_header}")
    track_id, name = _cell(row, columns, "track_id"), _cell(row, columns, "track_name")
    if track_id is None:
        raise CatalogError(f"missing value {row[columns['track_id']]!r}", field="track_id")
    if name is None:
        raise CatalogError(f"missing value {row[columns['track_name']]!r}", field="track_name")
    popularity = _number(row, columns, "track_popularity")
    if popularity is None:
        raise CatalogError("missing value", field="track_popularity")
    valence, energy = _number(row, columns, "valence"), _number(row, columns, "energy")
    released = _cell(row, columns, "track_album_release_date")
    return Row(
        track_id=track_id,
        name=name,
        artist=_cell(row, columns, "track_artist"),
        album_id=_cell(row, columns, "track_album_id"),
        album_name=_cell(row, columns, "track_album_name"),
        popularity=popularity,
        released_s=None if released is None else release_time(released),
        mood=None if valence is None or energy is None else mood(valence, energy),
        playlist_id=_cell(row, columns, "playlist_id"),
        playlist_name=_cell(row, columns, "playlist_name"),
        genre=_cell(row, columns, "playlist_genre"),
        subgenre=_cell(row, columns, "playlist_subgenre"),
    )


def columns_of(header: list[str], path: str) -> dict[str, int]:
    """Column name -> index in ``header``; a ``CatalogError`` names a missing required column."""
    index = {name.strip(): i for i, name in enumerate(header)}
    for name in REQUIRED_COLUMNS:
        if name not in index:
            raise CatalogError(
                f"missing column {name!r}; a Spotify songs CSV needs {', '.join(REQUIRED_COLUMNS)}",
                path=path,
                line=1,
                field=name,
            )
    return index
