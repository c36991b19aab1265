/**
 * Flag evaluation counts for the console (docs/console.md, "Evaluation counts"): pure functions from
 * the API's answers (GET …/flags/{key}/evaluations and GET …/flag-evaluations) to what the flag page
 * and the flags list show.
 */
import type { EvaluationAppCount, EvaluationCountingSince, FlagEvaluations, ProjectFlagEvaluations, StoredEnvironment } from '@xp/shared';
import { formatCount } from '../../lib/format.js';

/** GET /api/v1/projects/{project}/flags/{key}/evaluations (the shared client's `flagEvaluations`). */
export type FlagEvaluationsView = FlagEvaluations;

/** GET /api/v1/projects/{project}/flag-evaluations (the shared client's `projectFlagEvaluations`). */
export type ProjectEvaluationsView = ProjectFlagEvaluations;

/** One key of the project's answer. */
export type EvaluatedKey = ProjectFlagEvaluations['flags'][number];

/**
 * The SDK releases that send evaluation counts (docs/sdk-js.md, docs/sdk-python.md; the docs date
 * releases as "before 2026-12"): older ones, and SDKs with counts turned off, send none.
 */
export const COUNTING_SDKS_SINCE = '2026-12';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** The ranges the flag page offers, with the bucket each is charted in (hours up to three days, as the API's default). */
export const RANGES = {
  '24h': { label: 'Last 24 hours', span: DAY, interval: 'hour' },
  '7d': { label: 'Last 7 days', span: 7 * DAY, interval: 'day' },
  '30d': { label: 'Last 30 days', span: 30 * DAY, interval: 'day' },
  '90d': { label: 'Last 90 days', span: 90 * DAY, interval: 'day' },
} as const satisfies Record<string, { label: string; span: number; interval: 'hour' | 'day' }>;
export type RangeKey = keyof typeof RANGES;

/** The days the flags list asks the API about: the most it keeps, so "last evaluated" reaches back that far. */
export const LIST_DAYS = 90;

/** A flag with no evaluation in this many days is *not evaluated* (LaunchDarkly: inactive). */
export const INACTIVE_DAYS = 30;

/**
 * How many keys no flag has the flags list asks for (`limit` of GET …/flag-evaluations) and shows at
 * most: a client key can send any number of keys, the rest is "and N more" (`undefinedOmitted`).
 */
export const UNDEFINED_LIMIT = 200;

/**
 * What flags that are never counted, whatever the SDK: a bulk answer is not a use (docs/console.md,
 * "Evaluation counts"). Said wherever the console calls a flag not evaluated.
 */
export const BULK_CAVEAT =
  'Flags fetched only by bulk remote evaluation (POST /sdk/v1/evaluate without flags, or OFREP bulk evaluation) are not counted: a bulk answer is not a use.';

/**
 * Since when counts have been arriving in `environment` (ms: the start of the earliest hour kept, any
 * key), or undefined: none arrive there, or the server does not say (an older one answers no
 * `countingSince`).
 */
export function countingStart(view: { readonly countingSince?: readonly EvaluationCountingSince[] } | undefined, environment: string): number | undefined {
  const list = view?.countingSince;
  if (!Array.isArray(list)) {
    return undefined;
  }
  const at = Date.parse((list as readonly EvaluationCountingSince[]).find((c) => c.environment === environment)?.since ?? '');
  return Number.isFinite(at) ? at : undefined;
}

/**
 * Whether counting in an environment that began at `since` covers the last `days` days before `now`:
 * it began at least that long ago. One hour of slack (the bucket width): counts are kept 90 days by
 * the hour, so where counting is older than that the earliest hour kept starts up to an hour later.
 */
export function countingCovers(since: number | undefined, days: number, now: number): boolean {
  return since !== undefined && since - HOUR <= now - days * DAY;
}

/**
 * What can truly be said of a flag with no evaluation counted in an environment over the last `days`
 * days: nothing (no counts arrive there: `no counts`), "not in `days` days" (counting there covers
 * them), or only "not since counting began" (at `since`; undefined when the server does not say).
 * `hasCounts`: whether counts arrive there at all (used when the server gives no `countingSince`).
 */
export type Unevaluated = { readonly kind: 'no counts' } | { readonly kind: 'days'; readonly days: number } | { readonly kind: 'since counting began'; readonly since: number | undefined };

export function unevaluated(since: number | undefined, hasCounts: boolean, days: number, now: number): Unevaluated {
  if (since === undefined) {
    return hasCounts ? { kind: 'since counting began', since: undefined } : { kind: 'no counts' };
  }
  return countingCovers(since, days, now) ? { kind: 'days', days } : { kind: 'since counting began', since };
}

/** "since counting began (Dec 7, 2026, 09:00 UTC)", or without the date when unknown. */
export const sinceCountingText = (since: number | undefined): string => `since counting began${since === undefined ? '' : ` (${formatSince(since)})`}`;

/** "Dec 7, 2026, 09:00 UTC": when counting began (an hour start, in UTC as the buckets). */
export function formatSince(ms: number): string {
  const d = new Date(ms);
  const day = d.toLocaleDateString('en-US', { month: 'short', day: 'numeric', year: 'numeric', timeZone: 'UTC' });
  return `${day}, ${String(d.getUTCHours()).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')} UTC`;
}

/** The query of the flag page for `range`, ending at `now`. */
export function rangeQuery(range: RangeKey, now: number): { from: string; to: string; interval: 'hour' | 'day' } {
  const { span, interval } = RANGES[range];
  return { from: new Date(now - span).toISOString(), to: new Date(now).toISOString(), interval };
}

/** The start of the bucket (UTC hour or UTC day) holding `ms`. */
export function bucketStart(ms: number, interval: 'hour' | 'day'): number {
  const size = interval === 'hour' ? HOUR : DAY;
  return Math.floor(ms / size) * size;
}

/** Every bucket start from the one holding `from` to the one holding `to`, oldest first. */
export function bucketStarts(from: number, to: number, interval: 'hour' | 'day'): number[] {
  if (!Number.isFinite(from) || !Number.isFinite(to) || to < from) {
    return [];
  }
  const size = interval === 'hour' ? HOUR : DAY;
  const starts: number[] = [];
  for (let at = bucketStart(from, interval); at <= to; at += size) {
    starts.push(at);
  }
  return starts;
}

/** The chart's key of a variation; the default served (null) has its own. */
export const DEFAULT_SERVED = 'default served';
export const variationKey = (variation: string | null): string => variation ?? DEFAULT_SERVED;

/**
 * The variations in the order shown: the flag's own (`defined`) first, then others seen in the
 * counts (variations since removed) by key, and the default served last.
 */
export function variationOrder(defined: readonly string[], seen: readonly (string | null)[]): (string | null)[] {
  const extra = [...new Set(seen.filter((v): v is string => v !== null && !defined.includes(v)))].sort();
  return [...defined, ...extra, ...(seen.includes(null) ? [null] : [])];
}

/**
 * A row of the chart: its bucket's label and range, and a count per variation key: 0 where none was
 * counted while counting ran, null in a bucket with *no data* (wholly before counting began there).
 */
export type EvaluationRow = Record<string, string | number | null> & { readonly x: string; readonly range: string };

/** Whether a row is a bucket with no data (before counting began): every variation null. */
export const isNoData = (row: EvaluationRow, variations: readonly (string | null)[]): boolean => variations.length > 0 && variations.every((v) => row[variationKey(v)] === null);

/** "Dec 7, 14:00" (hours) or "Dec 7" (days), in UTC: buckets are UTC hours and days. */
export function bucketLabel(at: number, interval: 'hour' | 'day'): string {
  const d = new Date(at);
  const day = d.toLocaleDateString('en-US', { month: 'short', day: 'numeric', timeZone: 'UTC' });
  return interval === 'hour' ? `${day}, ${String(d.getUTCHours()).padStart(2, '0')}:00` : day;
}

/**
 * The chart's rows for `environment`: one per bucket of [from, to] (the API's answer), each
 * variation's count in it. A bucket without counts is a real zero only once counting ran in the
 * environment (`countingSince`): one that ends before counting began there, or any when the server
 * does not say since when, is *no data* (null), as docs/api.md asks. Counts outside the range are
 * left out; a point not on a bucket start goes to the bucket holding it.
 */
export function chartRows(view: FlagEvaluationsView, environment: string, variations: readonly (string | null)[]): EvaluationRow[] {
  const from = Date.parse(view.from);
  const to = Date.parse(view.to);
  const starts = bucketStarts(from, to, view.interval);
  const index = new Map(starts.map((at, i) => [at, i]));
  const counts = starts.map(() => new Map<string, number>());
  for (const p of view.series) {
    const at = Date.parse(p.at);
    if (p.environment !== environment || !Number.isFinite(at) || !Number.isFinite(p.count)) {
      continue;
    }
    const i = index.get(bucketStart(at, view.interval));
    if (i === undefined) {
      continue;
    }
    const bucket = counts[i]!;
    bucket.set(variationKey(p.variation), (bucket.get(variationKey(p.variation)) ?? 0) + p.count);
  }
  const size = view.interval === 'hour' ? HOUR : DAY;
  const since = countingStart(view, environment);
  return starts.map((at, i) => {
    const row: Record<string, string | number | null> = {
      x: bucketLabel(at, view.interval),
      range: `${bucketLabel(at, view.interval)} – ${bucketLabel(at + size, view.interval)} UTC`,
    };
    const noData = counts[i]!.size === 0 && (since === undefined || at + size <= since);
    for (const v of variations) {
      row[variationKey(v)] = noData ? null : (counts[i]!.get(variationKey(v)) ?? 0);
    }
    return row as EvaluationRow;
  });
}

/** A variation's total in an environment and its share of all the environment's evaluations. */
export interface VariationTotal {
  readonly variation: string | null;
  readonly count: number;
  readonly share: number;
}

/** The totals of `environment` per variation (in `order`), with shares; none when nothing was counted (no 0/0). */
export function variationTotals(view: FlagEvaluationsView, environment: string, order: readonly (string | null)[]): VariationTotal[] {
  const byVariation = new Map<string | null, number>();
  for (const t of view.totals) {
    if (t.environment === environment && Number.isFinite(t.count) && t.count > 0) {
      byVariation.set(t.variation, (byVariation.get(t.variation) ?? 0) + t.count);
    }
  }
  const sum = [...byVariation.values()].reduce((a, b) => a + b, 0);
  if (sum === 0) {
    return [];
  }
  return order.filter((v) => byVariation.has(v)).map((variation) => {
    const count = byVariation.get(variation) ?? 0;
    return { variation, count, share: count / sum };
  });
}

/** When the flag was last evaluated in `environment` (any time the API knows of), or undefined. */
export function lastEvaluatedIn(view: FlagEvaluationsView, environment: string): string | undefined {
  return view.lastEvaluated.find((l) => l.environment === environment)?.at;
}

/** The environment the flag page opens on: the first production one, else the first. */
export function defaultEnvironment(environments: readonly StoredEnvironment[]): string | undefined {
  return (environments.find((e) => e.production) ?? environments[0])?.key;
}

/** "just now", "3 minutes ago", "1 hour ago", "5 days ago"; "—" for no or a bad time. */
export function formatAgo(iso: string | null | undefined, now: number): string {
  const at = iso === null || iso === undefined ? NaN : Date.parse(iso);
  if (!Number.isFinite(at)) {
    return '—';
  }
  const seconds = Math.max(0, (now - at) / 1000);
  const unit = (n: number, name: string): string => `${formatCount(n)} ${name}${n === 1 ? '' : 's'} ago`;
  if (seconds < 60) {
    return 'just now';
  }
  if (seconds < 3600) {
    return unit(Math.floor(seconds / 60), 'minute');
  }
  if (seconds < 86_400) {
    return unit(Math.floor(seconds / 3600), 'hour');
  }
  return unit(Math.floor(seconds / 86_400), 'day');
}

/** Whether any SDK has sent counts from `environment` (any key; `countingSince` names it): without, absence of counts says nothing about a flag. */
export function environmentCounts(view: ProjectEvaluationsView, environment: string): boolean {
  return countingStart(view, environment) !== undefined || view.flags.some((f) => f.environments.some((e) => e.environment === environment && e.count > 0));
}

/** When `flag` was last evaluated in `environment`, from the project's answer, or undefined (not in its window). */
export function lastEvaluatedOf(view: ProjectEvaluationsView, flag: string, environment: string): string | undefined {
  return view.flags.find((f) => f.flag === flag)?.environments.find((e) => e.environment === environment)?.lastEvaluatedAt;
}

/**
 * The inactive rule: a flag is *not evaluated in 30 days* in `environment` when counting there began
 * at least 30 days ago (`countingSince`; before, absence of counts only says "not since counting
 * began"), the flag is older than 30 days (a new flag may not be in code yet) and it has no
 * evaluation there in the last 30 days.
 */
export function notEvaluated(view: ProjectEvaluationsView, flag: { readonly key: string; readonly createdAt: string }, environment: string, now: number): boolean {
  const cutoff = now - INACTIVE_DAYS * DAY;
  if (!countingCovers(countingStart(view, environment), INACTIVE_DAYS, now) || !(Date.parse(flag.createdAt) <= cutoff)) {
    return false;
  }
  const last = lastEvaluatedOf(view, flag.key, environment);
  return last === undefined || !(Date.parse(last) > cutoff);
}

/**
 * The keys evaluated but not defined as flags (typos, deleted flags still called), most evaluated
 * first, at most `limit` (an older server ignores the query's `limit`), and how many more there are:
 * those the server left out (`undefinedOmitted`) and those cut here.
 */
export function undefinedKeys(view: ProjectEvaluationsView, limit = UNDEFINED_LIMIT): { keys: EvaluatedKey[]; more: number } {
  const all = view.flags.filter((f) => !f.defined).sort((a, b) => b.total - a.total || (a.flag < b.flag ? -1 : a.flag > b.flag ? 1 : 0));
  const omitted = typeof view.undefinedOmitted === 'number' && Number.isFinite(view.undefinedOmitted) && view.undefinedOmitted > 0 ? view.undefinedOmitted : 0;
  const keys = all.slice(0, Math.max(0, limit));
  return { keys, more: omitted + all.length - keys.length };
}

/** How evaluations counted under no application name (SDKs without `appName`, remote evaluation without `X-XP-App`) read. */
export const NO_APP = 'No application named';

/** An application's name in the console: its `appName`, or NO_APP. */
export const appName = (app: string | null): string => app ?? NO_APP;

/**
 * The caps on what one environment's hour stores (cloud/src/store/flag-evaluations.ts): counts beyond
 * them are not kept but added to `dropped`.
 */
export const DROP_CAPS = { keys: 2_000, apps: 50 } as const;

/** An application's counts with its share of all the applications' evaluations. */
export interface AppTotal extends EvaluationAppCount {
  readonly share: number;
}

/**
 * The applications of an answer (`apps`), most evaluated first (ties by name, none named last among
 * equals), with shares; none when nothing was counted or the server is older (no `apps`).
 */
export function appTotals(view: { readonly apps?: readonly EvaluationAppCount[] }): AppTotal[] {
  const apps = Array.isArray(view.apps) ? (view.apps as readonly EvaluationAppCount[]).filter((a) => Number.isFinite(a.count) && a.count > 0) : [];
  const sum = apps.reduce((a, b) => a + b.count, 0);
  const name = (a: EvaluationAppCount): string => a.app ?? '\uffff';
  return [...apps].sort((a, b) => b.count - a.count || (name(a) < name(b) ? -1 : name(a) > name(b) ? 1 : 0)).map((a) => ({ ...a, share: a.count / sum }));
}

/**
 * The named applications the Application filter offers, by name as people read it (case and accents
 * aside: `billing`, `Checkout-API`, `web-shop`; names equal so, by code point): those seen in answers
 * so far (`seen`: a filtered answer names only its own) and the one chosen, even if no longer seen.
 */
export function appChoices(seen: Iterable<string>, chosen: string | undefined): string[] {
  const names = new Set(seen);
  if (chosen !== undefined) {
    names.add(chosen);
  }
  return [...names].sort((a, b) => a.localeCompare(b, 'en', { sensitivity: 'base' }) || (a < b ? -1 : a > b ? 1 : 0));
}

/** The named applications of an answer. */
export const namedApps = (view: { readonly apps?: readonly EvaluationAppCount[] }): string[] => appTotals(view).map((a) => a.app).filter((a): a is string => a !== null);

/**
 * The applications that ask for a key, in words, most evaluated first: the first `top` with their
 * counts, and how many more there are (`rest`). None for an older server (no `apps`).
 */
export function keyApps(key: { readonly apps?: readonly EvaluationAppCount[] }, top = 3): { shown: string[]; rest: string[] } {
  const all = appTotals(key).map((a) => `${appName(a.app)} ${formatCount(a.count)}`);
  // "+1 more" would take the room of the one it hides.
  const cut = all.length <= top + 1 ? all.length : top;
  return { shown: all.slice(0, cut), rest: all.slice(cut) };
}

/**
 * Evaluations in the window not kept because an hour of an environment passed the caps (`dropped` of
 * the project's answer or of a flag's; 0 for an older server, which has none).
 */
export function droppedCount(view: ProjectEvaluationsView | FlagEvaluationsView): number {
  const n = (view as { dropped?: unknown }).dropped;
  return typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : 0;
}

/** Whether an answer of GET …/flag-evaluations has the shape expected (an older server answers something else). */
export function isProjectEvaluations(body: unknown): body is ProjectEvaluationsView {
  return typeof body === 'object' && body !== null && Array.isArray((body as { flags?: unknown }).flags);
}

/** `flags` by when each was last evaluated (`lastOf`), least recent first: never evaluated (undefined) first; ties by key. */
export function sortByLastEvaluated<F extends { readonly key: string }>(flags: readonly F[], lastOf: (key: string) => string | undefined): F[] {
  const time = (f: F): number => {
    const at = lastOf(f.key);
    const ms = at === undefined ? NaN : Date.parse(at);
    return Number.isFinite(ms) ? ms : -Infinity;
  };
  return [...flags].sort((a, b) => {
    const ta = time(a);
    const tb = time(b);
    return ta < tb ? -1 : ta > tb ? 1 : a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
  });
}
