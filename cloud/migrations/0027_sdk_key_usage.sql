-- When each SDK key was last used (at most a minute stale: the SDK endpoints look a key up again
-- after their cache's TTL and record the use then) and, for a key being rotated out, when it stops
-- working. Keys from before this migration were never seen used (NULL) and never expire (NULL).
ALTER TABLE sdk_keys ADD COLUMN last_used_at timestamptz, ADD COLUMN expires_at timestamptz;
