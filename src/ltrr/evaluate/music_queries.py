"""How each query class of the music benchmark draws its queries from a catalog.

``evaluate.music`` assembles and writes the benchmark; this module holds what its docstring
calls the classes and the sampling: the catalog read as names, artists, types and title-word
postings (``MusicIndex``), one builder per class that turns a candidate (a name, an attribute value,
a word) into a query and its targets, and the popularity-weighted draw without replacement.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ltrr.config import Config
from ltrr.errors import ConfigError
from ltrr.evaluate.misspell import MisspellParams, misspell
from ltrr.types import Entity
from ltrr.understand.text import normalize, tokenize

CLASSES = (
    "exact",
    "misspelled",
    "partial",
    "title_artist",
    "artist",
    "type_qualified",
    "topic",
    "broad",
)
#: Classes whose queries name one thing; topic and broad have many relevant items each.
NAMED_CLASSES = CLASSES[:6]
#: Classes choose in this order; a text one class took is skipped by the later ones.
BUILD_ORDER = (
    "topic",
    "broad",
    "artist",
    "type_qualified",
    "title_artist",
    "partial",
    "misspelled",
    "exact",
)

#: Type words of "X playlist"; a type not listed is its own word.
NAMED_TYPE_WORDS = {"track": "song"}
#: Type words of topic queries ("chill playlist", "rock songs").
TOPIC_TYPE_WORDS = {"track": "songs", "album": "albums", "artist": "artists", "podcast": "podcasts"}
#: Title words that are no query alone (broad) nor the edge of a partial one: function words
#: (English, Spanish) and version tags.
_STOPWORD_TEXT = (
    "the and for with from you your this that are was what when all not but out its our his "
    "her she him they them who how can just dont into over have has had were will one get got "
    "feat remix remastered remaster version edit mix radio original extended live deluxe "
    "edition instrumental vip mono stereo bonus single vol que los las del con por una para "
    "mas como club dub intro outro interlude"
)
STOPWORDS = frozenset(_STOPWORD_TEXT.split())

_BRACKETS = re.compile(r"[\(\[][^\)\]]*[\)\]]")
_DASH = re.compile(r"\s[-\u2013\u2014]\s")


@dataclass(frozen=True, slots=True)
class MusicBenchmarkParams:
    """How many queries of each class and how they are drawn (module docstring)."""

    per_class: int = 200
    zipf_exponent: float = 1.0
    tail_share: float = 0.3
    artist_type: str = "artist"
    artist_field: str = "artist"
    song_type: str = "track"
    topic_attributes: tuple[str, ...] = ("genre", "subgenre", "mood", "topic")
    topic_min_weight: float = 0.25
    broad_min_entities: int = 20
    partial_max_tokens: int = 4
    partial_max_targets: int = 20
    misspell_retries: int = 5

    def __post_init__(self) -> None:
        if not 0.0 <= self.tail_share <= 1.0:
            raise ConfigError(f"benchmark.tail_share must be in [0, 1], got {self.tail_share}")
        if self.partial_max_tokens < 2:
            raise ConfigError(
                f"benchmark.partial_max_tokens must be >= 2, got {self.partial_max_tokens}"
            )


def benchmark_params(config: Config) -> tuple[MusicBenchmarkParams, MisspellParams]:
    """``[benchmark]`` and ``[benchmark.misspell]`` of ``config``; the defaults when absent."""
    section = config.values.get("benchmark")
    if section is None:
        return MusicBenchmarkParams(), MisspellParams()
    params = config.params("benchmark", MusicBenchmarkParams)
    has_misspell = isinstance(section, Mapping) and "misspell" in section
    misspelling = config.params("benchmark.misspell", MisspellParams) if has_misspell else None
    return params, misspelling or MisspellParams()


#: What a class makes of one candidate: (text, target indices, metadata), or None to skip it.
_Made = tuple[str, Sequence[int], Mapping[str, object]] | None
_Groups = list[tuple[Any, list[int]]]
#: A query taken: text, target indices, metadata, its source's popularity rank percentile.
Taken = tuple[str, Sequence[int], Mapping[str, object], float]
_Make = Callable[[Any, list[int]], _Made]
Rng = np.random.Generator


class MusicIndex:
    """The catalog as the class builders read it: names, artists, types, title-word postings."""

    def __init__(self, entities: Sequence[Entity], params: MusicBenchmarkParams) -> None:
        self.entities = entities
        self.params = params
        self.popularity = np.array([e.popularity for e in entities], dtype=np.float64)
        self.names = [normalize(e.title) for e in entities]
        self.name_set = frozenset(self.names)
        self.artists = [normalize(e.fields.get(params.artist_field, "")) for e in entities]
        self.types = [e.type for e in entities]
        self.postings: dict[str, list[int]] = defaultdict(list)
        for i, name in enumerate(self.names):
            for token in dict.fromkeys(name.split()):
                self.postings[token].append(i)

    def type_names(self) -> list[str]:
        """Types a type word can single out: none in a catalog of one type."""
        kinds = sorted(set(self.types))
        return kinds if len(kinds) > 1 else []

    def best(self, members: Sequence[int]) -> Entity:
        """The most popular member (the first among ties)."""
        return self.entities[members[int(np.argmax(self.popularity[list(members)]))]]

    def idf(self, token: str) -> float:
        return math.log(len(self.names) / (1 + len(self.postings.get(token, ()))))

    def phrase(self, tokens: Sequence[str]) -> list[int]:
        """Entities whose normalised title holds ``tokens`` contiguously."""
        rarest = min((self.postings.get(t, []) for t in tokens), key=len)
        needle = f" {' '.join(tokens)} "
        return [i for i in rarest if needle in f" {self.names[i]} "]

    def groups(self, key: Callable[[int], object]) -> _Groups:
        """Entities grouped by ``key`` (``None`` leaves one out), in first-seen order."""
        grouped: dict[object, list[int]] = defaultdict(list)
        for i in range(len(self.entities)):
            k = key(i)
            if k is not None:
                grouped[k].append(i)
        return list(grouped.items())

    def by_name(self, type_: str | None = None) -> _Groups:
        """Name -> entities of that normalised name (of type ``type_`` when given)."""
        names, types = self.names, self.types
        return self.groups(lambda i: names[i] if names[i] and type_ in (None, types[i]) else None)

    def not_only_artists(self, groups: _Groups) -> _Groups:
        artist = self.params.artist_type
        return [(k, m) for k, m in groups if any(self.types[i] != artist for i in m)]


def sampling_order(
    popularity: np.ndarray, rng: np.random.Generator, params: MusicBenchmarkParams
) -> tuple[np.ndarray, np.ndarray]:
    """Candidate indices in draw order, and each candidate's popularity rank percentile.

    ``popularity`` has shape ``(n,)``. Weighted sampling without replacement by exponential
    keys (Efraimidis and Spirakis 2006): key ``log(u) / w``, largest first.
    """
    n = len(popularity)
    if n == 0:
        return np.zeros(0, dtype=np.intp), np.zeros(0)
    rank = np.searchsorted(np.sort(-popularity), -popularity, side="left") + 1.0
    zipf = rank**-params.zipf_exponent
    weights = (1 - params.tail_share) * zipf / zipf.sum() + params.tail_share / n
    with np.errstate(divide="ignore"):
        keys = np.log(rng.random(n)) / weights
    return np.argsort(-keys, kind="stable"), 100.0 * (rank - 1) / n


@dataclass(frozen=True, slots=True)
class _Candidates:
    """What one class (or one form of it) draws from, and the rule that makes a query."""

    groups: _Groups
    popularity: np.ndarray
    make: _Make

    @classmethod
    def by_best(cls, ix: MusicIndex, groups: _Groups, make: _Make) -> _Candidates:
        """Candidates whose popularity is their best member's."""
        pop = np.array([ix.popularity[m].max() for _, m in groups], dtype=np.float64)
        return cls(groups, pop, make)

    @classmethod
    def by_size(cls, groups: _Groups, make: _Make) -> _Candidates:
        """Candidates whose popularity is their number of members."""
        return cls(groups, np.array([len(m) for _, m in groups], dtype=np.float64), make)

    def drafts(
        self, rng: np.random.Generator, params: MusicBenchmarkParams
    ) -> Iterator[tuple[_Made, float]]:
        order, rank_pct = sampling_order(self.popularity, rng, params)
        for g in order.tolist():
            yield self.make(*self.groups[g]), float(rank_pct[g])


def _exact(ix: MusicIndex, rng: Rng, mp: MisspellParams) -> list[_Candidates]:
    """Titles of anything but artists (the artist class asks for those), as written."""
    groups = ix.not_only_artists(ix.by_name())
    return [_Candidates.by_best(ix, groups, lambda n, m: (ix.best(m).title, m, {}))]


def _misspelled(ix: MusicIndex, rng: Rng, mp: MisspellParams) -> list[_Candidates]:
    """Any name misspelled; a misspelling that is itself a catalog name is drawn again."""

    def make(name: str, members: list[int]) -> _Made:
        for _ in range(ix.params.misspell_retries):
            m = misspell(name, rng, mp)
            if m is None:
                return None
            if m.text not in ix.name_set:
                edits = {"original": name, "edit_distance": m.distance, "edits": list(m.kinds)}
                return m.text, members, edits
        return None

    return [_Candidates.by_best(ix, ix.by_name(), make)]


def core_tokens(title: str) -> list[str]:
    """Title tokens without bracketed parts and dash suffixes ("Song (feat. X) - Live")."""
    return tokenize(_DASH.split(_BRACKETS.sub(" ", title))[0]) or tokenize(title)


def _content(token: str) -> bool:
    return len(token) >= 3 and token not in STOPWORDS


def partial_window(ix: MusicIndex, entity: Entity, rng: np.random.Generator) -> list[str] | None:
    """The most distinctive (highest summed idf) run of k core tokens, k drawn in [2, max].

    A run starts and ends with a content word and is shorter than the title; when no run of
    2+ words qualifies, the most distinctive content word of 4+ characters stands alone.
    """
    full, core = tokenize(entity.title), core_tokens(entity.title)
    lengths = [k for k in range(2, min(len(core), ix.params.partial_max_tokens) + 1)]
    first = int(rng.integers(len(lengths))) if lengths else 0
    for k in [*lengths[first:], *lengths[:first], 1]:
        windows = [
            core[s : s + k]
            for s in range(len(core) - k + 1)
            if _content(core[s]) and _content(core[s + k - 1]) and (k > 1 or len(core[s]) >= 4)
        ]
        if windows and k < len(full):
            return max(windows, key=lambda w: sum(ix.idf(t) for t in w))
    return None


def _partial(ix: MusicIndex, rng: Rng, mp: MisspellParams) -> list[_Candidates]:
    """Part of a multi-word title; a part in over ``partial_max_targets`` titles is skipped."""
    artist = ix.params.artist_type
    groups = ix.not_only_artists([(n, m) for n, m in ix.by_name() if " " in n])

    def make(name: str, members: list[int]) -> _Made:
        window = partial_window(ix, ix.best([i for i in members if ix.types[i] != artist]), rng)
        targets = ix.phrase(window) if window else []
        if not window or len(targets) > ix.params.partial_max_targets:
            return None
        return " ".join(window), targets, {"source": name}

    return [_Candidates.by_best(ix, groups, make)]


def _title_artist(
    ix: MusicIndex, rng: np.random.Generator, mp: MisspellParams
) -> list[_Candidates]:
    """ "title artist" of songs; targets: the songs of that title by that artist."""
    names, artists, types, song = ix.names, ix.artists, ix.types, ix.params.song_type
    groups = ix.groups(
        lambda i: (names[i], artists[i]) if names[i] and artists[i] and types[i] == song else None
    )

    def make(key: tuple[str, str], members: list[int]) -> _Made:
        best = ix.best(members)
        return f"{best.title} {best.fields[ix.params.artist_field]}", members, {"source": key}

    return [_Candidates.by_best(ix, groups, make)]


def _artist(ix: MusicIndex, rng: Rng, mp: MisspellParams) -> list[_Candidates]:
    """An artist's name as written; targets: the artist entities of that name."""
    groups = ix.by_name(ix.params.artist_type)
    return [_Candidates.by_best(ix, groups, lambda n, m: (ix.best(m).title, m, {}))]


def _type_qualified(
    ix: MusicIndex, rng: np.random.Generator, mp: MisspellParams
) -> list[_Candidates]:
    """ "X playlist", "X album", "X song" (one form per type) and "songs by X"."""
    forms = []
    for type_ in ix.type_names():
        if type_ != ix.params.artist_type:
            word = NAMED_TYPE_WORDS.get(type_, type_)

            def make(name: str, members: list[int], word: str = word) -> _Made:
                return f"{ix.best(members).title} {word}", members, {"form": f"X {word}"}

            forms.append(_Candidates.by_best(ix, ix.by_name(type_), make))
    artists, types, song = ix.artists, ix.types, ix.params.song_type
    if song in ix.type_names():
        by_artist = ix.groups(lambda i: artists[i] if artists[i] and types[i] == song else None)

        def songs_by(name: str, members: list[int]) -> _Made:
            shown = ix.best(members).fields[ix.params.artist_field]
            return f"songs by {shown}", members, {"form": "songs by X"}

        forms.append(_Candidates.by_best(ix, by_artist, songs_by))
    return forms


def _topic(ix: MusicIndex, rng: Rng, mp: MisspellParams) -> list[_Candidates]:
    """An attribute value, alone or with a type word; targets carry it at topic_min_weight+."""
    p, typed = ix.params, bool(ix.type_names())
    found: dict[tuple[str, str, str | None], list[int]] = defaultdict(list)
    for i, entity in enumerate(ix.entities):
        for attribute in p.topic_attributes:
            for value, weight in entity.attributes.get(attribute, {}).items():
                if weight >= p.topic_min_weight and normalize(value):
                    found[(attribute, value, None)].append(i)
                    if typed:
                        found[(attribute, value, ix.types[i])].append(i)

    def make(key: tuple[str, str, str | None], members: list[int]) -> _Made:
        attribute, value, type_ = key
        text = value if type_ is None else f"{value} {TOPIC_TYPE_WORDS.get(type_, type_)}"
        return text, members, {"attribute": attribute, "value": value, "type": type_}

    return [_Candidates.by_size(list(found.items()), make)]


def _broad(ix: MusicIndex, rng: Rng, mp: MisspellParams) -> list[_Candidates]:
    """A frequent title word: at least ``broad_min_entities`` titles hold it."""
    words: _Groups = [
        (t, m)
        for t, m in ix.postings.items()
        if len(m) >= ix.params.broad_min_entities
        and len(t) >= 3
        and t not in STOPWORDS
        and any(c.isalpha() for c in t)
    ]
    return [_Candidates.by_size(words, lambda t, m: (t, m, {}))]


_BUILDERS: dict[str, Callable[[MusicIndex, np.random.Generator, MisspellParams], list[_Candidates]]]
_BUILDERS = {
    "exact": _exact,
    "misspelled": _misspelled,
    "partial": _partial,
    "title_artist": _title_artist,
    "artist": _artist,
    "type_qualified": _type_qualified,
    "topic": _topic,
    "broad": _broad,
}


def _round_robin(
    forms: list[_Candidates], rng: np.random.Generator, params: MusicBenchmarkParams
) -> Iterator[tuple[_Made, float]]:
    """The forms' drafts taken in turn, so each form gets an equal share."""
    running = [f.drafts(rng, params) for f in forms]
    while running:
        for it in list(running):
            made = next(it, None)
            if made is None:
                running.remove(it)
            else:
                yield made


def _take(drafts: Iterator[tuple[_Made, float]], n: int, seen: set[str]) -> list[Taken]:
    """The first ``n`` drafts with targets and a normalised text no earlier query used."""
    taken: list[Taken] = []
    for made, rank_pct in drafts if n > 0 else ():
        if made is None or not made[1]:
            continue
        text = normalize(made[0])
        if text and text not in seen:
            seen.add(text)
            taken.append((made[0], made[1], made[2], rank_pct))
            if len(taken) == n:
                break
    return taken


def draw_class(
    name: str,
    ix: MusicIndex,
    seed: int,
    misspelling: MisspellParams,
    seen: set[str],
) -> tuple[int, list[Taken]]:
    """Class ``name``'s candidate count and its queries, skipping texts in ``seen`` (updated).

    Each class has its own generator seeded by ``(seed, class)``, so adding a class or
    changing another's size never changes this one's draws.
    """
    rng = np.random.default_rng([seed, CLASSES.index(name)])
    forms = _BUILDERS[name](ix, rng, misspelling)
    taken = _take(_round_robin(forms, rng, ix.params), ix.params.per_class, seen)
    return sum(len(f.groups) for f in forms), taken
