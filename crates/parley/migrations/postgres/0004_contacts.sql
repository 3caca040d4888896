-- How each end user is matched to a PSA contact: by their verified email
-- (rule 'email'), or by a technician's choice (rule 'technician'), or not yet
-- ('no_match' / 'ambiguous', the "needs a contact" queue). A technician's
-- choice is never overwritten by a background refresh.

CREATE TABLE contact_matches (
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id),
    end_user_id BIGINT NOT NULL REFERENCES end_users (id) ON DELETE CASCADE,
    state TEXT NOT NULL CHECK (state IN ('matched', 'no_match', 'ambiguous')),
    -- The matched contact as JSON; NULL unless matched.
    contact TEXT,
    rule TEXT CHECK (rule IN ('email', 'technician')),
    chosen_by TEXT,
    -- 1 when the contact is a client's catch-all (Halo's General User), whose
    -- tickets are not all this end user's.
    catch_all BIGINT NOT NULL DEFAULT 0,
    matched_at BIGINT,
    checked_at BIGINT NOT NULL,
    -- The contacts found for the email, as a JSON array, for the queue.
    candidates TEXT NOT NULL,
    PRIMARY KEY (workspace_id, end_user_id),
    CHECK ((state = 'matched') = (contact IS NOT NULL AND rule IS NOT NULL))
);
CREATE INDEX contact_matches_queue ON contact_matches (workspace_id, state, checked_at);
