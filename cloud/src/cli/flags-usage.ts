/**
 * `xp flags usage`: how often SDKs evaluated each flag of a project lately, per environment, from
 * the API's evaluation counts — and which flags none evaluated (removal candidates) and which keys
 * are evaluated that no flag has. Without counts it says so, and never calls a flag unused.
 */
import type { EvaluationAppCount, ProjectFlagEvaluations, XpApiClient } from '@xp/shared';
import { ApiError } from '@xp/shared';
import { DEFAULT_UNDEFINED_KEYS_LIMIT, MAX_UNDEFINED_KEYS_LIMIT } from '../domain/flag-evaluations.js';
import { AppError, AppErrorCode } from '../errors.js';
import { EVALUATION_DAYS_KEPT, countingBegan, utcMinute } from './code-refs.js';
import { printable } from './flags-as-code.js';

/** The window `xp flags usage` looks at unless --days says otherwise. */
export const USAGE_DEFAULT_DAYS = 30;

/** Said when nothing in the project (or the environment asked about) reports evaluation counts. */
export const NO_COUNTS = 'no SDK of this project reports evaluation counts yet; see docs/sdk-js.md#evaluation-counts';

/** What a row of the table says of its key. */
export const UsageStatus = {
  /** Evaluated in the window. */
  Evaluated: 'evaluated',
  /** A flag older than the window that no SDK evaluated in it: a candidate for removal. */
  NotEvaluated: 'not-evaluated',
  /** A flag created within the window and not evaluated yet: its code may not be deployed yet. */
  New: 'new',
  /**
   * A flag no SDK evaluated since counting began (`countingBegan`), within the window, or at a time the
   * server does not say: too soon to call it unused.
   */
  NotEvaluatedSinceCounting: 'not-evaluated-since-counting',
  /** A key SDKs evaluated that no flag of the project has (deleted, or mistyped in code). */
  NotDefined: 'not-defined',
  /** An archived flag SDKs still evaluate (they serve the code's default). */
  Archived: 'archived',
} as const;
export type UsageStatus = (typeof UsageStatus)[keyof typeof UsageStatus];

/** One row: a flag or an evaluated key. `environments` holds a count per environment shown. */
export interface UsageRow {
  readonly key: string;
  readonly status: UsageStatus;
  readonly total: number;
  readonly environments: Record<string, number>;
  readonly lastEvaluatedAt: string | null;
  /** The applications that evaluated it in the window, most evaluated first (`app` null: SDKs that named none); empty from older servers. */
  readonly apps: readonly EvaluationAppCount[];
}

/** The answer of `xp flags usage --json`. */
export interface UsageReport {
  readonly project: string;
  readonly days: number;
  readonly since: string;
  /** The one environment counted (--environment), or null for all. */
  readonly environment: string | null;
  /** The one application counted (--app), or null for all. */
  readonly app: string | null;
  /** Every application that evaluated a key in the window, most evaluated first; empty from older servers. */
  readonly apps: readonly EvaluationAppCount[];
  /** Evaluations in the window the server did not keep (an hour passed its caps on distinct keys or applications): 0 normally. */
  readonly dropped: number;
  /** How many keys no flag has the server was asked to list at most (--limit; the most evaluated first). */
  readonly limit: number;
  /** How many more keys no flag has were evaluated in the window than `limit` let list (not among `flags`): 0 normally, and from an older server. */
  readonly undefinedOmitted: number;
  /** The unarchived flags created before the window: only these can be called not evaluated (0: too soon to call any unused). */
  readonly flagsOlderThanWindow: number;
  /** Whether any SDK reported counts in the window (from that environment): false, and no row says anything of use. */
  readonly reportsCounts: boolean;
  /** Without counts in the window, when the latest counts before it arrived (over the 90 days kept), else null. */
  readonly lastCountsAt: string | null;
  /** The environments shown that no SDK reported counts from in the window: their zeros mean nothing. */
  readonly environmentsWithoutCounts: string[];
  /** Since when each environment shown has counts (the API's `countingSince`); an environment without counts is absent. */
  readonly countingSince: { readonly environment: string; readonly since: string }[];
  /**
   * The latest of those: absence means "not evaluated in `days` days" only when it is before `since`;
   * null when the server does not say (then no flag is called not evaluated).
   */
  readonly countingBegan: string | null;
  readonly flags: UsageRow[];
}

const STATUS_TEXT: Record<UsageStatus, string> = {
  [UsageStatus.Evaluated]: '',
  [UsageStatus.NotEvaluated]: 'not evaluated',
  [UsageStatus.New]: 'new, not evaluated yet',
  [UsageStatus.NotEvaluatedSinceCounting]: 'not evaluated since counting began',
  [UsageStatus.NotDefined]: 'not defined',
  [UsageStatus.Archived]: 'archived, still evaluated',
};

/** The most keys no flag has `--limit` may ask the server to list (the API's cap), and how many it lists unless asked. */
export const USAGE_MAX_LIMIT = MAX_UNDEFINED_KEYS_LIMIT;
export const USAGE_DEFAULT_LIMIT = DEFAULT_UNDEFINED_KEYS_LIMIT;

/**
 * The report of `project`'s flags over the last `days` days (in `environment` only, and of application
 * `app` only, if given), with at most `limit` keys no flag has (the server's default when not given).
 */
export async function flagUsage(client: XpApiClient, project: string, days: number, environment: string | undefined, app?: string, limit?: number): Promise<UsageReport> {
  const filters = { ...(environment === undefined ? {} : { environment }), ...(app === undefined ? {} : { app }) };
  let usage: ProjectFlagEvaluations;
  const [flags, environments] = await Promise.all([client.listAll(project, 'flags', { archived: true }), client.environments(project)]);
  if (environment !== undefined && !environments.some((e) => e.key === environment)) {
    throw new AppError(AppErrorCode.Validation, `--environment ${JSON.stringify(environment.slice(0, 100))} is not an environment of ${project} (${environments.map((e) => e.key).join(', ')})`);
  }
  try {
    usage = await client.projectFlagEvaluations(project, { days, ...filters, ...(limit === undefined ? {} : { limit }) });
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      throw new AppError(AppErrorCode.Unavailable, `the platform at this XP_API_URL does not serve evaluation counts (an older server: GET …/flag-evaluations answered 404)`, undefined, { cause: error });
    }
    throw error;
  }
  const shown = environment === undefined ? environments.map((e) => e.key) : [environment];
  const counted = new Set(usage.flags.flatMap((f) => f.environments.filter((e) => e.count > 0).map((e) => e.environment)));
  const reportsCounts = counted.size > 0;
  const countingSince = ((usage as Partial<ProjectFlagEvaluations>).countingSince ?? []).map((c) => ({ environment: c.environment, since: c.since }));
  const began = countingBegan(usage) ?? null;
  // Servers from before applications were counted answer neither.
  const older = usage as Partial<ProjectFlagEvaluations>;
  const windowStart = Date.parse(usage.since);
  const base = {
    project,
    days,
    since: usage.since,
    environment: environment ?? null,
    app: app ?? null,
    apps: older.apps ?? [],
    dropped: older.dropped ?? 0,
    limit: limit ?? USAGE_DEFAULT_LIMIT,
    undefinedOmitted: older.undefinedOmitted ?? 0,
    // Those not created within the window, as the rows tell "new" (archived ones are done with).
    flagsOlderThanWindow: flags.filter((f) => !f.archived && !(Date.parse(f.createdAt) > windowStart)).length,
    reportsCounts,
    lastCountsAt: null,
    environmentsWithoutCounts: shown.filter((e) => !counted.has(e)),
    countingSince,
    countingBegan: began,
  };
  if (!reportsCounts) {
    // Counts before the window tell "SDKs stopped reporting, or nothing was evaluated" from "never reported".
    const kept = days < EVALUATION_DAYS_KEPT ? await client.projectFlagEvaluations(project, { days: EVALUATION_DAYS_KEPT, ...filters }) : usage;
    const latest = kept.flags.map((f) => f.lastEvaluatedAt).sort().at(-1);
    return { ...base, lastCountsAt: latest ?? null, flags: [] };
  }
  const byKey = new Map(usage.flags.map((f) => [f.flag, f]));
  // Counting that began within the window (or at a time not said) proves absence only since then.
  const countedAllWindow = began !== null && Date.parse(began) <= windowStart;
  const row = (key: string, status: (evaluated: boolean) => UsageStatus): UsageRow => {
    const entry = byKey.get(key);
    return {
      key,
      status: status(entry !== undefined),
      total: entry?.total ?? 0,
      environments: Object.fromEntries(shown.map((e) => [e, entry?.environments.find((x) => x.environment === e)?.count ?? 0])),
      lastEvaluatedAt: entry?.lastEvaluatedAt ?? null,
      apps: (entry as Partial<ProjectFlagEvaluations['flags'][number]> | undefined)?.apps ?? [],
    };
  };
  const rows: UsageRow[] = [];
  const flagKeys = new Set<string>();
  for (const flag of flags) {
    flagKeys.add(flag.key);
    if (flag.archived) {
      // Archived flags are done with, unless code still asks for them.
      if (byKey.has(flag.key)) {
        rows.push(row(flag.key, () => UsageStatus.Archived));
      }
      continue;
    }
    const created = Date.parse(flag.createdAt);
    rows.push(
      row(flag.key, (evaluated) =>
        evaluated ? UsageStatus.Evaluated : created > windowStart ? UsageStatus.New : countedAllWindow ? UsageStatus.NotEvaluated : UsageStatus.NotEvaluatedSinceCounting,
      ),
    );
  }
  for (const entry of usage.flags) {
    if (!flagKeys.has(entry.flag)) {
      rows.push(row(entry.flag, () => UsageStatus.NotDefined));
    }
  }
  rows.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { ...base, flags: rows };
}

const number = (n: number): string => n.toLocaleString('en-US');
const count = (n: number, noun: string): string => `${number(n)} ${noun}${n === 1 ? '' : 's'}`;

/** The report as lines: a heading, an aligned table, and what a dash means. */
export function usageLines(report: UsageReport, unused: boolean): string[] {
  const where = report.environment === null ? '' : ` in ${report.environment}`;
  const window = `the last ${report.days === 1 ? 'day' : `${report.days} days`}${where} (since ${utcMinute(report.since)})`;
  // With --app, only what the SDKs naming that application (appName) counted.
  const as = report.app === null ? '' : ` as application ${report.app}`;
  if (!report.reportsCounts) {
    const from = report.environment === null ? '' : ` from ${report.environment}`;
    // The caps are not per application: an application with no counts kept may be among those not counted.
    const maybeDropped =
      report.app !== null && report.dropped > 0
        ? ` (${count(report.dropped, 'evaluation')} ${report.dropped === 1 ? 'was' : 'were'} not counted in the window because of the caps; ${report.app} may be among them)`
        : '';
    return [
      report.lastCountsAt === null
        ? report.app === null
          ? NO_COUNTS.replace('counts yet', `counts${from} yet`)
          : `no SDK of this project reports evaluation counts${as}${from} yet (SDKs name their application with the appName option, app_name in Python): no flag is called unused${maybeDropped}`
        : `no SDK of this project reported evaluation counts${as}${from} in ${window}; the last arrived ${utcMinute(report.lastCountsAt)}, so its SDKs may have stopped sending them: no flag is called unused${maybeDropped}`,
    ];
  }
  const by = report.app === null ? '' : ` by application ${report.app}`;
  const rows = unused ? report.flags.filter((r) => r.status === UsageStatus.NotEvaluated) : report.flags;
  const began = report.countingBegan === null ? 'at a time this server does not say (an older server)' : `on ${utcMinute(report.countingBegan)}`;
  const tooSoon = report.flags.filter((r) => r.status === UsageStatus.NotEvaluatedSinceCounting).length;
  const days = report.days === 1 ? 'a day' : `${report.days} days`;
  if (unused) {
    if (report.flagsOlderThanWindow === 0) {
      // Every flag is newer than the window: none can be called unused, and none "every … was evaluated" either.
      return [`No flag of ${report.project} is older than ${days}: too soon to call any unused.`];
    }
    if (tooSoon > 0) {
      // Not one flag is called unused while counting has not covered the window.
      return [
        `Evaluation counting began ${began}, less than ${days} before now${where}: too soon to call any flag unused (${count(tooSoon, 'flag')} not evaluated since).`,
      ];
    }
    // Newer flags none evaluated are neither unused nor evaluated: said, on the same line (the lines after a heading are flags).
    const newer = report.flags.filter((r) => r.status === UsageStatus.New).length;
    const newerText = newer === 0 ? '' : `; ${count(newer, 'newer flag')}, created within the window, ${newer === 1 ? 'was' : 'were'} not evaluated${by} yet: too soon to call ${newer === 1 ? 'it' : 'them'} unused`;
    return rows.length === 0
      ? [`Every flag of ${report.project} older than ${report.days} days (${count(report.flagsOlderThanWindow, 'flag')}) was evaluated${by} in ${window}${newerText}.`]
      : [`Flags of ${report.project} no SDK${report.app === null ? '' : ` of application ${report.app}`} evaluated in ${window}:`, ...rows.map((r) => printable(r.key))];
  }
  const silent = new Set(report.environmentsWithoutCounts);
  const envs = Object.keys(report.flags[0]?.environments ?? {});
  // Applications only where some SDK names its own (with --app, the one asked for is in the heading).
  const showApps = report.app === null && (report.apps.some((a) => a.app !== null) || report.flags.some((r) => r.apps.some((a) => a.app !== null)));
  const header = ['FLAG', ...envs.map((e) => e.toUpperCase()), 'LAST EVALUATED', ...(showApps ? ['APPS'] : []), ''];
  const table = rows.map((r) => [
    printable(r.key),
    ...envs.map((e) => (silent.has(e) ? '-' : number(r.environments[e] ?? 0))),
    r.lastEvaluatedAt === null ? '-' : utcMinute(r.lastEvaluatedAt),
    ...(showApps ? [appsCell(r.apps)] : []),
    STATUS_TEXT[r.status],
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((cells) => cells[i]!.length)));
  // Counts right-aligned, the rest left.
  const line = (cells: string[]): string => cells.map((c, i) => (i > 0 && i <= envs.length ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  const out = [`Evaluations of ${report.project}'s flags${by} in ${window}:`, line(header), ...table.map(line)];
  if (silent.size > 0) {
    out.push(`-: no SDK reported counts${as} from ${[...silent].join(', ')} in the window, so nothing is known of the flags there.`);
  }
  if (report.undefinedOmitted > 0) {
    const raise = report.limit < USAGE_MAX_LIMIT ? `raise --limit, at most ${USAGE_MAX_LIMIT}` : `--limit ${USAGE_MAX_LIMIT} is the most the server lists`;
    out.push(`… and ${count(report.undefinedOmitted, 'more key')} no flag has, evaluated less often (${raise}).`);
  }
  if (tooSoon > 0) {
    out.push(`Evaluation counting began ${began}, within the window: "not evaluated since counting began" is all that can be said of a flag none evaluated.`);
  }
  if (report.app !== null) {
    out.push(`A flag ${report.app} did not evaluate may still be evaluated by other applications, or by SDKs that name none.`);
  }
  return out;
}

/** How the SDKs that named no application (appName unset) are listed among those that did. */
export const NO_APP_NAMED = 'no app named';

/** How many applications a row names before "+N". */
export const APPS_SHOWN = 3;

/** A row's applications, most evaluated first: "checkout-api, web-shop, no app named, +2"; "-" when none. */
export function appsCell(apps: readonly EvaluationAppCount[]): string {
  if (apps.length === 0) {
    return '-';
  }
  const names = apps.slice(0, APPS_SHOWN).map((a) => (a.app === null ? NO_APP_NAMED : printable(a.app)));
  return [...names, ...(apps.length > APPS_SHOWN ? [`+${apps.length - APPS_SHOWN}`] : [])].join(', ');
}

/**
 * The warning (for stderr) when the server did not keep some evaluations of the window: an hour of
 * an environment passed its caps on distinct keys or applications. Undefined when it kept them all.
 */
export function droppedWarning(report: UsageReport): string | undefined {
  if (report.dropped <= 0) {
    return undefined;
  }
  return (
    `warning: ${count(report.dropped, 'evaluation')} in the window ${report.dropped === 1 ? 'was' : 'were'} not counted: in some hours SDKs sent more distinct flag keys or application names than the server keeps ` +
    `(a client sending generated keys?); counts are low by that much, and a flag shown as not evaluated may have been evaluated`
  );
}
