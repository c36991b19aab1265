#!/usr/bin/env node
/** The `xp` command line: start the local platform, import from GrowthBook, LaunchDarkly or Unleash, flags as code. */
import { setTimeout as sleep } from 'node:timers/promises';
import { existsSync, statSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { AppliedChange, Experiment, Flag } from '@xp/shared';
import { ApiError, XpApiClient, credentialRoleIn, isoDateSchema } from '@xp/shared';
import { jsonDiff } from '../domain/json-diff.js';
import { AppError } from '../errors.js';
import { needsApproval } from '../auth/permissions.js';
import { loggerFromEnv } from '../local/logger.js';
import { configFromEnv, startLocalStack } from '../local/stack.js';
import type { LocalConfig } from '../local/stack.js';
import { replayArchive } from '../pipeline/replay.js';
import { resetPasswordAsOperator } from '../domain/accounts.js';
import type { Database } from '../store/db.js';
import { s3Archive, s3ClientFromEnv } from '../store/s3-archive.js';
import { MIGRATIONS_DIR, createPgDatabase, migrate } from '../store/db.js';
import { lockDataDir } from '../local/data-lock.js';
import type { LockOwner } from '../local/data-lock.js';
import { embeddedDatabaseDir, openEmbeddedDatabase } from '../local/embedded-database.js';
import { runCodeRefs } from './code-refs.js';
import { applyPlan, checkDocument, describePlan, holdBackApprovals, inline, openRequestProposing, proposeHeldBack, exportDocument, parseJsonFile, planApply, planAsJson, planError, printable, serializeDocument, supersededRequests, withBrokenReferences, withScope } from './flags-as-code.js';
import type { DocumentProblems, FlagsDocument, PlannedChange, PlannedChangeJson, Proposal, ProposedState, ReferenceLocator, SupersededRequest } from './flags-as-code.js';
import { MAX_APPLY_CHANGES } from '../domain/apply.js';
import { convertGrowthBookPayload } from './import-growthbook.js';
import { convertLaunchDarklyData } from './import-launchdarkly.js';
import type { ExistingDefinition } from './import-launchdarkly.js';
import { convertUnleashData } from './import-unleash.js';
import { FLAGS_HELP, runFlags } from './flags.js';
import { UNITS_HELP, runUnits } from './units.js';
import { WEBHOOKS_HELP, runWebhooks } from './webhooks.js';
import { readStdinBytes } from './stdin.js';
import { apiUrlOf, apiUrlSource, checkApiUrl, credentialsPath, effectiveCredentials } from './credentials.js';
import { LOGIN_HELP, runLogin, runLogout, runWhoami } from './login.js';

const HELP = `xp — self-hosted experimentation platform

Usage:
${LOGIN_HELP}
  xp start [--data-dir DIR] [--port N] [--console-port N] [--no-demo]
      Run the local platform: API on :8000, console on :3000, embedded PostgreSQL (PGlite),
      DynamoDB and Kinesis stand-ins. Uses DATABASE_URL, DYNAMODB_ENDPOINT, KINESIS_ENDPOINT,
      XP_DATA_DIR, XP_ADMIN_EMAIL, XP_ADMIN_PASSWORD when set. On a fresh data folder, demo
      traffic fills three demo experiments; --no-demo (or XP_DEMO=0) turns it off.
      Logs go to stderr: readable lines on a terminal, JSON otherwise (XP_LOG_FORMAT=text|json,
      XP_LOG_LEVEL=info|warn|error).
  xp export --project KEY [--format yaml|json] [--out FILE] [--omit-enabled] [--scope-tag TAG]
      Write every flag, segment, experiment, metric and holdout of a project as one document
      (--omit-enabled leaves flag states' enabled out: apply then keeps each on/off as it is;
      --scope-tag writes only the definitions tagged TAG, as a document with scope TAG).
  xp apply FILE|- [--dry-run] [--prune [--force]] [--project KEY] [--scope-tag TAG [--adopt]] [--propose [--comment TEXT]] [--json] [--detailed-exitcode]
      Show the changes FILE (- for standard input) makes to its project, then apply them all in
      one transaction, or none if the API refuses one (--dry-run shows them and has the API check
      them; --prune also deletes what the file does not mention, except flags that a running
      experiment uses or that code still references (--force deletes the latter); --propose applies
      the rest and proposes a change request for each flag state that needs approval in a protected
      environment). A flag state without enabled keeps its on/off. --json prints the plan and what
      was applied as one JSON document; --detailed-exitcode exits 0 for no changes, 2 for changes,
      1 for errors. A scope (scope: { tag: TAG } in FILE, or --scope-tag TAG) tags what FILE writes
      and prunes only definitions tagged TAG; FILE may not write one that exists without the tag
      unless --adopt (which adds it).
  xp import growthbook FILE --project KEY --environment ENV [--dry-run] [--sticky-bucketing]
      Convert a GrowthBook SDK payload (features JSON) into xp flags, experiments and segments
      that assign every user the same variation, and apply them like \`xp apply\`.
  xp import launchdarkly FILE --project KEY --environment ENV [--dry-run]
      Convert LaunchDarkly server-side SDK data for one environment ({ flags, segments }, as
      /sdk/latest-all or the file data source serve it) into xp flags and segments that serve
      every context the same value, and apply them like \`xp apply\`.
  xp import unleash FILE --project KEY --environment ENV [--dry-run]
      Convert the Unleash client API payload of one environment ({ version, features, segments },
      as GET /api/client/features serves it) into xp flags and segments, and apply them like
      \`xp apply\`. Toggles that hash (rollouts, variants) keep their shares, not their users.
      One file per environment: another environment's variants are added to the flag's.
  xp code-refs --repo NAME --branch BRANCH [--dir .] [--project KEY] [--commit SHA] [--wrapper FN]... [--stale-days 30] [--fail-on-unknown] [--dry-run]
      Find flag references in the code under --dir (the language server's indexer: TypeScript,
      JavaScript, Python, Go, Java; .gitignore and .git/info/exclude respected) and upload them for
      the repository and branch (refs/heads/NAME is read as NAME, so $GITHUB_REF works), replacing
      the previous upload. --dry-run prints them instead. Ends with the stale (unchanged for
      --stale-days) and archived flags and the unknown keys the code references; where the
      project's SDKs report evaluation counts, also the referenced flags none evaluated in that
      window (up to 90 days) and which unknown keys SDKs still evaluate. --fail-on-unknown exits
      with code 3 when there are unknown keys, evaluated or not (for CI).
  xp code-refs --delete --repo NAME --branch BRANCH [--project KEY]
      Delete the stored references of a branch deleted in git (prints how many; none stored: exit 0).

  xp replay --from DATE --to DATE [--experiment KEY] [--archive DIR|s3://BUCKET/PREFIX] [--data-dir DIR]
      Rebuild aggregates from the raw event archive (after a metric definition changes or a bug
      fix): events that arrived in [from, to) are applied again, idempotently, and the affected
      experiments' totals recomputed. DATE is an ISO date (a bare --to date includes that day) or
      date-time. The archive defaults to <data dir>/archive/events; --archive s3://BUCKET/archive/events
      reads the Firehose bucket directly (AWS_PROFILE, AWS_REGION). Uses DATABASE_URL, else the data folder's
      embedded database, which one process may open at a time: refused while \`xp start\` runs on it.
  xp users reset-password EMAIL [--data-dir DIR]
      Operator recovery (a forgotten password, the only owner's included): sets a temporary
      password, printed once, that the user must replace at their next sign-in, and ends all
      their sessions and personal access tokens; audited as user.password-reset by the CLI.
      Works on the platform's database directly, no token needed: DATABASE_URL, else the data
      folder's embedded database (refused while \`xp start\` runs on it: stop it first).
${FLAGS_HELP}
${UNITS_HELP}
${WEBHOOKS_HELP}

Commands that talk to a running platform use the credentials xp login stored, at the API it
logged in to; or XP_TOKEN when it is set (an access token: a service account's for CI and other
automation, minted with POST /api/v1/service-accounts/{id}/tokens; or your personal one,
POST /api/v1/me/tokens), at XP_API_URL (default http://localhost:8000). XP_API_URL naming another
API than the stored login's is refused unless XP_TOKEN is set. Tokens and passwords are never
taken on the command line, where other users of the machine could read them.
`;

type Print = (line: string) => void;

/**
 * JSON as `JSON.stringify` writes it, with invisible format characters (bidi controls such as
 * U+202E, zero-width ones, U+2028/2029) written as `\\u` escapes: the same data, but a CI log that
 * shows it cannot show text reversed. They occur only inside strings, where an escape is valid JSON.
 */
export function jsonForLogs(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(/[\p{Cf}\u2028\u2029]/gu, (c) => Array.from({ length: c.length }, (_, i) => `\\u${c.charCodeAt(i).toString(16).padStart(4, '0')}`).join(''));
}

/** What a usage error (an unknown option, an unexpected argument) ends with, rather than the whole usage. */
const USAGE_HINT = 'Run xp --help for the usage.';

/**
 * The issues of an error's details, one per line: a flags file's or the API's `issues`, and the
 * `problems` a refused publish lists ("path: message" strings).
 */
function errorLines(e: unknown): { path: string; message: string }[] {
  if (!(e instanceof AppError || e instanceof ApiError)) {
    return [];
  }
  const details = e.details as { issues?: { path: string; message: string }[]; problems?: unknown } | undefined;
  const problems = Array.isArray(details?.problems) ? details.problems.filter((p): p is string => typeof p === 'string') : [];
  return [...(details?.issues ?? []), ...problems.map((message) => ({ path: '', message }))];
}

/** A command used the wrong way (an unexpected argument, an unknown subcommand): exit code 2, like an unknown option. */
class UsageError extends Error {}

/** The single file a command takes; a second one would otherwise be ignored without a word. */
function onlyFile(positionals: readonly string[], usage: string): string | undefined {
  if (positionals.length > 1) {
    throw new UsageError(`unexpected argument "${positionals[1]!.slice(0, 100)}": ${usage} takes one file (run it once per file)`);
  }
  return positionals[0];
}

/**
 * An import covers one environment: keep what existing flags and experiments say about the
 * others, so importing production after staging does not erase staging.
 */
async function mergeWithExisting(
  api: XpApiClient,
  project: string,
  converted: { flags: Flag[]; experiments: Experiment[] },
  warn: Print,
  source = 'a GrowthBook payload',
  variationsPerEnvironment = false,
): Promise<{ flags: Flag[]; experiments: Experiment[] }> {
  const existingFlags = new Map((await api.listAll(project, 'flags', { archived: true })).map((f) => [f.key, f.definition]));
  const existingExperiments = new Map((await api.listAll(project, 'experiments', { archived: true })).map((e) => [e.key, e.definition]));
  const flags = converted.flags.map((flag) => {
    const existing = existingFlags.get(flag.key);
    if (existing === undefined) {
      return flag;
    }
    if (existing.archived) {
      warn(`warning: flag "${flag.key}" is archived here; the import unarchives it (${source} serves it)`);
    }
    // Names and descriptions do not change what is served (imports before 2026-12 quoted string values' names).
    const served = (variations: Flag['variations']): unknown => variations.map((v) => ({ key: v.key, value: v.value }));
    // Variations per environment (Unleash): the converter kept the existing ones first and appended this environment's.
    const compared = variationsPerEnvironment ? flag.variations.slice(0, existing.variations.length) : flag.variations;
    if (jsonDiff(served(existing.variations), served(compared)).length > 0 || existing.type !== flag.type) {
      warn(`warning: flag "${flag.key}" exists with other variations; the import replaces it, including its other environments`);
      return flag;
    }
    return { ...flag, environments: { ...existing.environments, ...flag.environments } };
  });
  const experiments = converted.experiments.map((exp) => {
    const existing = existingExperiments.get(exp.key);
    if (existing?.archived === true) {
      warn(`warning: experiment "${exp.key}" is archived here; the import unarchives it (${source} runs it)`);
    }
    if (existing === undefined || existing.environments.length === 0) {
      return exp;
    }
    return { ...exp, environments: [...new Set([...existing.environments, ...exp.environments])] };
  });
  return { flags, experiments };
}

/** An existing flag as a converter sees it: its key and origin, and for sources with variations per environment, its type and variations. */
type ExistingFlag = ExistingDefinition & Partial<Pick<Flag, 'type' | 'variations'>>;

/** A source `xp import` converts with the project's flags and segments at hand (so that keys stay with what they were imported from). */
interface ImportSource {
  /** The command's source word. */
  readonly command: 'launchdarkly' | 'unleash';
  /** The data's name in messages. */
  readonly data: string;
  /** Whether the source keeps variations per environment: the converter then adds to an existing flag's variations, and the merge keeps its other environments. */
  readonly variationsPerEnvironment: boolean;
  readonly convert: (data: unknown, options: { environment: string; existingFlags: ExistingFlag[]; existingSegments: ExistingDefinition[] }) => { flags: Flag[]; segments: FlagsDocument['segments']; warnings: string[]; skippedFlags: string[] };
}

const LAUNCHDARKLY: ImportSource = { command: 'launchdarkly', data: 'the LaunchDarkly data', variationsPerEnvironment: false, convert: convertLaunchDarklyData };
const UNLEASH: ImportSource = { command: 'unleash', data: 'the Unleash data', variationsPerEnvironment: true, convert: convertUnleashData };

/** `xp import launchdarkly|unleash`: convert, then plan and apply like `xp apply` without --prune (in parts when it is larger than one apply). */
async function importSdkData(source: ImportSource, args: string[], env: NodeJS.ProcessEnv, print: Print, printError: Print): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { project: { type: 'string' }, environment: { type: 'string' }, 'dry-run': { type: 'boolean', default: false } },
    allowPositionals: true,
    strict: true,
  });
  const usage = `xp import ${source.command} FILE --project KEY --environment ENV [--dry-run]`;
  const file = onlyFile(positionals, `xp import ${source.command}`);
  if (file === undefined || values.project === undefined || values.environment === undefined) {
    const missing = [file === undefined ? 'FILE' : undefined, values.project === undefined ? '--project' : undefined, values.environment === undefined ? '--environment' : undefined].filter((m) => m !== undefined);
    throw new UsageError(`xp import ${source.command} needs ${missing.join(', ')}; usage: ${usage}`);
  }
  const data = parseJsonFile(await readInput(file), file);
  const api = client(env);
  const environments = (await api.environments(values.project)).map((e) => e.key);
  if (!environments.includes(values.environment)) {
    throw new AppError('VALIDATION_FAILED', `project "${values.project}" has no environment "${values.environment}"; its environments: ${environments.join(', ')}`);
  }
  // What the project has, so that a key keeps the flag or segment an earlier import gave it.
  const existing = (items: readonly { key: string; definition: { description?: string | undefined } }[]): ExistingDefinition[] => items.map((i) => ({ key: i.key, description: i.definition.description }));
  const converted = source.convert(data, {
    environment: values.environment,
    existingFlags: (await api.listAll(values.project, 'flags', { archived: true })).map((f) => ({ key: f.key, description: f.definition.description, type: f.definition.type, variations: f.definition.variations })),
    existingSegments: existing(await api.listAll(values.project, 'segments', { archived: true })),
  });
  for (const w of converted.warnings) {
    printError(`warning: ${w}`);
  }
  if (converted.flags.length === 0 && converted.skippedFlags.length > 0) {
    throw new AppError('VALIDATION_FAILED', `nothing to import: every flag of the data (${converted.skippedFlags.length}) was skipped; the warnings above say why`);
  }
  const merged = await mergeWithExisting(api, values.project, { flags: converted.flags, experiments: [] }, printError, source.data, source.variationsPerEnvironment);
  const doc: FlagsDocument = { xp: 1, project: values.project, segments: converted.segments, holdouts: [], metrics: [], experiments: [], flags: merged.flags };
  if (doc.segments.length + doc.flags.length <= MAX_APPLY_CHANGES) {
    await runApply(api, doc, { dryRun: values['dry-run'], prune: false }, print, printError);
  } else {
    await applyInParts(api, doc, values['dry-run'], print, printError);
  }
  return 0;
}

/**
 * A document that may need more changes than one apply takes: planned whole, then applied in
 * parts of at most MAX_APPLY_CHANGES in the plan's order (segments, then each flag after its
 * prerequisites), so that a part refers only to what the project has or earlier parts create.
 */
async function applyInParts(api: XpApiClient, doc: FlagsDocument, dryRun: boolean, print: Print, warn: Print): Promise<void> {
  const plan = await planApply(api, doc, { prune: false });
  if (plan.changes.length <= MAX_APPLY_CHANGES) {
    await runApply(api, doc, { dryRun, prune: false }, print, warn);
    return;
  }
  print(describePlan(plan.changes, plan.ignored));
  for (const line of plan.warnings ?? []) {
    warn(`warning: ${line}`);
  }
  const refused = planError(plan);
  if (refused !== undefined) {
    throw refused;
  }
  const parts: PlannedChange[][] = [];
  for (let i = 0; i < plan.changes.length; i += MAX_APPLY_CHANGES) {
    parts.push(plan.changes.slice(i, i + MAX_APPLY_CHANGES));
  }
  print(
    `\nOne apply takes at most ${MAX_APPLY_CHANGES.toLocaleString('en-US')} changes: these ${plan.changes.length.toLocaleString('en-US')} are applied in ${parts.length} parts, in the order above (segments first, then each flag after its prerequisites), each part whole or not at all. If a part is refused, the parts before it stay applied and the later ones are not sent; importing again applies what is left.`,
  );
  if (dryRun) {
    try {
      await applyPlan(api, doc.project, parts[0]!, print, { dryRun: true });
    } catch (e) {
      if (e instanceof AppError && e.cause instanceof ApiError && e.cause.code === 'FORBIDDEN') {
        print(`\nNot checked by the API: this token cannot make these changes (${e.cause.message}).`);
        return;
      }
      throw e;
    }
    print(`\nChecked by the API: part 1 of ${parts.length} would be accepted; the later parts name what earlier parts create, so the API checks each as it is applied.`);
    return;
  }
  print('Applying…');
  for (const [i, part] of parts.entries()) {
    print(`Part ${i + 1} of ${parts.length} (${part.length} changes):`);
    try {
      await applyPlan(api, doc.project, part, print);
    } catch (e) {
      if (e instanceof AppError && i > 0) {
        throw new AppError(e.code, `part ${i + 1} of ${parts.length} was refused (parts 1 to ${i} are applied; importing again applies the rest): ${e.message}`, e.details, { cause: e });
      }
      throw e;
    }
  }
  print('Done.');
}

function client(env: NodeJS.ProcessEnv): XpApiClient {
  // XP_TOKEN (with XP_API_URL), else what `xp login` stored (at its API): see credentials.ts.
  const { apiUrl, token } = effectiveCredentials(env);
  return new XpApiClient({ apiUrl, token, client: 'cli' });
}

/**
 * The largest input file parsed. An export of a project with thousands of flags passed 20 MB (the
 * former limit), so this is well above what a project holds; an `xp export` larger than this warns.
 * (Before any limit, a 55 MB file took 75 s and 2.5 GB to refuse; one this size takes a minute.)
 */
export const MAX_INPUT_BYTES = 64 * 1_048_576;

/**
 * A size in MB (1 MB = 1,048,576 bytes) with the exact byte count, e.g. "20.0024 MB (20,974,050 bytes)":
 * with as many decimals as it takes (two at least) for a size above `limit` not to read as the limit.
 */
export function formatSize(bytes: number, limit?: number): string {
  let digits = 2;
  while (limit !== undefined && bytes > limit && digits < 6 && Number((bytes / 1_048_576).toFixed(digits)) <= limit / 1_048_576) {
    digits++;
  }
  return `${(bytes / 1_048_576).toFixed(digits)} MB (${bytes.toLocaleString('en-US')} bytes)`;
}

/**
 * A command's input file (a UTF-8 byte order mark dropped); a missing or unreadable one is a usage
 * error, not a crash, and one that is not UTF-8 text (an image, a zip) is refused as such rather than
 * parsed into an error full of its bytes.
 */
export async function readInput(file: string): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (e) {
    throw new AppError('VALIDATION_FAILED', `cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
  return decodeInput(bytes, file);
}

/** Standard input read whole as `readInput` reads a file (`xp apply -`), stopping once it is larger than a file may be. */
async function readStdin(stdin: NodeJS.ReadableStream): Promise<string> {
  return decodeInput(await readStdinBytes(stdin, MAX_INPUT_BYTES), 'standard input');
}

/** A command's input as text: refused when too large, not UTF-8 or holding a NUL byte; a byte order mark dropped. */
function decodeInput(bytes: Buffer, file: string): string {
  if (bytes.length > MAX_INPUT_BYTES) {
    throw new AppError('VALIDATION_FAILED', `${file} is ${formatSize(bytes.length, MAX_INPUT_BYTES)}; a flags or import file may be at most ${MAX_INPUT_BYTES / 1_048_576} MB (${MAX_INPUT_BYTES.toLocaleString('en-US')} bytes)`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    text = '';
  }
  const nul = text.indexOf('\0');
  if ((text === '' && bytes.length > 0) || nul >= 0) {
    throw new AppError('VALIDATION_FAILED', `${file} is not a text file: ${nul >= 0 ? `it holds a NUL byte (line ${text.slice(0, nul).split('\n').length})` : 'it is not UTF-8'}`);
  }
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/**
 * A flags file's problems, and — when the API can be asked (a token is set, the project is
 * readable) — the broken references of its valid part, so that one run names them all. Whatever
 * the API says otherwise (unreachable, a refused token), the file's own problems are what is reported.
 */
async function alsoBrokenReferences(problems: DocumentProblems, env: NodeJS.ProcessEnv, project: string | undefined): Promise<AppError> {
  if (problems.partial === undefined) {
    return problems.error;
  }
  try {
    const partial = { ...problems.partial, doc: { ...problems.partial.doc, project: project ?? problems.partial.doc.project } };
    return (await withBrokenReferences(client(env), { ...problems, partial })) ?? problems.error;
  } catch {
    return problems.error;
  }
}

/**
 * Users by id as messages name them, as far as this credential may list users (else none: ids are
 * shown): a person by e-mail, a service account as "<name> (service account)" (its e-mail is a
 * handle nobody reads). A deleted service account is not listed: its id is shown.
 */
async function userEmails(api: XpApiClient): Promise<Map<string, string>> {
  const emails = new Map<string, string>();
  try {
    let cursor: string | undefined;
    do {
      const page = await api.users({ limit: 100, kind: 'all', ...(cursor === undefined ? {} : { cursor }) });
      for (const u of page.items) {
        emails.set(u.id, u.kind === 'service' ? `${u.name} (service account)` : u.email);
      }
      cursor = page.nextCursor;
    } while (cursor !== undefined);
  } catch (e) {
    if (!(e instanceof ApiError)) {
      throw e;
    }
  }
  return emails;
}

/**
 * Cancels the caller's open change requests the document supersedes (before anything else is
 * written: the document no longer proposes them). One that cannot be cancelled (applied or
 * cancelled meanwhile) is reported and the apply goes on.
 */
async function cancelSuperseded(api: XpApiClient, project: string, requests: readonly SupersededRequest[], print: Print, warn: Print): Promise<void> {
  for (const r of requests) {
    try {
      await api.reviewChange(project, r.id, 'cancel');
      print(`  cancelled change request ${r.id} (flag ${r.flag} in ${r.environment}): the document no longer proposes it`);
    } catch (e) {
      if (!(e instanceof ApiError)) {
        throw e;
      }
      warn(`warning: could not cancel change request ${r.id} (flag ${r.flag} in ${r.environment}), which the document no longer proposes: ${e.message}`);
    }
  }
}

/** What `xp apply` planned and did: `--json` prints it, `--detailed-exitcode` reads whether anything changes. */
interface ApplyReport {
  dryRun: boolean;
  /** A scoped document's tag: only definitions carrying it are the document's. */
  scope?: string;
  changes: PlannedChangeJson[];
  /** Runtime fields the document sets differently (an experiment's status): never applied. */
  notApplied: string[];
  warnings: string[];
  /** --propose: flag states that need approval, to propose, and those an open change request already proposes. */
  toPropose: { flag: string; environment: string }[];
  alreadyProposed: { flag: string; environment: string; changeRequest: string }[];
  /** The caller's open change requests the document no longer proposes: cancelled (or, in a dry run, to cancel). */
  toCancel: { flag: string; environment: string; changeRequest: string }[];
  /** A dry run's check by the API: accepted, or not checked (this token cannot make the changes). */
  checkedByApi?: 'accepted' | 'not-checked';
  applied: AppliedChange[];
  proposed: ProposedState[];
  errors: { message: string; issues: { path: string; message: string }[] }[];
}

function emptyReport(dryRun: boolean): ApplyReport {
  return { dryRun, changes: [], notApplied: [], warnings: [], toPropose: [], alreadyProposed: [], toCancel: [], applied: [], proposed: [], errors: [] };
}

/** Whether the apply changes (or, in a dry run, would change) anything: writes, change requests to propose or cancel. */
function changesAnything(report: ApplyReport): boolean {
  return report.changes.length > 0 || report.toPropose.length > 0 || report.toCancel.length > 0;
}

async function runApply(
  api: XpApiClient,
  doc: FlagsDocument,
  flags: { dryRun: boolean; prune: boolean; force?: boolean; adopt?: boolean; propose?: boolean; comment?: string | undefined; locate?: ReferenceLocator },
  print: Print,
  warn: Print = print,
  report: ApplyReport = emptyReport(flags.dryRun),
): Promise<ApplyReport> {
  const plan = await planApply(api, doc, { prune: flags.prune, force: flags.force === true, adopt: flags.adopt === true });
  if (doc.scope !== undefined) {
    report.scope = doc.scope.tag;
    print(`Scope: tag ${inline(doc.scope.tag)} (the document writes only definitions with this tag${flags.prune ? ', and prunes only those' : ''}).\n`);
  }
  let { changes } = plan;
  let proposals: Proposal[] = [];
  /** The caller's open change requests the document supersedes, cancelled by the apply. */
  let ownSuperseded: SupersededRequest[] = [];
  const warning = (line: string): void => {
    report.warnings.push(line);
    warn(`warning: ${line}`);
  };
  if (flags.propose === true) {
    // The role this credential acts with in the document's project: a project role there (as /me
    // lists it, capped by the token's limit), else the organisation role within the token's limit.
    const me = await api.me();
    const role = credentialRoleIn(me, doc.project);
    const approval = (await api.environments(doc.project)).filter((e) => needsApproval(role, e)).map((e) => e.key);
    ({ changes, proposals } = holdBackApprovals(changes, approval));
    // An open request proposing another state than the document's (the branch was revised since)
    // would, approved, move the environment away from the document: the caller's own are cancelled,
    // anyone else's named.
    const superseded = await supersededRequests(api, doc);
    ownSuperseded = superseded.filter((r) => r.proposedBy === me.id);
    const others = superseded.filter((r) => r.proposedBy !== me.id);
    const emails = others.length === 0 ? new Map<string, string>() : await userEmails(api);
    for (const r of others) {
      warning(
        `change request ${r.id} by ${emails.get(r.proposedBy) ?? `user ${r.proposedBy}`} proposes another state for flag ${r.flag} in ${r.environment} than the document; approved, it would move ${r.environment} away from the document (only its proposer can cancel it; a reviewer can reject it)`,
      );
    }
  }
  // A state an open change request already proposes (the same file applied before) is not proposed again.
  const proposedBy = await Promise.all(proposals.map((p) => openRequestProposing(api, doc.project, p)));
  report.alreadyProposed = proposals.flatMap((p, i) => (proposedBy[i] === undefined ? [] : [{ flag: p.flag, environment: p.environment, changeRequest: proposedBy[i] }]));
  proposals = proposals.filter((_, i) => proposedBy[i] === undefined);
  report.changes = planAsJson(changes);
  report.notApplied = plan.ignored;
  report.toPropose = proposals.map((p) => ({ flag: p.flag, environment: p.environment }));
  report.toCancel = ownSuperseded.map((r) => ({ flag: r.flag, environment: r.environment, changeRequest: r.id }));
  print(describePlan(changes, plan.ignored, proposals.length + report.alreadyProposed.length));
  for (const line of plan.warnings ?? []) {
    warning(line);
  }
  if (plan.ignored.length > 0) {
    print(['', `Not applied: an experiment's status, start, stop and decision are set by starting and stopping it (the API's start, stop and resume, or the console), never by a document (${plan.ignored.length}):`, ...plan.ignored.map((line) => `  ${line}`)].join('\n'));
  }
  if (proposals.length > 0) {
    print(['', `Change requests to propose (${proposals.length}):`, ...proposals.map((p) => `  flag ${p.flag} in ${p.environment}`)].join('\n'));
  }
  if (report.alreadyProposed.length > 0) {
    print(['', `Already proposed by open change requests (${report.alreadyProposed.length}):`, ...report.alreadyProposed.map((a) => `  flag ${a.flag} in ${a.environment} (change request ${a.changeRequest})`)].join('\n'));
  }
  if (ownSuperseded.length > 0) {
    print(
      [
        '',
        `Your open change requests the document no longer proposes, ${flags.dryRun ? 'which the apply would cancel' : 'to cancel'} (${ownSuperseded.length}):`,
        ...ownSuperseded.map((r) => `  flag ${r.flag} in ${r.environment} (change request ${r.id})`),
      ].join('\n'),
    );
  }
  // Checked before anything is sent (a dry run too): the API would refuse these one write at a time.
  const refused = planError(plan, flags.locate);
  if (refused !== undefined) {
    throw refused;
  }
  if (!flags.dryRun && ownSuperseded.length > 0) {
    await cancelSuperseded(api, doc.project, ownSuperseded, print, warn);
  }
  if (changes.length === 0 && (proposals.length === 0 || flags.dryRun)) {
    return report;
  }
  if (flags.dryRun) {
    // The API makes every check of the real apply (permissions, versions, approval in protected
    // environments) and rolls back. A read-only token can still plan: it is told what was not checked.
    try {
      await applyPlan(api, doc.project, changes, print, { dryRun: true });
    } catch (e) {
      if (e instanceof AppError && e.cause instanceof ApiError && e.cause.code === 'FORBIDDEN') {
        print(`\nNot checked by the API: this token cannot make these changes (${e.cause.message}).`);
        report.checkedByApi = 'not-checked';
        return report;
      }
      throw e;
    }
    print('\nChecked by the API: every change would be accepted.');
    report.checkedByApi = 'accepted';
    return report;
  }
  print('Applying…');
  // One request, one transaction: an interrupted apply is applied whole or not at all.
  report.applied = changes.length === 0 ? [] : await applyPlan(api, doc.project, changes, print);
  report.proposed = await proposeHeldBack(api, doc.project, proposals, { planned: plan.changes, applied: report.applied }, print, flags.comment);
  print('Done.');
  return report;
}

/** The local stack's configuration from `xp start`'s options over the environment. */
export function startConfig(args: readonly string[], env: NodeJS.ProcessEnv): LocalConfig {
  const { values } = parseArgs({
    args: [...args],
    options: { 'data-dir': { type: 'string' }, port: { type: 'string' }, 'console-port': { type: 'string' }, 'no-demo': { type: 'boolean', default: false } },
    strict: true,
  });
  // Checked here to name the option the user typed (configFromEnv names the variable it reads).
  for (const flag of ['port', 'console-port'] as const) {
    const value = values[flag];
    if (value !== undefined && !(/^\d{1,5}$/.test(value) && Number(value) <= 65535)) {
      throw new AppError('VALIDATION_FAILED', `--${flag} must be a port number (0-65535), got "${value}"`);
    }
  }
  return configFromEnv({
    ...env,
    ...(values['data-dir'] === undefined ? {} : { XP_DATA_DIR: values['data-dir'] }),
    ...(values.port === undefined ? {} : { XP_API_PORT: values.port }),
    ...(values['console-port'] === undefined ? {} : { XP_CONSOLE_PORT: values['console-port'] }),
    ...(values['no-demo'] ? { XP_DEMO: '0' } : {}),
  });
}

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
/** A date-time without `Z` or an offset ("2026-11-25T10:00", "2026-11-25T10:00:00.5"). */
const ZONELESS_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/;

/**
 * A --from/--to value: a date (2026-11-25) is that UTC day, from its midnight (with `endOfDay`, to
 * the next midnight, so the day is included); a date-time must carry `Z` or an offset, as at every
 * API endpoint, since one without would be read in the operator's own time zone. Both are checked
 * with the API's instant schema, so an impossible date (2026-02-30) is refused, not rolled over.
 */
export function parseInstant(value: string | undefined, name: string, endOfDay: boolean): Date {
  if (value === undefined) {
    throw new AppError('VALIDATION_FAILED', `replay needs --${name}`);
  }
  const dateOnly = DATE_ONLY.test(value);
  const instant = dateOnly ? `${value}T00:00:00Z` : value;
  if (!isoDateSchema.safeParse(instant).success) {
    const reason = ZONELESS_DATE_TIME.test(value) ? 'a date-time needs Z or an offset' : dateOnly ? 'no such date' : undefined;
    throw new AppError(
      'VALIDATION_FAILED',
      `--${name} must be a date (2026-11-25, a UTC day) or a date-time with Z or an offset (2026-11-25T10:00:00Z, 2026-11-25T10:00:00+05:30), got "${value.slice(0, 64)}"${reason === undefined ? '' : ` (${reason})`}`,
    );
  }
  const ms = Date.parse(instant);
  return new Date(dateOnly && endOfDay ? ms + 24 * 3_600_000 : ms);
}

async function replay(args: readonly string[], env: NodeJS.ProcessEnv, print: Print, printError: Print): Promise<number> {
  const { values } = parseArgs({
    args: [...args],
    options: { from: { type: 'string' }, to: { type: 'string' }, experiment: { type: 'string' }, archive: { type: 'string' }, 'data-dir': { type: 'string' } },
    strict: true,
  });
  const from = parseInstant(values.from, 'from', false);
  const to = parseInstant(values.to, 'to', true);
  if (from >= to) {
    throw new AppError('VALIDATION_FAILED', '--from must be before --to');
  }
  const config = configFromEnv({ ...env, ...(values['data-dir'] === undefined ? {} : { XP_DATA_DIR: values['data-dir'] }) });
  const archive = values.archive ?? path.join(config.dataDir, 'archive', 'events');
  // A mistyped --archive would otherwise replay nothing and report success.
  if (values.archive !== undefined && !archive.startsWith('s3://') && !(existsSync(archive) && statSync(archive).isDirectory())) {
    throw new AppError('VALIDATION_FAILED', `no event archive at ${archive}: pass the folder the platform archives events to (by default <data dir>/archive/events) or s3://BUCKET/archive/events`);
  }
  // s3://bucket/archive/events/ reads the Firehose bucket directly (AWS_PROFILE / AWS_REGION apply).
  const source = archive.startsWith('s3://') ? s3Archive(archive, s3ClientFromEnv(env)) : archive;
  if (config.databaseUrl === undefined && !existsSync(embeddedDatabaseDir(config.dataDir))) {
    // Replaying into a new, empty database would only create one: the aggregates live in the platform's.
    throw new AppError('VALIDATION_FAILED', `no platform database in ${config.dataDir}: pass the data folder \`xp start\` uses (--data-dir or XP_DATA_DIR), or set DATABASE_URL`);
  }
  return withPlatformDatabase(config, 'xp replay', printError, async (db) => {
    printError(`replaying ${from.toISOString()} .. ${to.toISOString()} from ${archive}${values.experiment === undefined ? '' : ` (experiment ${values.experiment})`}`);
    const result = await replayArchive(db, { archive: source, from, to, ...(values.experiment === undefined ? {} : { experiment: values.experiment }), progress: printError }).catch((e: unknown) => {
      // The AWS SDK's own words name no setting.
      if (e instanceof Error && /region is missing/i.test(e.message)) {
        throw new AppError('VALIDATION_FAILED', `${e.message}: set AWS_REGION (or AWS_PROFILE with a region) to read ${archive}`);
      }
      throw e;
    });
    print(
      `Replayed ${result.events} events from ${result.files} files; recomputed ${result.experiments} experiment totals` +
        `${result.erased > 0 ? `; left out ${result.erased} events of erased units` : ''}${result.invalid > 0 ? `; skipped ${result.invalid} unreadable lines` : ''}.`,
    );
    return 0;
  });
}

/**
 * Runs `fn` on the platform's database, migrated: DATABASE_URL's, else the data folder's embedded
 * one, which allows one process: refused while `xp start` (or another such command) holds the folder,
 * and refused when a newer release migrated it.
 */
async function withPlatformDatabase(config: LocalConfig, command: LockOwner, printError: Print, fn: (db: Database) => Promise<number>): Promise<number> {
  const lock = config.databaseUrl === undefined ? await lockDataDir(config.dataDir, command, { notice: (m) => { printError(`notice: ${m}`); } }) : undefined;
  try {
    const db = config.databaseUrl === undefined ? await openEmbeddedDatabase(config.dataDir) : createPgDatabase(config.databaseUrl);
    try {
      // As `xp start`: a database a newer release migrated is refused before anything is applied.
      await migrate(db, MIGRATIONS_DIR, { onNewerSchema: 'refuse' });
      return await fn(db);
    } finally {
      await db.close();
    }
  } finally {
    await lock?.release();
  }
}

const USERS_USAGE = 'xp users reset-password EMAIL [--data-dir DIR]';

/** `xp users reset-password EMAIL`: operator recovery of an account, on the database directly. */
async function users(args: readonly string[], env: NodeJS.ProcessEnv, print: Print, printError: Print): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'reset-password') {
    throw new UsageError(`${sub === undefined ? 'users needs a subcommand' : `unknown users subcommand "${sub.slice(0, 100)}"`}; usage: ${USERS_USAGE}`);
  }
  const { values, positionals } = parseArgs({ args: [...rest], options: { 'data-dir': { type: 'string' } }, allowPositionals: true, strict: true });
  if (positionals.length !== 1) {
    throw new UsageError(`${positionals.length === 0 ? 'reset-password needs the user\'s email' : `unexpected argument "${positionals[1]!.slice(0, 100)}"`}; usage: ${USERS_USAGE}`);
  }
  const email = positionals[0]!;
  const config = configFromEnv({ ...env, ...(values['data-dir'] === undefined ? {} : { XP_DATA_DIR: values['data-dir'] }) });
  if (config.databaseUrl === undefined && !existsSync(embeddedDatabaseDir(config.dataDir))) {
    throw new AppError('VALIDATION_FAILED', `no platform database in ${config.dataDir}: pass the data folder \`xp start\` uses (--data-dir or XP_DATA_DIR), or set DATABASE_URL`);
  }
  return withPlatformDatabase(config, 'xp users reset-password', printError, async (db) => {
    const result = await resetPasswordAsOperator(db, email);
    print(`Temporary password for ${result.user.email} (shown once): ${result.temporaryPassword}`);
    printError(
      `They must choose a new password when they next sign in. Ended ${String(result.sessionsRevoked)} session(s) and revoked ${String(result.accessTokensRevoked)} personal access token(s).`,
    );
    return 0;
  });
}

/** How long `xp start` waits for a clean stop before it exits anyway: with EXIT_GRACE_MS, gone within 15 s. */
const STOP_DEADLINE_MS = 12_500;
/** How long `xp start` lets what it started wind down after it returned. */
const EXIT_GRACE_MS = 2_000;

/** Runs one command; returns the process exit code. */
export async function main(argv: readonly string[], env: NodeJS.ProcessEnv, print: Print = console.log, printError: Print = console.error, stdin: NodeJS.ReadableStream = process.stdin): Promise<number> {
  const [command, ...rest] = argv;
  try {
    // `xp apply --help` and the like: the usage, not an unknown option.
    if (command !== undefined && (rest.includes('--help') || rest.includes('-h'))) {
      print(HELP);
      return 0;
    }
    switch (command) {
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        print(HELP);
        return 0;
      case 'start': {
        const config = startConfig(rest, env);
        const stack = await startLocalStack(config, { print, logger: loggerFromEnv(env) });
        await new Promise<void>((resolve) => {
          const stop = (): void => {
            print('\nStopping…');
            resolve();
          };
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        });
        // A database that does not answer (a network partition) must not hold the stop past a service
        // manager's patience: after STOP_DEADLINE_MS it exits without waiting (a second signal exits at once).
        const closed = await Promise.race([stack.close().then(() => true), sleep(STOP_DEADLINE_MS, false, { ref: false })]);
        if (!closed) {
          printError(`error: could not stop cleanly within ${String(STOP_DEADLINE_MS / 1000)} s (is the database answering?); exiting without waiting for it`);
          return 1;
        }
        print('Stopped. Data kept for the next start.');
        return 0;
      }
      case 'export': {
        const { values } = parseArgs({
          args: rest,
          options: { project: { type: 'string' }, format: { type: 'string', default: 'yaml' }, out: { type: 'string' }, 'omit-enabled': { type: 'boolean', default: false }, 'scope-tag': { type: 'string' } },
          strict: true,
        });
        if (values.project === undefined) {
          throw new AppError('VALIDATION_FAILED', 'export needs --project');
        }
        if (values.format !== 'yaml' && values.format !== 'json') {
          throw new AppError('VALIDATION_FAILED', '--format must be yaml or json');
        }
        const text = serializeDocument(await exportDocument(client(env), values.project, { omitEnabled: values['omit-enabled'], scopeTag: values['scope-tag'] }), values.format);
        const size = Buffer.byteLength(text);
        if (size > MAX_INPUT_BYTES) {
          printError(`warning: the export is ${formatSize(size, MAX_INPUT_BYTES)}; xp apply reads files of at most ${MAX_INPUT_BYTES / 1_048_576} MB, so it cannot apply this file as a whole: split it by kind (flags, segments, …) into several documents`);
        }
        if (values.out === undefined) {
          print(text);
        } else {
          await writeFile(values.out, text);
          print(`Wrote ${values.out}`);
        }
        return 0;
      }
      case 'apply': {
        const { values, positionals } = parseArgs({
          args: rest,
          options: {
            'dry-run': { type: 'boolean', default: false },
            prune: { type: 'boolean', default: false },
            force: { type: 'boolean', default: false },
            project: { type: 'string' },
            'scope-tag': { type: 'string' },
            adopt: { type: 'boolean', default: false },
            propose: { type: 'boolean', default: false },
            comment: { type: 'string' },
            json: { type: 'boolean', default: false },
            'detailed-exitcode': { type: 'boolean', default: false },
          },
          allowPositionals: true,
          strict: true,
        });
        if (values.comment !== undefined && !values.propose) {
          throw new UsageError('--comment goes with --propose (it is the change requests\' comment)');
        }
        if (values.force && !values.prune) {
          throw new UsageError('--force goes with --prune (it lets pruning delete flags still referenced in code)');
        }
        const file = onlyFile(positionals, 'xp apply');
        if (file === undefined) {
          throw new UsageError('apply needs a file (- reads it from standard input)');
        }
        // --json: one JSON document on stdout, whatever happens; the text (and errors) go to stderr.
        const report = emptyReport(values['dry-run']);
        const quiet: Print = () => undefined;
        try {
          const text = file === '-' ? await readStdin(stdin) : await readInput(file);
          const checked = checkDocument(text, file === '-' ? '(stdin)' : file);
          if (checked.error !== undefined) {
            throw await alsoBrokenReferences(checked, env, values.project);
          }
          const doc = withScope(checked.doc, values['scope-tag']);
          if (values.adopt && doc.scope === undefined) {
            throw new UsageError('--adopt goes with a scope (scope: { tag: TAG } in the document, or --scope-tag TAG): it adds the tag to definitions the document writes');
          }
          await runApply(client(env), { ...doc, project: values.project ?? doc.project }, { dryRun: values['dry-run'], prune: values.prune, force: values.force, adopt: values.adopt, propose: values.propose, comment: values.comment, locate: checked.locate }, values.json ? quiet : print, printError, report);
        } catch (e) {
          if (values.json) {
            report.errors.push({ message: e instanceof Error ? e.message : String(e), issues: errorLines(e) });
            print(jsonForLogs(report));
          }
          throw e;
        }
        if (values.json) {
          print(jsonForLogs(report));
        }
        return values['detailed-exitcode'] && changesAnything(report) ? 2 : 0;
      }
      case 'import': {
        const [source, ...args] = rest;
        if (source === 'launchdarkly' || source === 'unleash') {
          return await importSdkData(source === 'launchdarkly' ? LAUNCHDARKLY : UNLEASH, args, env, print, printError);
        }
        if (source !== 'growthbook') {
          throw new UsageError(`${source === undefined ? 'import needs a source' : `unknown import source "${source.slice(0, 100)}"`}; usage: xp import growthbook|launchdarkly|unleash FILE --project KEY --environment ENV`);
        }
        const { values, positionals } = parseArgs({
          args,
          options: { project: { type: 'string' }, environment: { type: 'string' }, 'dry-run': { type: 'boolean', default: false }, 'sticky-bucketing': { type: 'boolean', default: false } },
          allowPositionals: true,
          strict: true,
        });
        const file = onlyFile(positionals, 'xp import growthbook');
        if (file === undefined || values.project === undefined || values.environment === undefined) {
          throw new AppError('VALIDATION_FAILED', 'usage: xp import growthbook FILE --project KEY --environment ENV');
        }
        const payload = parseJsonFile(await readInput(file), file);
        const converted = convertGrowthBookPayload(payload, { environment: values.environment, stickyBucketing: values['sticky-bucketing'] });
        const api = client(env);
        // One line for a mistyped environment, before the payload's warnings and a plan that names it on every flag.
        const environments = (await api.environments(values.project)).map((e) => e.key);
        if (!environments.includes(values.environment)) {
          throw new AppError('VALIDATION_FAILED', `project "${values.project}" has no environment "${values.environment}"; its environments: ${environments.join(', ')}`);
        }
        for (const w of converted.warnings) {
          printError(`warning: ${w}`);
        }
        const merged = await mergeWithExisting(api, values.project, converted, printError);
        const doc: FlagsDocument = { xp: 1, project: values.project, segments: converted.segments, holdouts: [], metrics: [], experiments: merged.experiments, flags: merged.flags };
        await runApply(api, doc, { dryRun: values['dry-run'], prune: false }, print);
        return 0;
      }
      case 'login':
        return await runLogin(rest, env, { print, printError, stdin }, (message) => new UsageError(message));
      case 'logout':
        return await runLogout(rest, env, { print, printError, stdin }, (message) => new UsageError(message));
      case 'whoami':
        return await runWhoami(rest, env, { print, printError, stdin }, (message) => new UsageError(message));
      case 'code-refs':
        return await runCodeRefs(rest, () => client(env), print);
      case 'replay':
        return await replay(rest, env, print, printError);
      case 'users':
        return await users(rest, env, print, printError);
      case 'flags':
        return await runFlags(rest, () => client(env), print, printError, (message) => new UsageError(message));
      case 'units':
        return await runUnits(rest, () => client(env), print, printError, (message) => new UsageError(message));
      case 'webhooks':
        return await runWebhooks(rest, () => client(env), env, print);
      default:
        printError(`error: unknown command "${command}"\n\n${HELP}`);
        return 2;
    }
  } catch (e) {
    // With --detailed-exitcode, 2 means "changes": a usage error is an error like any other.
    const usageCode = command === 'apply' && rest.includes('--detailed-exitcode') ? 1 : 2;
    if (e instanceof UsageError) {
      printError(`error: ${e.message}\n\n${USAGE_HINT}`);
      return usageCode;
    }
    if (e instanceof AppError || e instanceof ApiError) {
      // An answer without xp's error body (a 404 page from another server) says little by itself.
      const bare = e instanceof ApiError && /^HTTP \d+$/.test(e.message);
      // The stored login's token refused (revoked, expired): logging in again makes a new one.
      const stale = e instanceof ApiError && e.status === 401 && command !== 'login' && command !== 'logout' && (env.XP_TOKEN ?? '').trim() === '';
      const source = bare ? apiUrlSource(env, command === 'login' ? { apiUrlOption: apiUrlOption(rest), usesStoredLogin: true } : {}) : undefined;
      printError(printable(`error: ${e.message}${source !== undefined ? ` from ${source.url}; ${source.hint}` : ''}${stale ? ` (the token xp login stored in ${credentialsPath(env)}): run xp login again` : ''}`));
      // Messages already name some issues (all of a flags file's, the first of the API's): the rest are listed.
      const issues = errorLines(e);
      // A message names an issue as "path: message" (flags files) or "path message" (the API's first).
      const stated = (i: { path: string; message: string }): boolean =>
        (i.path === '' ? [i.message] : [`${i.path}: ${i.message}`, `${i.path} ${i.message}`]).some((line) => e.message.startsWith(line) || e.message.includes(` ${line}`));
      const unstated = issues.filter((i) => !stated(i)).map((i) => (i.path === '' ? i.message : `${i.path}: ${i.message}`));
      for (const line of unstated.slice(0, 20)) {
        printError(printable(`  ${line}`));
      }
      return 1;
    }
    if (e instanceof TypeError && 'code' in e && typeof e.code === 'string' && e.code.startsWith('ERR_PARSE_ARGS')) {
      // Node's text for an unknown option ends in advice about "--" with unbalanced quotes: name the option alone.
      const unknown = e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? /^Unknown option '([^']+)'/.exec(e.message)?.[1] : undefined;
      printError(`error: ${unknown === undefined ? e.message : `unknown option ${unknown}`}\n\n${USAGE_HINT}`);
      return usageCode;
    }
    // fetch's network failure: the reason (ECONNREFUSED, ENOTFOUND, …) is in its cause.
    if (e instanceof TypeError && e.message === 'fetch failed') {
      const cause = e.cause instanceof Error ? ((e.cause as NodeJS.ErrnoException).code ?? e.cause.message) : undefined;
      printError(`error: cannot reach the API at ${apiUrlOf(env)}${cause === undefined ? '' : ` (${cause})`}; is it running? XP_API_URL sets its address`);
      return 1;
    }
    throw e;
  }
}

/** xp login's --api-url value (`--api-url URL` or `--api-url=URL`), as it used it; undefined without one. */
function apiUrlOption(args: readonly string[]): string | undefined {
  let value: string | undefined;
  args.forEach((arg, i) => {
    if (arg === '--api-url') {
      value = args[i + 1];
    } else if (arg.startsWith('--api-url=')) {
      value = arg.slice('--api-url='.length);
    }
  });
  if (value === undefined) {
    return undefined;
  }
  try {
    return checkApiUrl(value, '--api-url');
  } catch {
    return value;
  }
}

/** Runs the CLI with the process's arguments; used by cloud/bin/xp.js. */
export function run(): void {
  // Output that cannot be written (a full disk, a closed pipe) fails the command instead of passing
  // for a complete export; console.log alone ignores it.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') {
      console.error(`error: cannot write the output: ${e.message}`);
    }
    process.exitCode = 1;
  });
  const starting = process.argv[2] === 'start';
  // `xp start` ends when it returns, even when something it started (an embedded database that
  // failed to open, a connection that does not answer) still holds the event loop: a service
  // manager must see the exit to restart it. Other commands end when their output is written.
  const exitSoon = (): void => {
    if (starting) {
      setTimeout(() => process.exit(), EXIT_GRACE_MS).unref();
    }
  };
  main(process.argv.slice(2), process.env).then(
    (code) => {
      // An output error already reported keeps its failure.
      process.exitCode = process.exitCode === 1 && code === 0 ? 1 : code;
      exitSoon();
    },
    (e: unknown) => {
      console.error(e instanceof Error ? `error: ${e.message}` : e);
      process.exitCode = 1;
      exitSoon();
    },
  );
}
