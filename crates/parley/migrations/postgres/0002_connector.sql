-- The PSA connector (one active per workspace) and the audit log of who
-- changed or tested it. The client secret is only ever stored sealed.

CREATE TABLE connectors (
    workspace_id BIGINT PRIMARY KEY REFERENCES workspaces (id),
    kind TEXT NOT NULL CHECK (kind IN ('halopsa')),
    site_url TEXT NOT NULL,
    client_id TEXT NOT NULL,
    tenant TEXT,
    client_secret_sealed TEXT NOT NULL,
    allow_private BIGINT NOT NULL,
    defaults TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    last_success_at BIGINT,
    failing_since BIGINT,
    last_error TEXT
);

CREATE TABLE audit_log (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id),
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX audit_log_by_time ON audit_log (workspace_id, id);
