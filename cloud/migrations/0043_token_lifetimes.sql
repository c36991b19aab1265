-- Token lifetimes. An organisation may set a token policy: the longest a personal access token or a
-- service-account token may live (`token_max_lifetime_days`; NULL: no maximum) and the lifetime a
-- token minted without `expiresInDays` gets (`token_default_lifetime_days`; NULL: the maximum, or
-- never expiring when there is none). The policy applies to tokens minted after it is set; existing
-- tokens keep their expiry.
ALTER TABLE organizations ADD COLUMN token_max_lifetime_days integer CHECK (token_max_lifetime_days BETWEEN 1 AND 3650);
ALTER TABLE organizations ADD COLUMN token_default_lifetime_days integer CHECK (token_default_lifetime_days BETWEEN 1 AND 3650);
ALTER TABLE organizations ADD CONSTRAINT organizations_token_default_within_max CHECK (
  token_default_lifetime_days IS NULL OR token_max_lifetime_days IS NULL OR token_default_lifetime_days <= token_max_lifetime_days
);

-- Who minted each token: the person themself for a personal token, the administrator (or the
-- service account whose token was used, never itself) for a service account's. Tokens made before
-- this migration: a person's own tokens are theirs; a service account's are named by the audit
-- entry that recorded the mint, when there is one (else NULL: unknown).
ALTER TABLE access_tokens ADD COLUMN created_by text REFERENCES users (id) ON DELETE SET NULL;
UPDATE access_tokens t SET created_by = t.user_id FROM users u WHERE u.id = t.user_id AND u.kind = 'person';
UPDATE access_tokens t SET created_by = a.actor_id
  FROM audit_log a
  WHERE t.created_by IS NULL AND a.action = 'service-account.token-created' AND a.resource_key = t.id
    AND EXISTS (SELECT 1 FROM users m WHERE m.id = a.actor_id);
