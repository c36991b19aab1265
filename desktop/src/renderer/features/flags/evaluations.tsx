import { useEffect, useId, useRef, useState } from 'react';
import type { ReactNode } from 'react';
import { Bar, CartesianGrid, ComposedChart, Legend, ReferenceArea, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import type { Flag, Stored, StoredEnvironment } from '@xp/shared';
import { ApiError } from '@xp/shared';
import { useSession } from '../../app/session.js';
import { formatCount, formatPercent, formatTime } from '../../lib/format.js';
import { useAsync } from '../../lib/use-async.js';
import { AsyncView, Empty, ScrollRegion, errorMessage } from '../../lib/ui.js';
import { CHART_KEYS_HINT, PointTooltip, SERIES_COLORS, useUntabbableLayers } from '../charts/chart.js';
import type { ChartValue, SeriesConfig } from '../charts/chart.js';
import {
  BULK_CAVEAT,
  COUNTING_SDKS_SINCE,
  DEFAULT_SERVED,
  DROP_CAPS,
  LIST_DAYS,
  NO_APP,
  RANGES,
  UNDEFINED_LIMIT,
  appChoices,
  appTotals,
  chartRows,
  countingStart,
  defaultEnvironment,
  droppedCount,
  formatAgo,
  isNoData,
  isProjectEvaluations,
  keyApps,
  lastEvaluatedIn,
  namedApps,
  rangeQuery,
  sinceCountingText,
  unevaluated,
  variationKey,
  variationOrder,
  variationTotals,
} from './evaluations-model.js';
import type { EvaluatedKey, EvaluationRow, FlagEvaluationsView, ProjectEvaluationsView, RangeKey, Unevaluated } from './evaluations-model.js';

/** What the default served means, under the chart and the totals. */
export const DEFAULT_SERVED_HELP =
  'Default served: the SDK returned the default value written in your code, not a variation of the flag (the flag was not in its ruleset, had another type, failed to evaluate, or the client was not ready yet).';

/** The hatching of the default served, so it reads as "not a variation" without its colour. */
const HATCH_COLOR = 'var(--muted)';

/** The variation's name in the page: its key, or "default served". */
const variationName = (variation: string | null): string => variation ?? DEFAULT_SERVED;

/** The stacked counts per bucket as a table (the chart's alternative for screen readers and exact values). */
function CountsTable({ id, rows, variations, title }: { id: string; rows: readonly EvaluationRow[]; variations: readonly (string | null)[]; title: string }): ReactNode {
  return (
    <div id={id}>
      <ScrollRegion label={`${title}: table`}>
        <table aria-label={`${title}: values`}>
          <thead>
            <tr>
              <th scope="col">Period (UTC)</th>
              {variations.map((v) => (
                <th key={variationKey(v)} scope="col" className="num">
                  {variationName(v)}
                </th>
              ))}
              <th scope="col" className="num">
                Total
              </th>
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <tr key={row.range}>
                <th scope="row">{row.range}</th>
                {isNoData(row, variations) ? (
                  <td colSpan={variations.length + 1} className="muted">
                    no data (before counting began)
                  </td>
                ) : (
                  <>
                    {variations.map((v) => (
                      <td key={variationKey(v)} className="num">
                        {formatCount(Number(row[variationKey(v)] ?? 0))}
                      </td>
                    ))}
                    <td className="num">{formatCount(variations.reduce((sum, v) => sum + Number(row[variationKey(v)] ?? 0), 0))}</td>
                  </>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      </ScrollRegion>
    </div>
  );
}

/**
 * Evaluations per bucket, stacked by served variation: the variations in the series colours, the
 * default served hatched grey; buckets before counting began (no data) drawn as no bars over a shaded
 * "no data" area, not as zeros. Keyboard, tooltip and *Show as table* as the console's line charts.
 */
export function EvaluationsChart({ rows, variations, title }: { rows: readonly EvaluationRow[]; variations: readonly (string | null)[]; title: string }): ReactNode {
  const figure = useRef<HTMLElement>(null);
  useUntabbableLayers(figure);
  const [asTable, setAsTable] = useState(false);
  const tableId = useId();
  const hatchId = `${useId().replaceAll(':', '')}-hatch`;
  let colour = 0;
  const series: SeriesConfig<string>[] = variations.map((v) => ({ key: variationKey(v), label: variationName(v), color: v === null ? HATCH_COLOR : (SERIES_COLORS[colour++ % SERIES_COLORS.length] ?? HATCH_COLOR) }));
  const noData = rows.filter((row) => isNoData(row, variations));
  return (
    <figure ref={figure} aria-label={title} style={{ margin: 0 }}>
      <ResponsiveContainer width="100%" height={240}>
        <ComposedChart data={[...rows]} margin={{ top: 8, right: 16, bottom: 8, left: 8 }} accessibilityLayer role="group" title={title} desc={CHART_KEYS_HINT}>
          <defs>
            <pattern id={hatchId} width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">
              <rect width="6" height="6" fill="var(--panel)" />
              <line x1="0" y1="0" x2="0" y2="6" stroke={HATCH_COLOR} strokeWidth="3" />
            </pattern>
          </defs>
          <CartesianGrid strokeDasharray="3 3" stroke="var(--border)" />
          <XAxis dataKey="x" stroke="var(--muted)" fontSize={11} />
          <YAxis stroke="var(--muted)" fontSize={11} tickFormatter={(v: number) => formatCount(v, { compact: true })} width={64} allowDecimals={false} />
          <Tooltip
            content={(props) => {
              const row = props.payload[0]?.payload as Readonly<Record<string, ChartValue>> | undefined;
              return <PointTooltip active={props.active} label={props.label} labelKey="range" row={row} series={series} formatY={(v) => formatCount(v)} />;
            }}
          />
          <Legend itemSorter={null} />
          {noData.length === 0 ? null : (
            <ReferenceArea x1={noData[0]!.x} x2={noData.at(-1)!.x} fill="var(--muted)" fillOpacity={0.12} className="no-data" label={{ value: 'no data', position: 'insideTop', fill: 'var(--muted)', fontSize: 11 }} ifOverflow="extendDomain" />
          )}
          {series.map((s) => (
            <Bar key={s.key} dataKey={s.key} name={s.label} stackId="evaluations" fill={s.key === DEFAULT_SERVED ? `url(#${hatchId})` : s.color} stroke={s.key === DEFAULT_SERVED ? HATCH_COLOR : 'none'} isAnimationActive={false} />
          ))}
        </ComposedChart>
      </ResponsiveContainer>
      <figcaption className="small muted">
        {title}
        {noData.length === 0 ? '' : ` (no data before counting began: ${noData.length} ${noData.length === 1 ? 'bucket' : 'buckets'})`}{' '}
        <button type="button" className="ghost small" aria-expanded={asTable} {...(asTable ? { 'aria-controls': tableId } : {})} onClick={() => { setAsTable(!asTable); }}>
          {asTable ? 'Hide the table' : 'Show as table'}
        </button>
      </figcaption>
      {asTable ? <CountsTable id={tableId} rows={rows} variations={variations} title={title} /> : null}
    </figure>
  );
}

/**
 * What "not evaluated" must add when the server did not keep some evaluations of the range (`dropped`,
 * its caps): the flag may have been evaluated among them. Nothing when none were dropped.
 */
export function DroppedCaveat({ dropped, period }: { dropped: number; period: string }): ReactNode {
  if (!(dropped > 0)) {
    return null;
  }
  return (
    <p className="small">
      But {formatCount(dropped)} {dropped === 1 ? 'evaluation' : 'evaluations'} in {period} {dropped === 1 ? 'was' : 'were'} not counted (the caps on distinct keys and applications):
      this flag may have been evaluated among them.
    </p>
  );
}

/**
 * Why a flag has no counts in an environment, truthfully: when no SDK has sent counts from it at all
 * (`state` no counts), nothing is known about the flag; when others' counts arrive, its code does not
 * ask for it there — over the whole range only when counting there began before it, else only since
 * counting began (no advice to remove it then). Unknown (undefined): only what is sure is said.
 * `dropped`: evaluations of the range the server did not keep; when some were, every "not evaluated"
 * says the flag may be among them, and no removal is advised.
 */
export function NoEvaluations({ environmentName, rangeLabel, state, app, dropped = 0 }: { environmentName: string; rangeLabel: string; state: Unevaluated | undefined; app?: string | undefined; dropped?: number }): ReactNode {
  const period = `the ${rangeLabel.toLowerCase()}`;
  if (app !== undefined) {
    // Counting since when is known per environment, not per application: nothing is claimed of the flag.
    return (
      <Empty>
        <p>
          No evaluation counted for {app} in {environmentName} ({rangeLabel.toLowerCase()}). Only SDKs configured with the application name <code>{app}</code> count under it; other
          applications may still evaluate the flag: choose <em>All applications</em> to see them.
        </p>
        <DroppedCaveat dropped={dropped} period={period} />
      </Empty>
    );
  }
  if (state?.kind === 'days') {
    return (
      <Empty>
        <p>
          Not evaluated in {environmentName} ({rangeLabel.toLowerCase()}), while other flags&apos; counts arrive from there: no SDK that sends counts asked for it
          {dropped > 0 ? ' in the counts kept.' : '.'}
          {dropped > 0
            ? null
            : ' If that holds everywhere (and no service there runs an SDK too old to send counts, or fetches it only in bulk), it can be removed from the code and archived.'}
        </p>
        <DroppedCaveat dropped={dropped} period={period} />
        <p className="small muted">{BULK_CAVEAT}</p>
      </Empty>
    );
  }
  if (state?.kind === 'since counting began') {
    return (
      <Empty>
        <p>
          Not evaluated in {environmentName} {sinceCountingText(state.since)}, which is less than the range ({rangeLabel.toLowerCase()}): counts arrive from there, but not
          for long enough to say the flag is unused. Services that have not yet upgraded to an SDK that sends counts may still evaluate it.
        </p>
        <DroppedCaveat dropped={dropped} period={period} />
        <p className="small muted">{BULK_CAVEAT}</p>
      </Empty>
    );
  }
  return (
    <Empty>
      <p>
        No evaluation counts received in {environmentName}
        {state?.kind === 'no counts' ? '' : ` (${rangeLabel.toLowerCase()})`}. SDKs send them from their {COUNTING_SDKS_SINCE} releases on (the JavaScript and Python SDKs, unless turned off with{' '}
        <code>sendEvaluationCounts: false</code> / <code>send_evaluation_counts=False</code>); older SDKs and the testing client send none, so this does not mean the flag is unused.
      </p>
    </Empty>
  );
}

export interface EvaluationsPanelProps {
  readonly flagKey: string;
  /** The flag's variation keys, in its order (none for a key that is not defined). */
  readonly variations: readonly string[];
  readonly environments: readonly StoredEnvironment[];
  readonly environment: string;
  readonly range: RangeKey;
  readonly view: FlagEvaluationsView;
  readonly now: number;
  /** The application the counts are filtered on (`?app=`), or undefined: all. */
  readonly app?: string | undefined;
}

/**
 * The counts per application over all environments in the range (the API's `apps`): which services
 * still ask for the flag. Evaluations counted under no name read NO_APP.
 */
export function AppTotalsTable({ view, rangeLabel, app, now }: { view: FlagEvaluationsView; rangeLabel: string; app: string | undefined; now: number }): ReactNode {
  const apps = appTotals(view);
  return (
    <>
      <h3>Applications</h3>
      <p className="small muted">
        {app === undefined ? 'Which applications evaluated the flag' : `Evaluations counted for ${app}`}, in all environments ({rangeLabel.toLowerCase()}). An application is named by its SDK&apos;s
        application name option (<code>appName</code> / <code>app_name</code>); &quot;{NO_APP}&quot; counts SDKs without one and remote evaluations without the <code>X-XP-App</code> header.
      </p>
      {apps.length === 0 ? (
        <p>{app === undefined ? 'No evaluation counted in any environment.' : `No evaluation counted for ${app} in any environment.`}</p>
      ) : (
        <table aria-label="Evaluations per application">
          <thead>
            <tr>
              <th scope="col">Application</th>
              <th scope="col" className="num">
                Evaluations
              </th>
              <th scope="col" className="num">
                Share
              </th>
              <th scope="col">Last evaluated</th>
            </tr>
          </thead>
          <tbody>
            {apps.map((a) => (
              <tr key={a.app ?? ''}>
                <th scope="row">{a.app === null ? <em>{NO_APP}</em> : <code>{a.app}</code>}</th>
                <td className="num">{formatCount(a.count)}</td>
                <td className="num">{formatPercent(a.share)}</td>
                <td>
                  <time dateTime={a.lastEvaluatedAt} title={formatTime(a.lastEvaluatedAt)}>
                    {formatAgo(a.lastEvaluatedAt, now)}
                  </time>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

/** The counts of a flag in one environment and range: the chart, the totals with shares, and when it was last evaluated where. */
export function EvaluationsPanel({ flagKey, variations, environments, environment, range, view, now, app }: EvaluationsPanelProps): ReactNode {
  // Since when counts arrive per environment (project-wide); an older server does not say: then nothing is claimed.
  const known = Array.isArray((view as { countingSince?: unknown }).countingSince);
  const state = (env: string, days: number): Unevaluated | undefined => (known ? unevaluated(countingStart(view, env), false, days, now) : undefined);
  const envName = (key: string): string => environments.find((e) => e.key === key)?.name ?? key;
  const order = variationOrder(variations, [...view.series.filter((p) => p.environment === environment).map((p) => p.variation), ...view.totals.filter((t) => t.environment === environment).map((t) => t.variation)]);
  const totals = variationTotals(view, environment, order);
  const sum = totals.reduce((a, t) => a + t.count, 0);
  const rangeLabel = RANGES[range].label;
  const by = app === undefined ? '' : ` by ${app}`;
  // Evaluations of the range the server did not keep (its caps; absent from older servers): "not evaluated" may be wrong then.
  const dropped = droppedCount(view);
  const period = `the ${rangeLabel.toLowerCase()}`;
  const title = `Evaluations of ${flagKey}${by} in ${envName(environment)}, ${rangeLabel.toLowerCase()}, per ${view.interval} by served variation`;
  return (
    <>
      <DroppedNotice dropped={dropped} period={period} />
      {totals.length === 0 ? (
        <NoEvaluations environmentName={envName(environment)} rangeLabel={rangeLabel} state={state(environment, RANGES[range].span / 86_400_000)} app={app} dropped={dropped} />
      ) : (
        <>
          <EvaluationsChart rows={chartRows(view, environment, order)} variations={order} title={title} />
          {order.includes(null) ? <p className="small muted">{DEFAULT_SERVED_HELP}</p> : null}
          <table aria-label={`Evaluations per variation${by} in ${envName(environment)}`}>
            <thead>
              <tr>
                <th scope="col">Served</th>
                <th scope="col" className="num">
                  Evaluations
                </th>
                <th scope="col" className="num">
                  Share
                </th>
              </tr>
            </thead>
            <tbody>
              {totals.map((t) => (
                <tr key={variationKey(t.variation)}>
                  <th scope="row">{t.variation === null ? <em>{DEFAULT_SERVED}</em> : <code>{t.variation}</code>}</th>
                  <td className="num">{formatCount(t.count)}</td>
                  <td className="num">{formatPercent(t.share)}</td>
                </tr>
              ))}
              <tr>
                <th scope="row">Total</th>
                <td className="num">{formatCount(sum)}</td>
                <td className="num">{formatPercent(1)}</td>
              </tr>
            </tbody>
          </table>
        </>
      )}
      <AppTotalsTable view={view} rangeLabel={rangeLabel} app={app} now={now} />
      <h3>Last evaluated{by}</h3>
      <ul aria-label="Last evaluated per environment">
        {environments.map((e) => {
          const at = lastEvaluatedIn(view, e.key);
          const none = at === undefined ? state(e.key, LIST_DAYS) : undefined;
          return (
            <li key={e.key}>
              {at === undefined ? (
                app !== undefined ? (
                  <>
                    Not evaluated by {app} in {e.name} in the counts received
                  </>
                ) : none === undefined ? (
                  <>Not evaluated in {e.name} in the counts received</>
                ) : none.kind === 'no counts' ? (
                  <>No evaluation counts received in {e.name}</>
                ) : none.kind === 'days' ? (
                  <>Not evaluated in {e.name} in the last {LIST_DAYS} days</>
                ) : (
                  <>
                    Not evaluated in {e.name} {sinceCountingText(none.since)}
                  </>
                )
              ) : (
                <>
                  Last evaluated <time dateTime={at} title={formatTime(at)}>{formatAgo(at, now)}</time> in {e.name}
                  {by}
                </>
              )}
            </li>
          );
        })}
      </ul>
      {environments.some((e) => lastEvaluatedIn(view, e.key) === undefined) ? (
        <>
          {dropped > 0 ? (
            <p className="small">
              {formatCount(dropped)} {dropped === 1 ? 'evaluation' : 'evaluations'} in {period} {dropped === 1 ? 'was' : 'were'} not counted (the caps on distinct keys and applications): where
              the flag shows as not evaluated, it may have been evaluated among them.
            </p>
          ) : null}
          <p className="small muted">{BULK_CAVEAT}</p>
        </>
      ) : null}
    </>
  );
}

/** A flag's answer when the API has never seen the key (404): no counts; since when counts arrive from the project's answer. */
const noCounts = (flag: string, query: { from: string; to: string; interval: 'hour' | 'day' }, project: ProjectEvaluationsView | undefined): FlagEvaluationsView => ({
  flag,
  ...query,
  series: [],
  totals: [],
  lastEvaluated: [],
  apps: [],
  ...(project !== undefined && Array.isArray((project as { countingSince?: unknown }).countingSince) ? { countingSince: project.countingSince } : {}),
}) as FlagEvaluationsView;

/** The flag page's *Evaluations* tab: an environment (the first production one at first) and a range, then the counts. */
export function FlagEvaluations({ flag }: { flag: Stored<Flag> }): ReactNode {
  const { client, project, environments, refreshTick } = useSession();
  const [environment, setEnvironment] = useState(() => defaultEnvironment(environments) ?? '');
  const [range, setRange] = useState<RangeKey>('7d');
  /** The Application filter: '' all. */
  const [app, setApp] = useState('');
  /** The named applications seen in the answers: a filtered answer names only its own, so the choices stay. */
  const [seenApps, setSeenApps] = useState<readonly string[]>([]);
  const { state, reload } = useAsync(
    async () => {
      const span = rangeQuery(range, Date.now());
      const query = { ...span, ...(app === '' ? {} : { app }) };
      // The answer says since when counts arrive per environment (countingSince): what "not evaluated" may claim.
      const view = await client.flagEvaluations(project, flag.key, query).catch(async (e: unknown) => {
        if (e instanceof ApiError && e.status === 404) {
          // Never counted: the project's answer (one key no flag has at most: cheap) says since when counts arrive; its failure is not the page's.
          const projectView = await client.projectFlagEvaluations(project, { days: LIST_DAYS, limit: 1 }).catch(() => undefined);
          return noCounts(flag.key, span, projectView !== undefined && isProjectEvaluations(projectView) ? projectView : undefined);
        }
        throw e;
      });
      return { view, now: Date.now() };
    },
    [client, project, flag.key, range, app],
    { pollMs: 60_000, refreshKey: refreshTick },
  );
  const answered = state.status === 'ready' ? state.data.view : undefined;
  useEffect(() => {
    if (answered !== undefined) {
      setSeenApps((before) => {
        const fresh = namedApps(answered).filter((a) => !before.includes(a));
        return fresh.length === 0 ? before : [...before, ...fresh];
      });
    }
  }, [answered]);
  return (
    <section aria-labelledby="flag-evaluations-heading">
      <h2 id="flag-evaluations-heading">Evaluations</h2>
      <p className="small muted">How often SDKs evaluated this flag and what they served, as counted by the SDKs (buckets in UTC).</p>
      <div className="toolbar">
        <label className="inline">
          Environment
          <select aria-label="Evaluations environment" value={environment} onChange={(e) => { setEnvironment(e.target.value); }}>
            {environments.map((e) => (
              <option key={e.key} value={e.key}>
                {e.name}
              </option>
            ))}
          </select>
        </label>
        <label className="inline">
          Range
          <select aria-label="Evaluations range" value={range} onChange={(e) => { setRange(e.target.value as RangeKey); }}>
            {(Object.keys(RANGES) as RangeKey[]).map((k) => (
              <option key={k} value={k}>
                {RANGES[k].label}
              </option>
            ))}
          </select>
        </label>
        <label className="inline">
          Application
          <select aria-label="Evaluations application" value={app} onChange={(e) => { setApp(e.target.value); }}>
            <option value="">All applications</option>
            {appChoices(seenApps, app === '' ? undefined : app).map((a) => (
              <option key={a} value={a}>
                {a}
              </option>
            ))}
          </select>
        </label>
        {state.status === 'ready' && state.refreshing ? <span className="muted small">refreshing…</span> : null}
      </div>
      <AsyncView state={state} onRetry={reload}>
        {({ view, now }) => (
          <EvaluationsPanel
            flagKey={flag.key}
            variations={flag.definition.variations.map((v) => v.key)}
            environments={environments}
            environment={environment}
            range={range}
            view={view}
            now={now}
            app={app === '' ? undefined : app}
          />
        )}
      </AsyncView>
    </section>
  );
}

/**
 * The keys code evaluates that are no flags (`defined: false`): typos, or flags deleted while code
 * still calls them. Each with its counts and when last seen, and *Create flag* with its key where the
 * user may create flags. Shown only when there are such keys.
 */
export function UndefinedKeysPanel({ keys, more = 0, environments, now, canCreate, onCreate }: { keys: readonly EvaluatedKey[]; more?: number; environments: readonly StoredEnvironment[]; now: number; canCreate: boolean; onCreate: (key: string) => void }): ReactNode {
  const envName = (key: string): string => environments.find((e) => e.key === key)?.name ?? key;
  return (
    <section aria-labelledby="undefined-keys-heading" className="panel">
      <h2 id="undefined-keys-heading">Evaluated but not defined</h2>
      <p className="small muted">
        Keys your code asks for that are no flag of this project (last {LIST_DAYS} days): a typo, or a flag deleted while code still calls it. SDKs serve the default value in the code
        for them.
      </p>
      <ScrollRegion label="Evaluated but not defined: table">
        <table aria-label="Evaluated but not defined">
          <thead>
            <tr>
              <th scope="col">Key</th>
              <th scope="col" className="num">
                Evaluations
              </th>
              <th scope="col">Per environment</th>
              <th scope="col">Applications</th>
              <th scope="col">Last seen</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {keys.map((k) => (
              <tr key={k.flag}>
                <th scope="row">
                  <code>{k.flag}</code>
                </th>
                <td className="num">{formatCount(k.total)}</td>
                <td className="small">{k.environments.map((e) => `${envName(e.environment)} ${formatCount(e.count)}`).join(', ')}</td>
                <td className="small">
                  <KeyApps evaluated={k} />
                </td>
                <td className="small">
                  <time dateTime={k.lastEvaluatedAt} title={formatTime(k.lastEvaluatedAt)}>
                    {formatAgo(k.lastEvaluatedAt, now)}
                  </time>
                </td>
                <td>
                  {canCreate ? (
                    <button type="button" aria-label={`Create flag ${k.flag}`} onClick={() => { onCreate(k.flag); }}>
                      Create flag
                    </button>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </ScrollRegion>
      {more > 0 ? (
        <p className="small muted">
          and {formatCount(more)} more {more === 1 ? 'key' : 'keys'} evaluated less often (only the {formatCount(keys.length)} most evaluated are listed)
        </p>
      ) : null}
    </section>
  );
}

/** Which applications ask for a key no flag has: the most evaluated three, the others behind a disclosure. */
function KeyApps({ evaluated }: { evaluated: EvaluatedKey }): ReactNode {
  const { shown, rest } = keyApps(evaluated);
  if (shown.length === 0) {
    return <span className="muted">—</span>;
  }
  return (
    <>
      {shown.join(', ')}
      {rest.length === 0 ? null : (
        <details>
          <summary>{rest.length} more</summary>
          {rest.join(', ')}
        </details>
      )}
    </>
  );
}

/**
 * Evaluations of the window the server did not keep (`dropped`): an hour of an environment passed the
 * caps on distinct keys or applications, so counts of those hours miss keys, and "not evaluated" may
 * be wrong for them. Shown only when some were dropped. `period`: the window, "the last 90 days" (the
 * flags list's) unless said.
 */
export function DroppedNotice({ dropped, period = `the last ${LIST_DAYS} days` }: { dropped: number; period?: string }): ReactNode {
  if (!(dropped > 0)) {
    return null;
  }
  return (
    <p className="banner banner-warn">
      {formatCount(dropped)} {dropped === 1 ? 'evaluation' : 'evaluations'} in {period} {dropped === 1 ? 'was' : 'were'} not counted: in some hours an environment passed the
      limit of {formatCount(DROP_CAPS.keys)} distinct keys no flag has or {formatCount(DROP_CAPS.apps)} named applications (a client sending generated keys or application names?). The counts
      of those hours miss keys and applications, so a flag may show as less evaluated than it was.
    </p>
  );
}

/** The project's counts for the flags list, or why they are unknown (shown as a note, never blocking the list). */
export function useProjectEvaluations(): { data: ProjectEvaluationsView | undefined; loading: boolean; error: string | undefined } {
  const { client, project, refreshTick } = useSession();
  // `limit`: the keys no flag has are capped (a client key can send any number), so the poll stays cheap.
  const { state } = useAsync(() => client.projectFlagEvaluations(project, { days: LIST_DAYS, limit: UNDEFINED_LIMIT }), [client, project], { pollMs: 60_000, refreshKey: refreshTick });
  if (state.status === 'ready') {
    // An older server answers something else: nothing is known.
    return { data: isProjectEvaluations(state.data) ? state.data : undefined, loading: false, error: undefined };
  }
  return { data: undefined, loading: state.status === 'loading', error: state.status === 'error' ? errorMessage(state.error) : undefined };
}
