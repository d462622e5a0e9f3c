"""The catalog: the entity model, its validation, and loaders for every supported source."""
