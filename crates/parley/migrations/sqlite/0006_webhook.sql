-- The PSA webhook's own secret, one per workspace: Halo sends it (as the
-- Basic password) with every delivery. Sealed under the master key like the
-- other secrets; shown to an admin once, on an explicit action, so that they
-- can paste it into Halo. `revealed_at` is set by that one showing.

CREATE TABLE webhook_secrets (
    workspace_id INTEGER PRIMARY KEY REFERENCES workspaces (id),
    secret_sealed TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revealed_at INTEGER,
    -- When a delivery with this secret last arrived (written at most once a
    -- minute), for the Connectors page and the poller's safety-net rate.
    last_received_at INTEGER
);
