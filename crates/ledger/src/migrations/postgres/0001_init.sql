-- portcullis ledger on PostgreSQL, schema 1: the SQLite schema 1 to 4 (without the verifier's
-- caches, which describe local clones and stay in a local SQLite file). Never edit a shipped
-- migration: add a new numbered file. Text is compared byte by byte (COLLATE "C"), as SQLite
-- does, so that every order and comparison is the same on both backends.

-- The append-only event log, chained by hash: hash = sha256(previous row's hash, this row).
CREATE TABLE events (
    seq         BIGINT PRIMARY KEY,
    ticket      TEXT COLLATE "C",
    line        TEXT COLLATE "C",
    kind        TEXT COLLATE "C" NOT NULL,
    source      TEXT COLLATE "C" NOT NULL,
    actor       TEXT COLLATE "C",
    at          TEXT COLLATE "C" NOT NULL,
    recorded_at TEXT COLLATE "C" NOT NULL,
    meeting     TEXT COLLATE "C",
    note        TEXT COLLATE "C",
    payload     TEXT COLLATE "C" NOT NULL,
    dedup_key   TEXT COLLATE "C" UNIQUE,
    hash        TEXT COLLATE "C" NOT NULL
);
CREATE INDEX events_ticket ON events(ticket, seq);
CREATE INDEX events_kind ON events(kind, seq);
CREATE INDEX events_kind_at ON events(kind, at);

-- The database enforces append-only, whoever connects: UPDATE, DELETE and TRUNCATE raise.
CREATE FUNCTION portcullis_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        RAISE EXCEPTION 'the event log is append-only: events are never updated';
    END IF;
    RAISE EXCEPTION 'the event log is append-only: events are never deleted';
END
$$;
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
    FOR EACH ROW EXECUTE FUNCTION portcullis_events_append_only();
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION portcullis_events_append_only();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION portcullis_events_append_only();

-- Derived state: rebuilt from events by `portcullis ledger rebuild`. Same columns, same order
-- as SQLite's (the dumps that `audit` compares list them in order).
CREATE TABLE tickets (
    key        TEXT COLLATE "C" PRIMARY KEY,
    summary    TEXT COLLATE "C" NOT NULL,
    status     TEXT COLLATE "C",
    assignee   TEXT COLLATE "C",
    reporter   TEXT COLLATE "C",
    components TEXT COLLATE "C" NOT NULL,
    labels     TEXT COLLATE "C" NOT NULL,
    url        TEXT COLLATE "C",
    created    TEXT COLLATE "C",
    updated    TEXT COLLATE "C"
);

CREATE TABLE line_states (
    ticket         TEXT COLLATE "C" NOT NULL,
    line           TEXT COLLATE "C" NOT NULL,
    state          TEXT COLLATE "C" NOT NULL,
    since          TEXT COLLATE "C",
    requested_by   TEXT COLLATE "C",
    requested_at   TEXT COLLATE "C",
    approved_by    TEXT COLLATE "C",
    approved_at    TEXT COLLATE "C",
    request_count  BIGINT NOT NULL,
    deferred_until TEXT COLLATE "C",
    last_note      TEXT COLLATE "C",
    last_meeting   TEXT COLLATE "C",
    last_seq       BIGINT NOT NULL,
    PRIMARY KEY (ticket, line)
);
CREATE INDEX line_states_line ON line_states(line, state);

CREATE TABLE violations (
    ticket      TEXT COLLATE "C" NOT NULL,
    line        TEXT COLLATE "C" NOT NULL,
    seq         BIGINT NOT NULL,
    kind        TEXT COLLATE "C" NOT NULL,
    at          TEXT COLLATE "C" NOT NULL,
    actor       TEXT COLLATE "C",
    message     TEXT COLLATE "C" NOT NULL,
    resolved_by BIGINT,
    PRIMARY KEY (ticket, line, seq, kind)
);
CREATE INDEX violations_line ON violations(line);

-- The head of the chain, so that a truncated tail is detected too.
CREATE TABLE head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash TEXT COLLATE "C" NOT NULL
);

-- Where each tracker sync stands (operational state, not facts; `ledger rebuild` leaves it).
CREATE TABLE sync_state (
    source      TEXT COLLATE "C" PRIMARY KEY,
    cursor_ms   BIGINT,
    run         TEXT COLLATE "C",
    last_run_at TEXT COLLATE "C",
    last_ok_at  TEXT COLLATE "C"
);
