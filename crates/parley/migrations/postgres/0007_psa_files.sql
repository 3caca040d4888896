-- Which PSA files Parley has seen on linked tickets: the ones it uploaded
-- (so the inbound sync never brings them back) and the ones it brought into
-- a chat (so none arrives twice).

CREATE TABLE psa_files (
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id),
    ticket_id BIGINT NOT NULL,
    file_id BIGINT NOT NULL,
    direction TEXT NOT NULL CHECK (direction IN ('out', 'in')),
    message_id BIGINT REFERENCES messages (id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, ticket_id, file_id)
);
