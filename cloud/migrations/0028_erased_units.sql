-- Units whose data was erased on request (data-subject deletion, POST …/units/erase): a SHA-256 hash
-- of the unit id (hex of its UTF-8 bytes; never the id itself) and when it was last erased. Events of
-- the unit can still be on their way when it is erased (the stream's backlog, an SDK's queue, the
-- event archive read by `xp replay`): the aggregator drops an event one of whose unit ids is listed
-- here when it happened or was received at or before erased_at, so the unit does not come back. An
-- event that happened and arrived later is new data and is kept. Looked up per batch by the primary
-- key. Erasing again moves erased_at forward. Goes with its project.
CREATE TABLE erased_units (
  project_id text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  unit_hash  text NOT NULL,
  erased_at  timestamptz NOT NULL,
  PRIMARY KEY (project_id, unit_hash)
);
