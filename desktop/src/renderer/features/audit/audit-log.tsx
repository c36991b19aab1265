import { useState } from 'react';
import type { ReactNode } from 'react';
import type { AuditEntry, Page } from '@xp/shared';
import { useSession } from '../../app/session.js';
import { formatTime } from '../../lib/format.js';
import { useAsync } from '../../lib/use-async.js';
import { usePages } from '../../lib/use-pages.js';
import { AsyncView, Badge, CodeBlock, Empty, ErrorNote } from '../../lib/ui.js';
import { download } from '../../lib/download.js';
import { calendarDay, localTimeZone } from '../../lib/zoned-time.js';

/** The API's diff operation; for `move` (a rule moved, addressed by its id), `from` and `to` are its positions, from 0. */
interface DiffEntry {
  readonly op: 'add' | 'remove' | 'replace' | 'move';
  readonly path: string;
  readonly from?: unknown;
  readonly to?: unknown;
}

const isDiff = (d: unknown): d is DiffEntry[] => Array.isArray(d) && d.every((x) => typeof x === 'object' && x !== null && 'op' in x && 'path' in x);
const short = (v: unknown): string => {
  const s = JSON.stringify(v);
  return s.length > 160 ? `${s.slice(0, 157)}…` : s;
};

/** What one operation did, after its path; positions are shown from 1, as the flag editor numbers its rules. */
function change(d: DiffEntry): ReactNode {
  switch (d.op) {
    case 'add':
      return <>added {short(d.to)}</>;
    case 'remove':
      return <>removed {short(d.from)}</>;
    case 'move':
      return <>moved from position {Number(d.from) + 1} to {Number(d.to) + 1}</>;
    default:
      return <>{short(d.from)} → {short(d.to)}</>;
  }
}

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
          <code>{d.path === '' ? '/' : d.path}</code> {change(d)}
        </li>
      ))}
    </ul>
  );
}

/** The resource types the audit API filters by (its AUDIT_RESOURCE_TYPES). */
export const AUDIT_RESOURCE_TYPES = ['flag', 'segment', 'experiment', 'metric', 'holdout', 'environment', 'project', 'user', 'access-token', 'sdk-key', 'organization', 'webhook', 'code-refs'] as const;

/** The width of the text filters, in characters: their placeholders and a few more. */
const FILTER_SIZE = 16;

/** The project an entry belongs to (the API sends it; null for organisation-wide entries: users, sign-ins, tokens). */
const projectOf = (a: AuditEntry): string | null | undefined => (a as AuditEntry & { readonly projectId?: string | null }).projectId;

/**
 * An entry's target: its key, or, for a target whose key is an internal id (users, webhooks, SDK
 * keys, tokens), the name the API gives it (`resourceLabel`) with the id after it, muted, still
 * there to copy into the Resource key filter.
 */
function Target({ entry }: { entry: AuditEntry }): ReactNode {
  if (entry.resourceLabel === undefined || entry.resourceLabel === '') {
    return <code>{entry.resourceKey}</code>;
  }
  return (
    <>
      <span title={`${entry.resourceType} ${entry.resourceKey}`}>{entry.resourceLabel}</span> <code className="muted small">{entry.resourceKey}</code>
    </>
  );
}

/**
 * How an entry's change was made: the personal access token (its display prefix and id, which the
 * API's `credential` filter takes) or the session, and the client address. Nothing for entries that
 * recorded neither (older ones, operator CLI commands).
 */
export function Provenance({ entry }: { entry: AuditEntry }): ReactNode {
  const c = entry.credential ?? null;
  const ip = entry.ip ?? null;
  if (c === null && ip === null) {
    return null;
  }
  let via: ReactNode = null;
  if (c?.kind === 'token') {
    via = (
      <>
        via token <code>{c.prefix === null ? 'xpp_' : c.prefix}…</code> <span className="muted">(id <code>{c.id}</code>)</span>
      </>
    );
  } else if (c?.kind === 'session') {
    via = <>via a {entry.client === 'api' ? 'signed-in' : entry.client} session</>;
  } else if (c?.kind === 'system') {
    via = <>by the platform ({c.id})</>;
  }
  return (
    <p className="muted small" style={{ margin: '0.3em 0 0' }}>
      {via}
      {via !== null && ip !== null ? ', ' : null}
      {ip === null ? null : <>from {ip}</>}
    </p>
  );
}

/**
 * Who changed what and when, newest first, with field-level diffs. By default the current project's
 * entries; "All projects and organisation" adds every project's and the organisation-wide ones
 * (invites, sign-ins, failed sign-ins, tokens), which belong to no project. Filters: resource type,
 * user, flags turned on or off, environment, resource key (by the API) and action (among the entries loaded).
 */
export default function AuditLog(): ReactNode {
  const { client, project, environments, refreshTick } = useSession();
  const [chosenScope, setScope] = useState<'project' | 'all'>('project');
  // Without a project (all deleted), the organisation's log is all there is.
  const scope = project === '' ? 'all' : chosenScope;
  const [resourceType, setResourceType] = useState('');
  const [actor, setActor] = useState('');
  const [action, setAction] = useState('');
  const [resourceKey, setResourceKey] = useState('');
  const [turned, setTurned] = useState<'' | 'on' | 'off'>('');
  const [environment, setEnvironment] = useState('');
  const [applied, setApplied] = useState('');
  // The user filter lists the organisation's users, service accounts included, when the role may read them; otherwise it is left out.
  const people = useAsync(() => client.users({ limit: 200, kind: 'all' }).then((p) => p.items), [client]);
  /** The filters the API applies (the action box filters the entries loaded, here only). */
  const filters = {
    ...(scope === 'project' ? { project } : {}),
    ...(applied === '' ? {} : { resourceKey: applied }),
    ...(resourceType === '' ? {} : { resourceType }),
    ...(actor === '' ? {} : { actor }),
    ...(turned === '' ? {} : { turned }),
    ...(environment === '' || scope !== 'project' ? {} : { environment }),
  };
  const [exporting, setExporting] = useState(false);
  const [exportError, setExportError] = useState<unknown>(null);
  const exportCsv = async (): Promise<void> => {
    setExporting(true);
    setExportError(null);
    try {
      // With a byte order mark: the file is for spreadsheets, and Excel needs it to read UTF-8.
      const text = await client.auditExport({ ...filters, bom: true });
      // Named by the user's own day, as the results CSVs are, not the UTC one (00:49 on Dec 6 in Kolkata is still Dec 5 in UTC).
      download(`xp-audit-${scope === 'project' ? `${project}-` : ''}${calendarDay(Date.now(), localTimeZone())}.csv`, text);
    } catch (e) {
      setExportError(e);
    } finally {
      setExporting(false);
    }
  };
  const { state, reload, loadMore, moreError } = usePages(
    (cursor): Promise<Page<AuditEntry>> => client.audit({ ...filters, limit: 50, ...(cursor === undefined ? {} : { cursor }) }),
    [client, project, applied, scope, resourceType, actor, turned, environment],
    { keyOf: (e) => String(e.id), refreshKey: refreshTick },
  );
  const wanted = action.trim().toLowerCase();
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
        <label className="inline">
          Show
          <select aria-label="Scope" value={scope} onChange={(e) => { setScope(e.target.value as typeof scope); }}>
            {project === '' ? null : <option value="project">Project {project}</option>}
            <option value="all">All projects and organisation (users, sign-ins…)</option>
          </select>
        </label>
        <label className="inline">
          Resource
          <select aria-label="Resource type" value={resourceType} onChange={(e) => { setResourceType(e.target.value); }}>
            <option value="">Any</option>
            {AUDIT_RESOURCE_TYPES.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </label>
        {people.state.status === 'ready' ? (
          <label className="inline">
            User
            <select aria-label="User" value={actor} onChange={(e) => { setActor(e.target.value); }}>
              <option value="">Anyone</option>
              {people.state.data.map((u) => (
                <option key={u.id} value={u.id}>
                  {u.kind === 'service' ? `${u.name} (service account)` : u.email}
                </option>
              ))}
            </select>
          </label>
        ) : null}
        <label className="inline">
          Flag
          <select aria-label="Flag turned on or off" value={turned} title="Entries that turned a flag on or off, whichever way: switch, rule edit, flags file, approved change request" onChange={(e) => { setTurned(e.target.value as typeof turned); }}>
            <option value="">Any change</option>
            <option value="off">Turned off</option>
            <option value="on">Turned on</option>
          </select>
        </label>
        {scope === 'project' ? (
          <label className="inline">
            Environment
            <select aria-label="Environment" value={environment} onChange={(e) => { setEnvironment(e.target.value); }}>
              <option value="">Any</option>
              {environments.map((env) => (
                <option key={env.key} value={env.key}>
                  {env.name}
                </option>
              ))}
            </select>
          </label>
        ) : null}
        {/* Visible labels and short examples as placeholders: an input is as wide as its size in characters, and a longer hint was cut off ("Flag, experiment or se"). */}
        <label className="inline">
          Action
          <input type="search" placeholder="e.g. login" value={action} size={FILTER_SIZE} title="Filters the entries loaded" onChange={(e) => { setAction(e.target.value); }} />
        </label>
        <label className="inline">
          Resource key
          <input type="search" placeholder="e.g. checkout" value={resourceKey} size={FILTER_SIZE} title="The key of a flag, experiment, segment or other resource" onChange={(e) => { setResourceKey(e.target.value); }} />
        </label>
        <button type="submit">Filter</button>
        <button type="button" disabled={exporting} title="Every entry these filters match, oldest first (the action box is not applied)" onClick={() => void exportCsv()}>
          {exporting ? 'Exporting…' : 'Export CSV'}
        </button>
      </form>
      {exportError === null ? null : <ErrorNote error={exportError} />}
      <AsyncView state={state} onRetry={reload}>
        {(loaded) => {
          const items = wanted === '' ? loaded : loaded.filter((a) => a.action.toLowerCase().includes(wanted));
          if (items.length === 0) {
            return (
              <>
                <Empty>
                  {turned === '' && environment === '' && resourceType === '' && actor === '' ? 'Nothing recorded' : 'No entry matches these filters'}
                  {applied === '' ? '' : ` for ${applied}`}
                  {wanted === '' ? '' : ` with an action like "${action.trim()}" among the ${loaded.length} entries loaded`}
                  {turned === '' && environment === '' && resourceType === '' && actor === '' ? ' yet.' : '.'}
                </Empty>
                {wanted === '' || loadMore === undefined ? null : (
                  <button type="button" onClick={() => void loadMore()}>
                    Load older entries
                  </button>
                )}
              </>
            );
          }
          return (
            <>
              <table aria-label="Audit entries">
                <thead>
                  <tr>
                    <th>When</th>
                    <th>Who</th>
                    {scope === 'all' ? <th>Project</th> : null}
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
                      {scope === 'all' ? <td className="small">{projectOf(a) ?? <span className="muted">organisation</span>}</td> : null}
                      <td>
                        <Badge>{a.action}</Badge> {a.resourceType} <Target entry={a} />
                        {a.environment === null ? null : <span className="muted small"> in {a.environment}</span>}
                      </td>
                      <td>
                        <details>
                          <summary>{isDiff(a.diff) ? `${a.diff.length} change${a.diff.length === 1 ? '' : 's'}` : 'details'}</summary>
                          <DiffView diff={a.diff} />
                          <Provenance entry={a} />
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
