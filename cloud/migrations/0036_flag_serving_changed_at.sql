-- When what a flag serves last changed: its variations' keys and values, its type, whether it is
-- archived or client-side, and its environments' states (on/off, rules, defaults, prerequisites).
-- A metadata edit (name, description, tags, temporary, a variation's name or description) moves
-- updated_at but not this, so that it starts the stale clock (shared's staleFlag) where updated_at
-- would restart it. Set by cloud/src/store/definitions.ts on every write of a flag; flags written
-- before this migration start from their updated_at. Flags only: the other definition tables were
-- created LIKE flags before it and do not get the column.
ALTER TABLE flags ADD COLUMN serving_changed_at timestamptz;
UPDATE flags SET serving_changed_at = updated_at;
ALTER TABLE flags ALTER COLUMN serving_changed_at SET DEFAULT now();
ALTER TABLE flags ALTER COLUMN serving_changed_at SET NOT NULL;
