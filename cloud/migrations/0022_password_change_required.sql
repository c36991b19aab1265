-- A password an administrator set (an invitation's, chosen by the admin or generated, or a reset's
-- temporary one) must be replaced by the user at their first login: until then the login answers
-- 403 PASSWORD_CHANGE_REQUIRED and issues no session, so the admin keeps no working credential of
-- the account. The bootstrap owner's password (XP_ADMIN_PASSWORD, or generated into
-- initial-credentials.txt on the operator's own machine) is not flagged. Users that existed before
-- this migration keep their passwords as they are (false).
ALTER TABLE users ADD COLUMN password_change_required boolean NOT NULL DEFAULT false;
