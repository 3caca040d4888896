-- The chat service's tables. Times are milliseconds since the Unix epoch, so
-- that SQLite and PostgreSQL store and compare them the same way.

CREATE TABLE workspaces (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    widget_secret TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE accounts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id),
    email TEXT NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'technician')),
    password_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (workspace_id, email)
);

CREATE TABLE end_users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id),
    email TEXT NOT NULL,
    name TEXT NOT NULL,
    subject TEXT,
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    UNIQUE (workspace_id, email)
);

CREATE TABLE sessions (
    token_digest TEXT PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id),
    account_id INTEGER REFERENCES accounts (id) ON DELETE CASCADE,
    end_user_id INTEGER REFERENCES end_users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    CHECK ((account_id IS NULL) <> (end_user_id IS NULL))
);
CREATE INDEX sessions_by_account ON sessions (account_id);

CREATE TABLE conversations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id),
    end_user_id INTEGER NOT NULL REFERENCES end_users (id),
    subject TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('waiting', 'active', 'closed')),
    technician_id INTEGER REFERENCES accounts (id),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    last_message_id INTEGER
);
CREATE INDEX conversations_by_end_user ON conversations (workspace_id, end_user_id);
CREATE INDEX conversations_by_status ON conversations (workspace_id, status, updated_at);

CREATE TABLE attachments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id),
    conversation_id INTEGER NOT NULL REFERENCES conversations (id),
    file_name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    data BLOB NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id),
    conversation_id INTEGER NOT NULL REFERENCES conversations (id),
    kind TEXT NOT NULL CHECK (kind IN ('text', 'attachment', 'note', 'system')),
    author_kind TEXT NOT NULL CHECK (author_kind IN ('end_user', 'technician', 'system')),
    author_id INTEGER,
    body TEXT NOT NULL,
    attachment_id INTEGER REFERENCES attachments (id),
    created_at INTEGER NOT NULL
);
CREATE INDEX messages_by_conversation ON messages (conversation_id, id);

CREATE TABLE read_receipts (
    conversation_id INTEGER NOT NULL REFERENCES conversations (id),
    reader_kind TEXT NOT NULL,
    reader_id INTEGER NOT NULL,
    message_id INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, reader_kind, reader_id)
);
