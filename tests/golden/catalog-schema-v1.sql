-- A catalog database as ltrr schema version 1 wrote it (frozen: do not edit).
-- tests/unit/storage/test_sqlite.py loads it and checks that today's ltrr migrates and reads it.
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta (key, value) VALUES ('catalog_version', '3');
CREATE TABLE entities (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    title TEXT NOT NULL,
    doc TEXT NOT NULL,
    popularity REAL NOT NULL,
    added_at_s REAL,
    version INTEGER NOT NULL
);
CREATE INDEX entities_type ON entities (type);
INSERT INTO entities VALUES ('artist:1', 'artist', 'Taylor Swift',
  '{"f":{},"a":{"genre":{"pop":1.0}},"r":["track:1"]}', 95.0, NULL, 1);
INSERT INTO entities VALUES ('track:1', 'track', 'Love Story',
  '{"f":{"artist":"Taylor Swift"},"a":{"genre":{"pop":0.8,"country":0.2}},"r":["artist:1"]}',
  88.5, 1221177600.0, 3);
PRAGMA user_version = 1;
