"""A synthetic music catalog that looks real enough to demo and benchmark search on.

Real catalogs cannot ship with the package, yet retrieval only shows its worth on data with
their shape: common words ("love", "night") shared by thousands of titles, a long tail of
popularity driven by a few stars, facets that agree with each other (a jazz artist's tracks are
jazz; "Chill Jazz Evenings" is a chill jazz playlist) and links between artists, albums, tracks
and playlists. ``generate_demo_catalog`` produces that shape deterministically from a seed.

Layout of the stream. Artists are cut into blocks of ``BLOCK_ARTISTS``; one block yields its
artists, their albums, those albums' tracks, then its share of playlists and podcasts. Albums
are numbered artist by artist and tracks album by album, so an artist's albums and tracks are
contiguous id ranges known from two offset arrays: related links are exact without holding the
catalog in memory. Only per-artist and per-album numbers (a few MB for a million entities) are
planned up front (``catalog.demo_plan``); names and attributes are drawn block by block with
numpy: the music in ``catalog.demo_music``, playlists and podcasts here.

Attributes (name -> value -> weight in [0, 1]): music entities carry ``genre``, ``subgenre``,
``mood`` and ``language``; playlists carry ``genre`` and/or ``mood``, exactly those named in
their title; podcasts carry ``topic`` (``demo_names.TOPICS``, not ``genre``, so a genre filter
never returns talk shows) and ``language``. Popularity is in [0, 100], log-normal before a soft
cap, and a track's is its artist's plus noise.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np
from numpy.typing import NDArray

from ltrr.catalog import demo_names as dn
from ltrr.catalog.demo_music import (
    MAX_ALBUM_RELATED,
    MAX_ARTIST_ALBUMS_RELATED,
    MAX_ARTIST_RELATED,
    block_music,
)
from ltrr.catalog.demo_plan import (
    BLOCK_ARTISTS,
    GENRE_ONE,
    ID_DIGITS,
    LANGUAGE_ONE,
    MOOD_ONE,
    TOPIC_ONE,
    Plan,
    draw_times,
    make_plan,
    to_popularity,
)
from ltrr.types import Entity, EntityId

__all__ = [
    "BLOCK_ARTISTS",
    "ENTITY_TYPES",
    "ID_DIGITS",
    "MAX_ALBUM_RELATED",
    "MAX_ARTIST_ALBUMS_RELATED",
    "MAX_ARTIST_RELATED",
    "TYPE_SHARES_PER_MILLE",
    "generate_demo_catalog",
    "type_counts",
]

ENTITY_TYPES: tuple[str, ...] = ("artist", "album", "track", "playlist", "podcast")
#: Per-mille share of each type but tracks; tracks take the rest (about 75%).
TYPE_SHARES_PER_MILLE: Mapping[str, int] = {
    "artist": 60, "album": 120, "playlist": 50, "podcast": 20,
}  # fmt: skip
_PLAYLISTS_START_S = 1_199_145_600.0  # 2008-01-01
_PODCASTS_START_S = 1_104_537_600.0  # 2005-01-01


def type_counts(size: int) -> dict[str, int]:
    """How many entities of each type a catalog of ``size`` holds.

    From 5 entities on every type is present; below that, types are filled in the order of
    ``ENTITY_TYPES`` so that a track always has an album and an artist to point to.
    """
    if size < len(ENTITY_TYPES):
        return {t: int(i < size) for i, t in enumerate(ENTITY_TYPES)}
    counts = {t: max(1, size * share // 1000) for t, share in TYPE_SHARES_PER_MILLE.items()}
    counts["track"] = size - sum(counts.values())
    return {t: counts[t] for t in ENTITY_TYPES}


def _playlist_tracks(
    plan: Plan,
    rng: np.random.Generator,
    texts: dn.PlaylistTexts,
    genre: NDArray[np.intp],
    mood: NDArray[np.intp],
) -> list[tuple[EntityId, ...]]:
    """5 to 50 tracks per playlist, by popular artists of the playlist's genre and/or mood."""
    n = len(genre)
    size = np.clip(np.rint(rng.lognormal(np.log(25.0), 0.5, n)), 5, 50).astype(np.intp)
    owner = np.repeat(np.arange(n), size)
    both = texts.has_genre & texts.has_mood
    artist = np.empty(len(owner), np.intp)
    for mask, groups, key in (
        (both, plan.by_pair, genre * len(dn.MOODS) + mood),
        (texts.has_genre & ~both, plan.by_genre, genre),
        (texts.has_mood & ~both, plan.by_mood, mood),
    ):
        picked = mask[owner]
        artist[picked] = groups.draw(rng, key[owner[picked]])
    lo, hi = plan.artist_tracks(artist)
    track = (lo + rng.random(len(artist)) * (hi - lo)).astype(np.intp).tolist()
    ends = np.cumsum(size).tolist()
    return [
        tuple(dict.fromkeys(EntityId(f"track:{t:07d}") for t in track[end - k : end]))
        for end, k in zip(ends, size.tolist(), strict=True)
    ]


def _playlist_entities(
    plan: Plan, rng: np.random.Generator, start: int, stop: int
) -> Iterator[Entity]:
    """Playlists; a popularity-weighted seed artist decides their genre and mood."""
    seed_artist = plan.everyone.draw(rng, np.zeros(stop - start, np.intp))
    genre, mood = plan.artist_genre[seed_artist], plan.artist_mood[seed_artist]
    texts = dn.playlist_texts(rng, genre, mood)
    related = _playlist_tracks(plan, rng, texts, genre, mood)
    pop = to_popularity(rng.normal(0.0, 1.5, stop - start))
    added = draw_times(rng, np.full(stop - start, _PLAYLISTS_START_S), 0.5)
    flags = (texts.has_genre.tolist(), texts.has_mood.tolist())
    rows = zip(genre.tolist(), mood.tolist(), *flags, strict=True)
    for i, (g, m, has_g, has_m) in enumerate(rows):
        attributes = {"genre": GENRE_ONE[g]} if has_g else {}
        if has_m:
            attributes["mood"] = MOOD_ONE[m]
        yield Entity(
            id=EntityId(f"playlist:{start + i:06d}"),
            type="playlist",
            title=texts.titles[i],
            fields={"description": texts.descriptions[i]},
            attributes=attributes,
            popularity=pop[i],
            related=related[i],
            added_at_s=added[i],
        )


def _podcast_entities(rng: np.random.Generator, start: int, stop: int) -> Iterator[Entity]:
    """Podcasts: a topic, a language and a description naming the host."""
    n = stop - start
    topic = rng.choice(len(dn.TOPICS), size=n, p=dn.TOPIC_SHARES)
    language = rng.choice(len(dn.LANGUAGES), size=n, p=dn.LANGUAGE_SHARES).tolist()
    titles, descriptions = dn.podcast_texts(rng, topic)
    pop = to_popularity(rng.normal(-0.2, 1.3, n))
    added = draw_times(rng, np.full(n, _PODCASTS_START_S), 0.6)
    for i, t in enumerate(topic.tolist()):
        yield Entity(
            id=EntityId(f"podcast:{start + i:06d}"),
            type="podcast",
            title=titles[i],
            fields={"description": descriptions[i]},
            attributes={"topic": TOPIC_ONE[t], "language": LANGUAGE_ONE[language[i]]},
            popularity=pop[i],
            added_at_s=added[i],
        )


def generate_demo_catalog(size: int, seed: int) -> Iterator[Entity]:
    """Stream a deterministic demo music catalog of exactly ``size`` entities.

    The same ``(size, seed)`` always yields the same entities in the same order; memory stays
    at one block of artists (about 35,000 entities) plus a few arrays of per-artist and
    per-album numbers. See the module docstring for the catalog's shape.

    Raises
    ------
    ValueError
        If ``size`` < 1 or ``seed`` < 0 (both must be integers).

    Examples
    --------
    >>> [e.type for e in generate_demo_catalog(5, seed=1)]
    ['artist', 'album', 'track', 'playlist', 'podcast']
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be an integer >= 1, got {size!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    return _generate(size, seed)


def _generate(size: int, seed: int) -> Iterator[Entity]:
    rng = np.random.default_rng(seed)
    plan = make_plan(type_counts(size), rng)
    n_blocks = plan.n_blocks
    n_playlists, n_podcasts = plan.counts["playlist"], plan.counts["podcast"]
    for b, block_rng in enumerate(rng.spawn(n_blocks)):
        yield from block_music(plan, b, block_rng)
        share = (b * n_playlists // n_blocks, (b + 1) * n_playlists // n_blocks)
        yield from _playlist_entities(plan, block_rng, *share)
        share = (b * n_podcasts // n_blocks, (b + 1) * n_podcasts // n_blocks)
        yield from _podcast_entities(block_rng, *share)
