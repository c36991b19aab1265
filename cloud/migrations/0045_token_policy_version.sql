-- The token policy's version, for optimistic concurrency: GET /api/v1/organisation/token-policy
-- answers it (and its ETag), and a PUT must send it back as If-Match (428 without, 409 when another
-- owner changed the policy since). Every organisation starts at version 1, whether or not it has set
-- a policy; each change adds one (a PUT that changes nothing keeps it).
ALTER TABLE organizations ADD COLUMN token_policy_version integer NOT NULL DEFAULT 1 CHECK (token_policy_version >= 1);
