-- Rotating a webhook's secret may keep the previous one signing too, for up to a week: every
-- request then carries two v1 signatures, so a receiver still holding the old secret keeps
-- accepting deliveries while it is given the new one. The previous secret is version
-- secret_version - 1 (secrets are derived, never stored); NULL or a past time: it signs no more.
ALTER TABLE webhooks ADD COLUMN previous_secret_until timestamptz;
