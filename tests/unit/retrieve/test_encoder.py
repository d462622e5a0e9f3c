"""The ONNX MiniLM encoder: cached export, vectors equal to sentence-transformers', batching."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ltrr.errors import LtrrError
from ltrr.retrieve.encoder import (
    DIM,
    MANIFEST,
    ONNX_NAME,
    QUANTIZED_NAME,
    Encoder,
    ensure_onnx,
    packaged_model_dir,
)

TEXTS = [
    "Tears in the Rain",
    "sad rainy day songs",
    "0-dimensional biomaterials show inductive properties. " * 60,  # past 256 tokens
    "Beyoncé — CRAZY in Love 🎵🔥",
    "音楽 музыка naïve",
    "x",
    "",
    "\x00\x07 control\tcharacters\n",
]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One export per test worker, shared with test_dense through the session's base temp."""
    return tmp_path_factory.getbasetemp() / "minilm-cache"


@pytest.fixture(scope="module")
def encoder(cache_dir: Path) -> Encoder:
    return Encoder.open(cache_dir, batch_size=3)


def test_export_is_cached_and_reused(encoder: Encoder, cache_dir: Path) -> None:
    folder = ensure_onnx(cache_dir)
    assert folder == encoder.onnx_dir
    assert (folder / MANIFEST).is_file() and (folder / ONNX_NAME).is_file()
    stamp = (folder / ONNX_NAME).stat().st_mtime_ns
    assert ensure_onnx(cache_dir) == folder
    assert (folder / ONNX_NAME).stat().st_mtime_ns == stamp
    assert [p.name for p in cache_dir.iterdir()] == [folder.name]  # no staging left behind


def test_vectors_equal_sentence_transformers(encoder: Encoder) -> None:
    st = pytest.importorskip("sentence_transformers")
    reference = st.SentenceTransformer(str(packaged_model_dir()), device="cpu")
    assert reference.max_seq_length == encoder.max_seq_length == 256
    expected = reference.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    batch = encoder.encode(TEXTS)
    single = np.vstack([encoder.encode_query(t) for t in TEXTS])
    assert np.all(np.sum(batch * expected, axis=1) > 0.999)
    assert np.all(np.sum(single * expected, axis=1) > 0.999)


def test_batches_keep_input_order_and_unit_norm(encoder: Encoder) -> None:
    texts = [f"song number {i} " + "la " * (i * 7 % 23) for i in range(11)]  # mixed lengths
    vectors = encoder.encode(texts)
    assert vectors.shape == (11, DIM) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    for text, vector in zip(texts, vectors, strict=True):
        assert float(vector @ encoder.encode_query(text)) > 0.9999


def test_progress_counts_every_text(encoder: Encoder) -> None:
    seen: list[int] = []
    encoder.encode([f"text {i}" for i in range(8)], on_progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 8 and len(seen) == 3  # batches of 3


def test_empty_batch_and_hostile_texts(encoder: Encoder) -> None:
    assert encoder.encode([]).shape == (0, DIM)
    huge = encoder.encode_query("word " * 10_000 + "\u0000" + "🎵" * 500)
    assert huge.shape == (DIM,) and np.isfinite(huge).all()


def test_rejects_sequence_length_beyond_bert(cache_dir: Path) -> None:
    with pytest.raises(LtrrError, match="max_seq_length must be in"):
        Encoder(ensure_onnx(cache_dir), max_seq_length=1024)


def test_int8_query_graph_is_near_float_and_documents_stay_float(
    encoder: Encoder, cache_dir: Path
) -> None:
    quantized = Encoder.open(cache_dir, batch_size=3, query_precision="int8")
    path = quantized.onnx_dir / QUANTIZED_NAME
    stamp = path.stat().st_mtime_ns
    short = [t for t in TEXTS if len(t) < 100]
    cosines = [float(quantized.encode_query(t) @ encoder.encode_query(t)) for t in short]
    assert min(cosines) > 0.95 and np.mean(cosines) > 0.98
    assert max(cosines) < 1.0 - 1e-6  # it is a different graph, not the float one reopened
    assert np.allclose(quantized.encode(TEXTS), encoder.encode(TEXTS), atol=1e-5)
    Encoder.open(cache_dir, query_precision="int8")
    assert path.stat().st_mtime_ns == stamp  # quantized once, then reused


def test_rejects_unknown_query_precision(cache_dir: Path) -> None:
    with pytest.raises(LtrrError, match="query_precision must be one of fp32, int8"):
        Encoder(ensure_onnx(cache_dir), query_precision="fp16")
