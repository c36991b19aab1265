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

/** Which references a read selects: any combination of one flag, one repository and one branch. */
export interface CodeRefsFilter {
  readonly flag?: string | undefined;
  readonly repository?: string | undefined;
  readonly branch?: string | undefined;
}

/** The sort key of a reference (flag, repository, branch, path, line, column): unique, so a page ends between two rows. */
export type CodeRefPosition = readonly [string, string, string, string, number, number];

function whereOf(projectId: string, filter: CodeRefsFilter): { where: string; params: unknown[] } {
  const params: unknown[] = [projectId];
  const clauses = ['project_id = $1'];
  for (const [column, value] of [
    ['flag_key', filter.flag],
    ['repository', filter.repository],
    ['branch', filter.branch],
  ] as const) {
    if (value !== undefined) {
      params.push(value);
      clauses.push(`${column} = $${params.length}`);
    }
  }
  return { where: clauses.join(' AND '), params };
}

/** How many references match `filter`. */
export async function countMatchingCodeRefs(db: Queryable, projectId: string, filter: CodeRefsFilter): Promise<number> {
  const { where, params } = whereOf(projectId, filter);
  const res = await db.query<{ n: number | string }>(`SELECT count(*) AS n FROM code_refs WHERE ${where}`, params);
  return Number(res.rows[0]?.n ?? 0);
}

/** References matching `filter` after `after` (keyset), in a stable order; at most `limit`. */
export async function listCodeRefs(db: Queryable, projectId: string, filter: CodeRefsFilter & { limit: number; after?: CodeRefPosition | undefined }): Promise<CodeRefRow[]> {
  const { where, params } = whereOf(projectId, filter);
  let keyset = '';
  if (filter.after !== undefined) {
    const first = params.length + 1;
    params.push(...filter.after);
    keyset = ` AND (flag_key, repository, branch, path, line, col) > ($${first}, $${first + 1}, $${first + 2}, $${first + 3}, $${first + 4}::integer, $${first + 5}::integer)`;
  }
  params.push(filter.limit);
  const res = await db.query<Row>(
    `SELECT flag_key, repository, branch, commit_sha, path, line, col, snippet, language, updated_at
     FROM code_refs WHERE ${where}${keyset}
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

/** One uploaded repository branch: when it was last uploaded, at which commit, and what it holds. */
export interface CodeRefBranch {
  readonly repository: string;
  readonly branch: string;
  /** The commit of the latest upload (a scoped upload may have left older rows at another one). */
  readonly commit: string | null;
  readonly uploadedAt: string;
  readonly references: number;
  readonly flags: number;
}

/** The repository branches a project has references of, by repository and branch. */
export async function listCodeRefBranches(db: Queryable, projectId: string, filter: Pick<CodeRefsFilter, 'repository' | 'flag'>): Promise<CodeRefBranch[]> {
  const { where, params } = whereOf(projectId, filter);
  const res = await db.query<{ repository: string; branch: string; commit_sha: string | null; uploaded_at: Date | string; refs: number | string; flags: number | string }>(
    `SELECT repository, branch, (array_agg(commit_sha ORDER BY updated_at DESC))[1] AS commit_sha, max(updated_at) AS uploaded_at,
            count(*) AS refs, count(DISTINCT flag_key) AS flags
     FROM code_refs WHERE ${where}
     GROUP BY repository, branch
     ORDER BY repository, branch`,
    params,
  );
  return res.rows.map((r) => ({
    repository: r.repository,
    branch: r.branch,
    commit: r.commit_sha,
    uploadedAt: new Date(r.uploaded_at).toISOString(),
    references: Number(r.refs),
    flags: Number(r.flags),
  }));
}

/** How many references each (flag, repository, branch) has, ordered by flag, repository and branch. */
export async function countCodeRefsByFlag(db: Queryable, projectId: string, filter: CodeRefsFilter & { flags?: readonly string[] | undefined }): Promise<{ flagKey: string; repository: string; branch: string; references: number }[]> {
  const { where, params } = whereOf(projectId, filter);
  let among = '';
  if (filter.flags !== undefined) {
    params.push(filter.flags);
    among = ` AND flag_key = ANY($${params.length}::text[])`;
  }
  const res = await db.query<{ flag_key: string; repository: string; branch: string; refs: number | string }>(
    `SELECT flag_key, repository, branch, count(*) AS refs FROM code_refs WHERE ${where}${among}
     GROUP BY flag_key, repository, branch
     ORDER BY flag_key, repository, branch`,
    params,
  );
  return res.rows.map((r) => ({ flagKey: r.flag_key, repository: r.repository, branch: r.branch, references: Number(r.refs) }));
}

/** Where one flag is referenced: how many references on each repository branch. */
export interface FlagCodeRefs {
  readonly flagKey: string;
  readonly references: number;
  readonly branches: { readonly repository: string; readonly branch: string; readonly references: number }[];
}

/** Per-flag reference counts of the flags in `flags` (every referenced flag without it), whatever their number. */
export async function flagCodeRefCounts(db: Queryable, projectId: string, filter: CodeRefsFilter & { flags?: readonly string[] | undefined }): Promise<FlagCodeRefs[]> {
  const out = new Map<string, { references: number; branches: FlagCodeRefs['branches'] }>();
  for (const row of await countCodeRefsByFlag(db, projectId, filter)) {
    const entry = out.get(row.flagKey) ?? { references: 0, branches: [] };
    entry.references += row.references;
    entry.branches.push({ repository: row.repository, branch: row.branch, references: row.references });
    out.set(row.flagKey, entry);
  }
  return [...out.entries()].map(([flagKey, e]) => ({ flagKey, ...e }));
}

/** Deletes a repository branch's references; how many there were. */
export async function deleteCodeRefBranch(tx: Queryable, projectId: string, repository: string, branch: string): Promise<number> {
  const res = await tx.query('DELETE FROM code_refs WHERE project_id = $1 AND repository = $2 AND branch = $3', [projectId, repository, branch]);
  return res.rowCount;
}
