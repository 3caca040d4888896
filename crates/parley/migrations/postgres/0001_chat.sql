-- The chat service's tables. Times are milliseconds since the Unix epoch, so
-- that SQLite and PostgreSQL store and compare them the same way.

CREATE TABLE workspaces (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name TEXT NOT NULL,
    widget_secret TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE accounts (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id),
    email TEXT NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'technician')),
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (workspace_id, email)
);

CREATE TABLE end_users (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id),
    email TEXT NOT NULL,
    name TEXT NOT NULL,
    subject TEXT,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    UNIQUE (workspace_id, email)
);

CREATE TABLE sessions (
    token_digest TEXT PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id),
    account_id BIGINT REFERENCES accounts (id) ON DELETE CASCADE,
    end_user_id BIGINT REFERENCES end_users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    CHECK ((account_id IS NULL) <> (end_user_id IS NULL))
);
CREATE INDEX sessions_by_account ON sessions (account_id);

CREATE TABLE conversations (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id),
    end_user_id BIGINT NOT NULL REFERENCES end_users (id),
    subject TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('waiting', 'active', 'closed')),
    technician_id BIGINT REFERENCES accounts (id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    last_message_id BIGINT
);
CREATE INDEX conversations_by_end_user ON conversations (workspace_id, end_user_id);
CREATE INDEX conversations_by_status ON conversations (workspace_id, status, updated_at);

CREATE TABLE attachments (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id),
    conversation_id BIGINT NOT NULL REFERENCES conversations (id),
    file_name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    data BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE messages (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id),
    conversation_id BIGINT NOT NULL REFERENCES conversations (id),
    kind TEXT NOT NULL CHECK (kind IN ('text', 'attachment', 'note', 'system')),
    author_kind TEXT NOT NULL CHECK (author_kind IN ('end_user', 'technician', 'system')),
    author_id BIGINT,
    body TEXT NOT NULL,
    attachment_id BIGINT REFERENCES attachments (id),
    created_at BIGINT NOT NULL
);
CREATE INDEX messages_by_conversation ON messages (conversation_id, id);

CREATE TABLE read_receipts (
    conversation_id BIGINT NOT NULL REFERENCES conversations (id),
    reader_kind TEXT NOT NULL,
    reader_id BIGINT NOT NULL,
    message_id BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, reader_kind, reader_id)
);
