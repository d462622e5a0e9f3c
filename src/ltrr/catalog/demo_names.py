"""Words, vocabularies and title templates of the demo catalog (``catalog.demo``).

Two kinds of text live here. Attribute vocabularies (genres, moods, languages, podcast topics)
are schema: filters, the tagger and the tests refer to them by value, so they are Python
constants. Words that only end up in titles and descriptions are packaged data under
``catalog/words/*.txt`` (one entry per line, most common first), so they can grow without
touching code.

Words are drawn from a Zipf-Mandelbrot law over each list's order, ``p(rank) ∝ (rank + q)^-s``
(Mandelbrot 1953), so "love" and "night" recur across thousands of titles the way they do in
real catalogs; a misspelling of a common word then has many plausible targets.

Titles are rendered in bulk: numpy draws every template and word index of a chunk at once and
one ``str.format`` per entity puts them together.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources

import numpy as np
from numpy.typing import NDArray

# --- attribute vocabularies ---------------------------------------------------------------------

GENRES: tuple[str, ...] = (
    "pop", "rock", "hip hop", "electronic", "indie", "r&b",
    "latin", "country", "jazz", "classical", "metal", "folk",
)  # fmt: skip
#: Share of artists per genre, in ``GENRES`` order.
GENRE_SHARES = np.array([18, 14, 14, 10, 8, 7, 7, 6, 4, 4, 4, 4], dtype=np.float64) / 100
SUBGENRES: Mapping[str, tuple[str, ...]] = {
    "pop": ("dance pop", "synth pop", "k-pop", "electropop"),
    "rock": ("hard rock", "punk rock", "alternative rock", "classic rock"),
    "hip hop": ("trap", "boom bap", "conscious hip hop", "drill"),
    "electronic": ("house", "techno", "drum and bass", "dubstep"),
    "indie": ("indie pop", "indie rock", "lo-fi", "shoegaze"),
    "r&b": ("neo soul", "contemporary r&b", "funk"),
    "latin": ("reggaeton", "salsa", "bachata", "latin pop"),
    "country": ("country pop", "bluegrass", "outlaw country"),
    "jazz": ("bebop", "smooth jazz", "swing", "jazz fusion"),
    "classical": ("baroque", "opera", "chamber music", "symphonic"),
    "metal": ("heavy metal", "death metal", "thrash metal", "metalcore"),
    "folk": ("indie folk", "americana", "celtic folk"),
}
MOODS: tuple[str, ...] = (
    "happy", "sad", "chill", "energetic", "romantic",
    "dark", "calm", "angry", "melancholic", "uplifting",
)  # fmt: skip
_MOOD_BOOSTS: Mapping[str, Mapping[str, float]] = {
    "pop": {"happy": 4, "romantic": 3, "energetic": 3, "uplifting": 2},
    "rock": {"energetic": 4, "angry": 2, "sad": 1.5, "melancholic": 1.5},
    "hip hop": {"energetic": 4, "dark": 3, "angry": 2, "chill": 2},
    "electronic": {"energetic": 5, "chill": 3, "dark": 2, "uplifting": 2},
    "indie": {"melancholic": 4, "chill": 3, "sad": 3, "happy": 1},
    "r&b": {"romantic": 5, "chill": 3, "sad": 2},
    "latin": {"happy": 4, "romantic": 4, "energetic": 4},
    "country": {"happy": 3, "sad": 3, "romantic": 3, "melancholic": 1},
    "jazz": {"chill": 4, "calm": 3, "romantic": 3, "melancholic": 2},
    "classical": {"calm": 5, "melancholic": 3, "romantic": 2, "uplifting": 2},
    "metal": {"angry": 5, "dark": 5, "energetic": 4},
    "folk": {"melancholic": 4, "calm": 3, "sad": 2, "uplifting": 2},
}
LANGUAGES: tuple[str, ...] = (
    "english", "spanish", "portuguese", "french", "german",
    "korean", "japanese", "italian", "hindi",
)  # fmt: skip
LANGUAGE_SHARES = np.array([62, 10, 5, 5, 5, 4, 4, 3, 2], dtype=np.float64) / 100
#: Podcasts are described by ``topic``, kept apart from music ``genre`` so a genre filter never
#: mixes talk shows into songs.
TOPICS: tuple[str, ...] = (
    "news", "comedy", "true crime", "science", "history", "business",
    "technology", "sports", "health", "society", "education", "arts",
)  # fmt: skip
TOPIC_SHARES = np.array([14, 14, 12, 9, 9, 8, 8, 8, 6, 5, 4, 3], dtype=np.float64) / 100
_LABELS = {"r&b": "R&B", "hip hop": "Hip Hop", "k-pop": "K-Pop"}


def label(value: str) -> str:
    """Title-case a vocabulary value for display ("hip hop" -> "Hip Hop", "r&b" -> "R&B")."""
    return _LABELS.get(value) or " ".join(w[:1].upper() + w[1:] for w in value.split())


def mood_prior() -> NDArray[np.float64]:
    """Row-stochastic matrix, shape (n_genres, n_moods): how likely each mood is per genre."""
    prior = np.full((len(GENRES), len(MOODS)), 0.5)
    for g, genre in enumerate(GENRES):
        for mood, boost in _MOOD_BOOSTS[genre].items():
            prior[g, MOODS.index(mood)] = boost
    out: NDArray[np.float64] = prior / prior.sum(axis=1, keepdims=True)
    return out


# --- word lists ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Words:
    """One packaged word list: display forms, lowercase forms and Zipf draw probabilities."""

    display: NDArray[np.object_]
    lower: NDArray[np.object_]
    p: NDArray[np.float64]

    def draw(self, rng: np.random.Generator, n: int) -> NDArray[np.intp]:
        """Indices of ``n`` words drawn with the list's Zipf probabilities."""
        cum = np.cumsum(self.p)
        index: NDArray[np.intp] = np.searchsorted(cum, rng.random(n) * cum[-1], side="right")
        return np.minimum(index, len(cum) - 1)

    def draw_pair(
        self, rng: np.random.Generator, n: int
    ) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
        """Two index arrays that never pick the same word for one entity ("Love of Love")."""
        first, second = self.draw(rng, n), self.draw(rng, n)
        second = np.where(first == second, (second + 1) % len(self.p), second)
        return first, second


def _title_case(text: str) -> str:
    return " ".join(w[:1].upper() + w[1:] for w in text.split())


@functools.cache
def words(name: str, exponent: float = 1.0, offset: float = 2.7) -> Words:
    """Load ``catalog/words/{name}.txt``; rank r (0-based) gets weight ``(r + 1 + offset)^-s``."""
    path = resources.files("ltrr.catalog").joinpath(f"words/{name}.txt")
    entries = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    entries = [e for e in entries if e]
    weights = (np.arange(len(entries)) + 1.0 + offset) ** -exponent
    return Words(
        display=np.array([_title_case(e) for e in entries], dtype=object),
        lower=np.array([e.lower() for e in entries], dtype=object),
        p=weights / weights.sum(),
    )


def choose_rows(
    rng: np.random.Generator, probs: NDArray[np.float64], rows: NDArray[np.intp]
) -> NDArray[np.intp]:
    """One categorical draw per entity from row ``rows[i]`` of ``probs`` (rows sum to 1).

    ``probs`` has shape (n_rows, n_choices); ``rows`` has shape (n,). Vectorised inverse-CDF
    sampling: the result counts the cumulative probabilities below a uniform draw.
    """
    cum = np.cumsum(probs, axis=1)[rows]
    u = rng.random(len(rows))[:, None] * cum[:, -1:]
    out: NDArray[np.intp] = np.minimum((u >= cum).sum(axis=1), probs.shape[1] - 1)
    return out


def render(
    templates: Sequence[str], choice: NDArray[np.intp], columns: Mapping[str, Sequence[str]]
) -> list[str]:
    """Format ``templates[choice[i]]`` with row i of every column.

    Templates name their slots (``"{adj} {noun}"``) for readability; they are turned into
    positional ones once per call so each entity costs a single ``str.format``.
    """
    names = list(columns)
    slots = {name: f"{{{i}}}" for i, name in enumerate(names)}
    positional = [t.format(**slots) for t in templates]
    rows = zip(*(columns[name] for name in names), strict=True)
    return [positional[c].format(*row) for c, row in zip(choice.tolist(), rows, strict=True)]


def pick(rng: np.random.Generator, weights: Sequence[float], n: int) -> NDArray[np.intp]:
    """``n`` template indices drawn with relative ``weights``."""
    w = np.asarray(weights, dtype=np.float64)
    return rng.choice(len(w), size=n, p=w / w.sum())


def person_names(rng: np.random.Generator, n: int) -> tuple[list[str], list[str]]:
    """First names and surnames for ``n`` people, mildly Zipfian so some names are common."""
    first, last = words("first_names", 0.6), words("surnames", 0.6)
    return first.display[first.draw(rng, n)].tolist(), last.display[last.draw(rng, n)].tolist()


# --- track and album titles ---------------------------------------------------------------------

_TRACK_TEMPLATES: tuple[tuple[str, float], ...] = (
    ("{noun}", 10), ("{adj} {noun}", 14), ("{noun} {noun2}", 8), ("{noun} of {noun2}", 3),
    ("{noun} of the {noun2}", 3), ("The {noun}", 4), ("The {adj} {noun}", 3), ("My {noun}", 3),
    ("Your {noun}", 2), ("{verb} Me", 3), ("{verb} With Me", 2), ("{verb} Away", 2),
    ("{verb} the {noun}", 4), ("Don't {verb}", 2), ("I {verb} You", 2), ("{verb} Tonight", 2),
    ("{verb} Again", 2), ("Never {verb}", 1), ("Let's {verb}", 1), ("{noun} in the {noun2}", 3),
    ("{adj} {noun} {noun2}", 2), ("{noun} and {noun2}", 2), ("{adj} and {adj2}", 1),
    ("{adj}", 2), ("{noun} Song", 1), ("{noun} Blues", 1), ("{adj} {noun} Blues", 0.5),
)  # fmt: skip
_TRACK_SUFFIXES: tuple[tuple[str, float], ...] = (
    ("", 92), (" (Remix)", 1.5), (" (Live)", 1.5), (" (Acoustic)", 1), (" (Radio Edit)", 0.5),
    (" (feat. {first} {last})", 3), (" - Remastered", 0.5),
)  # fmt: skip


def _title_columns(rng: np.random.Generator, n: int) -> dict[str, Sequence[str]]:
    nouns, adjs, verbs = words("title_nouns"), words("title_adjectives"), words("title_verbs")
    noun, noun2 = nouns.draw_pair(rng, n)
    adj, adj2 = adjs.draw_pair(rng, n)
    return {
        "noun": nouns.display[noun].tolist(),
        "noun2": nouns.display[noun2].tolist(),
        "adj": adjs.display[adj].tolist(),
        "adj2": adjs.display[adj2].tolist(),
        "verb": verbs.display[verbs.draw(rng, n)].tolist(),
    }


def track_titles(rng: np.random.Generator, n: int) -> list[str]:
    """Song titles such as "Blue Moon", "Heart of the Night", "Dance With Me (Live)"."""
    body = render(
        [t for t, _ in _TRACK_TEMPLATES],
        pick(rng, [w for _, w in _TRACK_TEMPLATES], n),
        _title_columns(rng, n),
    )
    first, last = person_names(rng, n)
    suffix = render(
        [t for t, _ in _TRACK_SUFFIXES],
        pick(rng, [w for _, w in _TRACK_SUFFIXES], n),
        {"first": first, "last": last},
    )
    return [b + s for b, s in zip(body, suffix, strict=True)]


_ALBUM_TEMPLATES: tuple[tuple[str, float], ...] = (
    ("{track}", 25), ("{noun}", 12), ("{adj} {noun}", 14), ("{noun} and {noun2}", 4),
    ("The {noun} Sessions", 3), ("Songs of {noun}", 3), ("{noun} (Deluxe Edition)", 2),
    ("Live in {city}", 3), ("{artist}", 4), ("Greatest Hits", 1), ("The Best of {artist}", 1),
    ("{adj} {noun}, Vol. 2", 1), ("Letters from {city}", 1), ("{noun} {noun2}", 4),
)  # fmt: skip


def album_titles(
    rng: np.random.Generator, track: Sequence[str], artist: Sequence[str]
) -> list[str]:
    """Album titles; ``track`` is each album's first track (title tracks), ``artist`` its artist."""
    n = len(track)
    columns = _title_columns(rng, n)
    cities = words("cities", 0.5)
    columns |= {
        "track": track,
        "artist": artist,
        "city": cities.display[cities.draw(rng, n)].tolist(),
    }
    choice = pick(rng, [w for _, w in _ALBUM_TEMPLATES], n)
    return render([t for t, _ in _ALBUM_TEMPLATES], choice, columns)


# --- artists --------------------------------------------------------------------------------------

#: (template, base weight, genre -> weight overriding the base).
_ARTIST_TEMPLATES: tuple[tuple[str, float, Mapping[str, float]], ...] = (
    ("{first} {last}", 30, {"classical": 40, "country": 45, "folk": 35, "jazz": 30}),
    ("The {adj} {band}", 8, {"rock": 14, "indie": 14, "hip hop": 1, "classical": 0}),
    ("The {noun} {band}", 8, {"rock": 14, "indie": 14, "metal": 10, "classical": 0}),
    ("{adj} {noun}", 6, {"electronic": 12, "metal": 12, "classical": 0}),
    ("{adj} {band}", 5, {"metal": 10, "indie": 10, "classical": 0}),
    ("{first} and the {band}", 3, {"rock": 6, "folk": 6, "classical": 0}),
    ("{last} & {last2}", 2, {"electronic": 5, "folk": 4}),
    ("{first} {last} Band", 1, {"country": 6, "rock": 3, "classical": 0}),
    ("{first}", 4, {"pop": 10, "r&b": 10, "latin": 10}),
    ("DJ {first}", 0, {"electronic": 12, "hip hop": 3, "latin": 2}),
    ("Lil {first}", 0, {"hip hop": 12}),
    ("MC {last}", 0, {"hip hop": 8}),
    ("Young {first}", 0, {"hip hop": 6, "country": 1}),
    ("{first} {last} Trio", 0, {"jazz": 14}),
    ("The {last} Quartet", 0, {"jazz": 8, "classical": 6}),
    ("{city} Symphony Orchestra", 0, {"classical": 8}),
    ("{first} {last} Ensemble", 0, {"classical": 6, "jazz": 2}),
)


def _artist_template_probs() -> NDArray[np.float64]:
    w = np.array(
        [[over.get(g, base) for _, base, over in _ARTIST_TEMPLATES] for g in GENRES],
        dtype=np.float64,
    )
    out: NDArray[np.float64] = w / w.sum(axis=1, keepdims=True)
    return out


def artist_names(rng: np.random.Generator, genre: NDArray[np.intp]) -> list[str]:
    """Artist names in the style of each artist's genre: "Lil Maya", "The Midnight Wolves"."""
    n = len(genre)
    first, last = person_names(rng, n)
    _, last2 = person_names(rng, n)
    columns = _title_columns(rng, n)
    band, cities = words("band_nouns", 0.7), words("cities", 0.5)
    columns |= {
        "first": first,
        "last": last,
        "last2": last2,
        "band": band.display[band.draw(rng, n)].tolist(),
        "city": cities.display[cities.draw(rng, n)].tolist(),
    }
    choice = choose_rows(rng, _artist_template_probs(), genre)
    return render([t for t, _, _ in _ARTIST_TEMPLATES], choice, columns)


# --- playlists and podcasts -----------------------------------------------------------------------

_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_DECADES = ("70s", "80s", "90s", "2000s", "2010s")

#: (template, weight, names a genre, names a mood): the flags decide the playlist's attributes,
#: so "Chill Jazz Evenings" carries mood chill and genre jazz and "Rock Workout" only a genre.
_PLAYLIST_TEMPLATES: tuple[tuple[str, float, bool, bool], ...] = (
    ("{Mood} {Genre} {suffix}", 10, True, True),
    ("{Mood} {Genre}", 2, True, True),
    ("{Mood} {time} {suffix}", 6, False, True),
    ("{Genre} {activity}", 8, True, False),
    ("{Genre} {suffix}", 8, True, False),
    ("{time} {Genre}", 4, True, False),
    ("Best of {Genre}", 2, True, False),
    ("{decade} {Genre} {suffix}", 4, True, False),
    ("Today's Top {Genre} Hits", 1, True, False),
    ("{Mood} {suffix}", 4, False, True),
    ("{Mood} {activity}", 3, False, True),
)
#: Description templates per kind: 0 = genre and mood, 1 = genre only, 2 = mood only.
_PLAYLIST_DESCRIPTIONS: tuple[tuple[str, ...], ...] = (
    (
        "The best {mood} {genre} songs for {occasion}.",
        "{Mood} {genre} tracks, hand-picked for {occasion}.",
        "{Mood} {genre} for {occasion}, updated every {weekday}.",
    ),
    (
        "The biggest {genre} songs right now, updated every {weekday}.",
        "Essential {genre} tracks for {occasion}.",
        "Old and new {genre} songs about {noun} and {noun2}.",
    ),
    (
        "{Mood} songs for {occasion}.",
        "Feel {mood} with songs about {noun} and {noun2}.",
        "{Mood} music for {occasion}, fresh every {weekday}.",
    ),
)


@dataclass(frozen=True, slots=True)
class PlaylistTexts:
    """Titles and descriptions of a chunk of playlists, and which attributes each one names."""

    titles: list[str]
    descriptions: list[str]
    has_genre: NDArray[np.bool_]
    has_mood: NDArray[np.bool_]


def _by_kind(
    rng: np.random.Generator, kind: NDArray[np.intp]
) -> tuple[list[str], NDArray[np.intp]]:
    flat = [t for group in _PLAYLIST_DESCRIPTIONS for t in group]
    sizes = np.array([len(group) for group in _PLAYLIST_DESCRIPTIONS])
    start = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    return flat, start[kind] + (rng.random(len(kind)) * sizes[kind]).astype(np.intp)


def playlist_texts(
    rng: np.random.Generator, genre: NDArray[np.intp], mood: NDArray[np.intp]
) -> PlaylistTexts:
    """Editorial playlist names ("Chill Jazz Evenings", "Rock Workout") and a one-line blurb.

    ``genre`` and ``mood`` index ``GENRES`` and ``MOODS``; a template may leave either out.
    """
    n = len(genre)
    choice = pick(rng, [w for _, w, _, _ in _PLAYLIST_TEMPLATES], n)
    has_genre = np.array([g for _, _, g, _ in _PLAYLIST_TEMPLATES])[choice]
    has_mood = np.array([m for _, _, _, m in _PLAYLIST_TEMPLATES])[choice]
    genres, moods = [GENRES[g] for g in genre.tolist()], [MOODS[m] for m in mood.tolist()]
    nouns, occasions = words("title_nouns"), words("occasions", 0.3)
    noun, noun2 = nouns.draw_pair(rng, n)

    def draw(name: str) -> list[str]:
        w = words(name, 0.3)
        return list(w.display[w.draw(rng, n)].tolist())

    columns = {
        "genre": genres,
        "Genre": [label(g) for g in genres],
        "mood": moods,
        "Mood": [label(m) for m in moods],
        "suffix": draw("playlist_suffixes"),
        "activity": draw("playlist_activities"),
        "time": draw("playlist_times"),
        "decade": [_DECADES[i] for i in rng.integers(0, len(_DECADES), n).tolist()],
        "weekday": [_WEEKDAYS[i] for i in rng.integers(0, 7, n).tolist()],
        "occasion": occasions.lower[occasions.draw(rng, n)].tolist(),
        "noun": nouns.lower[noun].tolist(),
        "noun2": nouns.lower[noun2].tolist(),
    }
    titles = render([t for t, _, _, _ in _PLAYLIST_TEMPLATES], choice, columns)
    kind = np.where(has_genre & has_mood, 0, np.where(has_genre, 1, 2))
    flat, described = _by_kind(rng, kind)
    return PlaylistTexts(titles, render(flat, described, columns), has_genre, has_mood)


_PODCAST_TEMPLATES: tuple[tuple[str, float], ...] = (
    ("The Daily {Topic}", 4), ("The {Topic} Hour", 4), ("{Topic} Weekly", 4),
    ("{Topic} Explained", 3), ("The {first} {last} Show", 4), ("{Topic} Talk", 3),
    ("Inside {Topic}", 2), ("{adj} {Topic}", 2), ("{Topic} Tonight", 2),
    ("The {Topic} Podcast", 3), ("The Daily {Topic} Hour", 1), ("{noun} and {noun2}", 2),
    ("{Topic} with {first} {last}", 2),
)  # fmt: skip
_PODCAST_DESCRIPTIONS = (
    "A weekly show about {topic}, hosted by {first} {last}.",
    "{first} {last} talks {topic} with a new guest every {weekday}.",
    "Stories of {lnoun} and {lnoun2}, told by {first} {last}.",
    "Everything you need to know about {topic}, in twenty minutes a day.",
    "{first} {last} and friends on {topic}, {lnoun} and everything in between.",
)


def podcast_texts(rng: np.random.Generator, topic: NDArray[np.intp]) -> tuple[list[str], list[str]]:
    """Podcast titles ("The Daily Science Hour") and descriptions; both name the same host."""
    n = len(topic)
    topics = [TOPICS[t] for t in topic.tolist()]
    first, last = person_names(rng, n)
    columns = _title_columns(rng, n)
    columns |= {
        "topic": topics,
        "Topic": [label(t) for t in topics],
        "first": first,
        "last": last,
        "weekday": [_WEEKDAYS[i] for i in rng.integers(0, 7, n).tolist()],
        "lnoun": [w.lower() for w in columns["noun"]],
        "lnoun2": [w.lower() for w in columns["noun2"]],
    }
    choice = pick(rng, [w for _, w in _PODCAST_TEMPLATES], n)
    titles = render([t for t, _ in _PODCAST_TEMPLATES], choice, columns)
    described = rng.integers(0, len(_PODCAST_DESCRIPTIONS), n)
    return titles, render(_PODCAST_DESCRIPTIONS, described, columns)
