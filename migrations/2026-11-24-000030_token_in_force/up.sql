-- Which API token a change was made with, so the trail names it, and so
-- the database can refuse a change made under a token no longer in force.
--
-- The token is checked when a request comes in, in a statement of its
-- own; without this, a write admitted just before a revocation could
-- commit just after it, and "revoked: it no longer works" would not be
-- true. The trigger takes the token's row (and its owner's) FOR SHARE in
-- the change's own transaction: a revocation, or disabling the owner,
-- waits for a change already made under the token to commit, and a change
-- that comes after sees the revocation and is refused whole. So once a
-- revocation is answered, nothing more is changed with the token.
ALTER TABLE audit_events ADD COLUMN token_id BIGINT;

CREATE FUNCTION audit_events_token_in_force() RETURNS trigger AS $$
BEGIN
    PERFORM 1 FROM api_tokens t JOIN users u ON u.id = t.user_id
      WHERE t.id = NEW.token_id
        AND t.revoked_at IS NULL
        AND t.expires_at > now()
        AND NOT u.disabled
      FOR SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'API token % is no longer in force', NEW.token_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'audit_events_token_in_force';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_events_token_in_force BEFORE INSERT ON audit_events
    FOR EACH ROW WHEN (NEW.token_id IS NOT NULL)
    EXECUTE FUNCTION audit_events_token_in_force();

-- The same for a right held through a team: the membership row is
-- share-locked with the grant, so removing someone from a team waits for
-- a deployment being requested through it (a chain step, say), as
-- removing a grant already did. (The subquery form locked only the grant.)
CREATE OR REPLACE FUNCTION user_holds_role(uid BIGINT, env BIGINT, wanted TEXT) RETURNS BOOLEAN AS $$
DECLARE
    admin BOOLEAN;
BEGIN
    SELECT u.is_admin INTO admin FROM users u WHERE u.id = uid AND NOT u.disabled FOR SHARE;
    IF NOT FOUND THEN
        RETURN FALSE;
    END IF;
    IF admin THEN
        RETURN TRUE;
    END IF;
    PERFORM 1 FROM grants g
      WHERE g.environment_id = env AND g.role = wanted AND g.user_id = uid
      FOR SHARE OF g;
    IF FOUND THEN
        RETURN TRUE;
    END IF;
    PERFORM 1 FROM grants g JOIN team_members m ON m.team_id = g.team_id
      WHERE g.environment_id = env AND g.role = wanted AND m.user_id = uid
      FOR SHARE OF g, m;
    RETURN FOUND;
END;
$$ LANGUAGE plpgsql;
