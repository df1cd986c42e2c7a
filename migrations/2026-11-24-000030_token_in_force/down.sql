DROP TRIGGER audit_events_token_in_force ON audit_events;
DROP FUNCTION audit_events_token_in_force();
ALTER TABLE audit_events DROP COLUMN token_id;
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
      WHERE g.environment_id = env AND g.role = wanted
        AND (g.user_id = uid
             OR g.team_id IN (SELECT m.team_id FROM team_members m WHERE m.user_id = uid))
      FOR SHARE OF g;
    RETURN FOUND;
END;
$$ LANGUAGE plpgsql;
