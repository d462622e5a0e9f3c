"""The seeded misspelling distribution: budgets, kinds, determinism, odd inputs."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rapidfuzz.distance import DamerauLevenshtein

from ltrr.errors import ConfigError
from ltrr.evaluate.misspell import (
    KEYBOARD_NEIGHBOURS,
    KINDS,
    PHONETIC_RULES,
    Misspelling,
    MisspellParams,
    distance_histogram,
    misspell,
)
from ltrr.understand.text import normalize, tokenize

NAMES = [
    "Taylor Swift",
    "Queen",
    "Bohemian Rhapsody",
    "Don't Stop Me Now (2011 Remaster)",
    "Beyoncé",
    "Photograph",
    "Summertime Sadness",
    "Hollywood's Bleeding",
    "Shape of You",
    "Dancing Queen",
]

ONLY = {f"p_{kind}": 0.0 for kind in KINDS}


def only(kind: str, **extra: float) -> MisspellParams:
    return MisspellParams(**{**ONLY, f"p_{kind}": 1.0, **extra})  # type: ignore[arg-type]


def drawn(text: str, seed: int, params: MisspellParams) -> Misspelling:
    m = misspell(text, np.random.default_rng(seed), params)
    assert m is not None
    return m


def outcomes(text: str, params: MisspellParams, n: int = 300) -> set[str]:
    return {drawn(text, seed, params).text for seed in range(n)}


def test_keyboard_neighbours_are_the_touching_keys_and_symmetric() -> None:
    assert KEYBOARD_NEIGHBOURS["f"] == "rtdgcv"
    assert set(KEYBOARD_NEIGHBOURS["q"]) == {"w", "a"}
    assert set(KEYBOARD_NEIGHBOURS["m"]) == {"n", "j", "k"}
    for key, neighbours in KEYBOARD_NEIGHBOURS.items():
        assert all(key in KEYBOARD_NEIGHBOURS[other] for other in neighbours)


@pytest.mark.parametrize(("pattern", "replacement", "example"), PHONETIC_RULES)
def test_every_phonetic_rule_respells_its_example_at_cost_one_or_two(
    pattern: str, replacement: str, example: str
) -> None:
    respelled = re.sub(pattern, replacement, example, count=1)
    assert respelled != example
    assert 1 <= DamerauLevenshtein.distance(example, respelled) <= 2


def test_phonetic_respellings_of_the_documented_examples() -> None:
    assert outcomes("taylor", only("phonetic")) == {"tayler", "teylor"}
    assert outcomes("queen", only("phonetic")) == {"kween", "quean"}


@pytest.mark.parametrize("kind", ["insertion", "deletion", "substitution", "transposition"])
def test_typos_are_one_edit_of_their_kind_and_keep_the_first_letter(kind: str) -> None:
    for seed in range(200):
        m = misspell("summertime", np.random.default_rng(seed), only(kind, p_two_edits=0.0))
        assert m is not None and m.kinds == (kind,)
        assert m.text[0] == "s" and m.distance == 1
        length = {"insertion": 11, "deletion": 9}.get(kind, 10)
        assert len(m.text) == length


def test_substitutions_hit_keyboard_neighbours() -> None:
    for seed in range(200):
        m = misspell("queen", np.random.default_rng(seed), only("substitution"))
        assert m is not None
        (i,) = [i for i, (a, b) in enumerate(zip("queen", m.text, strict=True)) if a != b]
        assert m.text[i] in KEYBOARD_NEIGHBOURS["queen"[i]]


def test_kind_that_cannot_apply_is_drawn_again() -> None:
    # no transposition changes "xxxx" (equal letters): another kind is drawn
    m = misspell("wxxxx", np.random.default_rng(0), only("transposition"))
    assert m is not None and m.text != "wxxxx" and m.distance >= 1


@pytest.mark.parametrize("name", NAMES)
def test_result_differs_and_distance_is_within_budget(name: str) -> None:
    params = MisspellParams()
    for seed in range(100):
        m = misspell(name, np.random.default_rng(seed), params)
        assert m is not None
        assert m.original == normalize(name)
        assert normalize(m.text) == m.text != m.original
        assert m.distance == DamerauLevenshtein.distance(m.original, m.text)
        assert 1 <= m.distance <= m.budget <= 2 * m.n_edits
        changed = [(a, b) for a, b in zip(tokenize(name), m.text.split(), strict=True) if a != b]
        assert len(changed) == 1  # one token misspelled, the others kept
        original_token = changed[0][0]
        assert len(original_token) >= params.min_token_chars
        assert m.n_edits == 1 or len(original_token) >= params.two_edit_min_chars


def test_two_edits_only_for_long_tokens_at_the_configured_rate() -> None:
    always = MisspellParams(p_two_edits=1.0)
    assert {drawn("summertime", s, always).n_edits for s in range(50)} == {2}
    assert {drawn("queen", s, always).n_edits for s in range(50)} == {1}
    half = MisspellParams(p_two_edits=0.5)
    n_two = sum(drawn("summertime", s, half).n_edits == 2 for s in range(1000))
    assert 430 <= n_two <= 570  # binomial(1000, 0.5): +-4.4 sd


def test_short_tokens_are_never_touched() -> None:
    assert misspell("the sun is up", np.random.default_rng(0)) is None
    for seed in range(50):
        m = misspell("the sun of summer", np.random.default_rng(seed))
        assert m is not None and m.text.startswith("the sun of ")


def test_same_seed_same_misspelling_other_seeds_vary() -> None:
    first = [misspell(n, np.random.default_rng(7)) for n in NAMES]
    again = [misspell(n, np.random.default_rng(7)) for n in NAMES]
    assert first == again
    assert len(outcomes("Bohemian Rhapsody", MisspellParams(), n=50)) > 20


def test_kinds_follow_their_weights() -> None:
    one_edit = MisspellParams(p_two_edits=0.0)
    counts = Counter(drawn("photograph", seed, one_edit).kinds[0] for seed in range(2000))
    weights = MisspellParams().kind_weights()
    for kind, weight in zip(KINDS, weights / weights.sum(), strict=True):
        assert abs(counts[kind] / 2000 - weight) < 0.05, (kind, counts)


def test_distance_histogram_counts_distances() -> None:
    ms = [misspell(n, np.random.default_rng(s)) for n in NAMES for s in range(10)]
    found = [m for m in ms if m is not None]
    histogram = distance_histogram(found)
    assert histogram == dict(sorted(Counter(m.distance for m in found).items()))
    assert sum(histogram.values()) == len(found)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "\x00\x01\x7f",
        "🎵🎶",
        "x" * 10_000,
        "a b c",
        "東京事変 Tokyo",
        "Sigur Rós ágætis",
    ],
)
def test_odd_inputs_give_none_or_a_valid_misspelling(text: str) -> None:
    m = misspell(text, np.random.default_rng(0))
    if m is not None:
        assert m.text != m.original and 1 <= m.distance <= m.budget


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40), st.integers(0, 2**32 - 1))
def test_any_text_gives_none_or_a_valid_misspelling(text: str, seed: int) -> None:
    m = misspell(text, np.random.default_rng(seed))
    if m is None:
        assert all(len(t) < 4 or not any(c.isalpha() for c in t) for t in tokenize(text))
    else:
        assert normalize(m.text) == m.text != m.original
        assert 1 <= m.distance <= m.budget


@pytest.mark.parametrize(
    "bad",
    [
        {"p_two_edits": 1.5},
        {"min_token_chars": 1},
        dict.fromkeys((f"p_{k}" for k in KINDS), 0.0),
        {"p_deletion": -1.0},
    ],
)
def test_bad_params_raise_config_error(bad: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        MisspellParams(**bad)  # type: ignore[arg-type]
