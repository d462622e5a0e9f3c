-- A data directory's database as ltrr schema version 2 wrote it, with the event log's tables
-- created by the log itself (before they became migration 3): one impression and one action.
-- Frozen: do not edit. tests/unit/log/test_sqlite_log.py checks that today's ltrr migrates it
-- and keeps its events.
CREATE TABLE actions (
    seq INTEGER PRIMARY KEY,
    action_id TEXT NOT NULL UNIQUE,
    request_id TEXT NOT NULL,
    user_id TEXT,
    entity_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    value REAL,
    event_time_s REAL NOT NULL,
    replay_time_s REAL NOT NULL,
    schema_version INTEGER NOT NULL
);
INSERT INTO "actions" VALUES(2,'x1','r1','u1','track:1','click',NULL,101.0,101.0,1);
CREATE TABLE entities (
        id TEXT PRIMARY KEY,
        type TEXT NOT NULL,
        title TEXT NOT NULL,
        doc TEXT NOT NULL,
        popularity REAL NOT NULL,
        added_at_s REAL,
        version INTEGER NOT NULL
    );
INSERT INTO "entities" VALUES('track:1','track','Love Story','{"f":{},"a":{},"r":[]}',0.0,NULL,1);
CREATE TABLE impressions (
    seq INTEGER PRIMARY KEY,
    request_id TEXT NOT NULL UNIQUE,
    user_id TEXT,
    session_id TEXT,
    query TEXT NOT NULL,
    context TEXT NOT NULL,
    plan TEXT NOT NULL,
    strategy_results TEXT NOT NULL,
    shown TEXT NOT NULL,
    page_offset INTEGER NOT NULL,
    catalog_version INTEGER NOT NULL,
    model_versions TEXT NOT NULL,
    event_time_s REAL NOT NULL,
    schema_version INTEGER NOT NULL
);
INSERT INTO "impressions" VALUES(1,'r1','u1','s1','love story','{"user_id":"u1","session_id":null,"segment":null,"locale":null,"device":null,"hour":null,"taste":{}}','{"policy":"ltrr","depths":{"lexical":10,"dense":0},"greedy":{"lexical":10,"dense":0},"epsilon":0.1,"explore":{"lexical":{"0":0.5,"10":0.5},"dense":{"0":0.5,"10":0.5}},"probability":0.925,"marginals":{"dense":{"0":0.9500000000000001,"10":0.05},"lexical":{"10":0.9500000000000001,"0":0.05}}}','{"lexical":{"ids":["track:1"],"scores":[2.5]}}','["track:1"]',0,1,'{"ranker":"fusion"}',100.0,1);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO "meta" VALUES('catalog_version','1');
CREATE TABLE tombstones (id TEXT PRIMARY KEY, version INTEGER NOT NULL);
CREATE INDEX entities_type ON entities (type);
CREATE INDEX entities_version ON entities (version);
CREATE INDEX tombstones_version ON tombstones (version);
CREATE INDEX impressions_time ON impressions (event_time_s, seq);
CREATE INDEX actions_request ON actions (request_id, event_time_s, seq);
CREATE INDEX actions_replay ON actions (replay_time_s, seq);
PRAGMA user_version = 2;
