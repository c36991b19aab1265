import { useEffect, useMemo, useState } from 'react';
import type { ReactNode } from 'react';
import { splitShares } from '@xp/shared';
import type { Experiment, ResultsQuery, Stored } from '@xp/shared';
import { useSession } from '../../app/session.js';
import { ClientSideField, ServerSideOnlyBadge, availableToClientSide, withClientSide } from '../../lib/client-side.js';
import { commaList, formatPercent, formatTime } from '../../lib/format.js';
import { allowanceProps, useExperimentLifecycle, usePermission } from '../../lib/permissions.js';
import { useAsync } from '../../lib/use-async.js';
import { AsyncView, Badge, Confirm, Dialog, ErrorNote, FormError, errorMessage } from '../../lib/ui.js';
import { CumulativeChart, defaultInterval } from './cumulative-chart.js';
import type { SeriesInterval } from './cumulative-chart.js';
import { BreakdownTable } from './breakdown-table.js';
import { ResultsView } from './results-view.js';
import { shipAdvice, shipCautions } from './ship-advice.js';
import { download } from '../../lib/download.js';

const STATUS_TONE = { draft: 'neutral', running: 'good', stopped: 'warn' } as const;

/** The analysis choices of the results on the page (environment, test, CUPED), which the decision is judged by. */
type Analysis = Pick<ResultsQuery, 'environment' | 'sequential' | 'cuped'>;

function DecideDialog({ experiment, analysis, onClose, onDone }: { experiment: Stored<Experiment>; analysis: Analysis | null; onClose: () => void; onDone: (e: Stored<Experiment>) => void }): ReactNode {
  const { client, project, environments } = useSession();
  const [decision, setDecision] = useState<'ship' | 'rollback' | 'inconclusive'>('ship');
  // The results as the page analyses them, without its filters: a winner is proposed only when one is significantly better.
  const results = useAsync(() => client.resultsDetail(project, experiment.key, analysis ?? {}), [client, project, experiment.key, analysis]);
  const advice = results.state.status === 'ready' ? shipAdvice(experiment.definition, results.state.data) : undefined;
  /** The user's choice of winner; until there is one, the advice's (none when nothing is significantly better). */
  const [chosen, setChosen] = useState<string | null>(null);
  const winner = chosen ?? advice?.winner ?? '';
  const [release, setRelease] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const submit = async (): Promise<void> => {
    try {
      onDone(await client.stopExperiment(project, experiment.key, experiment.version, { decision, ...(decision === 'ship' && winner !== '' ? { winner, releaseWinner: release } : {}) }));
    } catch (e) {
      setError(e);
    }
  };
  const shown = results.state.status === 'ready' ? results.state.data : undefined;
  // The sample ratio check, and the guardrails the variation to ship (chosen, else the best on the primary metric) harms.
  const cautions = shown === undefined || advice === undefined ? [] : chosen !== null && decision === 'ship' ? shipCautions(shown, chosen === '' ? null : chosen) : advice.cautions;
  const basis =
    shown === undefined
      ? null
      : `Judged on the unfiltered results in ${environments.find((e) => e.key === shown.environment)?.name ?? shown.environment} (${shown.analysis.sequential ? 'sequential' : 'fixed-horizon'} test, corrected for multiple comparisons).`;
  const missingWinner = decision === 'ship' && winner === '';
  return (
    <Dialog title={`Decide on ${experiment.definition.name}`} onClose={onClose}>
      <p>Stopping ends assignment; the decision is recorded in the audit log.</p>
      {cautions.length === 0 ? null : (
        <div className="banner banner-bad" role="alert" aria-label="Before you decide">
          {cautions.map((c) => (
            <p key={c}>{c}</p>
          ))}
        </div>
      )}
      <label>
        Decision
        <select value={decision} onChange={(e) => { setDecision(e.target.value as typeof decision); }}>
          <option value="ship">Ship a variation</option>
          <option value="rollback">Roll back (keep control)</option>
          <option value="inconclusive">Inconclusive</option>
        </select>
      </label>
      {decision === 'ship' ? (
        <>
          {results.state.status === 'loading' ? <p className="small muted">Checking the results…</p> : null}
          {results.state.status === 'error' ? (
            <p className="banner banner-warn" role="status">
              The results could not be loaded ({errorMessage(results.state.error)}), so no winner is proposed: shipping one is a judgement call.
            </p>
          ) : null}
          {advice === undefined ? null : (
            <p className={`banner ${advice.warn ? 'banner-warn' : 'banner-info'}`} role="status">
              {advice.note} {basis === null || !advice.judged ? null : <span className="small muted">{basis}</span>}
            </p>
          )}
          <label>
            Winner
            <select value={winner} onChange={(e) => { setChosen(e.target.value); }}>
              {winner === '' ? <option value="">Choose a variation…</option> : null}
              {/* Shipping the control is a rollback (the API refuses it as a ship). */}
              {experiment.definition.variations.slice(1).map((v) => (
                <option key={v.key} value={v.key}>
                  {v.name ?? v.key}
                </option>
              ))}
            </select>
          </label>
          <label className="check">
            <input type="checkbox" checked={release} onChange={(e) => { setRelease(e.target.checked); }} />
            Release the winner to everyone
          </label>
        </>
      ) : null}
      {error === null ? null : <ErrorNote error={error} />}
      <div className="actions">
        <button type="button" onClick={onClose}>
          Cancel
        </button>
        <button type="button" className="primary" disabled={missingWinner} {...(missingWinner ? { title: 'Choose the variation to ship' } : {})} onClick={() => void submit()}>
          Stop and record decision
        </button>
      </div>
    </Dialog>
  );
}

/**
 * Edits the experiment's settings: its availability to client-side SDKs. Saves the stored
 * definition as read — the platform's fields (status, times, `splitHistory`) unchanged — with the
 * version it was read at (If-Match), like every write of this page.
 */
function SettingsDialog({ experiment, onClose, onDone }: { experiment: Stored<Experiment>; onClose: () => void; onDone: (e: Stored<Experiment>) => void }): ReactNode {
  const { client, project } = useSession();
  const [clientSide, setClientSide] = useState(availableToClientSide(experiment.definition));
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (): Promise<void> => {
    setError(null);
    setBusy(true);
    try {
      onDone(await client.replace(project, 'experiments', experiment.key, withClientSide(experiment.definition, clientSide), experiment.version));
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  };
  return (
    <Dialog title={`Settings of ${experiment.definition.name}`} onClose={onClose}>
      <ClientSideField kind="experiment" checked={clientSide} onChange={setClientSide} />
      {error === null ? null : <ErrorNote error={error} />}
      <div className="actions">
        <button type="button" onClick={onClose}>
          Cancel
        </button>
        <button type="button" className="primary" disabled={busy} onClick={() => void submit()}>
          Save settings
        </button>
      </div>
    </Dialog>
  );
}

/** "control 50.0% · treatment 50.0%": each variation's share of covered traffic, by key. */
function sharesText(shares: Readonly<Record<string, number>>): string {
  return Object.entries(shares)
    .map(([key, share]) => `${key} ${formatPercent(share)}`)
    .join(' · ');
}

/**
 * The split the experiment serves and, when it was moved while running (sticky bucketing), the
 * splits it served before, oldest first, each until the time it was replaced (`splitHistory`).
 */
export function SplitSummary({ experiment }: { experiment: Experiment }): ReactNode {
  const history = experiment.splitHistory ?? [];
  const last = history.at(-1);
  const current = sharesText(splitShares(experiment));
  return (
    <section aria-label="Split" className="split-summary">
      {last === undefined ? (
        <p>
          <strong>Split:</strong> {current}
        </p>
      ) : (
        <>
          <ol aria-label="Split history">
            {history.map((h, i) => (
              <li key={i}>
                Split until {formatTime(h.until)}: {sharesText(h.shares)}
              </li>
            ))}
            <li>
              <strong>
                Split since {formatTime(last.until)} (current): {current}
              </strong>
            </li>
          </ol>
          <p className="small muted">
            The split was moved while running (units keep their variation): the results expect each period&apos;s new units in the split it served, so the expected shares blend the periods.
          </p>
        </>
      )}
    </section>
  );
}

/** Edits the attributes the results can be broken down by (the experiment's `dimensions`). */
function DimensionsDialog({ experiment, onClose, onDone }: { experiment: Stored<Experiment>; onClose: () => void; onDone: (e: Stored<Experiment>) => void }): ReactNode {
  const { client, project } = useSession();
  const [text, setText] = useState((experiment.definition.dimensions ?? []).join(', '));
  const [error, setError] = useState<unknown>(null);
  const submit = async (): Promise<void> => {
    const dimensions = commaList(text);
    const { dimensions: _old, ...rest } = experiment.definition;
    try {
      onDone(await client.replace(project, 'experiments', experiment.key, dimensions.length === 0 ? rest : { ...rest, dimensions }, experiment.version));
    } catch (e) {
      setError(e);
    }
  };
  return (
    <Dialog title={`Result dimensions of ${experiment.definition.name}`} onClose={onClose}>
      <p>
        Unit attributes the results can be filtered and broken down by as fast as unfiltered (at most 10; choose attributes with few values). A new one is
        built from the stored totals on the next results request.
      </p>
      <label>
        Dimensions (comma-separated)
        <input value={text} placeholder="country, plan" onChange={(e) => { setText(e.target.value); }} />
      </label>
      {error === null ? null : <ErrorNote error={error} />}
      <div className="actions">
        <button type="button" onClick={onClose}>
          Cancel
        </button>
        <button type="button" className="primary" onClick={() => void submit()}>
          Save dimensions
        </button>
      </div>
    </Dialog>
  );
}

/** An experiment: status and actions, then live results with analysis controls. */
export default function ExperimentPage({ experimentKey }: { experimentKey: string }): ReactNode {
  const session = useSession();
  const { client, project, refreshTick, environments } = session;
  const exp = useAsync(() => Promise.all([client.get(project, 'experiments', experimentKey), client.listAll(project, 'segments')]), [client, project, experimentKey], { pollMs: 15_000, refreshKey: refreshTick });
  /** The dialog open over the page, if any. */
  const [dialog, setDialog] = useState<'decide' | 'dimensions' | 'settings' | 'resume' | null>(null);
  const [actionError, setActionError] = useState<unknown>(null);
  /** How the results below are analysed (reported by the panel): the decision dialog judges by the same. */
  const [analysis, setAnalysis] = useState<Analysis | null>(null);
  const write = usePermission('experiments:write');
  /** Shows the experiment a start or resume returns, or the error it met. */
  const lifecycleAction = (request: Promise<Stored<Experiment>>): void => {
    setActionError(null);
    request.then(
      (updated) => { exp.setData(([, s]) => [updated, s]); },
      (e: unknown) => { setActionError(e); },
    );
  };
  const lifecycle = useExperimentLifecycle(exp.state.status === 'ready' ? exp.state.data[0].definition.environments : []);

  return (
    <AsyncView state={exp.state} onRetry={exp.reload}>
      {([experiment, segments]) => {
        const d = experiment.definition;
        const envs = d.environments.length > 0 ? d.environments : environments.map((e) => e.key);
        const dialogProps = {
          experiment,
          onClose: () => { setDialog(null); },
          onDone: (saved: Stored<Experiment>) => {
            setDialog(null);
            exp.setData(([, s]) => [saved, s]);
          },
        };
        return (
          <>
            <div className="page-head">
              <div>
                <h1>{d.name}</h1>
                <p className="muted">
                  <code>{experiment.key}</code> <Badge tone={STATUS_TONE[d.status]}>{d.status}</Badge>
                  {availableToClientSide(d) ? null : (
                    <>
                      {' '}
                      <ServerSideOnlyBadge definition={d} />
                    </>
                  )}
                  {d.startedAt === undefined ? null : <> started {formatTime(d.startedAt)}</>}
                  {d.decision === undefined ? null : (
                    <>
                      {' '}
                      · decision <strong>{d.decision}</strong>
                      {d.winner === undefined ? '' : ` (${d.winner})`}
                    </>
                  )}
                </p>
              </div>
              <div className="row">
                {d.status === 'draft' ? (
                  <button
                    type="button"
                    className="primary"
                    {...allowanceProps(lifecycle)}
                    onClick={() => { lifecycleAction(client.startExperiment(project, experiment.key, experiment.version)); }}
                  >
                    Start experiment
                  </button>
                ) : null}
                {d.status === 'running' ? (
                  <button type="button" className="primary" {...allowanceProps(lifecycle)} onClick={() => { setDialog('decide'); }}>
                    Decide…
                  </button>
                ) : null}
                {d.status === 'stopped' ? (
                  <button type="button" {...allowanceProps(lifecycle)} onClick={() => { setDialog('resume'); }}>
                    Resume…
                  </button>
                ) : null}
                <button type="button" {...allowanceProps(write)} onClick={() => { setDialog('dimensions'); }}>
                  Dimensions…
                </button>
                <button type="button" {...allowanceProps(write)} onClick={() => { setDialog('settings'); }}>
                  Settings…
                </button>
                <a href="#/experiments">← All experiments</a>
              </div>
            </div>
            {d.hypothesis === undefined ? null : (
              <p>
                <strong>Hypothesis:</strong> {d.hypothesis}
              </p>
            )}
            <SplitSummary experiment={d} />
            {actionError === null ? null : <ErrorNote error={actionError} />}
            {d.status === 'draft' ? (
              <p className="state state-empty">Results appear once the experiment is started and units are exposed.</p>
            ) : (
              <ResultsPanel experiment={experiment} environments={envs} segments={segments.map((s) => s.key)} onAnalysis={setAnalysis} />
            )}
            {dialog === 'dimensions' ? <DimensionsDialog {...dialogProps} /> : null}
            {dialog === 'settings' ? <SettingsDialog {...dialogProps} /> : null}
            {dialog === 'decide' ? <DecideDialog {...dialogProps} analysis={analysis} /> : null}
            {dialog === 'resume' ? (
              <Confirm
                title={`Resume ${experiment.key}?`}
                message={
                  <p>
                    Units are assigned again as before (same variations) and results continue from the units already exposed.
                    {d.decision === undefined ? '' : ` The decision (${d.decision}${d.winner === undefined ? '' : `, ${d.winner}`}) is cleared`}
                    {d.releaseWinner ? ' and the winner is no longer served to everyone.' : d.decision === undefined ? '' : '.'}
                  </p>
                }
                confirmLabel="Resume experiment"
                onCancel={() => { setDialog(null); }}
                onConfirm={() => {
                  setDialog(null);
                  lifecycleAction(client.resumeExperiment(project, experiment.key, experiment.version));
                }}
              />
            ) : null}
          </>
        );
      }}
    </AsyncView>
  );
}

/** The browser's time zone (IANA name), in which the console shows every time. */
export function localTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

/** The offset of `timeZone` from UTC at an instant, in ms (UTC+1: 3,600,000). */
function zoneOffset(at: number, timeZone: string): number {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' }).formatToParts(new Date(at));
  const part = (type: Intl.DateTimeFormatPartTypes): number => Number(parts.find((p) => p.type === type)?.value);
  const wall = Date.UTC(part('year'), part('month') - 1, part('day'), part('hour'), part('minute'), part('second'));
  return wall - Math.floor(at / 1000) * 1000;
}

/** The calendar day of an instant in `timeZone`, as "2026-12-03". */
function dayIn(at: number, timeZone: string): string {
  return new Date(at + zoneOffset(at, timeZone)).toISOString().slice(0, 10);
}

/**
 * The first instant of a calendar day ("2026-12-03") in `timeZone`: its midnight, or where a
 * daylight-saving change skips midnight, the first time the day has. NaN when it is no date.
 */
export function startOfDay(day: string, timeZone: string): number {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day);
  if (match === null) {
    return Number.NaN;
  }
  const utcMidnight = Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]));
  if (Number.isNaN(utcMidnight) || new Date(utcMidnight).toISOString().slice(0, 10) !== day) {
    return Number.NaN;
  }
  // The zone's offset at UTC midnight, then at the instant that gives: one of them is the day's.
  const first = utcMidnight - zoneOffset(utcMidnight, timeZone);
  const second = utcMidnight - zoneOffset(first, timeZone);
  const candidates = [first, second].filter((at) => dayIn(at, timeZone) === day);
  return candidates.length === 0 ? Math.max(first, second) : Math.min(...candidates);
}

/**
 * The first-exposure window of two typed days, both inclusive, in the browser's time zone (as every
 * time in the console): `from` is the first day's local midnight, `to` the midnight that ends the
 * last one, both sent as UTC instants. A window that ends before it starts is not applied, and says why.
 */
export function exposureWindow(fromDay: string, toDay: string, timeZone: string = localTimeZone()): { readonly from?: string; readonly to?: string; readonly problem?: string } {
  const start = fromDay === '' ? undefined : startOfDay(fromDay, timeZone);
  const end = toDay === '' ? undefined : startOfDay(nextDay(toDay), timeZone);
  if ((start !== undefined && Number.isNaN(start)) || (end !== undefined && Number.isNaN(end))) {
    return { problem: 'Enter the days as dates.' };
  }
  if (start !== undefined && end !== undefined && end <= start) {
    return { problem: `The window ends (${toDay}) before it starts (${fromDay}): the dates are not applied.` };
  }
  return { ...(start === undefined ? {} : { from: new Date(start).toISOString() }), ...(end === undefined ? {} : { to: new Date(end).toISOString() }) };
}

/** "2026-12-03" → "2026-12-04" (any text that is not a date stays as it is, and is refused). */
function nextDay(day: string): string {
  const at = Date.parse(`${day}T00:00:00Z`);
  return /^\d{4}-\d{2}-\d{2}$/.test(day) && !Number.isNaN(at) ? new Date(at + 86_400_000).toISOString().slice(0, 10) : day;
}

function ResultsPanel({ experiment, environments, segments, onAnalysis }: { experiment: Stored<Experiment>; environments: readonly string[]; segments: readonly string[]; onAnalysis?: (analysis: Analysis) => void }): ReactNode {
  const { client, project, environment: sessionEnv, environments: known, refreshTick } = useSession();
  const [environment, setEnvironment] = useState(environments.includes(sessionEnv) ? sessionEnv : (environments[0] ?? sessionEnv));
  const [sequential, setSequential] = useState(false);
  const [cuped, setCuped] = useState(true);
  const [segment, setSegment] = useState('');
  const dimensions = experiment.definition.dimensions ?? [];
  const [dimension, setDimension] = useState('');
  /** The value the results are filtered by (applied on Enter or when the field loses focus), and the one being typed. */
  const [dimensionValue, setDimensionValue] = useState('');
  const [dimensionDraft, setDimensionDraft] = useState('');
  // A dimension taken off the experiment (Dimensions…) while chosen here is no longer asked for.
  if (dimension !== '' && !dimensions.includes(dimension)) {
    setDimension('');
    setDimensionValue('');
    setDimensionDraft('');
  }
  /** First-exposure dates (days in the browser's time zone, inclusive), as typed: either may be empty. */
  const [fromDay, setFromDay] = useState('');
  const [toDay, setToDay] = useState('');
  const zone = localTimeZone();
  const exposed = exposureWindow(fromDay, toDay, zone);
  const [seriesInterval, setSeriesInterval] = useState<SeriesInterval>(() => defaultInterval(experiment.definition.startedAt));
  const [metric, setMetric] = useState<string | undefined>(undefined);
  const [csvError, setCsvError] = useState<unknown>(null);
  // The dimension filters only once it has a value: choosing one alone does not ask for the same results again.
  const filterBy = dimensionValue === '' ? '' : dimension;
  const query = useMemo(
    () => ({
      environment,
      sequential,
      cuped,
      interval: seriesInterval,
      ...(segment === '' ? {} : { segment }),
      ...(filterBy === '' ? {} : { attributes: { [filterBy]: dimensionValue } }),
      ...(exposed.from === undefined ? {} : { from: exposed.from }),
      ...(exposed.to === undefined ? {} : { to: exposed.to }),
    }),
    [environment, sequential, cuped, seriesInterval, segment, filterBy, dimensionValue, exposed.from, exposed.to],
  );
  const { state, reload } = useAsync(() => client.resultsDetail(project, experiment.key, query), [client, project, experiment.key, query], { pollMs: 10_000, refreshKey: refreshTick });
  // A dimension chosen without a value: every value side by side (from the dimension's rollups).
  const breakdownQuery = useMemo(() => (dimension === '' || dimensionValue !== '' ? null : { environment, sequential, cuped, dimension }), [environment, sequential, cuped, dimension, dimensionValue]);
  const breakdown = useAsync(
    () => (breakdownQuery === null ? Promise.resolve(null) : client.resultsBreakdown(project, experiment.key, breakdownQuery)),
    [client, project, experiment.key, breakdownQuery],
    { pollMs: 30_000, refreshKey: refreshTick },
  );
  const chooseValue = (value: string): void => {
    setDimensionDraft(value);
    setDimensionValue(value);
  };

  useEffect(() => {
    onAnalysis?.({ environment, sequential, cuped });
  }, [onAnalysis, environment, sequential, cuped]);

  useEffect(() => {
    if (state.status === 'ready') {
      performance.mark('xp:results-rendered');
    }
  }, [state]);

  const exportCsv = async (): Promise<void> => {
    setCsvError(null);
    try {
      const text = await client.resultsCsv(project, experiment.key, query);
      download(`${experiment.key}-${environment}-results.csv`, text);
    } catch (e) {
      setCsvError(e);
    }
  };

  return (
    <section aria-label="Results">
      <div className="toolbar">
        <h2 style={{ margin: 0 }}>Results</h2>
        <label className="inline">
          Environment
          <select value={environment} onChange={(e) => { setEnvironment(e.target.value); }}>
            {environments.map((e) => (
              <option key={e} value={e}>
                {known.find((k) => k.key === e)?.name ?? e}
              </option>
            ))}
          </select>
        </label>
        <label className="check">
          <input type="checkbox" role="switch" checked={sequential} onChange={(e) => { setSequential(e.target.checked); }} />
          Sequential (safe to peek)
        </label>
        <label className="check" title="Variance reduction with each unit's pre-exposure data, when there is some">
          <input type="checkbox" role="switch" checked={cuped} onChange={(e) => { setCuped(e.target.checked); }} />
          CUPED
        </label>
        <label className="inline">
          Segment
          <select value={segment} onChange={(e) => { setSegment(e.target.value); }}>
            <option value="">Everyone</option>
            {segments.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        {dimensions.length === 0 ? null : (
          <>
            <label className="inline" title="Only the units whose attribute (sent with their first exposure) has this value; the experiment's dimensions are answered from their rollups">
              Dimension
              <select
                value={dimension}
                onChange={(e) => {
                  setDimension(e.target.value);
                  setDimensionValue('');
                  setDimensionDraft('');
                }}
              >
                <option value="">All units</option>
                {dimensions.map((d) => (
                  <option key={d}>{d}</option>
                ))}
              </select>
            </label>
            {dimension === '' ? null : (
              <input
                aria-label={`${dimension} equals`}
                placeholder="value, then Enter"
                size={16}
                value={dimensionDraft}
                onChange={(e) => { setDimensionDraft(e.target.value); }}
                onBlur={() => { setDimensionValue(dimensionDraft.trim()); }}
                onKeyDown={(e) => {
                  if (e.key === 'Enter') {
                    setDimensionValue(dimensionDraft.trim());
                  }
                }}
              />
            )}
          </>
        )}
        <label className="inline" title={`Only the units first exposed on or after this day, from its midnight in your time zone (${zone})`}>
          Exposed from
          <input type="date" value={fromDay} onChange={(e) => { setFromDay(e.target.value); }} />
        </label>
        <label className="inline" title={`Only the units first exposed on or before this day, until its end in your time zone (${zone})`}>
          through
          <input type="date" value={toDay} onChange={(e) => { setToDay(e.target.value); }} />
        </label>
        <span className="small muted" title={zone}>
          (your time zone)
        </span>
        <label className="inline" title="Width of the time series' buckets (hours by default for an experiment younger than three days)">
          Over time
          <select value={seriesInterval} onChange={(e) => { setSeriesInterval(e.target.value === 'day' ? 'day' : 'hour'); }}>
            <option value="hour">by hour</option>
            <option value="day">by day</option>
          </select>
        </label>
        <span className="spacer" />
        {state.status === 'ready' && state.refreshing ? <span className="small muted">refreshing…</span> : null}
        <button type="button" onClick={() => void exportCsv()}>
          Export CSV
        </button>
      </div>
      <FormError message={exposed.problem} />
      {csvError === null ? null : <p className="state-error">{errorMessage(csvError)}</p>}
      {breakdownQuery === null || (exposed.from === undefined && exposed.to === undefined) ? null : (
        <p className="small muted">The breakdown by {dimension} covers every exposure date; choose a value to see it for these dates.</p>
      )}
      {breakdownQuery === null ? null : (
        <AsyncView state={breakdown.state} onRetry={breakdown.reload}>
          {(b) => (b === null ? null : <BreakdownTable breakdown={b} metric={metric ?? b.values[0]?.results.metrics[0]?.key ?? ''} onChoose={chooseValue} />)}
        </AsyncView>
      )}
      <AsyncView state={state} onRetry={reload}>
        {(results) => {
          const selected = metric ?? results.metrics[0]?.key;
          return (
            <ResultsView
              results={results}
              cuped={cuped}
              filtered={segment !== '' || filterBy !== '' || exposed.from !== undefined || exposed.to !== undefined}
              {...(selected === undefined ? {} : { selectedMetric: selected })}
              onSelectMetric={setMetric}
              chart={selected === undefined ? null : <CumulativeChart results={results} metric={selected} />}
            />
          );
        }}
      </AsyncView>
    </section>
  );
}
