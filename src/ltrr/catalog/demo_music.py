"""The music of one block of the demo catalog: its artists, their albums, those albums' tracks.

A module of its own because music is most of the catalog and of its logic: facets that agree
with each other (a jazz artist's albums and tracks are jazz, with a few crossovers), related
links between artists, albums and tracks, and titles drawn from ``catalog.demo_names``. It reads
the block's layout from ``catalog.demo_plan`` and yields entities in the stream's order.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ltrr.catalog import demo_names as dn
from ltrr.catalog.demo_plan import (
    END_S,
    GENRE_ONE,
    LANGUAGE_ONE,
    MOOD_ONE,
    START_S,
    Block,
    Plan,
    draw_times,
    entity_ids,
    one_maps,
    to_popularity,
)
from ltrr.types import Entity, EntityId

MAX_ARTIST_RELATED = 50
MAX_ARTIST_ALBUMS_RELATED = 10
MAX_ALBUM_RELATED = 50

_SUBGENRES: tuple[str, ...] = tuple(s for g in dn.GENRES for s in dn.SUBGENRES[g])
_SUB_COUNT = np.array([len(dn.SUBGENRES[g]) for g in dn.GENRES])
_SUB_START = np.concatenate([[0], np.cumsum(_SUB_COUNT)[:-1]])
_SUB_ONE = one_maps(_SUBGENRES)


def _subgenres(rng: np.random.Generator, genre: NDArray[np.intp]) -> NDArray[np.intp]:
    """Two distinct subgenres of each genre, shape (n, 2), global indices into _SUBGENRES."""
    count = _SUB_COUNT[genre]
    first = (rng.random(len(genre)) * count).astype(np.intp)
    second = (first + 1 + (rng.random(len(genre)) * (count - 1)).astype(np.intp)) % count
    return np.stack([_SUB_START[genre] + first, _SUB_START[genre] + second], axis=1)


def _languages(
    rng: np.random.Generator, genre: NDArray[np.intp], sub: NDArray[np.intp]
) -> NDArray[np.intp]:
    """English dominates, except that latin is sung in Spanish or Portuguese and k-pop in Korean."""
    lang = rng.choice(len(dn.LANGUAGES), size=len(genre), p=dn.LANGUAGE_SHARES)
    latin = rng.choice([1, 2, 0], size=len(genre), p=[0.75, 0.2, 0.05])  # spanish, portuguese
    lang = np.where(genre == dn.GENRES.index("latin"), latin, lang)
    return np.where(sub == _SUBGENRES.index("k-pop"), dn.LANGUAGES.index("korean"), lang)


@dataclass(frozen=True, slots=True)
class _Artists:
    """Facets of one block's artists that their albums and tracks inherit."""

    ids: list[str]
    names: list[str]
    sub: NDArray[np.intp]  # (n, 2) two distinct subgenres
    has_sub2: NDArray[np.bool_]  # (n,) whether the second one is listed
    subgenres: list[Mapping[str, float]]  # the first at weight 1, the second at 0.5
    language: NDArray[np.intp]  # (n,)
    debut_s: NDArray[np.float64]  # (n,)

    @classmethod
    def draw(cls, plan: Plan, blk: Block, rng: np.random.Generator) -> _Artists:
        genre = plan.artist_genre[blk.artists]
        sub = _subgenres(rng, genre)
        n = len(genre)
        has_sub2 = rng.random(n) < 0.4
        return cls(
            ids=entity_ids("artist", int(blk.artists[0]), int(blk.artists[-1]) + 1),
            names=dn.artist_names(rng, genre),
            sub=sub,
            has_sub2=has_sub2,
            subgenres=_weighted(
                _SUB_ONE, _SUBGENRES, sub[:, 0], sub[:, 1], np.full(n, 0.5), has_sub2
            ),
            language=_languages(rng, genre, sub[:, 0]),
            debut_s=np.floor(START_S + (END_S - START_S) * rng.random(n) ** 0.7),
        )


def block_music(plan: Plan, b: int, rng: np.random.Generator) -> Iterator[Entity]:
    """Artists of block ``b``, then their albums, then their tracks."""
    blk = Block.build(plan, b)
    art = _Artists.draw(plan, blk, rng)
    if not len(blk.albums):  # a catalog of one entity: a lone artist
        yield from _artist_entities(plan, blk, art, [], [], np.zeros(0))
        return
    a0, al0 = int(blk.artists[0]), int(blk.albums[0])
    album_local, track_local = blk.album_artist - a0, blk.track_artist - a0
    album_shift = rng.normal(0.0, 0.3, len(blk.albums))
    album_time = draw_times(rng, art.debut_s[album_local], 1.5)
    track_z = (
        plan.artist_z[blk.track_artist]
        + album_shift[blk.track_album - al0]
        + rng.normal(0.0, 0.7, len(blk.track_album))
    )
    tracks = dn.track_titles(rng, len(track_z))
    albums = _album_titles(plan, blk, rng, tracks, [art.names[i] for i in album_local.tolist()])
    album_ids = entity_ids("album", al0, al0 + len(blk.albums))
    track_ids = entity_ids("track", blk.t0, blk.t0 + len(tracks))
    yield from _artist_entities(plan, blk, art, album_ids, track_ids, track_z)
    album_z = plan.artist_z[blk.album_artist] + album_shift + 0.3
    yield from _album_entities(plan, blk, art, albums, album_ids, track_ids, album_z, album_time)
    genre = plan.artist_genre[blk.track_artist]
    attributes = _track_attributes(plan, blk, art, genre, rng)
    album_of, pop = (blk.track_album - al0).tolist(), to_popularity(track_z)
    for i, (j, k) in enumerate(zip(track_local.tolist(), album_of, strict=True)):
        yield Entity(
            id=EntityId(track_ids[i]),
            type="track",
            title=tracks[i],
            fields={"artist": art.names[j], "album": albums[k]},
            attributes=attributes[i],
            popularity=pop[i],
            related=(EntityId(art.ids[j]), EntityId(album_ids[k])),
            added_at_s=album_time[k],
        )


def _album_titles(
    plan: Plan, blk: Block, rng: np.random.Generator, tracks: list[str], artists: list[str]
) -> list[str]:
    """Album titles; a single (one track) is always named after its track."""
    first = plan.track_start[blk.albums] - blk.t0
    length = np.diff(plan.track_start[blk.albums[0] : blk.albums[-1] + 2]).tolist()
    if len(tracks):
        title_track = [tracks[i] for i in np.minimum(first, len(tracks) - 1).tolist()]
    else:
        title_track = dn.track_titles(rng, len(first))
    titles = dn.album_titles(rng, title_track, artists)
    return [t if n != 1 else track for t, n, track in zip(titles, length, title_track, strict=True)]


def _artist_entities(
    plan: Plan,
    blk: Block,
    art: _Artists,
    album_ids: list[str],
    track_ids: list[str],
    track_z: NDArray[np.float64],
) -> Iterator[Entity]:
    """Artists, related to up to ten albums and their most popular tracks."""
    al0 = int(plan.album_start[blk.artists[0]])
    best_first = np.lexsort((-track_z, blk.track_artist)).tolist()  # grouped by artist
    lo, hi = (x - blk.t0 for x in plan.artist_tracks(blk.artists))
    album_lo, album_hi = (plan.album_start[blk.artists + d] - al0 for d in (0, 1))
    genre, mood = plan.artist_genre[blk.artists].tolist(), plan.artist_mood[blk.artists].tolist()
    rows = zip(lo.tolist(), hi.tolist(), album_lo.tolist(), album_hi.tolist(), strict=True)
    pop = to_popularity(plan.artist_z[blk.artists] + 0.8)
    debut = art.debut_s.tolist()
    for i, (t_lo, t_hi, b_lo, b_hi) in enumerate(rows):
        related = album_ids[b_lo : min(b_hi, b_lo + MAX_ARTIST_ALBUMS_RELATED)]
        best = best_first[t_lo : t_lo + min(t_hi - t_lo, MAX_ARTIST_RELATED - len(related))]
        yield Entity(
            id=EntityId(art.ids[i]),
            type="artist",
            title=art.names[i],
            attributes={
                "genre": GENRE_ONE[genre[i]],
                "subgenre": art.subgenres[i],
                "mood": MOOD_ONE[mood[i]],
                "language": LANGUAGE_ONE[art.language[i]],
            },
            popularity=pop[i],
            related=tuple(EntityId(x) for x in related + [track_ids[j] for j in best]),
            added_at_s=debut[i],
        )


def _album_entities(
    plan: Plan,
    blk: Block,
    art: _Artists,
    titles: list[str],
    album_ids: list[str],
    track_ids: list[str],
    album_z: NDArray[np.float64],
    album_time: list[float],
) -> Iterator[Entity]:
    """Albums, related to their artist and tracks; facets are the artist's."""
    a0 = int(blk.artists[0])
    starts = (plan.track_start[blk.albums[0] : blk.albums[-1] + 2] - blk.t0).tolist()
    local = (blk.album_artist - a0).tolist()
    pop = to_popularity(album_z)
    for i, j in enumerate(local):
        tracks = track_ids[starts[i] : min(starts[i + 1], starts[i] + MAX_ALBUM_RELATED - 1)]
        yield Entity(
            id=EntityId(album_ids[i]),
            type="album",
            title=titles[i],
            fields={"artist": art.names[j]},
            attributes={
                "genre": GENRE_ONE[plan.artist_genre[a0 + j]],
                "subgenre": art.subgenres[j],
                "mood": MOOD_ONE[plan.artist_mood[a0 + j]],
                "language": LANGUAGE_ONE[art.language[j]],
            },
            popularity=pop[i],
            related=tuple(EntityId(x) for x in [art.ids[j], *tracks]),
            added_at_s=album_time[i],
        )


def _weighted(
    ones: list[Mapping[str, float]],
    values: tuple[str, ...],
    first: NDArray[np.intp],
    second: NDArray[np.intp],
    weight: NDArray[np.float64],
    both: NDArray[np.bool_],
) -> list[Mapping[str, float]]:
    """Per entity ``{first: 1.0}`` (a shared map) or, where ``both``, ``{first: 1, second: w}``."""
    rows = zip(first.tolist(), second.tolist(), weight.tolist(), both.tolist(), strict=True)
    return [{values[a]: 1.0, values[b]: w} if two else ones[a] for a, b, w, two in rows]


def _track_attributes(
    plan: Plan, blk: Block, art: _Artists, genre: NDArray[np.intp], rng: np.random.Generator
) -> list[dict[str, Mapping[str, float]]]:
    """Facets of one block's tracks, mostly their artist's.

    Genre and language are the artist's; 8% of tracks add a second genre (a crossover), one
    of the artist's subgenres is picked, a third of moods are redrawn from the genre's mood
    prior and 20% of tracks add a second mood, so that facets are informative but not copies.
    """
    n, n_genres, prior = len(genre), len(dn.GENRES), dn.mood_prior()
    local = blk.track_artist - int(blk.artists[0])
    other = (genre + 1 + rng.integers(0, n_genres - 1, n)) % n_genres
    side_w = np.round(rng.uniform(0.3, 0.7, n), 2)
    genres = _weighted(GENRE_ONE, dn.GENRES, genre, other, side_w, rng.random(n) < 0.08)
    second_sub = art.has_sub2[local] & (rng.random(n) < 0.3)
    sub = art.sub[local, second_sub.astype(np.intp)].tolist()
    mood = np.where(
        rng.random(n) < 0.65, plan.artist_mood[blk.track_artist], dn.choose_rows(rng, prior, genre)
    )
    mood_b = dn.choose_rows(rng, prior, genre)
    moods = _weighted(
        MOOD_ONE, dn.MOODS, mood, mood_b, side_w, (rng.random(n) < 0.2) & (mood != mood_b)
    )
    rows = zip(genres, sub, moods, art.language[local].tolist(), strict=True)
    return [
        {"genre": g, "subgenre": _SUB_ONE[s], "mood": m, "language": LANGUAGE_ONE[lang]}
        for g, s, m, lang in rows
    ]
