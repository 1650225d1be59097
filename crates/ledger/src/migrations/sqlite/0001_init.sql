-- portcullis ledger, schema 1. Never edit a shipped migration: add a new numbered file.

-- The append-only event log, chained by hash: hash = sha256(previous row's hash, this row).
CREATE TABLE events (
    seq         INTEGER PRIMARY KEY,
    ticket      TEXT,
    line        TEXT,
    kind        TEXT NOT NULL,
    source      TEXT NOT NULL,
    actor       TEXT,
    at          TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    meeting     TEXT,
    note        TEXT,
    payload     TEXT NOT NULL,
    dedup_key   TEXT UNIQUE,
    hash        TEXT NOT NULL
);
CREATE INDEX events_ticket ON events(ticket, seq);

CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'the event log is append-only: events are never updated'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'the event log is append-only: events are never deleted'); END;

-- Derived state: rebuilt from events by `portcullis ledger rebuild`.
CREATE TABLE tickets (
    key        TEXT PRIMARY KEY,
    summary    TEXT NOT NULL,
    status     TEXT,
    assignee   TEXT,
    reporter   TEXT,
    components TEXT NOT NULL,
    labels     TEXT NOT NULL,
    url        TEXT,
    created    TEXT,
    updated    TEXT
);

CREATE TABLE line_states (
    ticket         TEXT NOT NULL,
    line           TEXT NOT NULL,
    state          TEXT NOT NULL,
    since          TEXT,
    requested_by   TEXT,
    requested_at   TEXT,
    approved_by    TEXT,
    approved_at    TEXT,
    request_count  INTEGER NOT NULL,
    deferred_until TEXT,
    last_note      TEXT,
    last_meeting   TEXT,
    last_seq       INTEGER NOT NULL,
    PRIMARY KEY (ticket, line)
);
CREATE INDEX line_states_line ON line_states(line, state);

CREATE TABLE violations (
    ticket      TEXT NOT NULL,
    line        TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    at          TEXT NOT NULL,
    actor       TEXT,
    message     TEXT NOT NULL,
    resolved_by INTEGER,
    PRIMARY KEY (ticket, line, seq, kind)
);
CREATE INDEX violations_line ON violations(line);

-- The head of the chain, so that a truncated tail is detected too.
CREATE TABLE head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT NOT NULL
);
