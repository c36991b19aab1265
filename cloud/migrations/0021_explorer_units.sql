-- A tracked event's other identifiers (`units`: {"deviceId": "dev1"}), which attribute its conversions
-- to experiments bucketed on them: shown with the event, and found by a unit filter or a unit's
-- timeline under any of them, so the timeline of device dev1 shows the purchases of its user too.
-- Rows stored before this migration have none.
ALTER TABLE explorer_events ADD COLUMN units jsonb;
ALTER TABLE explorer_events ADD COLUMN other_unit_ids text[];
CREATE INDEX explorer_events_other_units ON explorer_events USING gin (other_unit_ids) WHERE other_unit_ids IS NOT NULL;
