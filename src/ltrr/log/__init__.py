"""The ``log`` stage: the durable event log of impressions and actions, the source of truth."""
