"""The ``understand`` stage: normalise, correct, tag and classify a query once per request."""
