-- portcullis ledger, schema 2: where each tracker sync stands. Operational state, not facts:
-- it is not part of the event log or of the derived state, and `ledger rebuild` leaves it alone.
CREATE TABLE sync_state (
    source      TEXT PRIMARY KEY,   -- which tracker and query, e.g. `jira https://jira.example.org #1a2b3c`
    cursor_ms   INTEGER,            -- the newest `updated` (epoch ms) seen by the last complete run
    run         TEXT,               -- JSON checkpoint of a run in progress (cleared when it completes)
    last_run_at TEXT,               -- when the last run started (UTC)
    last_ok_at  TEXT                -- when the last complete run ended (UTC)
);

-- Reading events by kind (pending decisions for `push`, digests later) without a full scan.
CREATE INDEX events_kind ON events(kind, seq);
