import type { Queryable } from './db.js';

/** One stored reference (camelCase view of a `code_refs` row). */
export interface CodeRefRow {
  readonly flagKey: string;
  readonly repository: string;
  readonly branch: string;
  readonly commit: string | null;
  readonly path: string;
  readonly line: number;
  readonly column: number;
  readonly snippet: string;
  readonly language: string;
  readonly updatedAt: string;
}

export interface NewCodeRef {
  readonly flagKey: string;
  readonly path: string;
  readonly line: number;
  readonly column: number;
  readonly snippet: string;
  readonly language: string;
}

/** Rows per INSERT statement: 10 parameters each, well under PostgreSQL's 65,535. */
const INSERT_CHUNK = 500;

/**
 * Replaces the references of one (project, repository, branch), or with a `scope` (a folder such as
 * "packages/api") only those whose path is that folder or under it; run inside a transaction.
 */
export async function replaceCodeRefs(
  tx: Queryable,
  target: { projectId: string; repository: string; branch: string; scope: string | null; commit: string | null; now: Date },
  refs: readonly NewCodeRef[],
): Promise<{ replaced: number }> {
  // The primary key's leading (project_id, repository, branch) finds the branch's rows; the scope
  // filters them by a plain prefix comparison (no LIKE pattern, so "_" and "%" in paths are literal).
  const deleted =
    target.scope === null
      ? await tx.query('DELETE FROM code_refs WHERE project_id = $1 AND repository = $2 AND branch = $3', [target.projectId, target.repository, target.branch])
      : await tx.query('DELETE FROM code_refs WHERE project_id = $1 AND repository = $2 AND branch = $3 AND (path = $4 OR left(path, char_length($5::text)) = $5::text)', [
          target.projectId,
          target.repository,
          target.branch,
          target.scope,
          `${target.scope}/`,
        ]);
  for (let i = 0; i < refs.length; i += INSERT_CHUNK) {
    const chunk = refs.slice(i, i + INSERT_CHUNK);
    const params: unknown[] = [target.projectId, target.repository, target.branch, target.commit, target.now.toISOString()];
    const values = chunk.map((r) => {
      params.push(r.flagKey, r.path, r.line, r.column, r.snippet, r.language);
      const n = params.length;
      return `($1, $2, $3, $4, $5, $${n - 5}, $${n - 4}, $${n - 3}, $${n - 2}, $${n - 1}, $${n})`;
    });
    await tx.query(
      `INSERT INTO code_refs (project_id, repository, branch, commit_sha, updated_at, flag_key, path, line, col, snippet, language)
       VALUES ${values.join(', ')}
       ON CONFLICT (project_id, repository, branch, path, line, col, flag_key) DO NOTHING`,
      params,
    );
  }
  return { replaced: deleted.rowCount };
}

interface Row {
  flag_key: string;
  repository: string;
  branch: string;
  commit_sha: string | null;
  path: string;
  line: number;
  col: number;
  snippet: string;
  language: string;
  updated_at: Date | string;
}

export async function countCodeRefs(db: Queryable, projectId: string, repository: string, branch: string): Promise<number> {
  const res = await db.query<{ n: number | string }>('SELECT count(*) AS n FROM code_refs WHERE project_id = $1 AND repository = $2 AND branch = $3', [projectId, repository, branch]);
  return Number(res.rows[0]?.n ?? 0);
}

/** References of a project, optionally of one flag, in a stable order; at most `limit`. */
export async function listCodeRefs(db: Queryable, projectId: string, filter: { flag?: string | undefined; limit: number }): Promise<CodeRefRow[]> {
  const params: unknown[] = [projectId];
  let where = 'project_id = $1';
  if (filter.flag !== undefined) {
    params.push(filter.flag);
    where += ` AND flag_key = $${params.length}`;
  }
  params.push(filter.limit);
  const res = await db.query<Row>(
    `SELECT flag_key, repository, branch, commit_sha, path, line, col, snippet, language, updated_at
     FROM code_refs WHERE ${where}
     ORDER BY flag_key, repository, branch, path, line, col
     LIMIT $${params.length}`,
    params,
  );
  return res.rows.map((r) => ({
    flagKey: r.flag_key,
    repository: r.repository,
    branch: r.branch,
    commit: r.commit_sha,
    path: r.path,
    line: r.line,
    column: r.col,
    snippet: r.snippet,
    language: r.language,
    updatedAt: new Date(r.updated_at).toISOString(),
  }));
}
