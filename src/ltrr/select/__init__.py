"""The ``select`` stage: policies that choose which strategies to run and how deep."""
