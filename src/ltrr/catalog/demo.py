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
planned up front; names and attributes are drawn block by block with numpy.

Attributes (name -> value -> weight in [0, 1]): music entities carry ``genre``, ``subgenre``,
``mood`` and ``language``; playlists carry ``genre`` and/or ``mood``, exactly those named in
their title; podcasts carry ``topic`` (``demo_names.TOPICS``, not ``genre``, so a genre filter
never returns talk shows) and ``language``. Popularity is in [0, 100], log-normal before a soft
cap, and a track's is its artist's plus noise.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
from numpy.typing import NDArray

from ltrr.catalog import demo_names as dn
from ltrr.types import Entity, EntityId

ENTITY_TYPES: tuple[str, ...] = ("artist", "album", "track", "playlist", "podcast")
#: Per-mille share of each type but tracks; tracks take the rest (about 75%).
TYPE_SHARES_PER_MILLE: Mapping[str, int] = {
    "artist": 60, "album": 120, "playlist": 50, "podcast": 20,
}  # fmt: skip
ID_DIGITS: Mapping[str, int] = {"artist": 6, "album": 6, "track": 7, "playlist": 6, "podcast": 6}
BLOCK_ARTISTS = 2048
MAX_ARTIST_RELATED = 50
MAX_ARTIST_ALBUMS_RELATED = 10
MAX_ALBUM_RELATED = 50
_START_S = 946_684_800.0  # 2000-01-01T00:00:00Z
_PLAYLISTS_START_S = 1_199_145_600.0  # 2008-01-01
_PODCASTS_START_S = 1_104_537_600.0  # 2005-01-01
_END_S = 1_767_225_600.0  # 2026-01-01

_SUBGENRES: tuple[str, ...] = tuple(s for g in dn.GENRES for s in dn.SUBGENRES[g])
_SUB_COUNT = np.array([len(dn.SUBGENRES[g]) for g in dn.GENRES])
_SUB_START = np.concatenate([[0], np.cumsum(_SUB_COUNT)[:-1]])


def _one(values: tuple[str, ...]) -> list[Mapping[str, float]]:
    """Shared read-only ``{value: 1.0}`` maps: most attributes are one value at full weight."""
    return [MappingProxyType({v: 1.0}) for v in values]


_GENRE_ONE, _MOOD_ONE = _one(dn.GENRES), _one(dn.MOODS)
_LANGUAGE_ONE, _TOPIC_ONE, _SUB_ONE = _one(dn.LANGUAGES), _one(dn.TOPICS), _one(_SUBGENRES)


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


def _ids(kind: str, start: int, stop: int) -> list[str]:
    prefix, digits = f"{kind}:", ID_DIGITS[kind]
    return [f"{prefix}{i:0{digits}d}" for i in range(start, stop)]


def _popularity(z: NDArray[np.float64]) -> list[float]:
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
class _Groups:
    """Artists grouped by an integer key, for popularity-weighted draws within one group."""

    order: NDArray[np.intp]  # (n_artists,) artists sorted by key
    bounds: NDArray[np.intp]  # (n_keys + 1,) group k is order[bounds[k]:bounds[k + 1]]
    cum: NDArray[np.float64]  # (n_artists + 1,) cumulative weight along order, from 0

    @classmethod
    def build(cls, key: NDArray[np.intp], n_keys: int, weight: NDArray[np.float64]) -> _Groups:
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
class _Plan:
    """Everything decided before the first block: counts, artists' facets, id offsets."""

    counts: Mapping[str, int]
    artist_z: NDArray[np.float64]  # (n_artists,) log-popularity
    artist_genre: NDArray[np.intp]  # (n_artists,) index into GENRES
    artist_mood: NDArray[np.intp]  # (n_artists,) index into MOODS
    album_start: NDArray[np.intp]  # (n_artists + 1,) albums of artist a: [start[a], start[a + 1])
    track_start: NDArray[np.intp]  # (n_albums + 1,) tracks of album b: [start[b], start[b + 1])
    everyone: _Groups  # all artists in one group
    by_pair: _Groups  # key genre * n_moods + mood
    by_genre: _Groups
    by_mood: _Groups

    @property
    def n_blocks(self) -> int:
        return -(-self.counts["artist"] // BLOCK_ARTISTS)

    def artist_tracks(self, artist: NDArray[np.intp]) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
        """First and one-past-last track of each artist."""
        return (
            self.track_start[self.album_start[artist]],
            self.track_start[self.album_start[artist + 1]],
        )


def _make_plan(counts: Mapping[str, int], rng: np.random.Generator) -> _Plan:
    n_artists, n_albums = counts["artist"], counts["album"]
    z = rng.normal(0.0, 1.5, n_artists)
    genre = rng.choice(len(dn.GENRES), size=n_artists, p=dn.GENRE_SHARES)
    mood = dn.choose_rows(rng, dn.mood_prior(), genre)
    albums = _spread(rng, n_albums, np.exp(0.5 * z))
    # Singles, EPs and LPs: relative lengths before the exact total is spread over them.
    kind = rng.choice(np.array([0.05, 4.0, 11.0]), size=n_albums, p=[0.35, 0.15, 0.5])
    tracks = _spread(rng, counts["track"], kind * rng.lognormal(0.0, 0.2, n_albums))
    weight, n_moods = np.exp(z), len(dn.MOODS)
    return _Plan(
        counts=counts,
        artist_z=z,
        artist_genre=genre,
        artist_mood=mood,
        album_start=np.concatenate([[0], np.cumsum(albums)]),
        track_start=np.concatenate([[0], np.cumsum(tracks)]),
        everyone=_Groups.build(np.zeros(n_artists, np.intp), 1, weight),
        by_pair=_Groups.build(genre * n_moods + mood, len(dn.GENRES) * n_moods, weight),
        by_genre=_Groups.build(genre, len(dn.GENRES), weight),
        by_mood=_Groups.build(mood, n_moods, weight),
    )


def _times(rng: np.random.Generator, start: NDArray[np.float64], skew: float) -> list[float]:
    """Whole epoch seconds between ``start`` and 2026; ``skew`` < 1 favours recent dates."""
    return list(np.floor(start + (_END_S - start) * rng.random(len(start)) ** skew).tolist())


@dataclass(frozen=True, slots=True)
class _Block:
    """The music of one block of artists: their albums and tracks, as parallel arrays."""

    artists: NDArray[np.intp]  # global artist indices, contiguous
    albums: NDArray[np.intp]  # global album indices, contiguous
    album_artist: NDArray[np.intp]  # (n_albums,) global artist index
    track_album: NDArray[np.intp]  # (n_tracks,) global album index
    track_artist: NDArray[np.intp]  # (n_tracks,) global artist index
    t0: int  # first track of the block

    @classmethod
    def build(cls, plan: _Plan, b: int) -> _Block:
        a0 = b * BLOCK_ARTISTS
        a1 = min(a0 + BLOCK_ARTISTS, plan.counts["artist"])
        al0, al1 = int(plan.album_start[a0]), int(plan.album_start[a1])
        artists, albums = np.arange(a0, a1), np.arange(al0, al1)
        album_artist = np.repeat(artists, np.diff(plan.album_start[a0 : a1 + 1]))
        track_album = np.repeat(albums, np.diff(plan.track_start[al0 : al1 + 1]))
        t0 = int(plan.track_start[al0])
        return cls(artists, albums, album_artist, track_album, album_artist[track_album - al0], t0)


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
    def draw(cls, plan: _Plan, blk: _Block, rng: np.random.Generator) -> _Artists:
        genre = plan.artist_genre[blk.artists]
        sub = _subgenres(rng, genre)
        n = len(genre)
        has_sub2 = rng.random(n) < 0.4
        return cls(
            ids=_ids("artist", int(blk.artists[0]), int(blk.artists[-1]) + 1),
            names=dn.artist_names(rng, genre),
            sub=sub,
            has_sub2=has_sub2,
            subgenres=_weighted(
                _SUB_ONE, _SUBGENRES, sub[:, 0], sub[:, 1], np.full(n, 0.5), has_sub2
            ),
            language=_languages(rng, genre, sub[:, 0]),
            debut_s=np.floor(_START_S + (_END_S - _START_S) * rng.random(n) ** 0.7),
        )


def _music(plan: _Plan, b: int, rng: np.random.Generator) -> Iterator[Entity]:
    """Artists of block ``b``, then their albums, then their tracks."""
    blk = _Block.build(plan, b)
    art = _Artists.draw(plan, blk, rng)
    if not len(blk.albums):  # a catalog of one entity: a lone artist
        yield from _artist_entities(plan, blk, art, [], [], np.zeros(0))
        return
    a0, al0 = int(blk.artists[0]), int(blk.albums[0])
    album_local, track_local = blk.album_artist - a0, blk.track_artist - a0
    album_shift = rng.normal(0.0, 0.3, len(blk.albums))
    album_time = _times(rng, art.debut_s[album_local], 1.5)
    track_z = (
        plan.artist_z[blk.track_artist]
        + album_shift[blk.track_album - al0]
        + rng.normal(0.0, 0.7, len(blk.track_album))
    )
    tracks = dn.track_titles(rng, len(track_z))
    albums = _album_titles(plan, blk, rng, tracks, [art.names[i] for i in album_local.tolist()])
    album_ids = _ids("album", al0, al0 + len(blk.albums))
    track_ids = _ids("track", blk.t0, blk.t0 + len(tracks))
    yield from _artist_entities(plan, blk, art, album_ids, track_ids, track_z)
    album_z = plan.artist_z[blk.album_artist] + album_shift + 0.3
    yield from _album_entities(plan, blk, art, albums, album_ids, track_ids, album_z, album_time)
    genre = plan.artist_genre[blk.track_artist]
    attributes = _track_attributes(plan, blk, art, genre, rng)
    album_of, pop = (blk.track_album - al0).tolist(), _popularity(track_z)
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
    plan: _Plan, blk: _Block, rng: np.random.Generator, tracks: list[str], artists: list[str]
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
    plan: _Plan,
    blk: _Block,
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
    pop = _popularity(plan.artist_z[blk.artists] + 0.8)
    debut = art.debut_s.tolist()
    for i, (t_lo, t_hi, b_lo, b_hi) in enumerate(rows):
        related = album_ids[b_lo : min(b_hi, b_lo + MAX_ARTIST_ALBUMS_RELATED)]
        best = best_first[t_lo : t_lo + min(t_hi - t_lo, MAX_ARTIST_RELATED - len(related))]
        yield Entity(
            id=EntityId(art.ids[i]),
            type="artist",
            title=art.names[i],
            attributes={
                "genre": _GENRE_ONE[genre[i]],
                "subgenre": art.subgenres[i],
                "mood": _MOOD_ONE[mood[i]],
                "language": _LANGUAGE_ONE[art.language[i]],
            },
            popularity=pop[i],
            related=tuple(EntityId(x) for x in related + [track_ids[j] for j in best]),
            added_at_s=debut[i],
        )


def _album_entities(
    plan: _Plan,
    blk: _Block,
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
    pop = _popularity(album_z)
    for i, j in enumerate(local):
        tracks = track_ids[starts[i] : min(starts[i + 1], starts[i] + MAX_ALBUM_RELATED - 1)]
        yield Entity(
            id=EntityId(album_ids[i]),
            type="album",
            title=titles[i],
            fields={"artist": art.names[j]},
            attributes={
                "genre": _GENRE_ONE[plan.artist_genre[a0 + j]],
                "subgenre": art.subgenres[j],
                "mood": _MOOD_ONE[plan.artist_mood[a0 + j]],
                "language": _LANGUAGE_ONE[art.language[j]],
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
    plan: _Plan, blk: _Block, art: _Artists, genre: NDArray[np.intp], rng: np.random.Generator
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
    genres = _weighted(_GENRE_ONE, dn.GENRES, genre, other, side_w, rng.random(n) < 0.08)
    second_sub = art.has_sub2[local] & (rng.random(n) < 0.3)
    sub = art.sub[local, second_sub.astype(np.intp)].tolist()
    mood = np.where(
        rng.random(n) < 0.65, plan.artist_mood[blk.track_artist], dn.choose_rows(rng, prior, genre)
    )
    mood_b = dn.choose_rows(rng, prior, genre)
    moods = _weighted(
        _MOOD_ONE, dn.MOODS, mood, mood_b, side_w, (rng.random(n) < 0.2) & (mood != mood_b)
    )
    rows = zip(genres, sub, moods, art.language[local].tolist(), strict=True)
    return [
        {"genre": g, "subgenre": _SUB_ONE[s], "mood": m, "language": _LANGUAGE_ONE[lang]}
        for g, s, m, lang in rows
    ]


def _playlist_tracks(
    plan: _Plan,
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
    plan: _Plan, rng: np.random.Generator, start: int, stop: int
) -> Iterator[Entity]:
    """Playlists; a popularity-weighted seed artist decides their genre and mood."""
    seed_artist = plan.everyone.draw(rng, np.zeros(stop - start, np.intp))
    genre, mood = plan.artist_genre[seed_artist], plan.artist_mood[seed_artist]
    texts = dn.playlist_texts(rng, genre, mood)
    related = _playlist_tracks(plan, rng, texts, genre, mood)
    pop = _popularity(rng.normal(0.0, 1.5, stop - start))
    added = _times(rng, np.full(stop - start, _PLAYLISTS_START_S), 0.5)
    flags = (texts.has_genre.tolist(), texts.has_mood.tolist())
    rows = zip(genre.tolist(), mood.tolist(), *flags, strict=True)
    for i, (g, m, has_g, has_m) in enumerate(rows):
        attributes = {"genre": _GENRE_ONE[g]} if has_g else {}
        if has_m:
            attributes["mood"] = _MOOD_ONE[m]
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
    pop = _popularity(rng.normal(-0.2, 1.3, n))
    added = _times(rng, np.full(n, _PODCASTS_START_S), 0.6)
    for i, t in enumerate(topic.tolist()):
        yield Entity(
            id=EntityId(f"podcast:{start + i:06d}"),
            type="podcast",
            title=titles[i],
            fields={"description": descriptions[i]},
            attributes={"topic": _TOPIC_ONE[t], "language": _LANGUAGE_ONE[language[i]]},
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
    plan = _make_plan(type_counts(size), rng)
    n_blocks = plan.n_blocks
    n_playlists, n_podcasts = plan.counts["playlist"], plan.counts["podcast"]
    for b, block_rng in enumerate(rng.spawn(n_blocks)):
        yield from _music(plan, b, block_rng)
        share = (b * n_playlists // n_blocks, (b + 1) * n_playlists // n_blocks)
        yield from _playlist_entities(plan, block_rng, *share)
        share = (b * n_podcasts // n_blocks, (b + 1) * n_podcasts // n_blocks)
        yield from _podcast_entities(block_rng, *share)
