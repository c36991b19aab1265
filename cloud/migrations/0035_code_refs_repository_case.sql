-- Repository names are case-insensitive (as on GitHub): `Acme/Shop` and `acme/shop` are one
-- repository, stored in lower case from now on. Where a branch was uploaded under several spellings,
-- the spellings are merged as if their uploads had been made in time order under one name: a file's
-- references come from the latest upload that has any in it (it rescanned the file), and every other
-- file's stay. Per-folder uploads (`--dir`) replace only their folder, which the rows do not record,
-- so a file keeps an older spelling's references unless a newer one has references in it: once
-- uploaded again, the branch (or folder) replaces them. Keeping one too many only delays a delete;
-- losing one would let a flag still in code be deleted.
WITH files AS (
  SELECT project_id, repository, branch, path, max(updated_at) AS at FROM code_refs GROUP BY project_id, repository, branch, path
), superseded AS (
  SELECT f.project_id, f.repository, f.branch, f.path FROM files f
  WHERE EXISTS (
    SELECT 1 FROM files w
    WHERE w.project_id = f.project_id AND lower(w.repository) = lower(f.repository) AND w.branch = f.branch AND w.path = f.path AND w.repository <> f.repository
      AND (w.at > f.at OR (w.at = f.at AND w.repository < f.repository))
  )
)
DELETE FROM code_refs c USING superseded x WHERE c.project_id = x.project_id AND c.repository = x.repository AND c.branch = x.branch AND c.path = x.path;

UPDATE code_refs SET repository = lower(repository) WHERE repository <> lower(repository);

-- Pages of GET …/code-refs follow this order (keyset pagination); it also serves the per-flag reads.
CREATE INDEX code_refs_order ON code_refs (project_id, flag_key, repository, branch, path, line, col);
DROP INDEX code_refs_flag;
