"""The demo catalog's plan: what is decided before the first block, and how a block is laid out.

A module of its own because the plan is what lets ``catalog.demo`` stream: only per-artist and
per-album numbers (a few MB for a million entities) are drawn up front; albums are numbered
artist by artist and tracks album by album, so an artist's albums and tracks are contiguous id
ranges known from two offset arrays, and every part of the stream (``catalog.demo_music``, the
playlists of ``catalog.demo``) links to entities of other blocks without holding them. The value
helpers every part draws with (ids, popularity, dates, shared attribute maps) live here too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
from numpy.typing import NDArray

from ltrr.catalog import demo_names as dn

ID_DIGITS: Mapping[str, int] = {"artist": 6, "album": 6, "track": 7, "playlist": 6, "podcast": 6}
BLOCK_ARTISTS = 2048
START_S = 946_684_800.0  # 2000-01-01T00:00:00Z
END_S = 1_767_225_600.0  # 2026-01-01


def one_maps(values: tuple[str, ...]) -> list[Mapping[str, float]]:
    """Shared read-only ``{value: 1.0}`` maps: most attributes are one value at full weight."""
    return [MappingProxyType({v: 1.0}) for v in values]


GENRE_ONE, MOOD_ONE = one_maps(dn.GENRES), one_maps(dn.MOODS)
LANGUAGE_ONE, TOPIC_ONE = one_maps(dn.LANGUAGES), one_maps(dn.TOPICS)


def entity_ids(kind: str, start: int, stop: int) -> list[str]:
    """Ids ``kind:<number>`` of numbers ``start`` to ``stop - 1``, zero-padded (``ID_DIGITS``)."""
    prefix, digits = f"{kind}:", ID_DIGITS[kind]
    return [f"{prefix}{i:0{digits}d}" for i in range(start, stop)]


def to_popularity(z: NDArray[np.float64]) -> list[float]:
    """Map log-popularity to [0, 100]: linear in ``exp(z)`` for the tail, saturating at 100."""
    return list(np.round(-100.0 * np.expm1(-np.exp(z - 4.0)), 2).tolist())


def _spread(rng: np.random.Generator, total: int, weights: NDArray[np.float64]) -> NDArray[np.intp]:
    """Split ``total`` items over ``len(weights)`` bins, at least one each when there are enough."""
    n = len(weights)
    counts = (np.arange(n) < total).astype(np.intp)
    extra = total - int(counts.sum())
    if extra > 0:
        counts += rng.multinomial(extra, weights / weights.sum()).astype(np.intp)
    return counts


@dataclass(frozen=True, slots=True)
class Groups:
    """Artists grouped by an integer key, for popularity-weighted draws within one group."""

    order: NDArray[np.intp]  # (n_artists,) artists sorted by key
    bounds: NDArray[np.intp]  # (n_keys + 1,) group k is order[bounds[k]:bounds[k + 1]]
    cum: NDArray[np.float64]  # (n_artists + 1,) cumulative weight along order, from 0

    @classmethod
    def build(cls, key: NDArray[np.intp], n_keys: int, weight: NDArray[np.float64]) -> Groups:
        order = np.argsort(key, kind="stable")
        bounds = np.searchsorted(key[order], np.arange(n_keys + 1))
        return cls(order, bounds, np.concatenate([[0.0], np.cumsum(weight[order])]))

    def draw(self, rng: np.random.Generator, key: NDArray[np.intp]) -> NDArray[np.intp]:
        """One artist per entry of ``key``, drawn by weight from that (non-empty) group."""
        lo, hi = self.bounds[key], self.bounds[key + 1]
        u = self.cum[lo] + rng.random(len(key)) * (self.cum[hi] - self.cum[lo])
        pos = np.searchsorted(self.cum, u, side="right") - 1
        return self.order[np.clip(pos, lo, hi - 1)]


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything decided before the first block: counts, artists' facets, id offsets."""

    counts: Mapping[str, int]
    artist_z: NDArray[np.float64]  # (n_artists,) log-popularity
    artist_genre: NDArray[np.intp]  # (n_artists,) index into GENRES
    artist_mood: NDArray[np.intp]  # (n_artists,) index into MOODS
    album_start: NDArray[np.intp]  # (n_artists + 1,) albums of artist a: [start[a], start[a + 1])
    track_start: NDArray[np.intp]  # (n_albums + 1,) tracks of album b: [start[b], start[b + 1])
    everyone: Groups  # all artists in one group
    by_pair: Groups  # key genre * n_moods + mood
    by_genre: Groups
    by_mood: Groups

    @property
    def n_blocks(self) -> int:
        return -(-self.counts["artist"] // BLOCK_ARTISTS)

    def artist_tracks(self, artist: NDArray[np.intp]) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
        """First and one-past-last track of each artist."""
        return (
            self.track_start[self.album_start[artist]],
            self.track_start[self.album_start[artist + 1]],
        )


def make_plan(counts: Mapping[str, int], rng: np.random.Generator) -> Plan:
    n_artists, n_albums = counts["artist"], counts["album"]
    z = rng.normal(0.0, 1.5, n_artists)
    genre = rng.choice(len(dn.GENRES), size=n_artists, p=dn.GENRE_SHARES)
    mood = dn.choose_rows(rng, dn.mood_prior(), genre)
    albums = _spread(rng, n_albums, np.exp(0.5 * z))
    # Singles, EPs and LPs: relative lengths before the exact total is spread over them.
    kind = rng.choice(np.array([0.05, 4.0, 11.0]), size=n_albums, p=[0.35, 0.15, 0.5])
    tracks = _spread(rng, counts["track"], kind * rng.lognormal(0.0, 0.2, n_albums))
    weight, n_moods = np.exp(z), len(dn.MOODS)
    return Plan(
        counts=counts,
        artist_z=z,
        artist_genre=genre,
        artist_mood=mood,
        album_start=np.concatenate([[0], np.cumsum(albums)]),
        track_start=np.concatenate([[0], np.cumsum(tracks)]),
        everyone=Groups.build(np.zeros(n_artists, np.intp), 1, weight),
        by_pair=Groups.build(genre * n_moods + mood, len(dn.GENRES) * n_moods, weight),
        by_genre=Groups.build(genre, len(dn.GENRES), weight),
        by_mood=Groups.build(mood, n_moods, weight),
    )


def draw_times(rng: np.random.Generator, start: NDArray[np.float64], skew: float) -> list[float]:
    """Whole epoch seconds between ``start`` and 2026; ``skew`` < 1 favours recent dates."""
    return list(np.floor(start + (END_S - start) * rng.random(len(start)) ** skew).tolist())


@dataclass(frozen=True, slots=True)
class Block:
    """The music of one block of artists: their albums and tracks, as parallel arrays."""

    artists: NDArray[np.intp]  # global artist indices, contiguous
    albums: NDArray[np.intp]  # global album indices, contiguous
    album_artist: NDArray[np.intp]  # (n_albums,) global artist index
    track_album: NDArray[np.intp]  # (n_tracks,) global album index
    track_artist: NDArray[np.intp]  # (n_tracks,) global artist index
    t0: int  # first track of the block

    @classmethod
    def build(cls, plan: Plan, b: int) -> Block:
        a0 = b * BLOCK_ARTISTS
        a1 = min(a0 + BLOCK_ARTISTS, plan.counts["artist"])
        al0, al1 = int(plan.album_start[a0]), int(plan.album_start[a1])
        artists, albums = np.arange(a0, a1), np.arange(al0, al1)
        album_artist = np.repeat(artists, np.diff(plan.album_start[a0 : a1 + 1]))
        track_album = np.repeat(albums, np.diff(plan.track_start[al0 : al1 + 1]))
        t0 = int(plan.track_start[al0])
        return cls(artists, albums, album_artist, track_album, album_artist[track_album - al0], t0)
