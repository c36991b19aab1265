import { Fragment, useState } from 'react';
import type { ReactNode } from 'react';
import { ApiError, DeliveryStatus } from '@xp/shared';
import type { Webhook, WebhookDelivery, WebhookDeliveryAttempt } from '@xp/shared';
import { useSession } from '../../app/session.js';
import { navigate, routeHash } from '../../app/router.js';
import { formatCount, formatTime } from '../../lib/format.js';
import { usePermission } from '../../lib/permissions.js';
import { useAsync } from '../../lib/use-async.js';
import { usePages } from '../../lib/use-pages.js';
import { AsyncView, Badge, CodeBlock, Empty, ErrorNote, FormError, Loading, VisuallyHidden, errorMessage } from '../../lib/ui.js';
import { useNewestWebhooks, useWebhookActions } from './webhook-actions.js';
import { environmentsText } from './webhook-model.js';
import { DeliveryBadge, EventList, LastDelivery, ManageOnly, PlatformKeyHint } from './webhook-parts.js';

/** The delivery log refreshes this often: pending deliveries move on within seconds. */
const DELIVERIES_POLL_MS = 3_000;
/** The webhook (its last delivery) refreshes as often as the list does. */
const WEBHOOK_POLL_MS = 5_000;
const PAGE_SIZE = 50;
/** The API refuses to redeliver for a disabled webhook. */
const REDELIVER_DISABLED = 'Enable the webhook to redeliver';
/** An attempt's answer longer than this is shown cut, the whole of it on request. */
const ANSWER_PREVIEW = 80;

/** The delivery log's filter: every delivery, or those in one status, as the API filters them. */
type StatusFilter = DeliveryStatus | '';
const STATUS_FILTERS: readonly { readonly value: StatusFilter; readonly label: string }[] = [
  { value: '', label: 'All' },
  { value: DeliveryStatus.Failed, label: 'Failed' },
  { value: DeliveryStatus.Pending, label: 'Pending' },
  { value: DeliveryStatus.Succeeded, label: 'Succeeded' },
];

const backLink = (
  <p className="small">
    <a href={routeHash({ screen: 'webhooks' })}>← Webhooks</a>
  </p>
);

/** One webhook: its settings and actions, a test delivery, and its delivery log. */
export default function WebhookPage({ webhookId }: { webhookId: string }): ReactNode {
  const manage = usePermission('webhooks:manage');
  if (!manage.allowed) {
    return (
      <section aria-labelledby="webhook-heading">
        {backLink}
        <h1 id="webhook-heading">Webhook</h1>
        <ManageOnly allowance={manage} />
      </section>
    );
  }
  return <WebhookDetail id={webhookId} />;
}

/** "HTTP 200 in 34 ms", "no answer after 10,000 ms", "not sent yet". */
function outcome(d: Pick<WebhookDelivery, 'statusCode' | 'durationMs'>): string {
  const took = d.durationMs === null ? '' : ` in ${formatCount(d.durationMs)} ms`;
  if (d.statusCode !== null) {
    return `HTTP ${d.statusCode}${took}`;
  }
  return d.durationMs === null ? 'not sent yet' : `no answer${took}`;
}

/** What came back and, with `payload`, what was sent. */
function DeliveryDetails({ delivery, payload = true }: { delivery: WebhookDelivery; payload?: boolean }): ReactNode {
  return (
    <div className="delivery-details">
      {delivery.error === null ? null : (
        <p className="state-error">
          Error: <span>{delivery.error}</span>
        </p>
      )}
      <h3>Response{delivery.statusCode === null ? '' : ` (HTTP ${delivery.statusCode})`}</h3>
      {delivery.response === null || delivery.response === '' ? <p className="muted small">No response body.</p> : <CodeBlock label="Response body">{delivery.response}</CodeBlock>}
      {payload ? (
        <>
          <h3>Payload</h3>
          <CodeBlock label="Payload">{JSON.stringify(delivery.payload, null, 2)}</CodeBlock>
        </>
      ) : null}
    </div>
  );
}

/** When an attempt ended, to the second: retries can be seconds apart. */
function attemptTime(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

/** An attempt's answer: the whole of a short one; a long one cut, expanding to the whole. */
function AttemptAnswer({ attempt }: { attempt: WebhookDeliveryAttempt }): ReactNode {
  const label = `Response of attempt ${attempt.attempt}`;
  if (attempt.response === null || attempt.response === '') {
    return <span className="muted">no body</span>;
  }
  if (attempt.response.length <= ANSWER_PREVIEW) {
    return <code aria-label={label}>{attempt.response}</code>;
  }
  return (
    <details>
      <summary>
        <code>{attempt.response.slice(0, ANSWER_PREVIEW)}…</code>
      </summary>
      <CodeBlock label={label}>{attempt.response}</CodeBlock>
    </details>
  );
}

/**
 * Every attempt of a delivery, first to last, as the API keeps them (`GET …/deliveries/{id}`):
 * when, the HTTP code or "no answer", the error, how long it took and the answer. It loads again
 * when the delivery moves on (another attempt, a new status) in the log's refresh.
 */
function AttemptHistory({ webhookId, delivery }: { webhookId: string; delivery: WebhookDelivery }): ReactNode {
  const { client, project } = useSession();
  const detail = useAsync(() => client.webhookDelivery(project, webhookId, delivery.id), [client, project, webhookId, delivery.id], {
    refreshKey: `${delivery.attempts}:${delivery.status}`,
  });
  return (
    <div className="delivery-details">
      <h3>Attempts</h3>
      <AsyncView state={detail.state} onRetry={detail.reload}>
        {(d) =>
          d.attemptLog.length === 0 ? (
            <p className="muted small">Not tried yet.</p>
          ) : (
            <table aria-label={`Attempts of delivery ${delivery.id}`}>
              <thead>
                <tr>
                  <th className="num">#</th>
                  <th>Time</th>
                  <th>Status code</th>
                  <th>Error</th>
                  <th className="num">Duration</th>
                  <th>Response</th>
                </tr>
              </thead>
              <tbody>
                {d.attemptLog.map((a) => (
                  <tr key={a.attempt}>
                    <td className="num">{a.attempt}</td>
                    <td className="small">
                      <time dateTime={a.at}>{attemptTime(a.at)}</time>
                    </td>
                    <td className="small">{a.statusCode === null ? 'no answer' : `HTTP ${a.statusCode}`}</td>
                    <td className="small">{a.error === null ? '—' : <span className="state-error">{a.error}</span>}</td>
                    <td className="num small">{a.durationMs === null ? '—' : `${formatCount(a.durationMs)} ms`}</td>
                    <td className="small">
                      <AttemptAnswer attempt={a} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </AsyncView>
    </div>
  );
}

/** The result of "Send test": how the receiver answered. */
function TestResult({ delivery }: { delivery: WebhookDelivery }): ReactNode {
  const ok = delivery.status === DeliveryStatus.Succeeded;
  return (
    <div className={`banner ${ok ? 'banner-good' : 'banner-bad'}`} role="status" aria-label="Test delivery">
      <p>
        <DeliveryBadge status={delivery.status} statusCode={delivery.statusCode} /> Test event <code>{delivery.event}</code>: {outcome(delivery)}.
        {ok ? ' The receiver accepted it.' : ' The receiver did not accept it (test deliveries are not retried).'}
      </p>
      <DeliveryDetails delivery={delivery} payload={false} />
    </div>
  );
}

function Summary({ webhook }: { webhook: Webhook }): ReactNode {
  const { environments } = useSession();
  return (
    <dl className="summary">
      <dt>URL</dt>
      <dd>
        <code>{webhook.url}</code> <span className="small muted">(the start only: the URL may hold a token)</span>
      </dd>
      <dt>Format</dt>
      <dd>{webhook.format === 'slack' ? 'Slack message' : 'JSON, signed'}</dd>
      <dt>Events</dt>
      <dd>
        <EventList events={webhook.events} />
      </dd>
      <dt>Environments</dt>
      <dd>{environmentsText(webhook.environments, environments)}</dd>
      {webhook.previousSecretExpiresAt === null ? null : (
        <>
          <dt>Signing secret</dt>
          <dd>
            Previous secret also signs until {formatTime(webhook.previousSecretExpiresAt)} <span className="small muted">(each request carries both signatures until then)</span>
          </dd>
        </>
      )}
      <dt>Last delivery</dt>
      <dd>
        <LastDelivery last={webhook.lastDelivery} />
      </dd>
      <dt>Created</dt>
      <dd>{formatTime(webhook.createdAt)}</dd>
      <dt>Changed</dt>
      <dd>{formatTime(webhook.updatedAt)}</dd>
    </dl>
  );
}

function WebhookDetail({ id }: { id: string }): ReactNode {
  const { client, project, refreshTick } = useSession();
  const known = useNewestWebhooks();
  const webhook = useAsync(async () => known.newest(await client.webhook(project, id)), [client, project, id], { refreshKey: refreshTick, pollMs: WEBHOOK_POLL_MS });
  const [status, setStatus] = useState<StatusFilter>('');
  // The filter is part of the query: changing it loads the log afresh, and older pages follow it.
  const deliveries = usePages(
    (cursor) => client.webhookDeliveries(project, id, { limit: PAGE_SIZE, ...(cursor === undefined ? {} : { cursor }), ...(status === '' ? {} : { status }) }),
    [client, project, id, status],
    {
      keyOf: (d) => d.id,
      pollMs: DELIVERIES_POLL_MS,
      refreshKey: refreshTick,
    },
  );
  const reloadAll = (): void => {
    webhook.reload();
    deliveries.reload();
  };
  const actions = useWebhookActions({
    onChanged: reloadAll,
    onUpdated: (updated) => {
      known.keep(updated);
      webhook.setData(() => updated);
    },
    onDeleted: () => { navigate({ screen: 'webhooks' }); },
  });
  const [testing, setTesting] = useState(false);
  const [tested, setTested] = useState<WebhookDelivery | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [expanded, setExpanded] = useState<ReadonlySet<string>>(new Set());
  const [redelivering, setRedelivering] = useState<ReadonlySet<string>>(new Set());

  if (webhook.state.status === 'loading') {
    return <Loading />;
  }
  if (webhook.state.status === 'error') {
    const gone = webhook.state.error instanceof ApiError && webhook.state.error.status === 404;
    return (
      <section>
        {backLink}
        {gone ? (
          <Empty>This webhook does not exist: it may have been deleted.</Empty>
        ) : (
          <>
            <ErrorNote error={webhook.state.error} onRetry={webhook.reload} />
            <PlatformKeyHint error={webhook.state.error} />
          </>
        )}
      </section>
    );
  }
  const w = webhook.state.data;

  const sendTest = (): void => {
    setTesting(true);
    setTested(null);
    setError(null);
    setNotice(null);
    client
      .testWebhook(project, w.id)
      .then(
        (delivery) => { setTested(delivery); },
        (e: unknown) => { setError(`Could not send a test event: ${errorMessage(e)}`); },
      )
      .finally(() => {
        setTesting(false);
        reloadAll();
      });
  };

  const redeliver = (d: WebhookDelivery): void => {
    setError(null);
    setNotice(null);
    setRedelivering((s) => new Set(s).add(d.id));
    client
      .redeliverWebhook(project, w.id, d.id)
      .then(
        (again) => { setNotice(`Delivery ${d.id} (${d.event}) queued again as delivery ${again.id}.`); },
        (e: unknown) => { setError(`Could not redeliver ${d.id}: ${errorMessage(e)}`); },
      )
      .finally(() => {
        setRedelivering((s) => {
          const next = new Set(s);
          next.delete(d.id);
          return next;
        });
        deliveries.reload();
      });
  };

  const toggle = (deliveryId: string): void => {
    setExpanded((s) => {
      const next = new Set(s);
      if (!next.delete(deliveryId)) {
        next.add(deliveryId);
      }
      return next;
    });
  };

  return (
    <section aria-labelledby="webhook-heading">
      {backLink}
      <div className="page-head">
        <h1 id="webhook-heading">{w.name}</h1>
        <span>{w.enabled ? <Badge tone="good">enabled</Badge> : <Badge tone="warn">disabled</Badge>}</span>
      </div>
      {webhook.state.refreshError === null ? null : (
        <p className="banner banner-warn" role="status">
          Live refresh failed ({errorMessage(webhook.state.refreshError)}); showing the last data.
        </p>
      )}
      <Summary webhook={w} />
      <div className="toolbar">
        <button type="button" className="primary" disabled={testing} onClick={sendTest}>
          {testing ? 'Sending test…' : 'Send test'}
        </button>
        <button type="button" onClick={() => { actions.edit(w); }}>
          Edit…
        </button>
        <button type="button" disabled={actions.toggling.has(w.id)} onClick={() => { actions.setEnabled(w, !w.enabled); }}>
          {w.enabled ? 'Disable' : 'Enable'}
        </button>
        <button type="button" onClick={() => { actions.rotate(w); }}>
          Rotate secret…
        </button>
        <button type="button" className="danger" onClick={() => { actions.remove(w); }}>
          Delete…
        </button>
      </div>
      <FormError message={actions.error} />
      <FormError message={error} />
      {notice === null ? null : (
        <p className="banner banner-info" role="status">
          {notice}
        </p>
      )}
      {tested === null ? null : <TestResult delivery={tested} />}
      <div className="page-head">
        <h2>Deliveries</h2>
        <label>
          Status{' '}
          <select
            value={status}
            onChange={(e) => {
              setStatus(e.target.value as StatusFilter);
            }}
          >
            {STATUS_FILTERS.map((f) => (
              <option key={f.value} value={f.value}>
                {f.label}
              </option>
            ))}
          </select>
        </label>
      </div>
      <p className="muted small">
        Newest first, kept 30 days. A delivery that gets no answer, a 408, a 429 or a 5xx is tried again after 30 s, 2 min, 10 min, 30 min, 1 h, 3 h and 6 h, then fails; other
        answers outside 2xx fail at once.
      </p>
      <AsyncView state={deliveries.state} onRetry={deliveries.reload}>
        {(list) =>
          list.length === 0 ? (
            status === '' ? (
              <Empty>No deliveries yet. Changes matching the webhook's events are sent here as they happen; Send test sends one now.</Empty>
            ) : (
              <Empty>No {status} deliveries in the last 30 days.</Empty>
            )
          ) : (
            <table aria-label="Deliveries">
              <thead>
                <tr>
                  <th>Event</th>
                  <th>Status</th>
                  <th>Result</th>
                  <th className="num">Attempts</th>
                  <th>Created</th>
                  <th>Delivered / next attempt</th>
                  <th><VisuallyHidden>Actions</VisuallyHidden></th>
                </tr>
              </thead>
              <tbody>
                {list.map((d) => {
                  const open = expanded.has(d.id);
                  const detailsId = `delivery-${d.id}-details`;
                  return (
                    <Fragment key={d.id}>
                      <tr>
                        <td>
                          <code>{d.event}</code>
                          <div className="small muted">#{d.id}</div>
                        </td>
                        <td>
                          <DeliveryBadge status={d.status} statusCode={null} />
                        </td>
                        <td className="small">
                          {outcome(d)}
                          {d.error === null ? null : <div className="state-error">{d.error}</div>}
                        </td>
                        <td className="num">{d.attempts}</td>
                        <td className="small">{formatTime(d.createdAt)}</td>
                        <td className="small">{d.deliveredAt !== null ? formatTime(d.deliveredAt) : d.status === DeliveryStatus.Pending ? `next ${d.nextAttemptAt === null ? 'now' : formatTime(d.nextAttemptAt)}` : '—'}</td>
                        <td>
                          <button type="button" aria-expanded={open} aria-controls={detailsId} aria-label={`${open ? 'Hide details' : 'Details'} of delivery ${d.id}`} onClick={() => { toggle(d.id); }}>
                            {open ? 'Hide details' : 'Details'}
                          </button>{' '}
                          <button
                            type="button"
                            aria-label={`Redeliver delivery ${d.id}`}
                            {...(w.enabled ? { disabled: redelivering.has(d.id) } : { disabled: true, title: REDELIVER_DISABLED, 'aria-description': REDELIVER_DISABLED })}
                            onClick={() => { redeliver(d); }}
                          >
                            Redeliver
                          </button>
                        </td>
                      </tr>
                      {open ? (
                        <tr id={detailsId}>
                          <td colSpan={7}>
                            <DeliveryDetails delivery={d} />
                            <AttemptHistory webhookId={w.id} delivery={d} />
                          </td>
                        </tr>
                      ) : null}
                    </Fragment>
                  );
                })}
              </tbody>
            </table>
          )
        }
      </AsyncView>
      {deliveries.moreError === null ? null : <ErrorNote error={deliveries.moreError} />}
      {deliveries.loadMore === undefined || deliveries.state.status !== 'ready' ? null : (
        <button type="button" onClick={() => void deliveries.loadMore?.()}>
          Load older deliveries
        </button>
      )}
      {actions.dialogs}
    </section>
  );
}
