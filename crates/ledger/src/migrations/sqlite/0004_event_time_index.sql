-- portcullis ledger, schema 4: events by kind and time. "What happened since the last meeting"
-- reads a time window of a few kinds (triage, digests) without walking every event of them.
CREATE INDEX events_kind_at ON events(kind, at);
