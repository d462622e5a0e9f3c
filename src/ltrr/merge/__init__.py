"""The ``merge`` stage: union of the strategies' lists, each candidate keeping its provenance.

Reciprocal rank fusion (``merge.rrf``) is the unsupervised baseline: what ``ltrr evaluate``
reports as ``fusion`` and what ranks results before the learned ranker has feedback.
"""

from __future__ import annotations

from ltrr.merge.rrf import DEFAULT_K, Fused, FusionParams, fuse, fusion_params, rrf

__all__ = ["DEFAULT_K", "Fused", "FusionParams", "fuse", "fusion_params", "rrf"]
