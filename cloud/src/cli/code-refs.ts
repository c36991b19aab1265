import { existsSync, readFileSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import YAML from 'yaml';
import type { CodeRef, XpApiClient } from '@xp/shared';
import { DEFAULT_STALE_DAYS, credentialRoleIn, staleFlag } from '@xp/shared';
import { WorkspaceIndex } from '@xp/language-server/indexer';
import { CODE_REFS_LIMITS, COMMIT_PATTERN } from '../domain/code-refs.js';
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
 * The commit checked out in the git work tree at `root`, read from the repository's files: HEAD,
 * then the branch it names (a loose ref, else packed-refs). git itself is not run: a CI image may
 * not have it. Undefined when it cannot be told: no commit yet, a ref storage this does not read
 * (reftable), an unreadable file.
 */
export function headCommit(root: string): string | undefined {
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
  // A linked worktree keeps its HEAD in its own folder and shares the repository's refs (`commondir`).
  const common = readText(path.join(gitDir, 'commondir'))?.trim();
  const commonDir = common === undefined || common === '' ? gitDir : path.resolve(gitDir, common);
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
 * those of the folders above `dir` count, and a `dir` they exclude has no references.
 */
export async function collectCodeRefs(dir: string, wrapperFunctions: readonly string[], root: string = repositoryRoot(dir) ?? dir): Promise<{ references: CodeRef[]; files: number }> {
  const index = new WorkspaceIndex(dir, { wrapperFunctions, workers: availableParallelism(), indexIgnoredRoots: false });
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
function projectOfFlagsFile(dir: string): string | undefined {
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

/** `xp code-refs --repo NAME --branch B [--dir .] [--project P] [--commit SHA] [--wrapper NAME]… [--fail-on-unknown] [--dry-run]` */
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
      'stale-days': { type: 'string', default: String(DEFAULT_STALE_DAYS) },
      'fail-on-unknown': { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values['fail-on-unknown'] && values['dry-run']) {
    // A dry run never asks the API which keys the project has.
    throw new AppError(AppErrorCode.Validation, '--fail-on-unknown checks the keys against the project when uploading: leave out --dry-run');
  }
  const staleDays = Number(values['stale-days']);
  if (!/^\d+$/.test(values['stale-days']) || staleDays > 3650) {
    throw new AppError(AppErrorCode.Validation, `--stale-days must be a whole number of days from 0 to 3650, not "${values['stale-days']}"`);
  }
  const dir = path.resolve(values.dir);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new AppError(AppErrorCode.Validation, `--dir ${values.dir} is not a directory`);
  }
  // An upload's arguments and token are checked before the index, which can take a while.
  let upload: { repo: string; branch: string; project: string; client: XpApiClient } | undefined;
  if (!values['dry-run']) {
    if (values.repo === undefined || values.branch === undefined) {
      throw new AppError(AppErrorCode.Validation, 'code-refs needs --repo NAME and --branch BRANCH (or --dry-run)');
    }
    const project = values.project ?? projectOfFlagsFile(dir);
    if (project === undefined) {
      throw new AppError(AppErrorCode.Validation, 'code-refs needs --project KEY (or a flags file naming the project in --dir)');
    }
    if (values.commit !== undefined && !COMMIT_PATTERN.test(values.commit)) {
      throw new AppError(AppErrorCode.Validation, `--commit must be a commit id of 7 to 64 lower-case hexadecimal characters (as git rev-parse prints it), not "${values.commit}"`);
    }
    upload = { repo: values.repo, branch: values.branch, project, client: api() };
    // A wrong or revoked token, a role that cannot upload or an unknown project fails here, not after
    // indexing the whole tree.
    const [me, roles] = await Promise.all([upload.client.me(), upload.client.roles()]);
    // The role this credential acts with in the project: a project role, a token's role limit.
    const role = credentialRoleIn(me, project);
    if (roles.permissions.some((p) => p.permission === Permission.CodeRefsWrite && !p.roles.includes(role))) {
      throw new AppError(AppErrorCode.Forbidden, `your role in ${project} (${role}) does not allow ${Permission.CodeRefsWrite}: uploading code references needs an editor's token or higher`);
    }
    await upload.client.environments(project);
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

export async function cleanUpReport(client: XpApiClient, project: string, references: readonly CodeRef[], staleDays: number, now: Date): Promise<CleanUpReport> {
  const [flags, experiments, environments] = await Promise.all([client.listAll(project, 'flags', { archived: true }), client.listAll(project, 'experiments', { archived: true }), client.environments(project)]);
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
  for (const [key, n] of [...uses].sort(([a], [b]) => a.localeCompare(b))) {
    const flag = byKey.get(key);
    const where = count(n, 'reference');
    if (flag === undefined) {
      if (!experimentKeys.has(key)) {
        unknown.push(`  ${key} (${where})`);
        unknownKeys.push(key);
      }
    } else if (flag.archived) {
      archived.push(`  ${key} (${where})`);
    } else {
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
  if (unknown.length > 0) {
    out.push(`Keys that are neither flags nor experiments of ${project} (a typo, or another project's):`, ...unknown);
  }
  return { lines: out, unknown: unknownKeys };
}
