import { searchFold } from '@xp/shared';
import type { GuardrailAlert, XpApiClient } from '@xp/shared';
import { useState } from 'react';
import type { ReactNode } from 'react';
import { navigate } from '../../app/router.js';
import { useSession } from '../../app/session.js';
import { ServerSideOnlyBadge } from '../../lib/client-side.js';
import { formatTime } from '../../lib/format.js';
import { allowanceProps, usePermission } from '../../lib/permissions.js';
import { LIST_POLL_MS } from '../../lib/list-all.js';
import { useAsync } from '../../lib/use-async.js';
import { AsyncView, Badge, Empty, ExplainedBadge, errorMessage } from '../../lib/ui.js';
import { unitText } from './experiment-settings-fields.js';

const TONE = { draft: 'neutral', running: 'good', stopped: 'warn' } as const;

/** The most pages of open alerts the list reads, of 200 each (the API's largest page). */
const ALERT_PAGES = 10;

/** The project's open guardrail alerts, newest first, page after page (at most ALERT_PAGES); stops between pages once `signal` aborts. */
async function openAlerts(client: XpApiClient, project: string, signal: AbortSignal): Promise<GuardrailAlert[]> {
  const items: GuardrailAlert[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    if (signal.aborted) {
      throw new DOMException('The alerts were no longer wanted', 'AbortError');
    }
    const page = await client.alerts(project, { status: 'open', limit: 200, ...(cursor === undefined ? {} : { cursor }) });
    items.push(...page.items);
    cursor = page.nextCursor;
    pages++;
  } while (cursor !== undefined && pages < ALERT_PAGES);
  return items;
}

/** An experiment's open alerts: a warning badge with their count and how many nobody has acknowledged, named with their metrics, linking to its page. */
function GuardrailsCell({ href, alerts, withEnvironment }: { href: string; alerts: readonly GuardrailAlert[]; withEnvironment: boolean }): ReactNode {
  const unacknowledged = alerts.filter((a) => (a.acknowledgedAt ?? null) === null).length;
  const count = `${alerts.length} open ${alerts.length === 1 ? 'alert' : 'alerts'}`;
  const fresh = unacknowledged === 0 ? 'all acknowledged' : `${unacknowledged} new`;
  const metrics = [...new Set(alerts.map((a) => (withEnvironment ? `${a.metric} (${a.environment})` : a.metric)))].join(', ');
  const name = `${count}, ${fresh}: ${metrics}`;
  return (
    <a href={href} aria-label={name} title={name}>
      <Badge tone="warn">
        <span aria-hidden="true">⚠</span> {count}
      </Badge>{' '}
      <span className="small">{fresh}</span>
    </a>
  );
}

/**
 * Experiments with status filter and search; refreshes on the change feed (and a slow poll).
 * Archived experiments are left out unless "Show archived" is ticked (the API's `?archived=true`).
 * The project's open guardrail alerts mark their experiments, and "Open guardrail alerts only" keeps just those.
 */
export default function ExperimentsList(): ReactNode {
  const { client, project, refreshTick } = useSession();
  const [showArchived, setShowArchived] = useState(false);
  const { state, reload } = useAsync((signal) => client.listAll(project, 'experiments', { archived: showArchived, signal }), [client, project, showArchived], {
    pollMs: LIST_POLL_MS,
    refreshKey: refreshTick,
  });
  // Refreshed with the list; failing, it leaves the list as it is, with a note.
  const alerts = useAsync((signal) => openAlerts(client, project, signal), [client, project], { pollMs: LIST_POLL_MS, refreshKey: refreshTick });
  const alertsOf = new Map<string, GuardrailAlert[]>();
  for (const a of alerts.state.status === 'ready' ? alerts.state.data : []) {
    const list = alertsOf.get(a.experiment) ?? [];
    list.push(a);
    alertsOf.set(a.experiment, list);
  }
  const withEnvironment = alerts.state.status === 'ready' && new Set(alerts.state.data.map((a) => a.environment)).size > 1;
  const [query, setQuery] = useState('');
  const [status, setStatus] = useState('');
  const [alertedOnly, setAlertedOnly] = useState(false);
  const write = usePermission('experiments:write');
  return (
    <>
      <div className="page-head">
        <h1>Experiments</h1>
        <button type="button" className="primary" {...allowanceProps(write)} onClick={() => { navigate({ screen: 'experiment-new' }); }}>
          New experiment
        </button>
      </div>
      <div className="toolbar" role="search">
        <input type="search" aria-label="Search experiments" placeholder="Search" value={query} onChange={(e) => { setQuery(e.target.value); }} />
        <label className="inline">
          Status
          <select value={status} onChange={(e) => { setStatus(e.target.value); }}>
            <option value="">Any</option>
            <option value="draft">Draft</option>
            <option value="running">Running</option>
            <option value="stopped">Stopped</option>
          </select>
        </label>
        <label className="check">
          <input type="checkbox" checked={showArchived} onChange={(e) => { setShowArchived(e.target.checked); }} />
          Show archived
        </label>
        <label className="check">
          <input type="checkbox" checked={alertedOnly} onChange={(e) => { setAlertedOnly(e.target.checked); }} />
          Open guardrail alerts only
        </label>
      </div>
      {alerts.state.status === 'error' ? <p className="small muted">Guardrail alerts could not be loaded: {errorMessage(alerts.state.error)}</p> : null}
      {alerts.state.status === 'ready' && alerts.state.refreshError !== null ? (
        <p className="small muted">Guardrail alerts could not be refreshed: {errorMessage(alerts.state.refreshError)}; the badges show the alerts as last loaded.</p>
      ) : null}
      <AsyncView state={state} onRetry={() => { reload(); alerts.reload(); }}>
        {(items) => {
          // Folded as the API folds ?q=: case, accents and zero-width characters aside.
          const q = searchFold(query.trim());
          const shown = items.filter(
            (x) => (status === '' || x.definition.status === status) && (!alertedOnly || alertsOf.has(x.key)) && (q === '' || searchFold(`${x.key} ${x.definition.name}`).includes(q)),
          );
          if (items.length === 0) {
            return (
              <Empty>
                <p>{showArchived ? 'No experiments yet.' : 'No experiments yet, or every one is archived (tick Show archived to list them).'}</p>
                {write.allowed ? <a href="#/experiments/new">Design the first one</a> : null}
              </Empty>
            );
          }
          if (shown.length === 0) {
            return <Empty>No experiment matches.</Empty>;
          }
          return (
            <table aria-label="Experiments">
              <thead>
                <tr>
                  <th>Experiment</th>
                  <th>Status</th>
                  <th>Guardrails</th>
                  <th>Variations</th>
                  <th>Primary metrics</th>
                  <th>Started</th>
                </tr>
              </thead>
              <tbody>
                {shown.map((x) => {
                  const href = `#/experiments/${encodeURIComponent(x.key)}`;
                  const open = alertsOf.get(x.key);
                  return (
                    <tr key={x.key} className={x.archived ? 'archived' : undefined}>
                      <td>
                        <a href={href} dir="auto">
                          {x.definition.name}
                        </a>
                        <div className="small muted">
                          <code>{x.key}</code>{' '}
                          {x.archived ? (
                            <ExplainedBadge tone="warn" label="archived">
                              Left out of the list unless Show archived is ticked; its results are kept. Unarchive it on its page to start, resume or change it.
                            </ExplainedBadge>
                          ) : null}{' '}
                          <ServerSideOnlyBadge definition={x.definition} />
                          {x.definition.bandit === undefined ? null : (
                            <>
                              {' '}
                              <ExplainedBadge tone="info" label="bandit">
                                A multi-armed bandit: while it runs, the platform moves its traffic towards the variation most likely to be best on {x.definition.bandit.metric ?? x.definition.metrics.primary[0] ?? 'its primary metric'}.
                              </ExplainedBadge>
                            </>
                          )}
                          {unitText(x.definition) === undefined ? null : <span> · randomised by {unitText(x.definition)}</span>}
                        </div>
                      </td>
                      <td>
                        <Badge tone={TONE[x.definition.status]}>{x.definition.status}</Badge>
                      </td>
                      <td>{open === undefined ? (alerts.state.status === 'ready' ? '—' : null) : <GuardrailsCell href={href} alerts={open} withEnvironment={withEnvironment} />}</td>
                      <td>{x.definition.variations.map((v) => v.key).join(', ')}</td>
                      <td>{x.definition.metrics.primary.join(', ') || '—'}</td>
                      <td className="small muted">{formatTime(x.definition.startedAt)}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          );
        }}
      </AsyncView>
    </>
  );
}
