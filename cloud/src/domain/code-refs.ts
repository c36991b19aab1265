import { z } from 'zod';
import { keySchema } from '@xp/shared';
import { Permission, assertCan } from '../auth/permissions.js';
import type { CodeRefRow } from '../store/code-refs.js';
import type { CodeRefBranch, CodeRefPosition, CodeRefsFilter, FlagCodeRefs } from '../store/code-refs.js';
import { countCodeRefs, countMatchingCodeRefs, flagCodeRefCounts, deleteCodeRefBranch, listCodeRefBranches, listCodeRefs, replaceCodeRefs } from '../store/code-refs.js';
import { AppError, AppErrorCode } from '../errors.js';
import { decodeCursor, encodeCursor } from '../store/pagination.js';
import type { Actor, Deps } from './context.js';
import { record } from './audit-trail.js';
import { projectFor } from './definitions.js';

/** A git commit id, full or abbreviated (at least 7 characters), as `git rev-parse` prints it. */
export const COMMIT_PATTERN = /^[0-9a-f]{7,64}$/;

/** Upload limits: one repository's references per request, snippets are one trimmed line. */
export const CODE_REFS_LIMITS = {
  references: 20_000,
  snippet: 500,
  path: 1024,
  /** References per page of `GET …/code-refs` unless `limit` says otherwise, and the most it takes. */
  pageDefault: 1_000,
  pageMax: 5_000,
} as const;

/** The spelling a repository name is stored and looked up in: names are case-insensitive, as on GitHub. */
export function normalizeRepository(name: string): string {
  return name.toLowerCase();
}

// The rules `xp code-refs` checks its --repo and --branch against before indexing.
export const repositoryNameSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(200, 'must be at most 200 characters')
  .regex(/^[A-Za-z0-9_.\-/]+$/, 'must contain only letters, digits, "_", ".", "-" and "/"');
export const branchNameSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(255, 'must be at most 255 characters')
  .regex(/^[^\s~^:?*[\\]+$/, 'must be a git branch name: no whitespace, "~", "^", ":", "?", "*", "[" or "\\"');

export const codeRefSchema = z.strictObject({
  flagKey: keySchema,
  path: z
    .string()
    .min(1)
    .max(CODE_REFS_LIMITS.path)
    // One spelling per file, so a later upload (scoped or not) replaces it: "src/a.ts", never "./src/a.ts", "src//a.ts" or "src\\a.ts".
    .refine(
      (p) => !p.includes('\\') && !/^[A-Za-z]:/.test(p) && p.split('/').every((part) => part !== '' && part !== '.' && part !== '..'),
      'must be relative to the repository root with "/" between folders, without a leading "/", empty, "." or ".." parts, backslashes or a drive letter',
    ),
  line: z.number().int().min(1).max(10_000_000),
  column: z.number().int().min(1).max(1_000_000),
  snippet: z.string().max(CODE_REFS_LIMITS.snippet, `must be at most ${CODE_REFS_LIMITS.snippet} characters`),
  language: z.string().min(1).max(32).regex(/^[a-z0-9+#-]+$/, 'must be a lower-case language id such as "typescript"'),
});

/** Whether `file` (a reference's path) is inside the folder `scope`; both relative to the repository root. */
export function inCodeRefsScope(file: string, scope: string): boolean {
  return file === scope || file.startsWith(`${scope}/`);
}

/** Issues named one by one for references outside the scope; the rest are counted. */
const OUTSIDE_SCOPE_NAMED = 10;

export const codeRefsUploadSchema = z
  .strictObject({
    repository: repositoryNameSchema.describe('Compared without case ("Acme/Shop" is "acme/shop") and stored in lower case'),
    branch: branchNameSchema,
    commit: z.string().regex(COMMIT_PATTERN, 'must be a commit id of 7 to 64 lower-case hexadecimal characters').optional(),
    scope: z
      .string()
      .min(1)
      .max(CODE_REFS_LIMITS.path)
      .refine((s) => s.split('/').every((part) => part !== '' && part !== '.' && part !== '..'), 'must be a folder relative to the repository root such as "packages/api": no leading or trailing "/", no empty, "." or ".." parts')
      .optional()
      .describe("A folder of the repository (relative to its root, such as \"packages/api\"): the upload replaces only the stored references under it, and every uploaded path must be under it. Without it the upload replaces the repository branch's references."),
    references: z.array(codeRefSchema).max(CODE_REFS_LIMITS.references, `at most ${CODE_REFS_LIMITS.references} references per upload`),
  })
  .superRefine((body, ctx) => {
    const { scope } = body;
    if (scope === undefined) {
      return;
    }
    let outside = 0;
    body.references.forEach((r, i) => {
      if (!inCodeRefsScope(r.path, scope)) {
        outside++;
        if (outside <= OUTSIDE_SCOPE_NAMED) {
          ctx.addIssue({ code: 'custom', path: ['references', i, 'path'], message: `"${r.path}" is outside the upload's scope "${scope}" (paths are relative to the repository root)` });
        }
      }
    });
    if (outside > OUTSIDE_SCOPE_NAMED) {
      ctx.addIssue({ code: 'custom', path: ['references'], message: `${outside} references in all are outside the upload's scope "${scope}"` });
    }
  });
export type CodeRefsUploadBody = z.output<typeof codeRefsUploadSchema>;

export interface CodeRefsUploadSummary {
  readonly repository: string;
  readonly branch: string;
  readonly stored: number;
  readonly replaced: number;
  readonly flags: number;
}

/** Replaces a repository branch's references (only those under `body.scope` when it is given) in one transaction. */
export async function uploadCodeRefs(deps: Pick<Deps, 'db' | 'now'>, actor: Actor, projectKey: string, body: CodeRefsUploadBody): Promise<CodeRefsUploadSummary> {
  assertCan(actor, Permission.CodeRefsWrite);
  const project = await projectFor(deps.db, actor, projectKey);
  const repository = normalizeRepository(body.repository);
  const target = { projectId: project.id, repository, branch: body.branch, scope: body.scope ?? null, commit: body.commit ?? null, now: deps.now() };
  return deps.db.withTransaction(async (tx) => {
    const { replaced } = await replaceCodeRefs(tx, target, body.references);
    const stored = await countCodeRefs(tx, project.id, repository, body.branch);
    const summary = { repository, branch: body.branch, stored, replaced, flags: new Set(body.references.map((r) => r.flagKey)).size };
    // An upload deletes what it replaces: who did it, and how much, is on record.
    await record(tx, actor, {
      projectId: project.id,
      action: 'code-refs.uploaded',
      resourceType: 'code-refs',
      resourceKey: `${repository}@${body.branch}`,
      before: undefined,
      after: { ...summary, uploaded: body.references.length, ...(body.scope === undefined ? {} : { scope: body.scope }), ...(body.commit === undefined ? {} : { commit: body.commit }) },
    });
    return summary;
  });
}

/** A page of references, how many match in all, and the cursor of the next page (absent on the last). */
export interface CodeRefsPage {
  readonly references: CodeRefRow[];
  readonly total: number;
  readonly nextCursor?: string;
}

function filterOf(query: CodeRefsFilter): CodeRefsFilter {
  return { flag: query.flag, repository: query.repository === undefined ? undefined : normalizeRepository(query.repository), branch: query.branch };
}

function positionOf(cursor: string | undefined): CodeRefPosition | undefined {
  const text = decodeCursor(cursor, 'string');
  if (text === undefined) {
    return undefined;
  }
  try {
    const value: unknown = JSON.parse(text);
    if (Array.isArray(value) && value.length === 6 && value.slice(0, 4).every((v) => typeof v === 'string') && value.slice(4).every((v) => Number.isInteger(v))) {
      return value as unknown as CodeRefPosition;
    }
  } catch {
    // refused below
  }
  throw new AppError(AppErrorCode.Validation, 'invalid cursor: pass the nextCursor of the previous page as it was given', { issues: [{ path: 'query.cursor', message: 'not a cursor of this list' }] });
}

/** References ordered by flag, repository, branch, path, line and column, a page at a time. */
export async function codeRefsFor(
  deps: Pick<Deps, 'db'>,
  actor: Actor,
  projectKey: string,
  query: CodeRefsFilter & { limit?: number | undefined; cursor?: string | undefined },
): Promise<CodeRefsPage> {
  assertCan(actor, Permission.Read);
  const after = positionOf(query.cursor);
  const project = await projectFor(deps.db, actor, projectKey);
  const filter = filterOf(query);
  const limit = query.limit ?? CODE_REFS_LIMITS.pageDefault;
  const rows = await listCodeRefs(deps.db, project.id, { ...filter, limit: limit + 1, after });
  const total = await countMatchingCodeRefs(deps.db, project.id, filter);
  const references = rows.slice(0, limit);
  const last = references[references.length - 1];
  if (rows.length > limit && last !== undefined) {
    return { references, total, nextCursor: encodeCursor(JSON.stringify([last.flagKey, last.repository, last.branch, last.path, last.line, last.column])) };
  }
  return { references, total };
}

/** The repository branches with stored references. */
export async function codeRefBranches(deps: Pick<Deps, 'db'>, actor: Actor, projectKey: string, query: Pick<CodeRefsFilter, 'repository' | 'flag'>): Promise<CodeRefBranch[]> {
  assertCan(actor, Permission.Read);
  const project = await projectFor(deps.db, actor, projectKey);
  return listCodeRefBranches(deps.db, project.id, { flag: query.flag, repository: query.repository === undefined ? undefined : normalizeRepository(query.repository) });
}

export async function codeRefsByFlag(deps: Pick<Deps, 'db'>, actor: Actor, projectKey: string, query: CodeRefsFilter): Promise<FlagCodeRefs[]> {
  assertCan(actor, Permission.Read);
  const project = await projectFor(deps.db, actor, projectKey);
  return flagCodeRefCounts(deps.db, project.id, filterOf(query));
}

/** Deletes one repository branch's references (a branch deleted in git), on record. */
export async function deleteCodeRefs(deps: Pick<Deps, 'db'>, actor: Actor, projectKey: string, target: { repository: string; branch: string }): Promise<{ repository: string; branch: string; deleted: number }> {
  assertCan(actor, Permission.CodeRefsWrite);
  const project = await projectFor(deps.db, actor, projectKey);
  const repository = normalizeRepository(target.repository);
  return deps.db.withTransaction(async (tx) => {
    const deleted = await deleteCodeRefBranch(tx, project.id, repository, target.branch);
    if (deleted === 0) {
      throw new AppError(AppErrorCode.NotFound, `no references of ${repository}@${target.branch} are stored (GET …/code-refs/branches lists those that are)`);
    }
    const summary = { repository, branch: target.branch, deleted };
    await record(tx, actor, { projectId: project.id, action: 'code-refs.deleted', resourceType: 'code-refs', resourceKey: `${repository}@${target.branch}`, before: summary, after: undefined });
    return summary;
  });
}
