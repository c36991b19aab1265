import { useId, useState } from 'react';
import type { ReactNode } from 'react';
import { ApiError, expandVariations, splitShares } from '@xp/shared';
import type { Bandit, BanditUpdate, Experiment, Stored } from '@xp/shared';
import { useSession } from '../../app/session.js';
import { FieldError, invalidProps } from '../../lib/field-errors.js';
import { formatCount, formatPercent, formatProbability, formatTime } from '../../lib/format.js';
import { allowanceProps, usePermission } from '../../lib/permissions.js';
import type { Allowance } from '../../lib/permissions.js';
import { useAsync } from '../../lib/use-async.js';
import { ErrorNote, ScrollRegion, errorMessage } from '../../lib/ui.js';
import { SERIES_COLORS, XpLineChart } from '../charts/chart.js';
import type { ChartValue } from '../charts/chart.js';

/**
 * Multi-armed bandits in the console (docs/console.md, Bandits): the wizard's and Settings…' bandit
 * field with the checks the API's schema makes (banditSchema in shared/src/model/experiment.ts), and
 * the experiment page's Bandit panel: the split now and over time (from `splitHistory`), the metric,
 * and the platform's recent checks (GET …/bandit) with *Update now* (POST …/bandit/update).
 */

/** The API's limits of a bandit's schedule and floor (banditSchema); the tests hold them to the schema. */
export const BANDIT_LIMITS = { updateEveryHours: [1, 720], burnInHours: [0, 720], minShare: [0, 0.5] } as const;

/** A bandit as the form holds it: whether it is on, and each setting as typed ('' metric: the first primary metric). */
export interface BanditDraft {
  readonly enabled: boolean;
  readonly metric: string;
  readonly updateEveryHours: string;
  readonly burnInHours: string;
  /** The least share per variation in percent, as typed. */
  readonly minSharePercent: string;
}

/** The form of a stored bandit (none: off, with the API's defaults ready for when it is turned on). */
export function banditDraftOf(bandit: Bandit | undefined): BanditDraft {
  return {
    enabled: bandit !== undefined,
    metric: bandit?.metric ?? '',
    updateEveryHours: String(bandit?.updateEveryHours ?? 24),
    burnInHours: String(bandit?.burnInHours ?? 24),
    minSharePercent: String(Math.round((bandit?.minShare ?? 0.01) * 10_000) / 100),
  };
}

export type BanditField = 'type' | 'metric' | 'updateEveryHours' | 'burnInHours' | 'minShare';

/** What the checks need of the experiment: its type, its primary metrics and how many variations it has. */
export interface BanditContext {
  readonly type: Experiment['type'];
  readonly primary: readonly string[];
  readonly variations: number;
}

/** A whole number of hours within `[min, max]`, or what is wrong with it, starting with the field's label. */
function hours(label: string, text: string, [min, max]: readonly [number, number]): { readonly value?: number; readonly problem?: string } {
  const value = Number(text.trim());
  if (text.trim() === '' || !Number.isInteger(value) || value < min || value > max) {
    return { problem: `${label}: enter a whole number of hours from ${min} to ${max}${text.trim() === '' ? '' : ` (not ${text.trim()})`}.` };
  }
  return { value };
}

/**
 * The bandit the form gives (undefined when it is off, or has problems) and what is wrong with it,
 * by field, in plain words: the checks of the API's schema — an A/B or split-URL experiment, a
 * primary metric to optimise (the chosen one among them), whole hours within the limits, and a least
 * share that leaves room for every variation (least share × variations ≤ 100%). Sticky bucketing is
 * not checked: the form turns it on with the bandit.
 */
export function checkBandit(draft: BanditDraft, context: BanditContext): { readonly bandit?: Bandit; readonly problems: Partial<Record<BanditField, string>> } {
  if (!draft.enabled) {
    return { problems: {} };
  }
  const problems: Partial<Record<BanditField, string>> = {};
  if (context.type === 'multivariate') {
    problems.type = 'Bandit: a multivariate experiment has no weights of its own to move (its variations come from its factors); use an A/B or split-URL experiment.';
  }
  if (context.primary.length === 0) {
    problems.metric = 'Bandit metric: a bandit moves traffic towards the best variation on a metric; give a metric the role Primary first.';
  } else if (draft.metric !== '' && !context.primary.includes(draft.metric)) {
    problems.metric = `Bandit metric: ${draft.metric} is not a primary metric of this experiment any more; choose one of ${context.primary.join(', ')}.`;
  }
  const every = hours('Update every', draft.updateEveryHours, BANDIT_LIMITS.updateEveryHours);
  const burnIn = hours('Burn-in', draft.burnInHours, BANDIT_LIMITS.burnInHours);
  if (every.problem !== undefined) {
    problems.updateEveryHours = every.problem;
  }
  if (burnIn.problem !== undefined) {
    problems.burnInHours = burnIn.problem;
  }
  const text = draft.minSharePercent.trim();
  const percent = Number(text);
  const [, maxShare] = BANDIT_LIMITS.minShare;
  let minShare: number | undefined;
  if (text === '' || !Number.isFinite(percent) || percent < 0 || percent > maxShare * 100) {
    problems.minShare = `Least share per variation: enter a percentage from 0 to ${maxShare * 100}${text === '' ? '' : ` (not ${text})`}.`;
  } else {
    minShare = Math.round(percent * 100) / 10_000;
    if (context.variations > 0 && minShare * context.variations > 1) {
      const most = Math.floor((1 / context.variations) * 10_000) / 100;
      problems.minShare = `Least share per variation: ${text}% for each of ${context.variations} variations is more than all the traffic; at most ${most}%.`;
    }
  }
  if (Object.keys(problems).length > 0 || every.value === undefined || burnIn.value === undefined || minShare === undefined) {
    return { problems };
  }
  return {
    bandit: { ...(draft.metric === '' ? {} : { metric: draft.metric }), updateEveryHours: every.value, burnInHours: burnIn.value, minShare },
    problems,
  };
}

/** The metric a bandit optimises: the one it names, else the experiment's first primary metric. */
export function banditMetric(experiment: Pick<Experiment, 'bandit' | 'metrics'>): string | undefined {
  return experiment.bandit?.metric ?? experiment.metrics.primary[0];
}

/** Turned on, a bandit needs sticky bucketing: the experiment's, with `enabled` set (its bucket versions kept). */
export function withBanditSticky(definition: Experiment): Experiment['stickyBucketing'] {
  return { bucketVersion: 0, minBucketVersion: 0, ...definition.stickyBucketing, enabled: true };
}

/**
 * Why the split of a started experiment cannot move, so a bandit turned on now would never move it:
 * sticky bucketing was off at the start or turned on after it (units exposed before have no stored
 * variation). Undefined when it can move (or the experiment has not started).
 */
export function frozenSplitReason(experiment: Experiment): string | undefined {
  if (experiment.startedAt === undefined) {
    return undefined;
  }
  if (experiment.stickyBucketing?.enabled !== true || experiment.stickyBucketingSince !== undefined) {
    return 'This experiment started without sticky bucketing: units exposed before it was turned on have no stored variation, so the API refuses to move its split, and a bandit turned on now would keep the current split. To run a bandit, create a new experiment with the bandit on from the start.';
  }
  return undefined;
}

/**
 * The bandit option: on or off, and when on the metric (among the primary metrics), the cadence,
 * the burn-in and the least share, each checked as typed with its problem under it, the API's
 * refusal, and when a bandit fits and what it costs. Turning it on turns sticky bucketing on, and
 * says why. `running`: the experiment runs (turning the bandit off keeps the current weights).
 */
export function BanditFieldset({
  draft,
  onChange,
  context,
  running = false,
  frozen,
  refusal,
}: {
  draft: BanditDraft;
  onChange: (draft: BanditDraft) => void;
  context: BanditContext;
  running?: boolean;
  /** Why the split of this experiment cannot move (frozenSplitReason), if it cannot. */
  frozen?: string | undefined;
  /** The API's refusal of the bandit or of sticky bucketing, if any. */
  refusal?: string | undefined;
}): ReactNode {
  const ids = useId();
  const hint = `${ids}-hint`;
  const errorId = (field: BanditField): string => `${ids}-${field}-error`;
  const { problems } = checkBandit(draft, context);
  const set = (patch: Partial<BanditDraft>): void => { onChange({ ...draft, ...patch }); };
  if (context.type === 'multivariate') {
    return (
      <p className="small muted">
        Bandit: not available for a multivariate experiment (its variations come from its factors, with no weights of their own to move); use an A/B or split-URL experiment.
      </p>
    );
  }
  const metricMessage = problems.metric;
  return (
    <fieldset>
      <legend>Bandit</legend>
      <label className="check">
        <input type="checkbox" checked={draft.enabled} aria-describedby={hint} onChange={(e) => { set({ enabled: e.target.checked }); }} />
        Bandit: move traffic to the best variation automatically
      </label>
      <p id={hint} className="small muted">
        A bandit fits when you want the most conversions during the test itself: many variations, a short campaign (a holiday banner, a launch week), or too little traffic
        to test every variation for long. While it runs, the platform moves the weights towards the variations most likely to be best on the metric (Thompson sampling),
        every few hours after a burn-in at the weights you set. It costs precision: the losing variations get few units, so their effects are estimated more slowly and less
        precisely than with a fixed split, and the results weigh each split period separately. To measure an effect, keep a fixed split.
      </p>
      {running && !draft.enabled ? (
        <p className="small muted" role="note">
          Turned off on a running experiment, the bandit stops moving the split: the experiment keeps the weights it has now (the last move&apos;s). Change them with the
          variations if you want another split.
        </p>
      ) : null}
      {draft.enabled ? (
        <>
          <p className="banner banner-info" role="note" aria-label="Sticky bucketing">
            Sticky bucketing is turned on with the bandit: when the split moves, every unit keeps the variation it already saw, so no one switches variations and each is
            counted where it was exposed.
          </p>
          {frozen === undefined ? null : (
            <p className="banner banner-warn" role="note" aria-label="The split cannot move">
              {frozen}
            </p>
          )}
          <label>
            Metric to optimise
            <select
              value={draft.metric}
              disabled={context.primary.length === 0}
              {...invalidProps(errorId('metric'), metricMessage)}
              onChange={(e) => { set({ metric: e.target.value }); }}
            >
              {context.primary.length === 0 ? <option value="">No primary metric yet</option> : <option value="">The first primary metric ({context.primary[0]})</option>}
              {context.primary.map((m) => (
                <option key={m} value={m}>
                  {m}
                </option>
              ))}
              {draft.metric !== '' && !context.primary.includes(draft.metric) ? <option value={draft.metric}>{draft.metric} (not primary)</option> : null}
            </select>
          </label>
          <FieldError id={errorId('metric')} message={metricMessage} />
          <div className="row">
            <label>
              Update every (hours)
              <input
                type="number"
                min={BANDIT_LIMITS.updateEveryHours[0]}
                max={BANDIT_LIMITS.updateEveryHours[1]}
                step={1}
                value={draft.updateEveryHours}
                {...invalidProps(errorId('updateEveryHours'), problems.updateEveryHours)}
                onChange={(e) => { set({ updateEveryHours: e.target.value }); }}
              />
            </label>
            <label>
              Burn-in (hours)
              <input
                type="number"
                min={BANDIT_LIMITS.burnInHours[0]}
                max={BANDIT_LIMITS.burnInHours[1]}
                step={1}
                value={draft.burnInHours}
                {...invalidProps(errorId('burnInHours'), problems.burnInHours)}
                onChange={(e) => { set({ burnInHours: e.target.value }); }}
              />
            </label>
            <label>
              Least share per variation (%)
              <input
                type="number"
                min={0}
                max={BANDIT_LIMITS.minShare[1] * 100}
                step={0.5}
                value={draft.minSharePercent}
                {...invalidProps(errorId('minShare'), problems.minShare)}
                onChange={(e) => { set({ minSharePercent: e.target.value }); }}
              />
            </label>
          </div>
          <FieldError id={errorId('updateEveryHours')} message={problems.updateEveryHours} />
          <FieldError id={errorId('burnInHours')} message={problems.burnInHours} />
          <FieldError id={errorId('minShare')} message={problems.minShare} />
          <p className="small muted">
            The burn-in keeps the weights you set for its first hours, so that the first move is judged on enough units; the least share keeps every variation in the test
            (at most 100% divided by the number of variations).
          </p>
        </>
      ) : null}
      {refusal === undefined ? null : <FieldError id={`${ids}-refusal`} message={`The API refused the bandit: ${refusal}.`} />}
    </fieldset>
  );
}

/** One period of the split: the shares each variation got from `from` (null: the start, unknown for a draft) until `until` (null: now). */
export interface SharePeriod {
  readonly from: string | null;
  readonly until: string | null;
  readonly shares: Readonly<Record<string, number>>;
}

/**
 * The split over time, oldest first: each recorded split (`splitHistory`, each until the time it was
 * replaced) from the end of the one before (the first from the start), then the current weights
 * since the last change, until the stop of a stopped experiment or now.
 */
export function shareHistory(experiment: Pick<Experiment, 'type' | 'variations' | 'factors' | 'splitHistory' | 'startedAt' | 'stoppedAt' | 'status'>): SharePeriod[] {
  const history = experiment.splitHistory ?? [];
  const periods: SharePeriod[] = history.map((h, i) => ({ from: i === 0 ? (experiment.startedAt ?? null) : history[i - 1]!.until, until: h.until, shares: h.shares }));
  periods.push({
    from: history.at(-1)?.until ?? experiment.startedAt ?? null,
    until: experiment.status === 'stopped' ? (experiment.stoppedAt ?? null) : null,
    shares: splitShares(experiment),
  });
  return periods;
}

/**
 * The rows of the share chart: a point at the start of each period with every variation's share,
 * and a last point at its end (now, or the stop) repeating the current shares, so that the step
 * drawn from each point lasts until the next change.
 */
export function shareChartRows(periods: readonly SharePeriod[], variations: readonly string[], now: string = new Date().toISOString()): Record<string, ChartValue>[] {
  const row = (at: string | null, shares: Readonly<Record<string, number>>, label: string): Record<string, ChartValue> => {
    const out: Record<string, ChartValue> = { x: at === null ? label : formatTime(at), range: at === null ? label : formatTime(at) };
    for (const v of variations) {
      out[v] = shares[v] ?? 0;
    }
    return out;
  };
  const rows = periods.map((p, i) => row(p.from, p.shares, i === 0 ? 'start' : 'change'));
  const last = periods.at(-1);
  if (last !== undefined) {
    const end = last.until ?? now;
    rows.push({ ...row(end, last.shares, 'now'), range: `${formatTime(end)}${last.until === null ? ' (now)' : ' (stopped)'}` });
  }
  return rows;
}

// --- GET …/bandit and POST …/bandit/update ------------------------------------------------------

/** Why a check kept the split, in words; null for a move. */
export function reasonText(update: Pick<BanditUpdate, 'reason' | 'message'>, bandit?: Pick<Bandit, 'burnInHours'>): string | null {
  switch (update.reason) {
    case null:
      return null;
    case 'burn_in':
      return `Still in the burn-in${bandit === undefined ? '' : ` (its first ${bandit.burnInHours} hours)`}: the weights you set are kept until then.`;
    case 'insufficient_units':
      return 'Too few units yet to judge the variations (each needs 100): the split is kept until more arrive.';
    case 'no_chance_to_be_best':
      return 'The chance to be best could not be computed on the metric (a comparison failed): the split is kept.';
    case 'split_history_full':
      return 'The split history is full (100 changes): the split cannot move any more. Create a new experiment to go on.';
    case 'no_change':
      return 'The new shares would be the same as the current ones: nothing to move.';
    case 'conflict':
      return 'The experiment was changed at the same moment (someone saved it): the next check tries again.';
    case 'failed':
      return `The check failed${update.message === '' ? '' : `: ${update.message.replace(/\.$/, '')}`}. The next check tries again.`;
    default:
      // A reason a newer server added: its message says it.
      return update.message === '' ? String(update.reason) : update.message;
  }
}

/** An answer that the server has no bandit endpoint (an older server) or no bandit for this experiment. */
function isMissing(error: unknown): boolean {
  return error instanceof ApiError && (error.status === 404 || error.status === 405);
}

/** Whether the user may run a check now: experiments:write, and the experiment running. */
export function updateAllowance(write: Allowance, experiment: Experiment): Allowance {
  if (!write.allowed) {
    return write;
  }
  return experiment.status === 'running' ? write : { allowed: false, reason: 'The bandit moves the split only while the experiment runs' };
}

/** When the next check is due, in words: a time, "due now" for a past one (the updater runs every minute), or none. */
export function nextUpdateText(status: Experiment['status'], nextUpdateAt: string | null | undefined, now: number = Date.now()): string {
  if (status !== 'running') {
    return 'none while the experiment is not running';
  }
  if (nextUpdateAt === undefined) {
    return '…';
  }
  if (nextUpdateAt === null) {
    return 'none scheduled';
  }
  return Date.parse(nextUpdateAt) <= now ? 'due now (within a minute)' : formatTime(nextUpdateAt);
}

/** "control 12.3% · treatment 87.7%". */
function sharesLine(shares: Readonly<Record<string, number>>, keys: readonly string[]): string {
  return keys.map((k) => `${k} ${shares[k] === undefined ? '—' : formatPercent(shares[k])}`).join(' · ');
}

/**
 * The Bandit panel of a bandit experiment's page: the current share of each variation, the metric,
 * the next update, the shares over time (a step chart from the split history and the current
 * weights), the platform's recent checks and *Update now* for those who may edit experiments.
 * `onMoved` is told after a check, so the page reads the experiment (its weights) again.
 */
export function BanditPanel({ experiment, onChecked }: { experiment: Stored<Experiment>; onChecked?: () => void }): ReactNode {
  const { client, project, refreshTick, environments } = useSession();
  const d = experiment.definition;
  const bandit = d.bandit;
  const write = usePermission('experiments:write');
  const state = useAsync(() => client.getBandit(project, experiment.key), [client, project, experiment.key], { pollMs: 30_000, refreshKey: refreshTick });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState<string | null>(null);
  if (bandit === undefined) {
    return null;
  }
  const keys = expandVariations(d).map((v) => v.key);
  const current = splitShares(d);
  const view = state.state.status === 'ready' ? state.state.data : undefined;
  const latest = view?.updates[0];
  const metric = view?.metric ?? banditMetric(d);
  const periods = shareHistory(d);
  const allowance = updateAllowance(write, d);
  const update = async (): Promise<void> => {
    setBusy(true);
    setError(null);
    setNotice(null);
    try {
      await client.updateBandit(project, experiment.key);
      setNotice('Checked now: the result is at the top of the list.');
      state.reload();
      onChecked?.();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className="panel" aria-labelledby="bandit-heading">
      <div className="toolbar">
        <h2 id="bandit-heading" style={{ margin: 0 }}>
          Bandit
        </h2>
        <span className="spacer" />
        <button type="button" {...allowanceProps(allowance, busy)} aria-busy={busy} onClick={() => void update()}>
          Update now
        </button>
      </div>
      <p>
        <strong>Metric:</strong> {metric === undefined ? 'none (add a primary metric)' : <code>{metric}</code>}
        {view?.environment === null || view?.environment === undefined ? null : ` (results in ${environments.find((e) => e.key === view.environment)?.name ?? view.environment})`} ·{' '}
        <strong>Updates</strong> every {bandit.updateEveryHours} h after a {bandit.burnInHours} h burn-in, each variation keeping at least {formatPercent(bandit.minShare)} ·{' '}
        <strong>Next update:</strong> {nextUpdateText(d.status, view === undefined ? undefined : view.nextUpdateAt)}
      </p>
      {notice === null ? null : (
        <p className="banner banner-info" role="status">
          {notice}
        </p>
      )}
      {error === null ? null : <ErrorNote error={error} />}
      <ScrollRegion label="Current shares">
        <table aria-label="Current shares">
          <thead>
            <tr>
              <th scope="col">Variation</th>
              <th scope="col" className="num">
                Share now
              </th>
              <th scope="col" className="num">
                Chance to be best (last check)
              </th>
              <th scope="col" className="num">
                Units (last check)
              </th>
            </tr>
          </thead>
          <tbody>
            {keys.map((k) => (
              <tr key={k}>
                <th scope="row">{k}</th>
                <td className="num">{formatPercent(current[k] ?? 0)}</td>
                <td className="num">{latest?.chanceToBeBest?.[k] === undefined ? '—' : formatProbability(latest.chanceToBeBest[k])}</td>
                <td className="num">{latest?.units[k] === undefined ? '—' : formatCount(latest.units[k])}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </ScrollRegion>
      {d.startedAt === undefined ? (
        <p className="small muted">The split starts moving once the experiment runs and its burn-in is over.</p>
      ) : periods.length < 2 ? (
        <p className="small muted">The split has not moved yet: every variation has the share set for it since the start ({formatTime(d.startedAt)}).</p>
      ) : (
        <XpLineChart
          title="Share of each variation over time"
          data={shareChartRows(periods, keys)}
          series={keys.map((k, i) => ({ key: k, label: k, color: SERIES_COLORS[i % SERIES_COLORS.length]! }))}
          formatY={(v) => formatPercent(v)}
          tooltipLabelKey="range"
          curve="stepAfter"
          height={200}
        />
      )}
      <h3>Recent checks</h3>
      {state.state.status === 'loading' ? <p className="small muted">Loading the checks…</p> : null}
      {state.state.status === 'error' ? (
        <p className="small muted">
          {isMissing(state.state.error)
            ? 'The server does not list bandit checks (it may be older than bandits); the split above is the one it serves.'
            : `The checks could not be loaded (${errorMessage(state.state.error)}).`}
        </p>
      ) : null}
      {view === undefined ? null : view.updates.length === 0 ? (
        <p className="small muted">No check yet: the first comes {view.nextUpdateAt === null ? 'once the experiment runs' : formatTime(view.nextUpdateAt)}.</p>
      ) : (
        <ScrollRegion label="Recent checks">
          <table aria-label="Recent checks">
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Outcome</th>
                <th scope="col">Chance to be best</th>
                <th scope="col">Shares</th>
              </tr>
            </thead>
            <tbody>
              {view.updates.map((u, i) => (
                <tr key={`${u.at}-${String(i)}`}>
                  <td>{formatTime(u.at)}</td>
                  <td>
                    {u.outcome === 'moved' ? <strong>Moved the split</strong> : 'Kept the split'}
                    {reasonText(u, bandit) === null ? null : <div className="small">{reasonText(u, bandit)}</div>}
                  </td>
                  <td className="small">{u.chanceToBeBest === null ? '—' : keys.map((k) => `${k} ${u.chanceToBeBest?.[k] === undefined ? '—' : formatProbability(u.chanceToBeBest[k])}`).join(' · ')}</td>
                  <td className="small">
                    {u.outcome === 'moved' ? `${sharesLine(u.previousShares, keys)} → ${sharesLine(u.shares, keys)}` : sharesLine(u.shares, keys)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </ScrollRegion>
      )}
      <p className="small muted">
        Each move is recorded in the split history like a manual change; units keep the variation they saw (sticky bucketing). The results weigh each split period
        separately (stratified), so the moves do not bias the effects.
      </p>
    </section>
  );
}
