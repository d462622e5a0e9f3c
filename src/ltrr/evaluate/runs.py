"""TREC run files: the rankings ``ltrr evaluate`` scores, for trec_eval, ir-measures or ranx.

One file per run name (``lexical.run``, ``fusion.run``, later ``ranker.run``), each line the
standard six columns ``qid Q0 docid rank score tag`` with ``rank`` from 1 and the tag
``ltrr-<name>``. Any ranking can be written by passing one more mapping of
``query id -> [(doc id, score), ...]``, best first; this module knows nothing of strategies.

Scores are written exactly as the ranking gives them, except where they would let another tool
reorder it. trec_eval (and pytrec_eval and ir-measures, which embed it) ignores the rank column:
it sorts by score, in single precision, and breaks ties by document id, so two tied documents
could swap and the file would score differently from ltrr's own report (``evaluate.metrics``
passes ``n, n - 1, ...`` for the same reason). ``strictly_decreasing`` therefore lowers a tied
(or out-of-order) score to the next float32 below the previous one: the order is ltrr's.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np

from ltrr.errors import CatalogError, ConfigError, StorageError
from ltrr.storage.folder import replace_file

SUFFIX = ".run"
TAG_PREFIX = "ltrr-"

#: query id -> (doc id, score) pairs, best first.
Ranking = Mapping[str, Sequence[tuple[str, float]]]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_SPACE = re.compile(r"\s")


def strictly_decreasing(scores: Iterable[float]) -> list[np.float32]:
    """``scores`` in the given order as float32, each lowered just enough to be below the last.

    trec_eval keeps a score in a C ``float`` (single precision), so two doubles that round to
    the same float32 tie there, and the tie is broken by doc id (``0.9999999999999999`` and
    ``1.0`` do). Each score is therefore rounded to float32 first; one already below its
    predecessor is kept, and a tie, a higher score or a non-finite one becomes
    ``nextafter(previous, -inf)`` in float32, the nearest float32 below. Sorting by score in
    single or double precision then gives back the given order, and untied scores keep their
    value to float32's seven digits, plenty for BM25, cosine or RRF scores.

    Examples
    --------
    >>> [str(s) for s in strictly_decreasing([3.0, 2.0, 2.0, 5.0, 1.0])]
    ['3.0', '2.0', '1.9999999', '1.9999998', '1.0']
    """
    below = np.float32(-np.inf)
    written: list[np.float32] = []
    previous = np.float32(np.inf)
    for value in scores:
        with np.errstate(over="ignore"):  # a double beyond float32's range is not finite
            raw = np.float32(value)
        score = raw if np.isfinite(raw) and raw < previous else np.nextafter(previous, below)
        written.append(score)
        previous = score
    return written


def run_lines(name: str, ranking: Ranking) -> Iterator[str]:
    """The lines of run ``name``: queries in the given order, a repeated doc id kept once.

    A repeated id keeps its first place (as ``evaluate.metrics`` does), since trec_eval
    rejects a run that lists a document twice for one query.

    Raises
    ------
    CatalogError
        When a query or doc id is empty or holds whitespace, which the format cannot carry.
    """
    tag = TAG_PREFIX + name
    for query_id, pairs in ranking.items():
        _check_id(query_id, "query id")
        first = dict(reversed(pairs))  # reversed: the first occurrence's score wins
        doc_ids = list(dict.fromkeys(doc_id for doc_id, _ in pairs))
        scores = strictly_decreasing(first[d] for d in doc_ids)
        for rank, (doc_id, score) in enumerate(zip(doc_ids, scores, strict=True), start=1):
            _check_id(doc_id, "doc id")
            yield f"{query_id} Q0 {doc_id} {rank} {score!s} {tag}\n"  # shortest float32 text


def write_runs(directory: Path, name_to_ranking: Mapping[str, Ranking]) -> dict[str, Path]:
    """Write ``<directory>/<name>.run`` for each ranking; returns name -> path written.

    Every line is formed (and every id checked) before any file is touched; each file is then
    written beside its final name and ``os.replace``d into place, so a reader never sees half
    a run, and an earlier file of the same name is replaced whole.

    Raises
    ------
    ConfigError
        When a run name cannot be a file name (letters, digits, ``_``, ``.``, ``-``).
    CatalogError
        When a query or doc id cannot be written (see ``run_lines``).
    StorageError
        When ``directory`` cannot be created or a file cannot be written.
    """
    bad = [n for n in name_to_ranking if not _NAME.fullmatch(n)]
    if bad:
        raise ConfigError(f"run names {bad!r} are not file names (letters, digits, '_.-')")
    check_directory(directory)
    texts = {name: "".join(run_lines(name, r)) for name, r in name_to_ranking.items()}
    written = {}
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for name, text in texts.items():
            written[name] = replace_file(directory / f"{name}{SUFFIX}", text.encode())
    except OSError as exc:
        raise StorageError(f"cannot write run files to {directory}: {exc.strerror}") from exc
    return written


def check_directory(directory: Path) -> None:
    """Fail now, before an evaluation that may take minutes, if run files cannot go here.

    ``directory`` may be missing (it is created when writing), but it must not be a file and
    its nearest existing ancestor must be a directory this process can write to.

    Raises
    ------
    StorageError
        Naming the path and what is wrong with it.
    """
    if directory.exists() and not directory.is_dir():
        raise StorageError(f"run directory {directory} is a file; run files need a directory")
    existing = directory
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise StorageError(f"run directory {directory}: {existing} is a file, not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise StorageError(f"run directory {directory}: {existing} is not writable")


def _check_id(value: str, what: str) -> None:
    if not value or _SPACE.search(value):
        raise CatalogError(f"{what} {value!r} is empty or holds whitespace; a TREC run cannot")
