"""Seeded misspellings of names: the typos and sound-alike spellings real searchers make.

The distribution (each draw from the caller's ``numpy.random.Generator``, so a seed fixes it):

1. **Which token.** One token of the folded name, uniformly among those with at least
   ``min_token_chars`` characters and one letter. Short words ("the", "you", "2") are never
   touched: a typo there is usually another word, and correctors leave them alone too.
2. **How many edits.** One; two with probability ``p_two_edits`` when the token has at least
   ``two_edit_min_chars`` characters. So the budget grows with token length, as a spelling
   corrector's does.
3. **Which kind**, weighted by ``p_<kind>``. Damerau (1964) found that about 80% of misspellings
   are one insertion, deletion, substitution or transposition; substitutions hit a QWERTY
   neighbour of the intended key, insertions add a neighbour or double the previous letter.
   The first letter is kept by these typos, as Pollock and Zamora (1983) found it is in about
   93% of real errors. A **phonetic** respelling rewrites a sound by another spelling of it
   (``PHONETIC_RULES``: "taylor" -> "tayler", "queen" -> "kween"); it counts as one edit but may
   cost 2 in Damerau-Levenshtein distance. When a kind cannot apply (no rule matches, no letter
   with keyboard neighbours) another kind is drawn.

The result always differs from the original; ``Misspelling.distance`` is the (unrestricted)
Damerau-Levenshtein distance between the normalised original and the misspelling, at least 1
and at most ``Misspelling.budget`` (the sum of the edits' costs).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from rapidfuzz.distance import DamerauLevenshtein

from ltrr.errors import ConfigError
from ltrr.understand.text import normalize, tokenize

KINDS = ("insertion", "deletion", "substitution", "transposition", "phonetic")

_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_ROW_OFFSETS = (0.0, 0.25, 0.75)  # the stagger of a physical QWERTY keyboard, in key widths


def _keyboard_neighbours() -> dict[str, str]:
    """Letter -> the letters whose keys touch it (same row +-1, rows above and below)."""
    position = {
        key: (row, col + _ROW_OFFSETS[row])
        for row, keys in enumerate(_ROWS)
        for col, key in enumerate(keys)
    }
    return {
        key: "".join(
            other
            for other, (r2, x2) in position.items()
            if other != key and abs(r2 - r) <= 1 and abs(x2 - x) <= 1.0
        )
        for key, (r, x) in position.items()
    }


#: QWERTY neighbours: ``KEYBOARD_NEIGHBOURS["f"] == "rtdgcv"``.
KEYBOARD_NEIGHBOURS = _keyboard_neighbours()

#: Sound-alike respellings: (regex on one folded token, replacement, an example word), each of
#: Damerau-Levenshtein cost 1 or 2. ``$`` anchors at the token's end.
PHONETIC_RULES: tuple[tuple[str, str, str], ...] = (
    ("ph", "f", "phone"),  # -> fone
    ("qu", "kw", "queen"),  # -> kween
    ("ck", "k", "rock"),  # -> rok
    ("c(?=[aoulr])", "k", "cold"),  # hard c -> kold
    ("c(?=[eiy])", "s", "dance"),  # soft c -> danse
    ("ee", "ea", "sweet"),  # -> sweat
    ("ea", "ee", "dream"),  # -> dreem
    ("ay", "ey", "taylor"),  # -> teylor
    ("ey", "ay", "money"),  # -> monay
    ("ie", "ei", "friend"),  # -> freind
    ("ei", "ie", "weird"),  # -> wierd
    ("or$", "er", "taylor"),  # -> tayler
    ("our$", "or", "colour"),  # -> color
    ("y$", "i", "baby"),  # -> babi
    ("s$", "z", "friends"),  # -> friendz
    ("z", "s", "crazy"),  # -> crasy
    ("x", "ks", "sexy"),  # -> seksy
    ("oo", "u", "moon"),  # -> mun
    ("ou", "ow", "house"),  # -> howse
    ("wr", "r", "write"),  # -> rite
    ("wh", "w", "what"),  # -> wat
)
_COMPILED = tuple((re.compile(pattern), replacement) for pattern, replacement, _ in PHONETIC_RULES)


@dataclass(frozen=True, slots=True)
class MisspellParams:
    """The misspelling distribution (module docstring); ``p_<kind>`` are relative weights."""

    min_token_chars: int = 4
    two_edit_min_chars: int = 8
    p_two_edits: float = 0.5
    p_insertion: float = 0.2
    p_deletion: float = 0.25
    p_substitution: float = 0.25
    p_transposition: float = 0.15
    p_phonetic: float = 0.15

    def __post_init__(self) -> None:
        if self.min_token_chars < 2:
            raise ConfigError(f"min_token_chars must be >= 2, got {self.min_token_chars}")
        if not 0.0 <= self.p_two_edits <= 1.0:
            raise ConfigError(f"p_two_edits must be in [0, 1], got {self.p_two_edits}")
        weights = self.kind_weights()
        if (weights < 0).any() or weights.sum() <= 0:
            raise ConfigError(f"edit kind weights must be >= 0 with a positive sum, got {weights}")

    def kind_weights(self) -> np.ndarray:
        """Weights of ``KINDS`` in that order, shape ``(5,)``."""
        return np.array([float(getattr(self, f"p_{kind}")) for kind in KINDS])


@dataclass(frozen=True, slots=True)
class Misspelling:
    """A misspelled name: ``text`` is normalised; ``kinds`` lists the edits applied in order."""

    original: str
    text: str
    kinds: tuple[str, ...]
    budget: int
    distance: int

    @property
    def n_edits(self) -> int:
        return len(self.kinds)


def _eligible(token: str, min_chars: int) -> bool:
    return len(token) >= min_chars and any(c.isalpha() for c in token)


def _insertion(token: str, rng: np.random.Generator) -> str | None:
    at = int(rng.integers(1, len(token) + 1))  # after the first letter, possibly at the end
    before = token[at - 1]
    neighbours = KEYBOARD_NEIGHBOURS.get(before, "")
    added = (
        neighbours[rng.integers(len(neighbours))] if neighbours and rng.random() < 0.5 else before
    )
    return token[:at] + added + token[at:]


def _deletion(token: str, rng: np.random.Generator) -> str | None:
    at = int(rng.integers(1, len(token)))
    return token[:at] + token[at + 1 :]


def _substitution(token: str, rng: np.random.Generator) -> str | None:
    places = [i for i in range(1, len(token)) if token[i] in KEYBOARD_NEIGHBOURS]
    if not places:
        return None
    at = places[rng.integers(len(places))]
    neighbours = KEYBOARD_NEIGHBOURS[token[at]]
    return token[:at] + neighbours[rng.integers(len(neighbours))] + token[at + 1 :]


def _transposition(token: str, rng: np.random.Generator) -> str | None:
    places = [i for i in range(1, len(token) - 1) if token[i] != token[i + 1]]
    if not places:
        return None
    at = places[rng.integers(len(places))]
    return token[:at] + token[at + 1] + token[at] + token[at + 2 :]


def _phonetic(token: str, rng: np.random.Generator) -> str | None:
    matches = [
        (match.start(), match.end(), replacement)
        for pattern, replacement in _COMPILED
        for match in pattern.finditer(token)
    ]
    if not matches:
        return None
    start, end, replacement = matches[rng.integers(len(matches))]
    return token[:start] + replacement + token[end:]


_ATTEMPTS = 10
_EDITS = {
    "insertion": _insertion,
    "deletion": _deletion,
    "substitution": _substitution,
    "transposition": _transposition,
    "phonetic": _phonetic,
}


def _edit(token: str, rng: np.random.Generator, weights: np.ndarray) -> tuple[str, str]:
    """One edit of a kind drawn by ``weights``; kinds that cannot apply are drawn out."""
    weights = weights.copy()
    while weights.sum() > 0:
        k = int(rng.choice(len(KINDS), p=weights / weights.sum()))
        edited = _EDITS[KINDS[k]](token, rng)
        if edited is not None and edited != token:
            return edited, KINDS[k]
        weights[k] = 0.0
    return _deletion(token, rng) or token, "deletion"  # deletion always applies to 2+ chars


def misspell(
    text: str, rng: np.random.Generator, params: MisspellParams | None = None
) -> Misspelling | None:
    """A seeded misspelling of ``text``, or ``None`` when no token is long enough to misspell.

    >>> m = misspell("Taylor Swift", np.random.default_rng(3))
    >>> m is not None and m.text != "taylor swift" and 1 <= m.distance <= m.budget
    True
    """
    params = params or MisspellParams()
    tokens = tokenize(text)
    eligible = [i for i, t in enumerate(tokens) if _eligible(t, params.min_token_chars)]
    if not eligible:
        return None
    at = eligible[rng.integers(len(eligible))]
    token = tokens[at]
    two = len(token) >= params.two_edit_min_chars and rng.random() < params.p_two_edits
    edited, kinds, budget = token, [], 0
    for _ in range(2 if two else 1):
        before = edited
        for _attempt in range(_ATTEMPTS):  # a second edit must not undo the first
            edited, kind = _edit(before, rng, params.kind_weights())
            if edited != token:
                break
        kinds.append(kind)
        budget += DamerauLevenshtein.distance(before, edited)
    if edited == token:
        edited, kinds, budget = token[0] + token[2:], ["deletion"], 1
    original = " ".join(tokens)
    misspelled = " ".join([*tokens[:at], edited, *tokens[at + 1 :]])
    distance = DamerauLevenshtein.distance(original, normalize(misspelled))
    return Misspelling(original, misspelled, tuple(kinds), budget, distance)


def distance_histogram(misspellings: Iterable[Misspelling]) -> dict[int, int]:
    """Damerau-Levenshtein distance -> number of misspellings, by increasing distance."""
    counts = Counter(m.distance for m in misspellings)
    return dict(sorted(counts.items()))
