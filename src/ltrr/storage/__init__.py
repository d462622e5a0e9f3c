"""Durable state: one data directory with a SQLite database (WAL) and a writer lock."""
