-- Repository names are case-insensitive (as on GitHub): `Acme/Shop` and `acme/shop` are one
-- repository, stored in lower case from now on. Where a branch was uploaded under several spellings,
-- the latest upload wins, as if it had replaced the others; then every name is lower-cased.
WITH spellings AS (
  SELECT project_id, repository, branch, max(updated_at) AS at FROM code_refs GROUP BY project_id, repository, branch
), superseded AS (
  SELECT s.project_id, s.repository, s.branch FROM spellings s
  WHERE EXISTS (
    SELECT 1 FROM spellings w
    WHERE w.project_id = s.project_id AND lower(w.repository) = lower(s.repository) AND w.branch = s.branch AND w.repository <> s.repository
      AND (w.at > s.at OR (w.at = s.at AND w.repository < s.repository))
  )
)
DELETE FROM code_refs c USING superseded x WHERE c.project_id = x.project_id AND c.repository = x.repository AND c.branch = x.branch;

UPDATE code_refs SET repository = lower(repository) WHERE repository <> lower(repository);

-- Pages of GET …/code-refs follow this order (keyset pagination); it also serves the per-flag reads.
CREATE INDEX code_refs_order ON code_refs (project_id, flag_key, repository, branch, path, line, col);
DROP INDEX code_refs_flag;
