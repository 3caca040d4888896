-- Which PSA files Parley has seen on linked tickets: the ones it uploaded
-- (so the inbound sync never brings them back) and the ones it brought into
-- a chat (so none arrives twice).

CREATE TABLE psa_files (
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id),
    ticket_id INTEGER NOT NULL,
    file_id INTEGER NOT NULL,
    direction TEXT NOT NULL CHECK (direction IN ('out', 'in')),
    message_id INTEGER REFERENCES messages (id),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, ticket_id, file_id)
);
