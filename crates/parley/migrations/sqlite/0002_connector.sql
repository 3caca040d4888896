-- The PSA connector (one active per workspace) and the audit log of who
-- changed or tested it. The client secret is only ever stored sealed.

CREATE TABLE connectors (
    workspace_id INTEGER PRIMARY KEY REFERENCES workspaces (id),
    kind TEXT NOT NULL CHECK (kind IN ('halopsa')),
    site_url TEXT NOT NULL,
    client_id TEXT NOT NULL,
    tenant TEXT,
    client_secret_sealed TEXT NOT NULL,
    allow_private INTEGER NOT NULL,
    defaults TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    last_success_at INTEGER,
    failing_since INTEGER,
    last_error TEXT
);

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id),
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX audit_log_by_time ON audit_log (workspace_id, id);
