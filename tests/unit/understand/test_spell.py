"""Spelling correction: budget, candidates, context, protection and the phonetic fallback."""

from __future__ import annotations

import numpy as np
import pytest

from ltrr.errors import ConfigError
from ltrr.types import Entity, EntityId
from ltrr.understand.spell import (
    HashIndex,
    SpellCorrector,
    SpellParams,
    deletions,
    edit_budget,
    fixed_width_hashes,
    phonetic_key,
    respell,
)
from ltrr.understand.vocabulary import Vocabulary, VocabularyParams


def _track(i: int, title: str, artist: str = "") -> Entity:
    return Entity(EntityId(f"t{i}"), "track", title, {"artist": artist} if artist else {})


TITLES = [
    ("Taylor Swift", ""),
    ("Shake It Off", "Taylor Swift"),
    ("Tyler Herro", "Tyler"),
    ("Crazy in Love", "Beyonce"),
    ("Bohemian Rhapsody", "Queen"),
    ("Love", ""),
    ("Love Me Do", ""),
    ("Endless Love", ""),
    ("Shape of You", "Ed Sheeran"),
    ("Tea for Two", ""),
]


@pytest.fixture(scope="module")
def corrector() -> SpellCorrector:
    vocab = Vocabulary(VocabularyParams())
    vocab.add([_track(i, t, a) for i, (t, a) in enumerate(TITLES)])
    c = SpellCorrector(vocab, SpellParams())
    c.reserve(["playlist", "songs by"])
    return c


@pytest.mark.parametrize(
    ("n_chars", "budget"), [(0, 0), (1, 0), (3, 0), (4, 1), (7, 1), (8, 2), (20, 2)]
)
def test_budget_grows_with_length(n_chars: int, budget: int) -> None:
    assert edit_budget(n_chars, SpellParams()) == budget


def test_deletions() -> None:
    assert deletions("abc", 0) == {"abc"}
    assert deletions("abc", 1) == {"abc", "bc", "ac", "ab"}
    assert deletions("abc", 2) == {"abc", "bc", "ac", "ab", "a", "b", "c"}


@pytest.mark.parametrize(
    ("a", "b"),
    [("kwin", "queen"), ("beyonse", "beyonce"), ("tayler", "taylor"), ("fone", "phone")],
)
def test_respellings_share_a_phonetic_key(a: str, b: str) -> None:
    assert phonetic_key(a) == phonetic_key(b)


def test_phonetic_key_keeps_the_first_letter_and_ignores_other_scripts() -> None:
    assert phonetic_key("ehre") != phonetic_key("are")
    assert respell("тейлор") == "" and phonetic_key("泰勒") == ""


def test_hashes_are_stable_and_width_padded() -> None:
    first = fixed_width_hashes(["abc", "abd"], 7)
    assert first.dtype == np.uint32 and first[0] != first[1]
    assert fixed_width_hashes(["abc"], 7)[0] == first[0]
    assert len(fixed_width_hashes([], 7)) == 0


def test_hash_index_pending_and_merged_lookups_agree() -> None:
    index = HashIndex.from_pairs([5, 1, 5], [10, 11, 12])
    index.add([5, 7], [13, 14])
    assert index.lookup([5]) == {10, 12, 13}
    assert index.lookup([7, 2]) == {14}
    index.merge()
    assert index.lookup([5]) == {10, 12, 13} and index.lookup([7]) == {14}
    assert index.keys.tolist() == sorted(index.keys.tolist())


@pytest.mark.parametrize(
    ("typed", "expected", "distance"),
    [
        (["tayler", "swift"], ["taylor", "swift"], 1),  # context beats "tyler"
        (["bohemian", "rapsody"], ["bohemian", "rhapsody"], 1),
        (["beyonse"], ["beyonce"], 1),
        (["ed", "sheran"], ["ed", "sheeran"], 1),
        (["kwin"], ["queen"], 4),  # phonetic: "qu" sounds "kw", beyond the 1-edit budget
        (["shaep", "of", "you"], ["shape", "of", "you"], 1),
        (["playlsit"], ["playlist"], 1),  # reserved words are targets too
        (["love"], ["love"], 0),  # in the vocabulary with decent frequency
        (["tyler"], ["tyler"], 0),  # known, even if "taylor" is close
        (["teh"], ["teh"], 0),  # three characters: no edit allowed
        (["2"], ["2"], 0),
        (["zzzzqqq"], ["zzzzqqq"], 0),  # nothing close: kept
        (["songs", "by"], ["songs", "by"], 0),
    ],
)
def test_corrections(
    corrector: SpellCorrector, typed: list[str], expected: list[str], distance: int
) -> None:
    result = corrector.correct(typed)
    assert list(result.tokens) == expected
    assert result.distance == distance
    assert len(result.distances) == len(typed)


def test_empty_and_unknown_scripts(corrector: SpellCorrector) -> None:
    assert corrector.correct([]).tokens == ()
    assert corrector.correct(["泰勒", "тейлор"]).tokens == ("泰勒", "тейлор")


def test_rare_known_token_changes_only_when_context_supports_it() -> None:
    vocab = Vocabulary(VocabularyParams())
    vocab.add(
        [_track(1, "Tayler Road"), *(_track(10 + i, "Love", "Taylor Swift") for i in range(3))]
    )
    corrector = SpellCorrector(vocab, SpellParams())
    assert corrector.correct(["tayler"]).tokens == ("tayler",)  # df 1 < protect_min_df
    assert corrector.correct(["tayler", "swift"]).tokens == ("taylor", "swift")
    assert corrector.correct(["tayler", "road"]).tokens == ("tayler", "road")


def test_tokens_added_later_are_found(corrector: SpellCorrector) -> None:
    vocab = Vocabulary(VocabularyParams())
    vocab.add([_track(1, "Hello")])
    c = SpellCorrector(vocab, SpellParams())
    assert c.correct(["rodrgo"]).tokens == ("rodrgo",)
    c.add_tokens(vocab.add([_track(2, "Drivers License", "Olivia Rodrigo")]))
    assert c.correct(["olivia", "rodrgo"]).tokens == ("olivia", "rodrigo")
    vocab.remove([EntityId("t2")])
    assert c.correct(["rodrgo"]).tokens == ("rodrgo",)  # removed words are no targets


def test_phonetic_fallback_can_be_switched_off() -> None:
    vocab = Vocabulary(VocabularyParams())
    vocab.add([_track(1, "Queen")])
    assert SpellCorrector(vocab, SpellParams()).correct(["kwin"]).tokens == ("queen",)
    off = SpellCorrector(vocab, SpellParams(phonetic=False))
    assert off.correct(["kwin"]).tokens == ("kwin",)


def test_bad_params_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="two_edit_min_chars"):
        SpellParams(one_edit_min_chars=9, two_edit_min_chars=4)
