"""The TidyTuesday 2020 Spotify songs CSV as a music catalog of tracks, artists, albums, playlists.

A row of that file is a (track, playlist) pair, so one track appears once per playlist that holds
it, possibly under another genre. The loader reads every row, aggregates in dictionaries (the file
has about 33k rows) and then streams one entity per track, artist, album and playlist, each built
by ``entity_from_record`` so validation is the one every other loader uses.

Ids: ``track:<track_id>``, ``album:<track_album_id>``, ``playlist:<playlist_id>`` and
``artist:<slug of track_artist>``. The file has no artist ids, so spellings that differ only in
case and punctuation ("SASH" and "Sash!") become one artist, titled by its most frequent spelling.

Missing values are R's literal ``NA`` (or an empty cell). A row whose ``track_name`` is missing
cannot be searched by title: it is reported as a ``CatalogError`` (field ``track_name``) and
contributes nothing. A missing artist or album name only omits that relation, so no entity is
ever titled "NA".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ltrr.catalog.model import entity_from_record
from ltrr.catalog.sources import Parsed, csv_with_header
from ltrr.catalog.spotify_rows import (
    REQUIRED_COLUMNS,
    Row,
    artist_slug,
    columns_of,
    mood,
    parse_row,
    release_time,
)
from ltrr.config import CatalogConfig
from ltrr.errors import CatalogError

__all__ = ["MAX_RELATED", "REQUIRED_COLUMNS", "artist_slug", "load_spotify", "mood", "release_time"]

#: Most related ids an artist, album or playlist lists. Related lists feed graph features and
#: the popularity generator; the 200 most popular neighbours carry the signal, and a bound keeps
#: every entity small (the largest playlist holds 247 rows, the most prolific artist 130 tracks).
MAX_RELATED = 200


def _shares(counts: Mapping[str, float]) -> dict[str, float]:
    """Value -> its share of the total, so weights of one attribute sum to 1."""
    total = sum(counts.values())
    return {value: n / total for value, n in counts.items()} if total else {}


def _mean_shares(shares: list[dict[str, float]]) -> dict[str, float]:
    """The mean of per-track shares: every track of an artist or album counts once."""
    summed: dict[str, float] = {}
    for one in shares:
        for value, weight in one.items():
            summed[value] = summed.get(value, 0.0) + weight
    return {value: total / len(shares) for value, total in summed.items()} if shares else {}


def _rounded(attributes: Mapping[str, Mapping[str, float]]) -> dict[str, dict[str, float]]:
    return {
        name: {value: round(w, 4) for value, w in values.items()}
        for name, values in attributes.items()
        if values
    }


@dataclass(slots=True)
class _Track:
    line: int
    row: Row
    genres: Counter[str] = field(default_factory=Counter)
    subgenres: Counter[str] = field(default_factory=Counter)

    def attributes(self) -> dict[str, dict[str, float]]:
        """Genre and sub-genre weighted by the share of this track's rows carrying each; mood."""
        moods = {} if self.row.mood is None else {self.row.mood: 1.0}
        return {"genre": _shares(self.genres), "subgenre": _shares(self.subgenres), "mood": moods}


@dataclass(slots=True)
class _Group:
    """An artist, album or playlist: where it was first seen, its names and its tracks."""

    line: int
    names: Counter[str] = field(default_factory=Counter)
    tracks: dict[str, None] = field(default_factory=dict)  # insertion-ordered set
    genres: Counter[str] = field(default_factory=Counter)
    subgenres: Counter[str] = field(default_factory=Counter)

    def title(self) -> str:
        """The most frequent spelling; ``most_common`` keeps first-seen order among ties."""
        return self.names.most_common(1)[0][0]


@dataclass(slots=True)
class _Catalog:
    """Rows folded into tracks, artists, albums and playlists, keyed by their ids."""

    tracks: dict[str, _Track] = field(default_factory=dict)
    artists: dict[str, _Group] = field(default_factory=dict)
    albums: dict[str, _Group] = field(default_factory=dict)
    playlists: dict[str, _Group] = field(default_factory=dict)

    def add(self, row: Row, line: int) -> None:
        track = self.tracks.setdefault(row.track_id, _Track(line, row))
        if row.genre is not None:
            track.genres[row.genre] += 1
        if row.subgenre is not None:
            track.subgenres[row.subgenre] += 1
        if track.line == line:  # the first row of a track decides its artist and album
            self._add_group(self.artists, _artist_key(row.artist), row.artist, row, line)
            self._add_group(self.albums, row.album_id, row.album_name, row, line)
        playlist = self._add_group(self.playlists, row.playlist_id, row.playlist_name, row, line)
        if playlist is not None:
            playlist.genres.update(() if row.genre is None else (row.genre,))
            playlist.subgenres.update(() if row.subgenre is None else (row.subgenre,))

    @staticmethod
    def _add_group(
        groups: dict[str, _Group], key: str | None, name: str | None, row: Row, line: int
    ) -> _Group | None:
        if key is None:
            return None
        group = groups.setdefault(key, _Group(line))
        if name is not None:
            group.names[name] += 1
        group.tracks[row.track_id] = None
        return group


def _artist_key(name: str | None) -> str | None:
    return None if name is None else artist_slug(name)


def load_spotify(path: Path, config: CatalogConfig) -> Iterator[Parsed]:
    """Yield the row errors of ``path`` (plain or ``.gz``), then its entities.

    Entities come in four runs: tracks, artists, albums, playlists, each in first-seen order;
    an entity's line is the first row it comes from.

    Raises
    ------
    CatalogError
        When the file is missing, empty, or its header lacks one of ``REQUIRED_COLUMNS``.
    """
    header, rows = csv_with_header(path)
    columns = columns_of(header, str(path))
    catalog = _Catalog()
    for line, cells in rows:
        if isinstance(cells, CatalogError):
            yield Parsed(line, cells)
            continue
        try:
            catalog.add(parse_row(cells, columns, len(header)), line)
        except CatalogError as exc:
            yield Parsed(line, exc.at(path=str(path), line=line))
    yield from _entities(catalog, config, str(path))


def _entities(catalog: _Catalog, config: CatalogConfig, path: str) -> Iterator[Parsed]:
    for line, record in _records(catalog, min(MAX_RELATED, config.max_related)):
        try:
            yield Parsed(line, entity_from_record(record, config))
        except CatalogError as exc:
            yield Parsed(line, exc.at(path=path, line=line))


def _records(catalog: _Catalog, max_related: int) -> Iterator[tuple[int, dict[str, object]]]:
    """``(line, ltrr record)`` of every entity, in four runs: tracks, artists, albums, playlists."""
    for track in catalog.tracks.values():
        yield track.line, _track_record(track, catalog)
    for key, artist in catalog.artists.items():
        yield artist.line, _artist_record(key, artist, catalog, max_related)
    for key, album in catalog.albums.items():
        if album.names:  # else every row had the album name NA: nothing to title it with
            yield album.line, _album_record(key, album, catalog, max_related)
    for key, playlist in catalog.playlists.items():
        yield playlist.line, _playlist_record(key, playlist, catalog.tracks, max_related)


def _artist_record(
    key: str, artist: _Group, catalog: _Catalog, max_related: int
) -> dict[str, object]:
    """Related: the artist's albums (by their best track's popularity), then tracks."""
    record = _group_record("artist", key, artist, catalog.tracks)
    ordered = _popular_first(artist, catalog.tracks)
    albums = dict.fromkeys(f"album:{t.row.album_id}" for t in ordered if _album_of(t, catalog))
    record["related"] = [*albums, *(f"track:{t.row.track_id}" for t in ordered)][:max_related]
    return record


def _album_record(
    key: str, album: _Group, catalog: _Catalog, max_related: int
) -> dict[str, object]:
    """Field ``artist`` lists every artist with a track on the album (compilations have many)."""
    tracks = catalog.tracks
    record = _group_record("album", key, album, tracks)
    artists = Counter(_artist_key(tracks[t].row.artist) for t in album.tracks)
    named = [k for k, _ in artists.most_common() if k is not None]
    if named:
        record["fields"] = {"artist": ", ".join(catalog.artists[k].title() for k in named)}
    related = [*(f"artist:{k}" for k in named), *_track_ids(album, tracks)]
    record["related"] = related[:max_related]
    released = tracks[next(iter(album.tracks))].row.released_s
    if released is not None:
        record["added_at"] = released
    return record


def _album_of(track: _Track, catalog: _Catalog) -> bool:
    album = catalog.albums.get(track.row.album_id or "")
    return album is not None and bool(album.names)


def _popular_first(group: _Group, tracks: Mapping[str, _Track]) -> list[_Track]:
    """The group's tracks, most popular first (first-seen order among ties)."""
    return sorted((tracks[t] for t in group.tracks), key=lambda t: -t.row.popularity)


def _track_ids(group: _Group, tracks: Mapping[str, _Track]) -> list[str]:
    return [f"track:{t.row.track_id}" for t in _popular_first(group, tracks)]


def _track_record(track: _Track, catalog: _Catalog) -> dict[str, object]:
    row = track.row
    fields: dict[str, str] = {}
    related: list[str] = []
    if row.artist is not None:
        fields["artist"] = row.artist
        related.append(f"artist:{artist_slug(row.artist)}")
    if row.album_id is not None and _album_of(track, catalog):
        fields["album"] = catalog.albums[row.album_id].title()  # also when this row says NA
        related.append(f"album:{row.album_id}")
    record: dict[str, object] = {
        "id": f"track:{row.track_id}",
        "type": "track",
        "title": row.name,
        "fields": fields,
        "attributes": _rounded(track.attributes()),
        "popularity": row.popularity,
        "related": related,
    }
    if row.released_s is not None:
        record["added_at"] = row.released_s
    return record


def _group_record(
    type_: str, key: str, group: _Group, tracks: Mapping[str, _Track]
) -> dict[str, object]:
    """Artist or album: attributes are the mean of its tracks', popularity its best track's.

    The maximum, not the mean, because an artist is sought by the name of their hit, and a long
    tail of obscure tracks should not bury a famous artist.
    """
    members = [tracks[t] for t in group.tracks]
    per_track = [m.attributes() for m in members]
    attributes = {
        name: _mean_shares([a[name] for a in per_track if a[name]])
        for name in ("genre", "subgenre", "mood")
    }
    return {
        "id": f"{type_}:{key}",
        "type": type_,
        "title": group.title(),
        "attributes": _rounded(attributes),
        "popularity": max(m.row.popularity for m in members),
    }


def _playlist_record(
    key: str, playlist: _Group, tracks: Mapping[str, _Track], max_related: int
) -> dict[str, object]:
    """Genre and sub-genre are the playlist's own (shares of its rows); popularity the mean of
    its tracks', since a playlist is as popular as what it typically holds. Tracks keep the
    playlist's order."""
    members = [tracks[t] for t in playlist.tracks]
    moods = Counter(m.row.mood for m in members if m.row.mood is not None)
    attributes = {
        "genre": _shares(playlist.genres),
        "subgenre": _shares(playlist.subgenres),
        "mood": _shares(moods),
    }
    return {
        "id": f"playlist:{key}",
        "type": "playlist",
        "title": playlist.title() if playlist.names else "",
        "attributes": _rounded(attributes),
        "popularity": round(sum(m.row.popularity for m in members) / len(members), 2),
        "related": [f"track:{t}" for t in playlist.tracks][:max_related],
    }
