import type { ReactNode } from 'react';
import type { HealthView } from '@xp/shared';
import { useSession } from '../../app/session.js';
import { formatCount, formatNumber, formatTime } from '../../lib/format.js';
import { useAsync } from '../../lib/use-async.js';
import { AsyncView, Badge, Empty, ScrollRegion } from '../../lib/ui.js';

/**
 * What each figure of GET /api/v1/health measures, in words: the API names them by their CloudWatch
 * metric (`EvaluationLatency` is timed for every SDK request — ruleset downloads, evaluations,
 * events — not only for evaluations; cloud/src/http/sdk/sdk-outcomes.ts).
 */
const FIGURE_LABELS: Readonly<Record<string, { readonly label: string; readonly description: string }>> = {
  Evaluations: { label: 'Flags evaluated by the API', description: 'Flags evaluated by POST /sdk/v1/evaluate. SDKs that evaluate locally from the downloaded ruleset are not counted.' },
  EvaluationLatency: { label: 'SDK request latency', description: 'Time to answer each SDK request (ruleset downloads and streams, remote evaluations, event batches), not only evaluations.' },
  EventsAccepted: { label: 'Events accepted', description: 'Events POST /sdk/v1/events accepted for the pipeline.' },
  EventsRejected: { label: 'Events rejected', description: 'Events POST /sdk/v1/events refused as invalid.' },
  EventBatchesRefused: { label: 'Event batches refused', description: 'Event batches POST /sdk/v1/events could not take for now (503, 429: the stream unavailable or overloaded); the SDKs send them again.' },
  AggregationLag: { label: 'Aggregation lag', description: 'Time between an event batch arriving and the aggregator applying it.' },
  DeadLetters: { label: 'Dead letters', description: 'Records the aggregator could not apply, set aside in dead_letters.' },
  DuplicateEvents: {
    label: 'Duplicate events',
    description: 'Events the aggregator skipped because an event with the same id was already counted: SDK retries, re-delivered batches, or a sender reusing ids (only the first counts).',
  },
  ExposuresDropped: {
    label: 'Exposures lost',
    description: 'Exposures of remote evaluations and split-URL redirects lost for good: the event stream refused them and the retry buffer was full, or they still waited at shutdown. Those units are missing from the results.',
  },
  ExposuresRetrying: { label: 'Exposures waiting for retry', description: 'Exposures the event stream refused at first, kept in memory and sent again in the background.' },
};

const STATISTIC_LABELS: Readonly<Record<string, string>> = { sum: 'total', p50: 'median (p50)', p99: 'p99', max: 'maximum' };

const formatSeconds = (ms: number): string => (ms >= 120_000 ? `${formatCount(Math.round(ms / 60_000))} minutes` : `${formatCount(Math.round(ms / 1000))} s`);

/** One reason the API counts toward `degraded`, as a line for the operator. */
interface DegradedReason {
  readonly key: string;
  readonly badge: string;
  readonly text: string;
}

/**
 * Every reason GET /api/v1/health gives for `degraded` (cloud/src/http/routes/health.ts): the
 * database unreachable, records dead-lettered or exposures lost in the window, the aggregator failing or stalled, the
 * raw event archive not writable, a ruleset not published. A degraded report with none of these still says so.
 */
export function degradedReasons(h: HealthView): DegradedReason[] {
  const reasons: DegradedReason[] = [];
  if (h.database === 'unreachable') {
    reasons.push({ key: 'database', badge: 'database unreachable', text: 'Database: the API cannot reach it, so nothing can be read or saved.' });
  } else if (h.database === 'degraded') {
    reasons.push({
      key: 'database',
      badge: 'database disk full',
      text: `Database: its disk is full, so changes cannot be saved${h.databaseIssue === undefined ? '' : ` (since ${formatTime(h.databaseIssue.since)})`}; free space on that disk. Nothing saved before is lost.`,
    });
  }
  const deadInWindow = h.figures.find((f) => f.name === 'DeadLetters' && f.statistic === 'sum')?.value ?? 0;
  if (deadInWindow > 0) {
    reasons.push({
      key: 'dead-letters',
      badge: 'dead letters',
      text: `Dead letters: ${formatCount(deadInWindow)} record${deadInWindow === 1 ? '' : 's'} set aside in the last ${String(h.window.minutes)} minutes that the aggregator could not apply (they are not counted).`,
    });
  }
  const exposuresDropped = h.figures.find((f) => f.name === 'ExposuresDropped' && f.statistic === 'sum')?.value ?? 0;
  if (exposuresDropped > 0) {
    reasons.push({
      key: 'exposures-dropped',
      badge: 'exposures lost',
      text: `Exposures: ${formatCount(exposuresDropped)} exposure${exposuresDropped === 1 ? '' : 's'} of remote evaluations or redirects lost in the last ${String(h.window.minutes)} minutes: the event stream refused them and they could not be kept for a retry (those units are missing from the results).`,
    });
  }
  const aggregator = h.pipeline.aggregator;
  if (typeof aggregator?.failingSince === 'string') {
    reasons.push({
      key: 'aggregator-failing',
      badge: 'aggregator failing',
      text: `Aggregator: failing since ${formatTime(aggregator.failingSince)}: events are accepted but not counted.${aggregator.lastError === null ? '' : ` ${aggregator.lastError}`}`,
    });
  }
  if (typeof aggregator?.stalledSince === 'string') {
    reasons.push({
      key: 'aggregator-stalled',
      badge: 'aggregator stalled',
      text: `Aggregator: a poll has not ended since ${formatTime(aggregator.stalledSince)} (a batch waiting on a database lock, or a stream that does not answer): new events are not counted yet.`,
    });
  }
  const lag = h.pipeline.aggregationLag;
  if (lag?.exceeded === true && lag.maxMs !== null) {
    reasons.push({
      key: 'aggregation-lag',
      badge: 'aggregation behind',
      text: `Aggregation: events waited up to ${formatSeconds(lag.maxMs)} to be counted in the last ${String(lag.minutes)} minutes (the limit is ${formatSeconds(lag.limitMs)}): results are behind what the SDKs sent.`,
    });
  }
  for (const r of h.unpublishedRulesets ?? []) {
    reasons.push({
      key: `unpublished-${r.project}-${r.environment}`,
      badge: 'ruleset not published',
      text: `Rulesets: version ${String(r.version)} of ${r.project} / ${r.environment} could not be published since ${formatTime(r.since)} (${r.error}): its SDKs keep the previous ruleset, kill switches included, until a later change or Republish succeeds.`,
    });
  }
  const archive = h.pipeline.archive;
  if (typeof archive?.failingSince === 'string') {
    reasons.push({
      key: 'archive-failing',
      badge: 'archive failing',
      text: `Raw event archive: cannot be written since ${formatTime(archive.failingSince)}${archive.lastError === null ? '' : ` — ${archive.lastError}`} (events are still counted; a replay would miss them).`,
    });
  }
  if (h.status === 'degraded' && reasons.length === 0) {
    reasons.push({ key: 'unknown', badge: 'degraded', text: 'The API reports a degraded platform without a reason this console knows; see the API log.' });
  }
  return reasons;
}

/** The ops view: database, pipeline backlog and recent figures from GET /api/v1/health. */
export default function Health(): ReactNode {
  const { client, refreshTick } = useSession();
  const { state, reload } = useAsync(() => client.health(60), [client], { pollMs: 15_000, refreshKey: refreshTick });
  return (
    <>
      <h1>Health</h1>
      <AsyncView state={state} onRetry={reload}>
        {(h) => (
          <>
            <div className="row">
              <Badge tone={h.status === 'ok' ? 'good' : 'bad'}>{h.status === 'ok' ? 'All systems normal' : 'Degraded'}</Badge>
              <span className="muted small">
                {h.countingSince === undefined || h.countingSince === null
                  ? `${h.window.minutes} minutes to ${formatTime(h.window.end)}`
                  : `Since ${formatTime(h.countingSince)} (when this process started: counters begin again at each start) to ${formatTime(h.window.end)}`}
                , from {h.source === 'cloudwatch' ? 'CloudWatch' : 'in-process counters'}
              </span>
            </div>
            {h.status === 'degraded' && (
              <ul role="alert" aria-label="Why the platform is degraded" className="degraded-reasons">
                {degradedReasons(h).map((r) => (
                  <li key={r.key}>
                    <Badge tone="bad">{r.badge}</Badge> {r.text}
                  </li>
                ))}
              </ul>
            )}
            <div className="grid-2">
              <div className="panel">
                <h2 style={{ marginTop: 0 }}>Database</h2>
                <Badge tone={h.database === 'ok' ? 'good' : 'bad'}>{h.database}</Badge>
              </div>
              <div className="panel">
                <h2 style={{ marginTop: 0 }}>Event pipeline</h2>
                <p>
                  Dead letters: <strong>{h.pipeline.deadLetters === null ? '—' : formatCount(h.pipeline.deadLetters)}</strong> · retrying records: <strong>{h.pipeline.retryingRecords === null ? '—' : formatCount(h.pipeline.retryingRecords)}</strong>
                </p>
                {h.pipeline.aggregator !== undefined && (
                  <p>
                    Aggregator: <Badge tone={h.pipeline.aggregator.failingSince === null && (h.pipeline.aggregator.stalledSince ?? null) === null ? 'good' : 'bad'}>{h.pipeline.aggregator.failingSince !== null ? 'failing' : (h.pipeline.aggregator.stalledSince ?? null) !== null ? 'stalled' : 'ok'}</Badge>
                  </p>
                )}
                {h.pipeline.archive !== undefined && (
                  <p>
                    Raw event archive: <Badge tone={h.pipeline.archive.failingSince === null ? 'good' : 'bad'}>{h.pipeline.archive.failingSince === null ? 'ok' : 'failing'}</Badge>
                  </p>
                )}
              </div>
            </div>
            <h2>Figures</h2>
            {!h.metricsAvailable || h.figures.length === 0 ? (
              <Empty>No metrics in this window yet.</Empty>
            ) : (
              <ScrollRegion label="Health figures table">
                <table aria-label="Health figures">
                  <thead>
                    <tr>
                      <th>Figure</th>
                      <th>Statistic</th>
                      <th className="num">Value</th>
                    </tr>
                  </thead>
                  <tbody>
                    {h.figures.map((f) => {
                      const known = FIGURE_LABELS[f.name];
                      return (
                        <tr key={`${f.name}-${f.statistic}`}>
                          <td>
                            {known?.label ?? f.name}
                            {known === undefined ? null : (
                              <div className="small muted">
                                {known.description} <code>{f.name}</code>
                              </div>
                            )}
                          </td>
                          <td style={{ whiteSpace: 'nowrap' }}>{STATISTIC_LABELS[f.statistic] ?? f.statistic}</td>
                          <td className="num" style={{ whiteSpace: 'nowrap' }}>{f.value === null ? '—' : f.unit === 'Milliseconds' ? `${formatNumber(f.value)} ms` : formatCount(f.value)}</td>
                        </tr>
                      );
                    })}
                  </tbody>
                </table>
              </ScrollRegion>
            )}
          </>
        )}
      </AsyncView>
    </>
  );
}
