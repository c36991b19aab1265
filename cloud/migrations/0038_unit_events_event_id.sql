-- `xp replay` (src/pipeline/replay.ts) first deletes the stored rows of the events it applies again,
-- by (project_id, event_id): without this index every replay read the whole table. Not unique: an
-- event counted for several units (`units`) is stored once per unit id (aggregate.ts, unitIdsOf).
CREATE INDEX unit_events_event_id ON unit_events (project_id, event_id);
