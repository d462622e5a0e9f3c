"""Offline retrieval evaluation on test collections (EVALUATION.md sections 1 and 2).

``evaluate.runner.evaluate`` runs each strategy alone and their RRF fusion on any directory
in BEIR layout, in a workspace keyed by a fingerprint of corpus and config
(``evaluate.workspace``, shared with ``simulate``); ``evaluate.beir`` reads the layout,
``evaluate.metrics`` names the metrics, and ``evaluate.music`` builds the music search
benchmark with its misspelling model (``evaluate.misspell``).
"""
