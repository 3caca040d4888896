-- Ticket sync: which conversation is linked to which PSA ticket, and the
-- durable outbox of PSA writes. An outbox job is written in the same
-- transaction as the chat change that causes it, so a write is never lost;
-- jobs of one conversation run in order, so notes keep their order.

CREATE TABLE ticket_links (
    conversation_id INTEGER PRIMARY KEY REFERENCES conversations (id),
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id),
    -- Put in the ticket, so that a retried creation finds what it made.
    marker TEXT NOT NULL UNIQUE,
    -- NULL until the PSA has answered.
    ticket_id INTEGER,
    ticket_summary TEXT,
    ticket_status TEXT,
    requested_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    linked_at INTEGER
);
CREATE INDEX ticket_links_by_ticket ON ticket_links (workspace_id, ticket_id);

CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id),
    conversation_id INTEGER NOT NULL REFERENCES conversations (id),
    kind TEXT NOT NULL CHECK (kind IN ('create_ticket', 'add_note', 'add_file', 'change_status')),
    message_id INTEGER REFERENCES messages (id),
    payload TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'running', 'done', 'failed')),
    attempts INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    -- A running job whose lease ran out belongs to a worker that died.
    lease_until INTEGER,
    -- Set before a write that is not idempotent: the next attempt must first
    -- look for what this one may have done.
    maybe_sent INTEGER NOT NULL,
    last_error TEXT,
    result TEXT,
    created_at INTEGER NOT NULL,
    finished_at INTEGER
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
CREATE INDEX outbox_by_conversation ON outbox (conversation_id, id);
CREATE INDEX outbox_by_message ON outbox (message_id);
