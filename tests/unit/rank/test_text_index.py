"""The ranker's text index: hand-computed BM25 and overlap, catch-up equals a fresh build, saved
and loaded outputs equal, and the vectorised features equal a per-candidate reference."""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pytest

from ltrr.config import Config
from ltrr.errors import ConfigError, StorageError
from ltrr.rank.text_index import TextIndex, TextParams
from ltrr.types import Entity, EntityId
from ltrr.understand.text import normalize, tokenize

NAME_FIELDS = ("artist", "album")
FEATURES = (
    "title.bm25",
    "title.overlap",
    "names.bm25",
    "names.overlap",
    "body.bm25",
    "body.overlap",
    "title.exact",
    "title.length",
    "body.length",
)


def entity(
    i: str,
    kind: str,
    title: str,
    fields: Mapping[str, str] | None = None,
    attributes: Mapping[str, Mapping[str, float]] | None = None,
    popularity: float = 0.0,
    added_at_s: float | None = None,
) -> Entity:
    return Entity(
        EntityId(i),
        kind,
        title,
        dict(fields or {}),
        dict(attributes or {}),
        popularity,
        added_at_s=added_at_s,
    )


CATALOG = [
    entity(
        "a",
        "track",
        "Blue Monday",
        {"artist": "New Order", "album": "Power, Corruption", "description": "Blue synth: blue"},
        {"genre": {"synthpop": 1.0, "rock": 0.5}, "mood": {"dark": 0.8}},
        90.0,
        1000.0,
    ),
    entity(
        "b",
        "track",
        "Blue in Green",
        {"artist": "Miles Davis", "album": "Kind of Blue"},
        {"genre": {"jazz": 1.0}, "mood": {"chill": 0.6}},
        70.0,
        2000.0,
    ),
    entity("c", "artist", "New Order", {}, {"genre": {"Synthpop": 1.0}, "subgenre": {"Rock": 1.0}}),
    entity(
        "d",
        "playlist",
        "Monday Blues",
        {"description": "Songs for a blue Monday morning"},
        {"mood": {"chill": 1.0, "dark": 0.2}},
        10.0,
    ),
]


def ids(*names: str) -> list[EntityId]:
    return [EntityId(n) for n in names]


@pytest.fixture
def index(config: Config) -> TextIndex:
    return TextIndex.build(CATALOG, config, catalog_version=1)


# -- a per-candidate reference, written from the definitions ------------------------------


def split(e: Entity) -> dict[str, list[str]]:
    names = [t for f in NAME_FIELDS if f in e.fields for t in tokenize(e.fields[f])]
    body = [t for f, v in e.fields.items() if f not in NAME_FIELDS for t in tokenize(v)]
    return {"title": tokenize(e.title), "names": names, "body": body}


def bm25(query: Sequence[str], doc: list[str], df: Counter[str], n: int, avgdl: float) -> float:
    """Robertson & Zaragoza (2009) eq. 3.15 with k1 = 1.2, b = 0.75, term by term."""
    k1, b, score = 1.2, 0.75, 0.0
    for q in query:
        tf = doc.count(q)
        idf = math.log(1 + (n - df[q] + 0.5) / (df[q] + 0.5))
        score += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(doc) / avgdl)) if tf else 0.0
    return score


def values_of(e: Entity) -> dict[str, float]:
    out: dict[str, float] = {}
    for by_value in e.attributes.values():
        for v, w in by_value.items():
            out[normalize(v)] = max(out.get(normalize(v), -math.inf), w)
    return out


def reference(
    live: Mapping[EntityId, Entity], wanted: Sequence[EntityId], query: Sequence[str]
) -> dict[str, list[float]]:
    """Every text feature of ``wanted`` against the live catalog ``live``, one at a time."""
    docs = {i: split(e) for i, e in live.items()}
    n = len(live)
    out: dict[str, list[float]] = {k: [] for k in FEATURES}
    distinct = set(query)
    for f in ("title", "names", "body"):
        df = Counter(t for d in docs.values() for t in set(d[f]))
        avgdl = sum(len(d[f]) for d in docs.values()) / n
        for i in wanted:
            doc = docs[i][f] if i in docs else None
            nan = doc is None or not query
            out[f"{f}.bm25"].append(math.nan if nan else bm25(query, doc or [], df, n, avgdl))
            share = len(distinct & set(doc or [])) / max(len(distinct), 1)
            out[f"{f}.overlap"].append(math.nan if nan else share)
    for i in wanted:
        d = docs.get(i)
        exact = float(d["title"] == list(query)) if d and query else math.nan
        out["title.exact"].append(exact)
        out["title.length"].append(math.nan if d is None else len(d["title"]))
        out["body.length"].append(math.nan if d is None else len(d["body"]))
    return out


def reference_affinity(
    live: Mapping[EntityId, Entity], wanted: Sequence[EntityId], taste: Mapping[str, float]
) -> list[float]:
    folded: Counter[str] = Counter()
    for v, a in taste.items():
        folded[normalize(v)] += a
    return [
        math.nan
        if i not in live or not taste
        else sum(w * folded.get(v, 0.0) for v, w in values_of(live[i]).items())
        for i in wanted
    ]


def same(index: TextIndex, other: TextIndex, wanted: Sequence[EntityId], query: list[str]) -> None:
    """Identical features (NaN equal to NaN) of ``wanted`` from two indexes."""
    a, b = (
        index.text_match(index.rows_of(wanted), query),
        other.text_match(other.rows_of(wanted), query),
    )
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    taste = {"chill": 0.5, "Rock": 2.0}
    np.testing.assert_array_equal(
        index.affinity(index.rows_of(wanted), taste), other.affinity(other.rows_of(wanted), taste)
    )


# -- hand-computed values ------------------------------------------------------------------


def test_title_bm25_overlap_and_exact_by_hand(index: TextIndex) -> None:
    rows = index.rows_of(ids("a", "b", "c", "d"))
    got = index.text_match(rows, ["blue", "monday"])
    # Titles: [blue monday] [blue in green] [new order] [monday blues]: N = 4, avgdl = 9 / 4,
    # df(blue) = df(monday) = 2, so idf = ln(1 + 2.5 / 2.5) = ln 2 for both.
    norm = 1.2 * (0.25 + 0.75 * 2 / 2.25)  # k1 * (1 - b + b * |d| / avgdl), |d| = 2
    one_term = math.log(2) * 2.2 / (1 + norm)
    b_norm = 1.2 * (0.25 + 0.75 * 3 / 2.25)
    expected = [2 * one_term, math.log(2) * 2.2 / (1 + b_norm), 0.0, one_term]
    np.testing.assert_allclose(got["title.bm25"], expected, rtol=1e-6)
    np.testing.assert_array_equal(got["title.overlap"], [1.0, 0.5, 0.0, 0.5])
    np.testing.assert_array_equal(got["title.exact"], [1.0, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(got["title.length"], [2, 3, 2, 2])
    np.testing.assert_array_equal(got["body.length"], [3, 0, 0, 6])


def test_names_and_body_fields_match_the_formula(index: TextIndex) -> None:
    wanted = ids("a", "b", "c", "d")
    query = ["blue", "new", "order", "blue", "xyzzy"]  # a repeated token, an unknown one
    got = index.text_match(index.rows_of(wanted), query)
    want = reference({e.id: e for e in CATALOG}, wanted, query)
    for key in FEATURES:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-6, err_msg=key)
    # names: a holds new and order, b holds blue: 2 and 1 of the 4 distinct tokens.
    np.testing.assert_array_equal(got["names.overlap"], [0.5, 0.25, 0.0, 0.0])
    assert got["body.bm25"][0] > got["body.bm25"][3] > 0  # tf(blue) = 2 in a's 3 tokens


def test_unknown_rows_are_nan_and_empty_queries_match_nothing(index: TextIndex) -> None:
    rows = index.rows_of(ids("a", "nope"))
    assert rows.tolist() == [index.rows_of(ids("a"))[0], -1]
    got = index.text_match(rows, ["blue"])
    assert set(got) == set(FEATURES)
    for key, values in got.items():
        assert values.dtype == np.float32 and values.shape == (2,), key
        assert not math.isnan(values[0]) and math.isnan(values[1]), key
    empty = index.text_match(rows, [])
    assert math.isnan(empty["title.bm25"][0]) and math.isnan(empty["title.exact"][0])
    assert empty["title.length"][0] == 2
    assert index.text_match(np.zeros(0, np.int64), ["blue"])["body.bm25"].shape == (0,)


def test_attribute_match_and_affinity_by_hand(index: TextIndex) -> None:
    rows = index.rows_of(ids("a", "b", "c", "d", "nope"))
    got = index.attribute_match(rows, ["Rock", "dark", "unheard"])
    np.testing.assert_allclose(got[:4], [0.5 + 0.8, 0.0, 1.0, 0.2])
    assert math.isnan(got[4])
    assert np.isnan(index.attribute_match(rows, [])).all()
    taste = {"synthpop": 0.5, "CHILL": 2.0, "chill": -1.0}  # folded together: chill = 1.0
    np.testing.assert_allclose(
        index.affinity(rows, taste)[:4], [1.0 * 0.5, 0.6 * 1.0, 1.0 * 0.5, 1.0 * 1.0]
    )
    assert np.isnan(index.affinity(rows, {})).all()


def test_columns(index: TextIndex) -> None:
    popularity, added_at_s, codes = index.columns(index.rows_of(ids("a", "d", "nope")))
    np.testing.assert_array_equal(popularity, [90.0, 10.0, np.nan])
    np.testing.assert_array_equal(added_at_s, [1000.0, np.nan, np.nan])
    assert [index.type_name(int(c)) for c in codes[:2]] == ["track", "playlist"]
    assert codes[2] == -1 and set(index.types) == {"track", "artist", "playlist"}


# -- life cycle ------------------------------------------------------------------------------


def test_updates_and_removals_keep_frequencies_right(index: TextIndex, config: Config) -> None:
    changed = entity("b", "track", "Blue Blue Monday", {"artist": "Joy Division"}, {})
    added = entity("e", "track", "Monday", {"description": "blue"}, {"mood": {"dark": 1.0}})
    index.remove(ids("d", "nope"))
    index.add([changed, added])  # an update and a new entity
    final = [CATALOG[0], changed, CATALOG[2], added]
    fresh = TextIndex.build(final, config, catalog_version=1)
    wanted = ids("a", "b", "c", "d", "e")
    for query in (["blue", "monday"], ["joy", "division", "blue"], ["monday"]):
        same(index, fresh, wanted, query)
        got = index.text_match(index.rows_of(wanted), query)
        want = reference({e.id: e for e in final}, wanted, query)
        for key in FEATURES:
            np.testing.assert_allclose(got[key], want[key], rtol=1e-6, err_msg=key)
    assert len(index) == 4


def test_save_load_round_trip(index: TextIndex, config: Config, tmp_path: Path) -> None:
    index.remove(ids("c"))
    index.add([entity("f", "album", "Kind of Blue", {"artist": "Miles Davis"})])
    index.save(tmp_path / "text")
    loaded = TextIndex.load(tmp_path / "text", config)
    assert loaded.catalog_version == 1 and len(loaded) == len(index)
    for query in (["blue", "monday"], ["kind", "of", "blue"], []):
        same(index, loaded, ids("a", "b", "c", "d", "f"), query)
    rows = ids("a", "f")
    np.testing.assert_array_equal(
        loaded.columns(loaded.rows_of(rows))[0], index.columns(index.rows_of(rows))[0]
    )


def test_other_name_fields_make_the_saved_index_stale(
    index: TextIndex, config: Config, tmp_path: Path
) -> None:
    index.save(tmp_path / "text")
    other = config.replaced("rank.text", name_fields=["artist"])
    with pytest.raises(StorageError, match=r"rank\.text\.name_fields"):
        TextIndex.load(tmp_path / "text", other)


def test_params_follow_the_lexical_name_fields(config: Config) -> None:
    assert TextIndex.params_of(config).name_fields == NAME_FIELDS
    lexical = config.replaced("retrieve.lexical", name_fields=["composer"])
    assert TextIndex.params_of(lexical).name_fields == ("composer",)
    own = lexical.replaced("rank.text", name_fields=["artist"])
    assert TextIndex.params_of(own).name_fields == ("artist",)
    assert TextIndex.params_of(Config({})).name_fields == NAME_FIELDS


@pytest.mark.parametrize(("changes", "bad"), [({"b": 1.5}, "b"), ({"k1": -0.1}, "k1")])
def test_bad_params_name_the_key(changes: dict[str, float], bad: str) -> None:
    with pytest.raises(ConfigError, match=rf"rank\.text\.{bad}"):
        TextParams(**changes)  # type: ignore[arg-type]


# -- the vectorised code against the per-candidate reference -------------------------------

WORDS = ["blue", "monday", "night", "drive", "love", "song", "rock", "jazz", "chill", "dark"]
WORDS += ["new", "order", "summer", "rain", "a"]


def random_entity(rng: random.Random, i: int) -> Entity:
    def text(n: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, n)))

    fields = {
        f: text(6) for f in ("artist", "album", "description", "lyrics") if rng.random() < 0.6
    }
    attributes = {
        a: {
            rng.choice(WORDS[:10]).upper(): round(rng.random(), 2) for _ in range(rng.randint(1, 3))
        }
        for a in ("genre", "mood")
        if rng.random() < 0.7
    }
    return entity(f"e{i}", rng.choice(["track", "album"]), text(4), fields, attributes, i)


def test_vectorised_equals_reference_under_random_changes(config: Config) -> None:
    rng = random.Random(7)
    catalog = {e.id: e for e in (random_entity(rng, i) for i in range(300))}
    index = TextIndex.build(catalog.values(), config, catalog_version=1)
    for step in range(6):  # removals and updates, caught up in place
        gone = rng.sample(sorted(catalog), 20)
        index.remove(gone)
        for i in gone[:10]:
            del catalog[i]
        changed = [random_entity(rng, 1000 * (step + 1) + i) for i in range(15)]
        changed += [random_entity(rng, int(i[1:])) for i in gone[10:]]
        changed += [random_entity(rng, int(i[1:])) for i in rng.sample(sorted(catalog), 5)]
        batch = list({e.id: e for e in changed}.values())  # a catalog change names an id once
        index.add(batch)
        catalog.update((e.id, e) for e in batch)
    fresh = TextIndex.build(catalog.values(), config, catalog_version=1)
    known = sorted(catalog)
    for _ in range(25):
        wanted = [*rng.sample(known, 200), EntityId("missing")]
        query = [rng.choice([*WORDS, "unseen"]) for _ in range(rng.randint(1, 5))]
        got = index.text_match(index.rows_of(wanted), query)
        want = reference(catalog, wanted, query)
        for key in FEATURES:
            np.testing.assert_allclose(got[key], want[key], rtol=1e-5, atol=1e-6, err_msg=key)
        same(index, fresh, wanted, query)
        taste = {rng.choice(WORDS[:10]): rng.uniform(-1, 1) for _ in range(3)}
        np.testing.assert_allclose(
            index.affinity(index.rows_of(wanted), taste),
            reference_affinity(catalog, wanted, taste),
            rtol=1e-5,
            atol=1e-6,
        )
