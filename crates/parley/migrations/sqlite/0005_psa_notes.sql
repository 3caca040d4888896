-- Which PSA notes Parley has seen on linked tickets: the ones it wrote (so
-- the poller and the webhook never echo them back) and the ones it brought
-- into a chat (so none arrives twice). Messages that come from the PSA name
-- their author, who is not a Parley account.

CREATE TABLE psa_notes (
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id),
    ticket_id INTEGER NOT NULL,
    note_id INTEGER NOT NULL,
    direction TEXT NOT NULL CHECK (direction IN ('out', 'in')),
    message_id INTEGER REFERENCES messages (id),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, ticket_id, note_id)
);

ALTER TABLE messages ADD COLUMN author_name TEXT;

-- Where the poller goes on from, per workspace.
CREATE TABLE psa_cursors (
    workspace_id INTEGER PRIMARY KEY REFERENCES workspaces (id),
    cursor TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
