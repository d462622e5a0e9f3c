"""The dense retriever on a small music catalog: semantic hits, add/remove, save/load, bad input."""

from __future__ import annotations

import dataclasses
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from ltrr.config import Config
from ltrr.errors import ConfigError, LtrrError, StorageError
from ltrr.retrieve import retriever_class
from ltrr.retrieve.base import Retriever
from ltrr.retrieve.dense import DenseParams, DenseRetriever, dense_params, entity_text
from ltrr.types import Context, Entity, EntityId
from ltrr.understand.base import plain_query

DATASETS = Path(__file__).resolve().parents[3] / ".." / "shared" / "datasets"
SCIFACT = DATASETS / "beir-scifact"
CTX = Context()


def _entity(eid: str, kind: str, title: str, fields: Any = None, **attrs: str) -> Entity:
    attributes = {name: {value: 1.0} for name, value in attrs.items()}
    return Entity(EntityId(eid), kind, title, fields or {}, attributes)


CATALOG = [
    _entity("t1", "track", "Tears in the Rain", {"artist": "Grey Harbor"}, mood="sad"),
    _entity("t2", "track", "Party All Night", {"artist": "DJ Volt"}, mood="happy", genre="edm"),
    _entity("a1", "artist", "Anika Wright", genre="classical"),
    _entity("al1", "album", "Hidden Love", {"artist": "Anika Wright"}, genre="classical"),
    _entity("t3", "track", "Chase Me", {"artist": "Anika Wright", "album": "Hidden Love"}),
    _entity("p1", "playlist", "Chill Lofi Beats", {"description": "Relaxed beats to study to."}),
    _entity("pod1", "podcast", "Business Tonight", {"description": "A weekly show on startups."}),
    _entity("t4", "track", "Summer Sunshine", {"artist": "Beach Tribute"}, mood="happy"),
    _entity("t5", "track", "Running Up That Hill", {"artist": "Kate Bush"}, genre="art pop"),
]
BAD_QUERIES = ["", "   ", "\x00\x07\x1b", "🎵🔥", "x" * 10_000, "音楽 музыка naïve ☃", "a\u0301"]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same folder as test_encoder's: one ONNX export per test worker."""
    return tmp_path_factory.getbasetemp() / "minilm-cache"


def _config(cache_dir: Path, **overrides: Any) -> Config:
    params = asdict(DenseParams(model_cache_dir=str(cache_dir), **overrides))
    return Config({"retrieve": {"dense": params}})


@pytest.fixture(scope="module", params=["exact", "hnsw"])
def config(request: pytest.FixtureRequest, cache_dir: Path) -> Config:
    """Both search paths: exact under ``exact_below`` entities, HNSW from the first entity."""
    return _config(cache_dir, exact_below=10_000 if request.param == "exact" else 0)


@pytest.fixture
def dense(config: Config) -> DenseRetriever:
    """A fresh index for tests that change it."""
    return DenseRetriever.build(iter(CATALOG), config, catalog_version=3)


@pytest.fixture(scope="module")
def shared(config: Config) -> DenseRetriever:
    """One index per search path for the read-only tests."""
    return DenseRetriever.build(iter(CATALOG), config, catalog_version=3)


def _ids(retriever: DenseRetriever, text: str, depth: int = 10) -> list[str]:
    return [c.entity_id for c in retriever.retrieve(plain_query(text), CTX, depth)]


def test_registered_and_follows_the_protocol(shared: DenseRetriever) -> None:
    assert retriever_class("dense") is DenseRetriever
    assert isinstance(shared, Retriever)
    assert shared.name == "dense" and shared.catalog_version == 3 and len(shared) == len(CATALOG)


@pytest.mark.parametrize(
    ("query", "wanted", "over"),
    [
        ("sad rainy day songs", "t1", "t2"),
        ("upbeat dance party", "t2", "t1"),
        ("album by anika wright", "al1", "t3"),
        ("podcast about entrepreneurship", "pod1", "p1"),
        ("music to focus while studying", "p1", "t2"),
    ],
)
def test_semantic_neighbour_ranks_first(
    shared: DenseRetriever, query: str, wanted: str, over: str
) -> None:
    ranked = _ids(shared, query)
    assert ranked.index(wanted) < ranked.index(over)
    assert wanted in ranked[:2]


def test_scores_are_sorted_cosines_within_depth(shared: DenseRetriever) -> None:
    result = shared.retrieve(plain_query("sad rainy day songs"), CTX, 4)
    scores = [c.score for c in result]
    assert len(result) == 4 and scores == sorted(scores, reverse=True)
    assert all(-1.0 <= s <= 1.0 + 1e-5 for s in scores)
    assert len(shared.retrieve(plain_query("songs"), CTX, 100)) == len(CATALOG)


@pytest.mark.parametrize("query", BAD_QUERIES)
@pytest.mark.parametrize("depth", [0, 1, 5])
def test_bad_queries_never_crash(shared: DenseRetriever, query: str, depth: int) -> None:
    result = shared.retrieve(plain_query(query), CTX, depth)
    assert len(result) <= depth
    assert all(np.isfinite(c.score) for c in result)
    if not plain_query(query).tokens:
        assert result == []


def test_add_remove_and_update_are_visible(dense: DenseRetriever) -> None:
    dense.remove([EntityId("t1"), EntityId("unknown")])
    assert "t1" not in _ids(dense, "sad rainy day songs") and len(dense) == len(CATALOG) - 1
    dense.remove([EntityId("t1")])  # twice is harmless
    new = _entity("t9", "track", "Crying Under Grey Skies", {"artist": "Mara"}, mood="sad")
    dense.add([new])
    assert _ids(dense, "sad rainy day songs")[0] == "t9"
    dense.add([CATALOG[0]])  # a removed id comes back under its old label
    assert set(_ids(dense, "sad rainy day songs")[:2]) == {"t1", "t9"}
    assert len(dense) == len(CATALOG) + 1
    dense.add([dataclasses.replace(CATALOG[1], title="Lonely Winter Tears", attributes={})])
    assert _ids(dense, "lonely winter", 1) == ["t2"]  # the new vector replaced the old one


def test_last_record_of_a_repeated_id_wins(dense: DenseRetriever) -> None:
    first = _entity("dup", "track", "Volcano Eruption Sounds")
    last = _entity("dup", "track", "Gentle Ocean Waves")
    dense.add([first, last])
    assert len(dense) == len(CATALOG) + 1
    assert _ids(dense, "ocean waves", 1) == ["dup"]


def test_save_load_round_trip_gives_identical_results(
    dense: DenseRetriever, config: Config, tmp_path: Path
) -> None:
    dense.remove([EntityId("t2")])
    dense.save(tmp_path / "dense")
    dense.save(tmp_path / "dense")  # replacing an existing index
    loaded = DenseRetriever.load(tmp_path / "dense", config)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dense"]
    assert len(loaded) == len(dense) and loaded.catalog_version == 3
    for query in ("sad rainy day songs", "anika wright", "business"):
        assert loaded.retrieve(plain_query(query), CTX, 5) == dense.retrieve(
            plain_query(query), CTX, 5
        )
    loaded.add([CATALOG[1]])  # memory-mapped vectors become writable on change
    assert "t2" in _ids(loaded, "party all night", 1)
    manifest = orjson.loads((tmp_path / "dense" / "manifest.json").read_bytes())
    assert manifest["format_version"] == 1 and manifest["catalog_version"] == 3
    assert manifest["params"]["hnsw_m"] == 16 and manifest["n_alive"] == len(CATALOG) - 1


def test_load_refuses_an_index_built_with_other_text_params(
    dense: DenseRetriever, cache_dir: Path, tmp_path: Path
) -> None:
    dense.save(tmp_path / "dense")
    with pytest.raises(StorageError, match="max_seq_length"):
        DenseRetriever.load(tmp_path / "dense", _config(cache_dir, max_seq_length=128))
    (tmp_path / "dense" / "ids.json").write_text("[]")
    with pytest.raises(StorageError, match="truncated"):
        DenseRetriever.load(tmp_path / "dense", _config(cache_dir))


def test_hnsw_survives_removing_almost_everything(cache_dir: Path) -> None:
    dense = DenseRetriever.build(CATALOG, _config(cache_dir, exact_below=0), catalog_version=1)
    dense.remove([e.id for e in CATALOG[1:]])
    assert _ids(dense, "anything at all", 10) == ["t1"]
    dense.remove([CATALOG[0].id])
    assert _ids(dense, "anything", 10) == [] and len(dense) == 0


def test_exact_search_turns_into_hnsw_past_the_threshold(cache_dir: Path, tmp_path: Path) -> None:
    seen: list[int] = []
    config = _config(cache_dir, exact_below=5)
    dense = DenseRetriever.build(CATALOG[:3], config, catalog_version=1, on_progress=seen.append)
    assert dense.ann_index is None and seen[-1] == 3
    dense.save(tmp_path / "dense")
    dense.add(CATALOG[3:])
    assert dense.ann_index is not None and _ids(dense, "sad rainy day songs", 1) == ["t1"]
    dense.add_vectors([], np.empty((0, 384), dtype=np.float32))  # nothing to add is fine
    with pytest.raises(LtrrError, match="distinct"):
        dense.add_vectors([EntityId("x"), EntityId("x")], np.zeros((2, 384), dtype=np.float32))
    reloaded = DenseRetriever.load(tmp_path / "dense", _config(cache_dir, exact_below=2))
    assert reloaded.ann_index is not None and len(reloaded) == 3


def test_similarities_score_any_ids(shared: DenseRetriever) -> None:
    query = plain_query("sad rainy day songs")
    sims = shared.similarities(query, [EntityId("t1"), EntityId("nope"), EntityId("t2")])
    assert sims[0] > sims[2] and np.isnan(sims[1])
    top = shared.retrieve(query, CTX, 1)[0]
    assert top.entity_id == "t1" and sims[0] == pytest.approx(top.score, abs=1e-5)


def test_entity_text_keeps_plain_documents_as_title_and_text() -> None:
    doc = Entity(EntityId("d"), "document", "A title.", {"text": "The abstract."})
    assert entity_text(doc, DenseParams()) == "A title. The abstract."
    expected = "track: Tears in the Rain. artist: Grey Harbor. sad"
    assert entity_text(CATALOG[0], DenseParams()) == expected


def test_params_validation_and_defaults() -> None:
    with pytest.raises(ConfigError, match="query_form must be one of raw, text, corrected"):
        DenseParams(query_form="lowercase")
    assert dense_params(Config({})) == DenseParams()
    with pytest.raises(ConfigError, match="lacks"):
        dense_params(Config({"retrieve": {"dense": {"hnsw_m": 8}}}))


@pytest.mark.slow
@pytest.mark.skipif(not SCIFACT.is_dir(), reason=f"SciFact not found at {SCIFACT}")
def test_scifact_ndcg_matches_mteb(cache_dir: Path, tmp_path: Path) -> None:
    """all-MiniLM-L6-v2 on SciFact test: MTEB publishes nDCG@10 0.645; here 0.652 (minutes)."""
    pytrec_eval = pytest.importorskip("pytrec_eval")
    from ltrr.catalog.jsonl import load_beir
    from ltrr.config import CatalogConfig

    parsed = load_beir(SCIFACT, CatalogConfig())
    entities = [p.result for p in parsed if isinstance(p.result, Entity)]
    dense = DenseRetriever.build(entities, _config(cache_dir), catalog_version=1)
    lines = (SCIFACT / "queries.jsonl").read_bytes().splitlines()
    queries = {q["_id"]: q["text"] for q in map(orjson.loads, lines)}
    qrels: dict[str, dict[str, int]] = {}
    for line in (SCIFACT / "qrels" / "test.tsv").read_text().splitlines()[1:]:
        qid, doc, grade = line.split("\t")
        qrels.setdefault(qid, {})[doc] = int(grade)
    run = {
        qid: {c.entity_id: c.score for c in dense.retrieve(plain_query(queries[qid]), CTX, 100)}
        for qid in qrels
    }
    per_query = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.100"}).evaluate(run)
    ndcg = np.mean([m["ndcg_cut_10"] for m in per_query.values()])
    recall = np.mean([m["recall_100"] for m in per_query.values()])
    assert ndcg >= 0.64 and recall >= 0.92
