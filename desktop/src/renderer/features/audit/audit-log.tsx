import { useState } from 'react';
import type { ReactNode } from 'react';
import type { AuditEntry, Page } from '@xp/shared';
import { useSession } from '../../app/session.js';
import { formatTime } from '../../lib/format.js';
import { usePages } from '../../lib/use-pages.js';
import { AsyncView, Badge, CodeBlock, Empty, ErrorNote } from '../../lib/ui.js';

interface DiffEntry {
  readonly op: 'add' | 'remove' | 'replace';
  readonly path: string;
  readonly from?: unknown;
  readonly to?: unknown;
}

const isDiff = (d: unknown): d is DiffEntry[] => Array.isArray(d) && d.every((x) => typeof x === 'object' && x !== null && 'op' in x && 'path' in x);
const short = (v: unknown): string => {
  const s = JSON.stringify(v);
  return s.length > 160 ? `${s.slice(0, 157)}…` : s;
};

/** A change's JSON-pointer diff, one line per change. */
export function DiffView({ diff }: { diff: unknown }): ReactNode {
  if (!isDiff(diff)) {
    return <CodeBlock label="Change">{JSON.stringify(diff, null, 2)}</CodeBlock>;
  }
  if (diff.length === 0) {
    return <p className="muted small">No field changed.</p>;
  }
  return (
    <ul className="small" style={{ margin: 0, paddingLeft: '1.2em' }}>
      {diff.map((d, i) => (
        <li key={i} className={`diff-${d.op}`}>
          <code>{d.path === '' ? '/' : d.path}</code> {d.op === 'add' ? <>added {short(d.to)}</> : d.op === 'remove' ? <>removed {short(d.from)}</> : <>{short(d.from)} → {short(d.to)}</>}
        </li>
      ))}
    </ul>
  );
}

/** Who changed what and when, newest first, with field-level diffs. */
export default function AuditLog(): ReactNode {
  const { client, project, refreshTick } = useSession();
  const [resourceKey, setResourceKey] = useState('');
  const [applied, setApplied] = useState('');
  const { state, reload, loadMore, moreError } = usePages(
    (cursor): Promise<Page<AuditEntry>> => client.audit({ project, limit: 50, ...(cursor === undefined ? {} : { cursor }), ...(applied === '' ? {} : { resourceKey: applied }) }),
    [client, project, applied],
    { keyOf: (e) => String(e.id), refreshKey: refreshTick },
  );
  return (
    <>
      <h1>Audit log</h1>
      <form
        className="toolbar"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          setApplied(resourceKey.trim());
        }}
      >
        <input type="search" aria-label="Resource key" placeholder="Flag, experiment or segment key" value={resourceKey} onChange={(e) => { setResourceKey(e.target.value); }} />
        <button type="submit">Filter</button>
      </form>
      <AsyncView state={state} onRetry={reload}>
        {(items) => {
          if (items.length === 0) {
            return <Empty>Nothing recorded{applied === '' ? '' : ` for ${applied}`} yet.</Empty>;
          }
          return (
            <>
              <table aria-label="Audit entries">
                <thead>
                  <tr>
                    <th>When</th>
                    <th>Who</th>
                    <th>What</th>
                    <th>Changes</th>
                  </tr>
                </thead>
                <tbody>
                  {items.map((a) => (
                    <tr key={a.id}>
                      <td className="small">{formatTime(a.createdAt)}</td>
                      <td className="small">
                        {a.actorEmail ?? 'system'}
                        <div className="muted">via {a.client}</div>
                      </td>
                      <td>
                        <Badge>{a.action}</Badge> {a.resourceType} <code>{a.resourceKey}</code>
                        {a.environment === null ? null : <span className="muted small"> in {a.environment}</span>}
                      </td>
                      <td>
                        <details>
                          <summary>{isDiff(a.diff) ? `${a.diff.length} change${a.diff.length === 1 ? '' : 's'}` : 'details'}</summary>
                          <DiffView diff={a.diff} />
                        </details>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
              {moreError === null ? null : <ErrorNote error={moreError} />}
              {loadMore === undefined ? null : (
                <button type="button" onClick={() => void loadMore()}>
                  Load older entries
                </button>
              )}
            </>
          );
        }}
      </AsyncView>
    </>
  );
}
