import { existsSync, readFileSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import YAML from 'yaml';
import type { z } from 'zod';
import type { CodeRef, ProjectFlagEvaluations, XpApiClient } from '@xp/shared';
import { ApiError, DEFAULT_STALE_DAYS, credentialRoleIn, staleFlag } from '@xp/shared';
import { WorkspaceIndex } from '@xp/language-server/indexer';
import { CODE_REFS_LIMITS, COMMIT_PATTERN, branchNameSchema, normalizeRepository, repositoryNameSchema } from '../domain/code-refs.js';
import { Permission } from '../auth/permissions.js';
import { AppError, AppErrorCode } from '../errors.js';

const SNIPPET_MAX = 500;
const CONTROL_CHARACTERS = /[\u0000-\u0008\u000b-\u001f\u007f]/g;

const count = (n: number, noun: string): string => `${n} ${noun}${n === 1 ? '' : 's'}`;
const FLAGS_FILES = ['xp.yaml', 'xp.yml', 'xp.json', 'flags.yaml', 'flags.yml', 'flags.json'];

/**
 * The root of the git work tree `dir` is in: the nearest folder from `dir` up holding `.git` (a
 * folder, or a file in a linked worktree or a submodule). Undefined outside a work tree.
 */
export function repositoryRoot(dir: string): string | undefined {
  for (let at = path.resolve(dir); ; ) {
    if (existsSync(path.join(at, '.git'))) {
      return at;
    }
    const parent = path.dirname(at);
    if (parent === at) {
      return undefined;
    }
    at = parent;
  }
}

/** A full commit id: SHA-1, or SHA-256 in a repository with `objectFormat = sha256`. */
const FULL_COMMIT = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * The git folders of the work tree at `root`: its own (`.git`, or the one a `.git` file names in a
 * linked worktree or a submodule) and the one it shares the repository's refs and `info/` with (a
 * linked worktree's `commondir`; else the same). Undefined without a readable `.git`.
 */
function gitFolders(root: string): { gitDir: string; commonDir: string } | undefined {
  const dotGit = path.join(root, '.git');
  let gitDir = dotGit;
  try {
    if (statSync(dotGit).isFile()) {
      // A linked worktree or a submodule: `gitdir: PATH`, relative to the work tree's root.
      const pointer = /^gitdir: (.+)$/m.exec(readText(dotGit) ?? '')?.[1]?.trim();
      if (pointer === undefined) {
        return undefined;
      }
      gitDir = path.resolve(root, pointer);
    }
  } catch {
    return undefined;
  }
  const common = readText(path.join(gitDir, 'commondir'))?.trim();
  return { gitDir, commonDir: common === undefined || common === '' ? gitDir : path.resolve(gitDir, common) };
}

/**
 * The commit checked out in the git work tree at `root`, read from the repository's files: HEAD,
 * then the branch it names (a loose ref, else packed-refs). git itself is not run: a CI image may
 * not have it. Undefined when it cannot be told: no commit yet, a ref storage this does not read
 * (reftable), an unreadable file.
 */
export function headCommit(root: string): string | undefined {
  const folders = gitFolders(root);
  if (folders === undefined) {
    return undefined;
  }
  // A linked worktree keeps its HEAD in its own folder and shares the repository's refs.
  const { gitDir, commonDir } = folders;
  let target = readText(path.join(gitDir, 'HEAD'))?.trim();
  // A symbolic ref may name another one: follow a few.
  for (let hops = 0; hops < 5 && target !== undefined; hops++) {
    if (FULL_COMMIT.test(target)) {
      return target;
    }
    const ref = /^ref: (refs\/\S+)$/.exec(target)?.[1];
    if (ref === undefined || ref.split('/').some((part) => part === '' || part === '.' || part === '..')) {
      return undefined;
    }
    target = readText(path.join(commonDir, ref))?.trim() ?? (commonDir === gitDir ? undefined : readText(path.join(gitDir, ref))?.trim()) ?? packedRef(commonDir, ref);
  }
  return undefined;
}

/** The commit `ref` names in the repository's packed-refs file, if it is there. */
function packedRef(gitDir: string, ref: string): string | undefined {
  for (const line of (readText(path.join(gitDir, 'packed-refs')) ?? '').split('\n')) {
    const [sha, name] = line.trim().split(' ');
    if (name === ref && sha !== undefined && FULL_COMMIT.test(sha)) {
      return sha;
    }
  }
  return undefined;
}

/**
 * Every flag reference under `dir`, found by the language server's indexer, with paths relative to
 * `root` (the repository's root). .gitignore files are respected as git applies them from `root`:
 * those of the folders above `dir` count, and a `dir` they exclude has no references. So is the
 * repository's `.git/info/exclude` (shared by its linked worktrees), below them as git weighs it.
 */
export async function collectCodeRefs(dir: string, wrapperFunctions: readonly string[], root: string = repositoryRoot(dir) ?? dir): Promise<{ references: CodeRef[]; files: number }> {
  const folders = gitFolders(root);
  const exclude = folders === undefined ? undefined : readText(path.join(folders.commonDir, 'info', 'exclude'));
  const index = new WorkspaceIndex(dir, {
    wrapperFunctions,
    workers: availableParallelism(),
    indexIgnoredRoots: false,
    ...(exclude === undefined ? {} : { excludes: { base: root, rules: exclude } }),
  });
  await index.indexAll();
  const references = index
    .references()
    .map((r) => ({
      flagKey: r.flagKey,
      path: path.relative(root, r.file).split(path.sep).join('/'),
      line: r.range.start.line + 1,
      column: r.range.start.character + 1,
      // Control characters (a NUL past a text file's start) would garble terminals and cannot be stored.
      snippet: r.snippet.slice(0, SNIPPET_MAX).replace(CONTROL_CHARACTERS, '\uFFFD'),
      language: r.language,
    }))
    .sort((a, b) => a.path.localeCompare(b.path) || a.line - b.line || a.column - b.column);
  return { references, files: new Set(references.map((r) => r.path)).size };
}

/** The project named by a flags-as-code file in `dir`, if there is one. */
export function projectOfFlagsFile(dir: string): string | undefined {
  for (const name of FLAGS_FILES) {
    const file = path.join(dir, name);
    if (!existsSync(file)) {
      continue;
    }
    try {
      const text = readFileSync(file, 'utf8');
      const doc = (name.endsWith('.json') ? JSON.parse(text) : YAML.parse(text)) as { project?: unknown } | null;
      if (typeof doc?.project === 'string') {
        return doc.project;
      }
    } catch {
      // Not a flags document: keep looking.
    }
  }
  return undefined;
}

/** Exit code of an upload that found keys the project does not have, with `--fail-on-unknown` (the references are stored). */
export const UNKNOWN_KEYS_EXIT_CODE = 3;

/** `value`, given as `option`, if the API takes it (`schema` is the API's own rule), else a validation error saying why. */
function apiValue(option: string, value: string, schema: z.ZodType<string>): string {
  const result = schema.safeParse(value);
  if (!result.success) {
    // The first rule it breaks (an empty value breaks the pattern too).
    throw new AppError(AppErrorCode.Validation, `${option} ${JSON.stringify(value.slice(0, 100))} is refused by the API: it ${result.error.issues[0]?.message ?? 'is invalid'}`);
  }
  return result.data;
}

const BRANCH_REF = 'refs/heads/';

/**
 * The branch `--branch` names, checked against the API's rule: a branch's full ref (`refs/heads/main`,
 * what `$GITHUB_REF` holds on a push) is that branch (`main`), so CI using either stores one branch.
 * Another ref — a tag's (`refs/tags/v1`) or a pull request's (`refs/pull/12/merge`) — names no
 * branch: refused rather than stored as one that nothing would ever replace or delete.
 */
export function branchOf(value: string): string {
  if (value.startsWith(BRANCH_REF)) {
    const name = value.slice(BRANCH_REF.length);
    if (name === '' || name.startsWith('refs/')) {
      throw new AppError(AppErrorCode.Validation, `--branch ${JSON.stringify(value.slice(0, 100))} names no branch after refs/heads/: pass a branch's name or its refs/heads/NAME ref`);
    }
    return apiValue('--branch', name, branchNameSchema);
  }
  if (value.startsWith('refs/')) {
    const shown = JSON.stringify(value.slice(0, 100));
    const what = value.startsWith('refs/tags/') ? 'a tag' : value.startsWith('refs/pull/') ? "a pull request's ref" : 'a git ref';
    throw new AppError(
      AppErrorCode.Validation,
      `--branch ${shown} is ${what}, not a branch: references are stored per branch, so pass a branch's name or its refs/heads/… ref (a pull request's branch is $GITHUB_HEAD_REF on GitHub Actions; upload from branch pushes, not tags)`,
    );
  }
  return apiValue('--branch', value, branchNameSchema);
}

/** The checks `--repo` and `--branch` pass before anything else is done; the branch as stored, and a line saying so when it was a ref. */
function repositoryBranch(values: { repo?: string | undefined; branch?: string | undefined }): { repo?: string; branch?: string; note?: string } {
  const repo = values.repo === undefined ? undefined : apiValue('--repo', values.repo, repositoryNameSchema);
  const branch = values.branch === undefined ? undefined : branchOf(values.branch);
  return {
    ...(repo === undefined ? {} : { repo }),
    ...(branch === undefined ? {} : { branch }),
    ...(branch === undefined || branch === values.branch ? {} : { note: `Branch ${branch} (--branch ${values.branch} is its ref).` }),
  };
}

/**
 * Whether the token works, its role in `project` may write code references and the project exists:
 * checked before anything long or lasting is done.
 */
async function checkCanWrite(client: XpApiClient, project: string, doing: string): Promise<void> {
  const [me, roles] = await Promise.all([client.me(), client.roles()]);
  // The role this credential acts with in the project: a project role, a token's role limit.
  const role = credentialRoleIn(me, project);
  if (roles.permissions.some((p) => p.permission === Permission.CodeRefsWrite && !p.roles.includes(role))) {
    throw new AppError(AppErrorCode.Forbidden, `your role in ${project} (${role}) does not allow ${Permission.CodeRefsWrite}: ${doing} code references needs an editor's token or higher`);
  }
  await client.environments(project);
}

/** The project: `--project`, else the one a flags file in `dir` names. */
function projectOf(given: string | undefined, dir: string): string {
  const project = given ?? projectOfFlagsFile(dir);
  if (project === undefined) {
    throw new AppError(AppErrorCode.Validation, 'code-refs needs --project KEY (or a flags file naming the project in --dir)');
  }
  return project;
}

/** Branches of a repository named when it has no references of the one asked for (a typo shows). */
const BRANCHES_NAMED = 10;

/**
 * `xp code-refs --delete`: deletes a repository branch's stored references (a branch deleted in git).
 * A branch with none stored is no failure (exit 0): the state CI asks for holds, as after a second run.
 */
async function deleteBranch(client: XpApiClient, project: string, repo: string, branch: string, note: string | undefined, print: (line: string) => void): Promise<number> {
  await checkCanWrite(client, project, 'deleting');
  if (note !== undefined) {
    print(note);
  }
  let deleted: number;
  try {
    ({ deleted } = await client.deleteCodeRefs(project, { repository: repo, branch }));
  } catch (error) {
    // The project exists (checked above): a 404 is the branch's.
    if (!(error instanceof ApiError && error.status === 404)) {
      throw error;
    }
    const repository = normalizeRepository(repo);
    const stored = (await client.codeRefBranches(project, { repository })).map((b) => b.branch);
    const others =
      stored.length === 0
        ? `${repository} has no branch with references in ${project}`
        : `${repository}'s branches with references: ${stored.slice(0, BRANCHES_NAMED).join(', ')}${stored.length > BRANCHES_NAMED ? ` and ${stored.length - BRANCHES_NAMED} more` : ''}`;
    print(`No references of ${repository}@${branch} are stored in ${project}: nothing to delete (${others}).`);
    return 0;
  }
  print(`Deleted ${count(deleted, 'reference')} of ${normalizeRepository(repo)}@${branch} in ${project}.`);
  return 0;
}

/**
 * `xp code-refs --repo NAME --branch B [--dir .] [--project P] [--commit SHA] [--wrapper NAME]… [--stale-days N] [--fail-on-unknown] [--dry-run]`,
 * or `xp code-refs --delete --repo NAME --branch B [--project P]`.
 */
export async function runCodeRefs(args: readonly string[], api: () => XpApiClient, print: (line: string) => void): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      repo: { type: 'string' },
      branch: { type: 'string' },
      dir: { type: 'string', default: '.' },
      project: { type: 'string' },
      commit: { type: 'string' },
      wrapper: { type: 'string', multiple: true, default: [] },
      'dry-run': { type: 'boolean', default: false },
      'stale-days': { type: 'string' },
      'fail-on-unknown': { type: 'boolean', default: false },
      delete: { type: 'boolean', default: false },
    },
    strict: true,
  });
  // Checked against the API's rules first: a value it refuses fails here, not after the tree is indexed.
  const { repo, branch, note } = repositoryBranch(values);
  if (values.delete) {
    const unused = [values['dry-run'] && '--dry-run', values.commit !== undefined && '--commit', values.wrapper.length > 0 && '--wrapper', values['stale-days'] !== undefined && '--stale-days', values['fail-on-unknown'] && '--fail-on-unknown'].filter(
      (o): o is string => o !== false,
    );
    if (unused.length > 0) {
      throw new AppError(AppErrorCode.Validation, `--delete deletes the stored references of --repo and --branch and indexes nothing: leave out ${unused.join(', ')}`);
    }
    if (repo === undefined || branch === undefined) {
      throw new AppError(AppErrorCode.Validation, 'code-refs --delete needs --repo NAME and --branch BRANCH');
    }
    const project = projectOf(values.project, path.resolve(values.dir));
    return deleteBranch(api(), project, repo, branch, note, print);
  }
  if (values['fail-on-unknown'] && values['dry-run']) {
    // A dry run never asks the API which keys the project has.
    throw new AppError(AppErrorCode.Validation, '--fail-on-unknown checks the keys against the project when uploading: leave out --dry-run');
  }
  const staleDaysText = values['stale-days'] ?? String(DEFAULT_STALE_DAYS);
  const staleDays = Number(staleDaysText);
  if (!/^\d+$/.test(staleDaysText) || staleDays > 3650) {
    throw new AppError(AppErrorCode.Validation, `--stale-days must be a whole number of days from 0 to 3650, not "${staleDaysText}"`);
  }
  // Checked with the other arguments, dry run included (it would be refused at the upload).
  if (values.commit !== undefined && !COMMIT_PATTERN.test(values.commit)) {
    throw new AppError(AppErrorCode.Validation, `--commit must be a commit id of 7 to 64 lower-case hexadecimal characters (as git rev-parse prints it), not "${values.commit}"`);
  }
  const dir = path.resolve(values.dir);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new AppError(AppErrorCode.Validation, `--dir ${values.dir} is not a directory`);
  }
  // An upload's arguments and token are checked before the index, which can take a while.
  let upload: { repo: string; branch: string; project: string; client: XpApiClient } | undefined;
  if (!values['dry-run']) {
    if (repo === undefined || branch === undefined) {
      throw new AppError(AppErrorCode.Validation, 'code-refs needs --repo NAME and --branch BRANCH (or --dry-run)');
    }
    const project = projectOf(values.project, dir);
    upload = { repo, branch, project, client: api() };
    // A wrong or revoked token, a role that cannot upload or an unknown project fails here, not after
    // indexing the whole tree.
    await checkCanWrite(upload.client, project, 'uploading');
  }
  if (note !== undefined) {
    print(note);
  }
  // Paths are relative to the repository's root, and an upload for a folder below it replaces only
  // the references under that folder (its scope): uploads of the parts of a repository add up.
  const root = repositoryRoot(dir);
  const scope = root === undefined || root === dir ? undefined : path.relative(root, dir).split(path.sep).join('/');
  const { references, files } = await collectCodeRefs(dir, values.wrapper, root ?? dir);
  const flags = new Set(references.map((r) => r.flagKey)).size;
  print(`Found ${count(references.length, 'reference')} to ${count(flags, 'flag')} in ${count(files, 'file')} under ${dir}`);
  if (upload === undefined) {
    for (const r of references) {
      print(`  ${r.flagKey}  ${r.path}:${r.line}:${r.column}  ${r.snippet}`);
    }
    return 0;
  }
  if (references.length > CODE_REFS_LIMITS.references) {
    const remedy =
      root === undefined
        ? // Outside a git work tree the repository's root is unknown: each --dir would replace the others.
          `leave generated code out (.gitignore), or run code-refs in a git checkout once per part of the repository (--dir DIR: each upload then replaces only the references under its DIR)`
        : `run code-refs once per part of the repository (--dir DIR: each upload replaces only the references under its DIR) or leave generated code out (.gitignore)`;
    throw new AppError(
      AppErrorCode.Validation,
      `an upload takes at most ${CODE_REFS_LIMITS.references.toLocaleString('en-US')} references and ${dir} has ${references.length.toLocaleString('en-US')}: ${remedy}; nothing was uploaded`,
    );
  }
  const { project } = upload;
  // The checked-out commit unless --commit names one.
  const commit = values.commit ?? (root === undefined ? undefined : headCommit(root));
  const result = await upload.client.uploadCodeRefs(project, {
    repository: upload.repo,
    branch: upload.branch,
    ...(commit === undefined ? {} : { commit }),
    ...(scope === undefined ? {} : { scope }),
    references,
  });
  const at = `${result.repository}@${result.branch}`;
  print(
    scope === undefined
      ? `Stored ${count(result.stored, 'reference')} for ${at} in ${project} (replaced ${result.replaced}).`
      : `Stored ${count(references.length, 'reference')} under ${scope}/ for ${at} in ${project} (replaced ${result.replaced} there; ${at} has ${result.stored} in all).`,
  );
  let report: CleanUpReport;
  try {
    report = await cleanUpReport(upload.client, project, references, staleDays, new Date());
  } catch (error) {
    // The references are stored: a failed look at the flags does not fail the upload, unless the
    // caller asked to fail on what that look would have found.
    const why = `Could not check the referenced flags for clean-up: ${error instanceof Error ? error.message : String(error)}`;
    if (values['fail-on-unknown']) {
      throw new AppError(AppErrorCode.Unavailable, `${why} (the references are stored; --fail-on-unknown needs that check)`);
    }
    print(why);
    return 0;
  }
  for (const line of report.lines) {
    print(line);
  }
  if (values['fail-on-unknown'] && report.unknown.length > 0) {
    print(`Failing (--fail-on-unknown, exit code ${UNKNOWN_KEYS_EXIT_CODE}): the code references ${count(report.unknown.length, 'key')} ${project} has neither as a flag nor as an experiment (deleted, never created or mistyped).`);
    return UNKNOWN_KEYS_EXIT_CODE;
  }
  return 0;
}

/**
 * What the code still references that it should not: stale flags (with the value to put in their
 * place), archived flags (SDKs serve the code's default) and keys the project does not have.
 */
export async function flagsToCleanUp(client: XpApiClient, project: string, references: readonly CodeRef[], staleDays: number, now: Date): Promise<string[]> {
  return (await cleanUpReport(client, project, references, staleDays, now)).lines;
}

/** The clean-up lines to print, and the referenced keys the project has neither as a flag nor as an experiment. */
export interface CleanUpReport {
  readonly lines: string[];
  readonly unknown: string[];
}

/** The most days of evaluation counts the API keeps (and answers for). */
export const EVALUATION_DAYS_KEPT = 90;

/**
 * The project's evaluation counts over the last `days` days, or undefined when there is nothing to go
 * by: an older server (404), or no key evaluated in the window at all (its SDKs may not report counts),
 * where a flag's absence proves nothing.
 */
export async function evaluationCounts(client: XpApiClient, project: string, days: number): Promise<ProjectFlagEvaluations | undefined> {
  let usage: ProjectFlagEvaluations;
  try {
    usage = await client.projectFlagEvaluations(project, { days });
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      return undefined;
    }
    throw error;
  }
  return Array.isArray((usage as { flags?: unknown }).flags) && usage.flags.length > 0 ? usage : undefined;
}

/**
 * Since when counts have arrived in every environment that reports them: the latest of the API's
 * `countingSince` (project-wide, per environment). Undefined when the server does not say (one from
 * before it): then no flag may be called not evaluated. A flag's absence means "not evaluated in N
 * days" only where this is at least N days ago; after it, only "not evaluated since counting began".
 */
export function countingBegan(usage: ProjectFlagEvaluations): string | undefined {
  const starts = (usage as Partial<ProjectFlagEvaluations>).countingSince;
  if (starts === undefined || starts.length === 0) {
    return undefined;
  }
  return starts.map((c) => c.since).reduce((a, b) => (Date.parse(b) > Date.parse(a) ? b : a));
}

const number = (n: number): string => n.toLocaleString('en-US');

/** `1,234 times (production 1,200 · staging 34), last 2026-11-25 11:59 UTC` */
export function evaluatedText(entry: ProjectFlagEvaluations['flags'][number]): string {
  const environments = entry.environments.map((e) => `${e.environment} ${number(e.count)}`).join(' · ');
  return `${number(entry.total)} ${entry.total === 1 ? 'time' : 'times'} (${environments}), last ${utcMinute(entry.lastEvaluatedAt)}`;
}

/** `2026-11-25 11:59 UTC` from an ISO instant (as given when it is not one). */
export function utcMinute(iso: string): string {
  const ms = Date.parse(iso);
  return Number.isFinite(ms) ? `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC` : iso;
}

export async function cleanUpReport(client: XpApiClient, project: string, references: readonly CodeRef[], staleDays: number, now: Date): Promise<CleanUpReport> {
  // Counts are kept 90 days; a window of 0 days would prove nothing.
  const evaluationDays = Math.min(EVALUATION_DAYS_KEPT, Math.max(1, staleDays));
  const [flags, experiments, environments, counts] = await Promise.all([
    client.listAll(project, 'flags', { archived: true }),
    client.listAll(project, 'experiments', { archived: true }),
    client.environments(project),
    // Extra information: its failure is said, and the rest of the report stands.
    evaluationCounts(client, project, evaluationDays).then(
      (usage) => ({ usage, failure: undefined }),
      (error: unknown) => ({ usage: undefined, failure: error instanceof Error ? error.message : String(error) }),
    ),
  ]);
  const { usage } = counts;
  const evaluated = new Map((usage?.flags ?? []).map((e) => [e.flag, e]));
  // A flag created within the window may not be deployed yet: only older ones are called not evaluated.
  const windowStart = usage === undefined ? NaN : Date.parse(usage.since);
  // Counting that began within the window proves absence only since then (the day SDKs that count were deployed).
  const began = usage === undefined ? undefined : countingBegan(usage);
  const beganInWindow = began !== undefined && Date.parse(began) > windowStart;
  const byKey = new Map(flags.map((f) => [f.key, f]));
  // Standalone experiments are read by key too (getVariant).
  const experimentKeys = new Set(experiments.map((e) => e.key));
  // Archived ones too: a stopped experiment's released winner decides what its flags serve.
  const experimentDefinitions = experiments.map((e) => ({ ...e.definition, updatedAt: e.updatedAt }));
  const flagDefinitions = flags.map((f) => ({ ...f.definition, archived: f.archived || f.definition.archived }));
  const envKeys = environments.map((e) => e.key);
  const uses = new Map<string, number>();
  for (const r of references) {
    uses.set(r.flagKey, (uses.get(r.flagKey) ?? 0) + 1);
  }
  const stale: string[] = [];
  const archived: string[] = [];
  const unknown: string[] = [];
  const unknownKeys: string[] = [];
  const unknownEvaluated: { key: string; line: string; total: number }[] = [];
  const notEvaluated: string[] = [];
  const notEvaluatedSinceCounting: string[] = [];
  for (const [key, n] of [...uses].sort(([a], [b]) => a.localeCompare(b))) {
    const flag = byKey.get(key);
    const where = count(n, 'reference');
    if (flag === undefined) {
      if (!experimentKeys.has(key)) {
        const entry = evaluated.get(key);
        if (entry === undefined) {
          unknown.push(`  ${key} (${where})`);
        } else {
          unknownEvaluated.push({ key, line: `  ${key} (${where}): evaluated ${evaluatedText(entry)}`, total: entry.total });
        }
        unknownKeys.push(key);
      }
    } else if (flag.archived) {
      archived.push(`  ${key} (${where})`);
    } else {
      if (usage !== undefined && began !== undefined && !evaluated.has(key)) {
        if (beganInWindow) {
          notEvaluatedSinceCounting.push(`  ${key} (${where})`);
        } else if (Date.parse(flag.createdAt) <= windowStart) {
          notEvaluated.push(`  ${key} (${where})`);
        }
      }
      const served = staleFlag(flag.definition, {
        servingChangedAt: flag.servingChangedAt,
        updatedAt: flag.updatedAt,
        archived: false,
        environments: envKeys,
        now,
        days: staleDays,
        experiments: experimentDefinitions,
        flags: flagDefinitions,
      });
      const variation = flag.definition.variations.find((v) => v.key === served?.variation);
      if (served !== undefined && variation !== undefined) {
        // Since the later of the last change to what it serves and when it came to serve only this (a ramp step, a rule's window, an experiment's stop).
        const children = served.dependents === undefined ? '' : `; before archiving it, remove the prerequisite on it from ${served.dependents.join(', ')}`;
        stale.push(`  ${key} (${where}): serves "${variation.key}" (${JSON.stringify(variation.value)}) everywhere, unchanged since ${served.since.slice(0, 10)}${children}`);
      }
    }
  }
  const out: string[] = [];
  if (stale.length > 0) {
    out.push(`Stale flags still in the code (temporary, one variation to everyone in every environment, unchanged for ${staleDays}+ days): replace their calls with the value, then archive them`, ...stale);
  }
  if (archived.length > 0) {
    out.push("Archived flags still in the code (SDKs serve the code's default value):", ...archived);
  }
  const window = staleDays > EVALUATION_DAYS_KEPT ? `${EVALUATION_DAYS_KEPT} days (the counts kept)` : evaluationDays === 1 ? 'day' : `${evaluationDays} days`;
  if (notEvaluated.length > 0) {
    out.push(`Flags the code references that no SDK evaluated in the last ${window}, in any environment (code never reached, or not deployed): candidates for removal`, ...notEvaluated);
  }
  if (notEvaluatedSinceCounting.length > 0 && began !== undefined) {
    out.push(
      `Flags the code references that no SDK evaluated since evaluation counting began on ${utcMinute(began)}, less than ${window} ago (too soon to call them unused):`,
      ...notEvaluatedSinceCounting,
    );
  }
  if (unknownEvaluated.length > 0) {
    out.push(
      `Keys that are neither flags nor experiments of ${project}, yet SDKs evaluated them in the last ${window} (code running somewhere asks for a flag that does not exist and gets its default: a bug):`,
      ...unknownEvaluated.sort((a, b) => b.total - a.total || a.key.localeCompare(b.key)).map((u) => u.line),
    );
  }
  if (unknown.length > 0) {
    out.push(
      usage === undefined || began === undefined
        ? `Keys that are neither flags nor experiments of ${project} (a typo, or another project's):`
        : `Keys that are neither flags nor experiments of ${project}, and no SDK evaluated them ${beganInWindow ? `since evaluation counting began on ${utcMinute(began)}` : `in the last ${window}`} (a typo, or another project's):`,
      ...unknown,
    );
  }
  if (counts.failure !== undefined) {
    out.push(`Could not read the evaluation counts, so nothing is said of which flags SDKs evaluate: ${counts.failure}`);
  }
  return { lines: out, unknown: unknownKeys };
}
