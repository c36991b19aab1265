import { searchFold } from '@xp/shared';
import { useState } from 'react';
import type { ReactNode } from 'react';
import { navigate } from '../../app/router.js';
import { useSession } from '../../app/session.js';
import { ServerSideOnlyBadge } from '../../lib/client-side.js';
import { formatTime } from '../../lib/format.js';
import { allowanceProps, usePermission } from '../../lib/permissions.js';
import { LIST_POLL_MS } from '../../lib/list-all.js';
import { useAsync } from '../../lib/use-async.js';
import { AsyncView, Badge, Empty, ExplainedBadge } from '../../lib/ui.js';

const TONE = { draft: 'neutral', running: 'good', stopped: 'warn' } as const;

/**
 * Experiments with status filter and search; refreshes on the change feed (and a slow poll).
 * Archived experiments are left out unless "Show archived" is ticked (the API's `?archived=true`).
 */
export default function ExperimentsList(): ReactNode {
  const { client, project, refreshTick } = useSession();
  const [showArchived, setShowArchived] = useState(false);
  const { state, reload } = useAsync((signal) => client.listAll(project, 'experiments', { archived: showArchived, signal }), [client, project, showArchived], {
    pollMs: LIST_POLL_MS,
    refreshKey: refreshTick,
  });
  const [query, setQuery] = useState('');
  const [status, setStatus] = useState('');
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
      </div>
      <AsyncView state={state} onRetry={reload}>
        {(items) => {
          // Folded as the API folds ?q=: case, accents and zero-width characters aside.
          const q = searchFold(query.trim());
          const shown = items.filter((x) => (status === '' || x.definition.status === status) && (q === '' || searchFold(`${x.key} ${x.definition.name}`).includes(q)));
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
                  <th>Variations</th>
                  <th>Primary metrics</th>
                  <th>Started</th>
                </tr>
              </thead>
              <tbody>
                {shown.map((x) => (
                  <tr key={x.key} className={x.archived ? 'archived' : undefined}>
                    <td>
                      <a href={`#/experiments/${encodeURIComponent(x.key)}`} dir="auto">
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
                      </div>
                    </td>
                    <td>
                      <Badge tone={TONE[x.definition.status]}>{x.definition.status}</Badge>
                    </td>
                    <td>{x.definition.variations.map((v) => v.key).join(', ')}</td>
                    <td>{x.definition.metrics.primary.join(', ') || '—'}</td>
                    <td className="small muted">{formatTime(x.definition.startedAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          );
        }}
      </AsyncView>
    </>
  );
}
