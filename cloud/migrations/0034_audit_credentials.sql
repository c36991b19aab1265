-- Which credential made a change, and from which address, so that an investigator can list what a
-- leaked personal access token did (`GET /api/v1/audit?credential=<token id>`) and see where a sign-in
-- came from. Written by `audit.append` (cloud/src/store/audit.ts) from the request's actor: a session
-- (its `sessions.id`, never its secret or hash), a personal access token (its `access_tokens.id` and
-- display prefix `xpp_ab12cd34`, never its secret or hash), or one of the platform's own actors
-- (`system`: guardrails, bootstrap, alarm-rollback, id its name). `ip` is the client address as
-- cloud/src/http/client-ip.ts decides it (the TCP peer, or behind XP_TRUSTED_PROXIES the right-most
-- untrusted X-Forwarded-For entry); a failed login records it too. Entries written before this
-- migration, and those of CLI commands acting as the operator, keep NULLs. Adding nullable columns
-- rewrites no row, so the append-only trigger (which refuses UPDATE and DELETE) is not involved.
ALTER TABLE audit_log ADD COLUMN credential_kind text;
ALTER TABLE audit_log ADD COLUMN credential_id text;
-- The token's display prefix as stored in access_tokens.token_prefix (kind prefix plus 8 characters):
-- kept in the entry so it still names the token after the token (or its user) is deleted.
ALTER TABLE audit_log ADD COLUMN credential_prefix text;
ALTER TABLE audit_log ADD COLUMN ip text;

ALTER TABLE audit_log ADD CONSTRAINT audit_log_credential CHECK (
  (credential_kind IS NULL OR credential_kind IN ('session', 'token', 'system'))
  AND (credential_kind IS NULL) = (credential_id IS NULL)
  AND (credential_prefix IS NULL OR credential_kind = 'token')
);

-- The credential filter: every entry one token (or session) made, newest first.
CREATE INDEX audit_log_credential ON audit_log (credential_id, id) WHERE credential_id IS NOT NULL;
