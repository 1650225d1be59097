-- portcullis ledger, schema 3: caches of the git verifier. Operational state, not facts: they are
-- not part of the event log or of the derived state; `ledger rebuild` leaves them alone, and
-- deleting their rows only makes the next `verify` do the work again.

-- What is costly to compute about one commit, keyed by commit id (the same id is the same
-- commit in every clone). Messages and parents are cheap to read again and are not kept.
CREATE TABLE git_commits (
    sha      TEXT PRIMARY KEY,
    paths    TEXT,               -- hash of the set of changed paths (against the first parent)
    patch_id TEXT,               -- git's stable patch-id, computed only when paths could match
    lines    TEXT                -- hash of the added/removed lines without context
) WITHOUT ROWID;

-- The last scan of a repository for a line, valid while its key (branch tips, tags, policy
-- settings, scanner version) is unchanged.
CREATE TABLE git_scans (
    repo       TEXT NOT NULL,
    line       TEXT NOT NULL,
    key        TEXT NOT NULL,
    scan       TEXT NOT NULL,    -- JSON
    scanned_at TEXT NOT NULL,
    PRIMARY KEY (repo, line)
);
