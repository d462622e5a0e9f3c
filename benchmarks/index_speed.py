"""Lexical and dense indexing rates of demo entities, beside the bare libraries' own rates.

Usage: ``python benchmarks/index_speed.py [--size 20000] [--seed 7] [--dense-size N]``; prints
one JSON object. ``--dense-size`` (default ``--size``) indexes the first N entities densely,
since the encoder is the slow part.

- ``lexical``: ``LexicalRetriever.build`` (text assembly, tokenising, tantivy, ids and
  popularity arrays) against bare tantivy adding the same three text fields, precomputed
  outside the timed part, to an index of the same schema with the same writer heap and one
  thread, then committing: the ratio is what ltrr's own work adds.
- ``dense``: ``DenseRetriever.build`` (entity texts, MiniLM through ONNX Runtime in
  length-sorted batches, HNSW insertion) against the bare calls it is made of: the ONNX
  session over the same texts in batches of the same size in catalog order (no sorting), and
  ``hnswlib`` adding the resulting vectors. Entities per second for each, and the encoder's
  share of the build.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from typing import Any

import hnswlib
import numpy as np
import orjson
import tantivy
import tokenizers

from ltrr.catalog.demo import generate_demo_catalog
from ltrr.config import load_config
from ltrr.retrieve._onnx import ONNX_NAME, OUTPUT, TOKENIZER_NAME, open_session
from ltrr.retrieve.dense import DenseRetriever, dense_params, entity_text
from ltrr.retrieve.lexical import LexicalRetriever, lexical_params
from ltrr.types import Entity
from ltrr.understand.text import tokenize


def _rate(n: int, seconds: float) -> dict[str, float]:
    return {"seconds": round(seconds, 3), "entities_per_s": round(n / seconds, 1)}


def _lexical(entities: list[Entity]) -> dict[str, Any]:
    config = load_config()
    started = time.perf_counter()
    retriever = LexicalRetriever.build(entities, config, catalog_version=1)
    ltrr_s = time.perf_counter() - started
    assert len(retriever) == len(entities)
    params = lexical_params(config)
    texts = []
    for e in entities:
        title = " ".join(tokenize(e.title))
        names = " ".join(" ".join(tokenize(v)) for v in e.fields.values())
        texts.append((e.id, title, names, f"{title} {names}"))
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", tokenizer_name="raw", index_option="basic")
    builder.add_unsigned_field("ord", fast=True)
    for field in ("all", "title", "names"):
        builder.add_text_field(field, index_option="freq")
    with tempfile.TemporaryDirectory() as tmp:
        index = tantivy.Index(builder.build(), path=tmp, reuse=False)
        started = time.perf_counter()
        writer = index.writer(params.writer_heap_mb * 1_000_000, 1)
        for i, (entity_id, title, names, everything) in enumerate(texts):
            doc = tantivy.Document()
            doc.add_text("id", entity_id)
            doc.add_unsigned("ord", i)
            doc.add_text("all", everything)
            doc.add_text("title", title)
            doc.add_text("names", names)
            writer.add_document(doc)
        writer.commit()
        writer.wait_merging_threads()
        bare_s = time.perf_counter() - started
    return {
        "ltrr": _rate(len(entities), ltrr_s),
        "bare_tantivy": _rate(len(entities), bare_s),
        "ltrr_over_bare": round(ltrr_s / bare_s, 2),
    }


def _dense(entities: list[Entity]) -> dict[str, Any]:
    config = load_config()
    started = time.perf_counter()
    retriever = DenseRetriever.build(entities, config, catalog_version=1)
    ltrr_s = time.perf_counter() - started
    params = dense_params(config)
    encoder = retriever.encoder
    texts = [entity_text(e, params)[: encoder.max_chars] for e in entities]
    tokenizer = tokenizers.Tokenizer.from_file(str(encoder.onnx_dir / TOKENIZER_NAME))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=encoder.max_seq_length)
    session = open_session(encoder.onnx_dir / ONNX_NAME, encoder.n_threads_batch)
    started = time.perf_counter()
    vectors = []
    for start in range(0, len(texts), encoder.batch_size):
        encodings = tokenizer.encode_batch(texts[start : start + encoder.batch_size])
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for i, e in enumerate(encodings):
            ids[i, : len(e.ids)] = e.ids
            mask[i, : len(e.ids)] = 1
        vectors.append(session.run([OUTPUT], {"input_ids": ids, "attention_mask": mask})[0])
    onnx_s = time.perf_counter() - started
    matrix = np.concatenate(vectors)
    started = time.perf_counter()
    index = hnswlib.Index(space="ip", dim=matrix.shape[1])
    index.init_index(max_elements=len(matrix), ef_construction=params.hnsw_ef_construction,
                     M=params.hnsw_m)  # fmt: skip
    index.add_items(matrix, np.arange(len(matrix)))
    hnsw_s = time.perf_counter() - started
    return {
        "n": len(entities),
        "ltrr": _rate(len(entities), ltrr_s),
        "bare_onnx_unsorted_batches": _rate(len(entities), onnx_s),
        "bare_hnswlib_add": _rate(len(entities), hnsw_s),
        "ltrr_over_bare_sum": round(ltrr_s / (onnx_s + hnsw_s), 2),
        "text_chars_mean": round(float(np.mean([len(t) for t in texts])), 1),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=20_000)
    parser.add_argument("--dense-size", type=int, default=None)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    entities = list(generate_demo_catalog(args.size, args.seed))
    dense_n = args.size if args.dense_size is None else min(args.dense_size, args.size)
    out = {
        "size": args.size,
        "lexical": _lexical(entities),
        "dense": _dense(list(itertools.islice(entities, dense_n))),
    }
    sys.stdout.write(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode() + "\n")


if __name__ == "__main__":
    main()
