-- Single sign-on with OpenID Connect (auth/sso-config.ts, domain/sso.ts).
-- A person is linked to the identity provider's (issuer, subject) at their first SSO sign-in; later
-- sign-ins find them by it, so an email changed at the IdP does not make a second user.
ALTER TABLE users ADD COLUMN sso_issuer text, ADD COLUMN sso_subject text;
ALTER TABLE users ADD CONSTRAINT users_sso_identity_pair CHECK ((sso_issuer IS NULL) = (sso_subject IS NULL));
CREATE UNIQUE INDEX users_sso_identity ON users (sso_issuer, sso_subject) WHERE sso_issuer IS NOT NULL;

-- Pending authorisations (GET /api/v1/auth/sso/start → the IdP → the callback), at most 10 minutes:
-- the state's SHA-256, the SHA-256 of the browser-binding cookie (xp_sso_<16 hex>, one per sign-in), the nonce and the PKCE
-- verifier. Single use: the callback deletes the row it reads. Expired rows are pruned.
-- A desktop app's sign-in (RFC 8252) also has the app's loopback port, where the callback sends the
-- outcome, and its challenge (base64url SHA-256 of a verifier only the app holds): both or neither.
CREATE TABLE sso_logins (
  state_hash    text PRIMARY KEY,
  binding_hash  text NOT NULL,
  nonce         text NOT NULL,
  code_verifier text NOT NULL,
  app_port      integer CHECK (app_port BETWEEN 1024 AND 65535),
  app_challenge text,
  created_at    timestamptz NOT NULL,
  expires_at    timestamptz NOT NULL,
  CONSTRAINT sso_logins_app_pair CHECK ((app_port IS NULL) = (app_challenge IS NULL))
);
CREATE INDEX sso_logins_expires ON sso_logins (expires_at);

-- One-time sign-in codes (the callback's /#sso-code=), 60 seconds: traded once for a session by
-- POST /api/v1/auth/sso/exchange with the same browser's cookie (binding_hash), or, for a desktop
-- app's sign-in, with the verifier of its challenge (app_challenge; no cookie). Expired rows are pruned.
CREATE TABLE sso_codes (
  code_hash     text PRIMARY KEY,
  binding_hash  text,
  app_challenge text,
  user_id       text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  expires_at    timestamptz NOT NULL,
  CONSTRAINT sso_codes_proof CHECK (binding_hash IS NOT NULL OR app_challenge IS NOT NULL)
);
CREATE INDEX sso_codes_expires ON sso_codes (expires_at);
