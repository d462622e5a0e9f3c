"""The ``evaluate`` stage: retrieval quality on BEIR-layout benchmarks (EVALUATION.md).

``evaluate.runner.evaluate`` runs each strategy alone and their RRF fusion on any directory
in BEIR layout, in a workspace of its own keyed by a fingerprint of corpus and config;
``evaluate.beir`` reads the layout and ``evaluate.metrics`` names the metrics.
"""
