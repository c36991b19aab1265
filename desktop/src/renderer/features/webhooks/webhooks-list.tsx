import { useState } from 'react';
import type { ReactNode } from 'react';
import { useSession } from '../../app/session.js';
import { routeHash } from '../../app/router.js';
import { usePermission } from '../../lib/permissions.js';
import { useAsync } from '../../lib/use-async.js';
import { AsyncView, Badge, Empty, FormError, VisuallyHidden } from '../../lib/ui.js';
import { useNewestWebhooks, useWebhookActions } from './webhook-actions.js';
import { WebhookFormDialog } from './webhook-form.js';
import { environmentsText } from './webhook-model.js';
import { EventList, LastDelivery, ManageOnly, PlatformKeyHint } from './webhook-parts.js';

/** The list refreshes this often, for each webhook's last delivery. */
const POLL_MS = 5_000;

/** The project's webhooks, for roles holding `webhooks:manage`; the others are told who can. */
export default function Webhooks(): ReactNode {
  const manage = usePermission('webhooks:manage');
  return (
    <section aria-labelledby="webhooks-heading">
      {manage.allowed ? (
        <WebhookList />
      ) : (
        <>
          <h1 id="webhooks-heading">Webhooks</h1>
          <ManageOnly allowance={manage} />
        </>
      )}
    </section>
  );
}

function WebhookList(): ReactNode {
  const { client, project, environments, refreshTick } = useSession();
  const known = useNewestWebhooks();
  const webhooks = useAsync(async () => (await client.listWebhooks(project)).map(known.newest), [client, project], { refreshKey: refreshTick, pollMs: POLL_MS });
  const [creating, setCreating] = useState(false);
  const actions = useWebhookActions({
    onChanged: webhooks.reload,
    onUpdated: (updated) => {
      known.keep(updated);
      webhooks.setData((list) => list.map((w) => (w.id === updated.id ? updated : w)));
    },
  });

  return (
    <>
      <div className="page-head">
        <h1 id="webhooks-heading">Webhooks</h1>
        <button type="button" className="primary" onClick={() => { setCreating(true); }}>
          New webhook
        </button>
      </div>
      <p className="muted small">
        Project {project}'s changes — the actions of its audit log, such as <code>flag.updated</code> — sent as signed HTTP requests to your services or to Slack, with retries and
        a delivery log.
      </p>
      <FormError message={actions.error} />
      <AsyncView state={webhooks.state} onRetry={webhooks.reload}>
        {(list) =>
          list.length === 0 ? (
            <Empty>No webhooks in this project yet. Create one to send its changes to a URL of yours or to a Slack channel.</Empty>
          ) : (
            <table aria-label="Webhooks">
              <thead>
                <tr>
                  <th>Name</th>
                  <th>URL</th>
                  <th>Format</th>
                  <th>Events</th>
                  <th>Environments</th>
                  <th>Enabled</th>
                  <th>Last delivery</th>
                  <th><VisuallyHidden>Actions</VisuallyHidden></th>
                </tr>
              </thead>
              <tbody>
                {list.map((w) => (
                  <tr key={w.id}>
                    <td>
                      <a href={routeHash({ screen: 'webhook', id: w.id })}>{w.name}</a>
                    </td>
                    <td>
                      <code>{w.url}</code>
                    </td>
                    <td>
                      <Badge tone={w.format === 'slack' ? 'info' : 'neutral'}>{w.format === 'slack' ? 'Slack' : 'JSON'}</Badge>
                    </td>
                    <td>
                      <EventList events={w.events} />
                    </td>
                    <td className="small">{environmentsText(w.environments, environments)}</td>
                    <td>
                      <input
                        type="checkbox"
                        role="switch"
                        aria-label={`${w.name} enabled`}
                        checked={actions.toggling.get(w.id) ?? w.enabled}
                        disabled={actions.toggling.has(w.id)}
                        onChange={(e) => { actions.setEnabled(w, e.target.checked); }}
                      />
                    </td>
                    <td>
                      <LastDelivery last={w.lastDelivery} />
                    </td>
                    <td>
                      <button type="button" aria-label={`Edit ${w.name}`} onClick={() => { actions.edit(w); }}>
                        Edit
                      </button>{' '}
                      <button type="button" className="danger" aria-label={`Delete ${w.name}`} onClick={() => { actions.remove(w); }}>
                        Delete
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </AsyncView>
      <PlatformKeyHint error={webhooks.state.status === 'error' ? webhooks.state.error : null} />
      {creating ? (
        <WebhookFormDialog
          onClose={() => { setCreating(false); }}
          onSaved={webhooks.reload}
        />
      ) : null}
      {actions.dialogs}
    </>
  );
}
