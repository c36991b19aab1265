import { useState } from 'react';
import type { ReactNode } from 'react';
import { describeErasure } from '@xp/shared';
import type { EventSearchQuery, ExplorerEventView, Page, UnitErasureView } from '@xp/shared';
import { useSession } from '../../app/session.js';
import { formatTime } from '../../lib/format.js';
import { usePermission } from '../../lib/permissions.js';
import { TypedConfirmDialog } from '../../lib/typed-confirm.js';
import { usePages } from '../../lib/use-pages.js';
import { AsyncView, Badge, Empty, ErrorNote, ResultMessage } from '../../lib/ui.js';

/** How often the list refreshes while "Live" is on. */
const LIVE_MS = 2_000;
const PAGE = 50;
/** Timeline events per page (the API's maximum). */
const TIMELINE_PAGE = 200;

interface Filters {
  readonly type: '' | 'exposure' | 'track';
  readonly name: string;
  readonly unitId: string;
  readonly q: string;
}

const EMPTY: Filters = { type: '', name: '', unitId: '', q: '' };

function toQuery(f: Filters, environment: string): EventSearchQuery {
  return {
    environment,
    limit: PAGE,
    ...(f.type === '' ? {} : { type: f.type }),
    ...(f.name.trim() === '' ? {} : { name: f.name.trim() }),
    // Exactly as typed: unit ids are opaque, " padded " is another unit than "padded".
    ...(f.unitId === '' ? {} : { unitId: f.unitId }),
    ...(f.q.trim() === '' ? {} : { q: f.q.trim() }),
  };
}

/** A unit id with leading or trailing whitespace: searched as typed, but easy to miss. */
const padded = (unitId: string): boolean => unitId !== unitId.trim();

/** What the event is, in one line: the experiment and variation of an exposure, the value of a tracked event. */
function summary(e: ExplorerEventView): ReactNode {
  if (e.type === 'exposure') {
    return (
      <>
        <code>{e.experiment ?? e.name}</code> → <Badge>{e.variation ?? '?'}</Badge>
        {e.reason === undefined ? null : <span className="muted small"> {e.reason}</span>}
      </>
    );
  }
  return (
    <>
      <code>{e.name}</code>
      {e.value === undefined ? null : <span> = {e.value}</span>}
    </>
  );
}

function properties(e: ExplorerEventView): ReactNode {
  if (e.properties === undefined || Object.keys(e.properties).length === 0) {
    return null;
  }
  const text = JSON.stringify(e.properties);
  return <span className="muted small">{text.length > 120 ? `${text.slice(0, 117)}…` : text}</span>;
}

/** A tracked event's other identifiers (`units`), each opening that unit's timeline when `onOpen` is given. */
function otherUnits(e: ExplorerEventView, onOpen?: (unitId: string) => void): ReactNode {
  const entries = Object.entries(e.units ?? {}).filter(([, id]) => id !== e.unitId);
  if (entries.length === 0) {
    return null;
  }
  return (
    <>
      {' '}
      <span className="muted small" aria-label="Other identifiers">
        (
      {entries.map(([attribute, id], i) => (
        <span key={attribute}>
          {i === 0 ? '' : ', '}
          {attribute}{' '}
          {onOpen === undefined ? (
            <code>{id}</code>
          ) : (
            <button
              type="button"
              className="link"
              aria-label={`Timeline of ${id}`}
              onClick={() => {
                onOpen(id);
              }}
            >
              {id}
            </button>
          )}
        </span>
      ))}
        )
      </span>
    </>
  );
}

/**
 * Erases one unit's data in the project (data-subject deletion, `units:erase`) once its id is
 * typed, as deleting a project asks for its key. A refusal stays in the dialog.
 */
/** Under a paged list: why the last page failed to load, and the button for the next one while there is one. */
function OlderEvents({ loadMore, error }: { loadMore: (() => Promise<void>) | undefined; error: unknown }): ReactNode {
  return (
    <>
      {error === null ? null : <ErrorNote error={error} />}
      {loadMore === undefined ? null : (
        <button type="button" onClick={() => void loadMore()}>
          Older events
        </button>
      )}
    </>
  );
}

function EraseUnitDialog({ unitId, onClose, onErased }: { unitId: string; onClose: () => void; onErased: (counts: UnitErasureView) => void }): ReactNode {
  const { client, project } = useSession();
  return (
    <TypedConfirmDialog
      title={`Erase unit ${unitId}'s data?`}
      expected={unitId}
      what="unit id"
      confirmLabel="Erase unit data"
      onClose={onClose}
      run={async () => {
        onErased(await client.eraseUnits(project, [unitId]));
      }}
      renderError={(error) => <ErrorNote error={error} />}
    >
      <p>
        Everything project <strong>{project}</strong> stores about unit <code>{unitId}</code> is deleted, in every environment and experiment: its exposures, metric
        totals, tracked events, the event explorer&apos;s events (other units&apos; events that name it too), sticky assignments and dead-lettered records. Experiment
        results change at once: the unit no longer counts in them. This cannot be undone; the audit log keeps a hash of the id, never the id.
      </p>
      <p className="small muted">
        A unit is one id: erase the person&apos;s other identifiers (a device id beside the user id) and the unit in other projects too. The raw event archive is not
        changed (docs/privacy.md).
      </p>
    </TypedConfirmDialog>
  );
}

/**
 * Everything one unit saw and did, newest first (support asks what the unit got lately), a page at a
 * time with the API's `next` cursor; owners and admins may erase it (`units:erase`).
 */
function Timeline({ unitId, onClose, onErased }: { unitId: string; onClose: () => void; onErased: () => void }): ReactNode {
  const { client, project, environment, refreshTick } = useSession();
  const erase = usePermission('units:erase');
  const [erasing, setErasing] = useState(false);
  const [erased, setErased] = useState<UnitErasureView | null>(null);
  const { state, reload, loadMore, moreError } = usePages(
    async (after): Promise<Page<ExplorerEventView>> => {
      const t = await client.unitTimeline(project, unitId, { environment, order: 'desc', limit: TIMELINE_PAGE, ...(after === undefined ? {} : { after }) });
      return { items: t.items, ...(t.next === undefined ? {} : { nextCursor: t.next }) };
    },
    [client, project, unitId, environment],
    { keyOf: (e) => e.id, refreshKey: refreshTick },
  );
  return (
    <section className="card" aria-label={`Timeline of ${unitId}`}>
      <div className="toolbar">
        <h2 style={{ margin: 0 }}>
          Unit <code>{unitId}</code>
        </h2>
        {erase.allowed ? (
          <button
            type="button"
            className="danger"
            onClick={() => {
              setErasing(true);
            }}
          >
            Erase this unit&apos;s data…
          </button>
        ) : null}
        <button type="button" className="ghost" onClick={onClose}>
          Close
        </button>
      </div>
      <ResultMessage message={erased === null ? null : { tone: 'good', text: `Erased unit ${unitId} of project ${project}: ${describeErasure(erased)}.` }} />
      <AsyncView state={state} onRetry={reload}>
        {(items) =>
          items.length === 0 ? (
            <Empty>Nothing from this unit in {environment} within the retention window.</Empty>
          ) : (
            <>
              <ol className="timeline small">
                {items.map((e) => (
                  <li key={e.id}>
                    <span className="muted">{formatTime(e.occurredAt)}</span> <Badge tone={e.type === 'exposure' ? 'info' : 'neutral'}>{e.type}</Badge> {summary(e)}
                    {/* Found under one of its other identifiers: whose event it is. */}
                    {e.unitId === unitId ? null : (
                      <span className="small">
                        {' '}
                        by <code>{e.unitId}</code>
                      </span>
                    )}
                    {otherUnits(e)} {properties(e)}
                  </li>
                ))}
              </ol>
              <OlderEvents loadMore={loadMore} error={moreError} />
            </>
          )
        }
      </AsyncView>
      {erasing ? (
        <EraseUnitDialog
          unitId={unitId}
          onClose={() => {
            setErasing(false);
          }}
          onErased={(counts) => {
            setErasing(false);
            setErased(counts);
            reload();
            onErased();
          }}
        />
      ) : null}
    </section>
  );
}

/**
 * The live event explorer: recent exposures and tracked events as the aggregator stores them,
 * searchable, refreshing every 2 s while Live is on, and a unit's whole timeline on a click.
 */
export default function Events(): ReactNode {
  const { client, project, environment, refreshTick } = useSession();
  const [draft, setDraft] = useState<Filters>(EMPTY);
  const [applied, setApplied] = useState<Filters>(EMPTY);
  const [live, setLive] = useState(true);
  const [unit, setUnit] = useState<string | null>(null);
  const query = toQuery(applied, environment);
  const { state, reload, loadMore, moreError } = usePages(
    (cursor): Promise<Page<ExplorerEventView>> => client.searchEvents(project, { ...query, ...(cursor === undefined ? {} : { cursor }) }),
    [client, project, JSON.stringify(query)],
    { keyOf: (e) => e.id, refreshKey: refreshTick, ...(live ? { pollMs: LIVE_MS } : {}) },
  );
  const set = (patch: Partial<Filters>): void => {
    setDraft((d) => ({ ...d, ...patch }));
  };
  return (
    <>
      <h1>Events</h1>
      <p className="muted small">
        Exposures and tracked events of {environment} as the pipeline stores them (kept for the explorer's retention: 7 days unless the operator changed it), newest first.
      </p>
      <form
        className="toolbar"
        role="search"
        aria-label="Event filters"
        onSubmit={(e) => {
          e.preventDefault();
          setApplied(draft);
        }}
      >
        <select aria-label="Type" value={draft.type} onChange={(e) => { set({ type: e.target.value as Filters['type'] }); }}>
          <option value="">All types</option>
          <option value="exposure">Exposures</option>
          <option value="track">Tracked events</option>
        </select>
        <input aria-label="Name" placeholder="Event name or experiment key" value={draft.name} onChange={(e) => { set({ name: e.target.value }); }} />
        <input aria-label="Unit id" placeholder="Unit id" value={draft.unitId} aria-describedby={padded(draft.unitId) ? 'unit-id-spaces' : undefined} onChange={(e) => { set({ unitId: e.target.value }); }} />
        {padded(draft.unitId) ? (
          <span id="unit-id-spaces" className="small muted">
            The unit id starts or ends with spaces; they are searched too.
          </span>
        ) : null}
        <input type="search" aria-label="Text" placeholder="Any words" value={draft.q} onChange={(e) => { set({ q: e.target.value }); }} />
        <button type="submit">Search</button>
        <label className="check">
          <input type="checkbox" checked={live} onChange={(e) => { setLive(e.target.checked); }} /> Live
        </label>
      </form>
      {unit === null ? null : (
        <Timeline
          key={unit}
          unitId={unit}
          onClose={() => {
            setUnit(null);
          }}
          onErased={reload}
        />
      )}
      <AsyncView state={state} onRetry={reload}>
        {(items) => {
          if (items.length === 0) {
            return <Empty>No events match{applied === EMPTY ? ' yet: events appear here once SDKs send them' : ''}.</Empty>;
          }
          return (
            <>
              <table aria-label="Events">
                <thead>
                  <tr>
                    <th>When</th>
                    <th>Type</th>
                    <th>Unit</th>
                    <th>What</th>
                    <th>Properties</th>
                  </tr>
                </thead>
                <tbody>
                  {items.map((e) => (
                    <tr key={e.id}>
                      <td className="small">{formatTime(e.occurredAt)}</td>
                      <td>
                        <Badge tone={e.type === 'exposure' ? 'info' : 'neutral'}>{e.type}</Badge>
                      </td>
                      <td>
                        <button
                          type="button"
                          className="link"
                          aria-label={`Timeline of ${e.unitId}`}
                          onClick={() => {
                            setUnit(e.unitId);
                          }}
                        >
                          {e.unitId}
                        </button>
                        {otherUnits(e, setUnit)}
                      </td>
                      <td>{summary(e)}</td>
                      <td>{properties(e)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <OlderEvents loadMore={loadMore} error={moreError} />
            </>
          );
        }}
      </AsyncView>
    </>
  );
}
