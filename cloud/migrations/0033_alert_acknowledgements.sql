-- A person acknowledges an open guardrail alert (cloud/src/domain/guardrails.ts, `acknowledgeAlert`):
-- "seen, investigating", with who, when and an optional comment, so the console tells new alerts from
-- those someone is on. Un-acknowledging clears the three columns. A resolved alert keeps what it had.

ALTER TABLE alerts ADD COLUMN acknowledged_at timestamptz;
-- The user's id (users.id; an API token acts as its user). No foreign key: the name is looked up when
-- read, and an acknowledgement outlives a user removed since (then its name reads as unknown).
ALTER TABLE alerts ADD COLUMN acknowledged_by text;
-- At most 2,000 characters (checked by the API); NULL without a comment.
ALTER TABLE alerts ADD COLUMN acknowledge_comment text;

ALTER TABLE alerts ADD CONSTRAINT alerts_acknowledged CHECK ((acknowledged_at IS NULL) = (acknowledged_by IS NULL) AND (acknowledge_comment IS NULL OR acknowledged_at IS NOT NULL));
