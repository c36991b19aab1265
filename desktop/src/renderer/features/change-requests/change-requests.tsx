import { useState } from 'react';
import type { ReactNode } from 'react';
import { ApiError } from '@xp/shared';
import type { ChangeRequest, User } from '@xp/shared';
import { hashQuery } from '../../app/router.js';
import { useSession } from '../../app/session.js';
import { formatTime } from '../../lib/format.js';
import { useAsync } from '../../lib/use-async.js';
import { usePages } from '../../lib/use-pages.js';
import { AsyncView, Badge, Empty, ErrorNote, isConflict } from '../../lib/ui.js';

type Status = ChangeRequest['status'];
type Action = 'approve' | 'reject' | 'apply' | 'cancel';

/** The API's diff operation; for `move` (a rule moved, addressed by its id), `from` and `to` are its positions, from 0. */
interface DiffLine {
  readonly op: 'add' | 'remove' | 'replace' | 'move';
  readonly path: string;
  readonly from?: unknown;
  readonly to?: unknown;
}

function diffLines(diff: unknown): DiffLine[] {
  if (!Array.isArray(diff)) {
    return [];
  }
  return (diff as unknown[]).filter((d): d is DiffLine => typeof d === 'object' && d !== null && typeof (d as { path?: unknown }).path === 'string');
}

const show = (v: unknown): string => (v === undefined ? '—' : JSON.stringify(v));
/** A side of a line: a moved rule's position counts from 1, as the flag editor numbers its rules. */
const side = (l: DiffLine, v: unknown): string => (l.op === 'move' ? `position ${String(Number(v) + 1)}` : show(v));

/** A change request's field-level diff: what the flag's environment state becomes. */
export function ChangeDiff({ diff }: { diff: unknown }): ReactNode {
  const lines = diffLines(diff);
  if (lines.length === 0) {
    return <span className="muted small">no difference from the current state</span>;
  }
  return (
    <table className="diff" aria-label="Proposed changes">
      <tbody>
        {lines.map((l) => (
          <tr key={`${l.op}:${l.path}`}>
            <td>
              <code>{l.path === '' ? '(whole state)' : l.path}</code>
            </td>
            <td className="diff-from">{l.op === 'add' ? '' : <del>{side(l, l.from)}</del>}</td>
            <td className="diff-to">{l.op === 'remove' ? <em>removed</em> : <ins>{side(l, l.to)}</ins>}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** Approved by someone who may still approve (an approval whose reviewer lost the right no longer counts). */
function isApproved(cr: ChangeRequest): boolean {
  return cr.approvedBy !== null && (cr.approvalVoid ?? null) === null;
}

/** What the signed-in user may do with a request (the API checks again). */
export function allowedActions(cr: ChangeRequest, me: Pick<User, 'id'>, may: ReadonlySet<string>, now: number = Date.now()): Action[] {
  if (cr.status !== 'open') {
    return [];
  }
  const own = cr.proposedBy === me.id;
  const out: Action[] = [];
  const approved = isApproved(cr);
  // A request with a time is applied by the scheduler then, and cannot be approved once it has passed.
  const timed = cr.applyAt !== undefined && cr.applyAt !== null;
  const due = timed && Date.parse(cr.applyAt ?? '') <= now;
  if (!own && !approved && !due && may.has('change-requests:approve')) {
    out.push('approve');
  }
  if (approved && !timed && may.has('change-requests:apply')) {
    out.push('apply');
  }
  if (!own && may.has('change-requests:reject')) {
    out.push('reject');
  }
  if (own) {
    out.push('cancel');
  }
  return out;
}

const LABEL: Readonly<Record<Action, string>> = { approve: 'Approve', reject: 'Reject', apply: 'Apply', cancel: 'Withdraw' };
/** A status in the console's words: the API's `cancelled` is what *Withdraw* does, so it reads "withdrawn". */
const statusLabel = (status: Status): string => (status === 'cancelled' ? 'withdrawn' : status);

/** A user's name and email, for "Proposed by …". */
export function personLabel(u: Pick<User, 'name' | 'email' | 'kind'>): string {
  // A service account's e-mail is a handle nobody reads: it is named as the audit log names it.
  if (u.kind === 'service') {
    return `${u.name} (service account)`;
  }
  return u.name.trim() === '' ? u.email : `${u.name} (${u.email})`;
}

/**
 * Why a request can no longer be approved or applied when the flag's state it was based on changed
 * since it was proposed (the API's 409 VERSION_CONFLICT on approve or apply, whose message says what
 * changed): reloading and trying again would fail the same way, so the way out is to withdraw it and
 * propose again from the flag's current state.
 */
function StaleRequestNote({ cr, error, mine, proposer }: { cr: ChangeRequest; error: unknown; mine: boolean; proposer: string }): ReactNode {
  const details = error instanceof ApiError ? error.details : undefined;
  const current = typeof details === 'object' && details !== null && typeof (details as { currentVersion?: unknown }).currentVersion === 'number' ? (details as { currentVersion: number }).currentVersion : undefined;
  const why = error instanceof ApiError ? error.message : '';
  return (
    <div className="state state-error" role="alert">
      <p>
        {cr.resourceKey} changed since this request was made{current === undefined ? '' : ` (it is at version ${current}; the request is based on version ${cr.baseVersion})`}, so the request can no longer be applied.{' '}
        {mine ? 'Withdraw it, then propose the change again from the flag’s current state.' : `The proposer (${proposer}) should withdraw it and propose the change again from the flag’s current state.`}{' '}
        <a href={`#/flags/${encodeURIComponent(cr.resourceKey)}`}>Open {cr.resourceKey}</a>
      </p>
      {why === '' ? null : <p className="small">{why}</p>}
    </div>
  );
}
const TONE: Readonly<Record<Status, 'info' | 'good' | 'bad' | 'neutral'>> = { open: 'info', applied: 'good', rejected: 'bad', cancelled: 'neutral', failed: 'bad' };

/** A project's change requests to protected environments: review, approve, reject, apply. */
export default function ChangeRequests(): ReactNode {
  const { client, project, user, permissions, refreshTick } = useSession();
  const [status, setStatus] = useState<Status | ''>('open');
  const focus = hashQuery().get('id');
  // Newest first, 50 at a time: older ones are a click away (a busy project has more than a page).
  const list = usePages(
    (cursor) => client.changeRequests(project, { limit: 50, ...(status === '' ? {} : { status }), ...(cursor === undefined ? {} : { cursor }) }),
    [client, project, status],
    { keyOf: (cr) => cr.id, refreshKey: refreshTick },
  );
  // Every role may list users (`read`): proposers and approvers are shown by name and email, service accounts (which propose from CI) included.
  const people = useAsync(() => client.users({ limit: 200, kind: 'all' }).then((p) => p.items), [client]);
  const [error, setError] = useState<{ id: string; action: Action; error: unknown } | null>(null);
  const [done, setDone] = useState<string | null>(null);
  // The role's permissions, loaded with the session; without the matrix no review action is offered.
  const may = permissions ?? new Set<string>();
  const who = (id: string | null): string => {
    if (id === null) {
      return '—';
    }
    if (id === user.id) {
      return 'you';
    }
    const known = people.state.status === 'ready' ? people.state.data.find((u) => u.id === id) : undefined;
    // Someone the list does not hold (beyond its first 200, or removed): the id's first characters.
    return known === undefined ? id.slice(0, 8) : personLabel(known);
  };
  const act = async (cr: ChangeRequest, action: Action): Promise<void> => {
    setError(null);
    setDone(null);
    try {
      const updated = await client.reviewChange(project, cr.id, action);
      setDone(`Change request ${cr.id.slice(0, 8)} on ${cr.resourceKey} (${cr.environment}): ${action === 'apply' ? 'applied, the flag is updated' : action === 'approve' ? 'approved; it can be applied now' : statusLabel(updated.status)}.`);
    } catch (e) {
      setError({ id: cr.id, action, error: e });
    }
    list.reload();
  };
  return (
    <>
      <div className="page-head">
        <h1>Change requests</h1>
        <label>
          Status
          <select value={status} onChange={(e) => { setStatus(e.target.value as Status | ''); }}>
            <option value="open">open</option>
            <option value="applied">applied</option>
            <option value="rejected">rejected</option>
            <option value="cancelled">withdrawn</option>
            <option value="failed">failed</option>
            <option value="">all</option>
          </select>
        </label>
      </div>
      <p className="muted small">Changes to protected environments wait here for a second person: nobody approves their own request.</p>
      {done === null ? null : (
        <p className="banner banner-good" role="status">
          {done}
        </p>
      )}
      <AsyncView state={list.state} onRetry={list.reload}>
        {(items) =>
          items.length === 0 ? (
            <Empty>No {status === '' ? '' : `${statusLabel(status)} `}change requests in this project.</Empty>
          ) : (
            <ul className="cards" aria-label="Change requests">
              {items.map((cr) => {
                // Approving or applying a request the flag outgrew fails the same way every time: after that answer, neither is offered.
                const stale = error?.id === cr.id && (error.action === 'apply' || error.action === 'approve') && isConflict(error.error);
                const actions = allowedActions(cr, user, may).filter((a) => !(stale && (a === 'apply' || a === 'approve')));
                return (
                  <li key={cr.id} className={`card${cr.id === focus ? ' card-focus' : ''}`} aria-label={`Change request ${cr.id.slice(0, 8)}`}>
                    <div className="page-head">
                      <h2>
                        <a href={`#/flags/${encodeURIComponent(cr.resourceKey)}`}>{cr.resourceKey}</a> in <strong>{cr.environment}</strong>{' '}
                        <Badge tone={TONE[cr.status]}>{statusLabel(cr.status)}</Badge>{' '}
                        {cr.status === 'open' && isApproved(cr) ? <Badge tone="good">approved</Badge> : null}
                        {cr.status === 'open' && !isApproved(cr) && cr.approvedBy !== null ? <Badge tone="warn">approval no longer counts</Badge> : null}
                      </h2>
                      <code className="small muted">{cr.id.slice(0, 8)}</code>
                    </div>
                    <p className="small muted">
                      Proposed by {who(cr.proposedBy)} {formatTime(cr.createdAt)} from version {cr.baseVersion}
                      {cr.approvedBy === null ? '' : `; approved by ${who(cr.approvedBy)}`}
                      {cr.status === 'open' && (cr.approvalVoid ?? null) !== null ? ` — that approval no longer counts: ${cr.approvalVoid ?? ''}; another reviewer must approve` : ''}
                    </p>
                    {cr.applyAt === undefined || cr.applyAt === null ? null : (
                      <p className="small">
                        {cr.status === 'open'
                          ? `Scheduled: the platform applies it at ${formatTime(cr.applyAt)} (${cr.applyAt}) if it is approved by then; it cannot be applied by hand before, nor approved after.`
                          : `Scheduled for ${formatTime(cr.applyAt)} (${cr.applyAt}).`}
                      </p>
                    )}
                    {cr.status === 'failed' && (cr.failure ?? null) !== null ? <p className="banner banner-bad">Not applied: {cr.failure}</p> : null}
                    {cr.comment === null ? null : <blockquote>{cr.comment}</blockquote>}
                    <ChangeDiff diff={cr.diff} />
                    {error?.id !== cr.id ? null : stale ? (
                      <StaleRequestNote cr={cr} error={error.error} mine={cr.proposedBy === user.id} proposer={who(cr.proposedBy)} />
                    ) : (
                      <ErrorNote error={error.error} />
                    )}
                    {cr.status === 'open' && cr.proposedBy === user.id && !isApproved(cr) ? <p className="small muted">Waiting for someone else to approve: you cannot approve your own request.</p> : null}
                    {actions.length === 0 ? null : (
                      <div className="actions">
                        {actions.map((a) => (
                          <button key={a} type="button" className={a === 'apply' || a === 'approve' ? 'primary' : a === 'reject' ? 'danger' : ''} aria-label={`${LABEL[a]} ${cr.resourceKey} in ${cr.environment}`} onClick={() => void act(cr, a)}>
                            {LABEL[a]}
                          </button>
                        ))}
                      </div>
                    )}
                  </li>
                );
              })}
            </ul>
          )
        }
      </AsyncView>
      {list.moreError === null ? null : <ErrorNote error={list.moreError} />}
      {list.loadMore === undefined || list.state.status !== 'ready' ? null : (
        <button type="button" onClick={() => void list.loadMore?.()}>
          Load older requests
        </button>
      )}
    </>
  );
}
