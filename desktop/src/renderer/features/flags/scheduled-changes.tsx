import { useState } from 'react';
import type { ReactNode } from 'react';
import type { ChangeRequest, Flag, FlagEnvironment, ScheduledChange, Stored } from '@xp/shared';
import { useSession } from '../../app/session.js';
import { formatTime } from '../../lib/format.js';
import { allowanceProps, needsApprovalIn, usePermission } from '../../lib/permissions.js';
import { useAsync } from '../../lib/use-async.js';
import { Badge, ErrorNote, ResultMessage, errorMessage } from '../../lib/ui.js';

/** What the form schedules: the flag on, off, or another default variation. */
type What = 'on' | 'off' | 'default';

/** `YYYY-MM-DDTHH:mm` (a datetime-local input's value) read in the user's time zone; null when incomplete. */
export function localInstant(value: string): Date | null {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$/.test(value)) {
    return null;
  }
  const at = new Date(value);
  return Number.isNaN(at.getTime()) ? null : at;
}

/** The change a scheduled state makes, in words. */
export function describeState(state: Partial<FlagEnvironment>): string {
  const parts: string[] = [];
  if (state.enabled !== undefined) {
    parts.push(state.enabled ? 'turn on' : 'turn off');
  }
  if (state.defaultVariation !== undefined) {
    parts.push(`serve "${state.defaultVariation}" by default`);
  }
  if (state.offVariation !== undefined) {
    parts.push(`serve "${state.offVariation}" when off`);
  }
  if (state.rules !== undefined) {
    parts.push(`replace the rules (${state.rules.length})`);
  }
  if (state.prerequisites !== undefined) {
    parts.push(`replace the prerequisites (${state.prerequisites.length})`);
  }
  const text = parts.join(', ');
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/**
 * The flag's scheduled changes, and a form to schedule one in the environment being edited: on, off
 * or another default at a time in the user's time zone (shown with its UTC instant). Where the
 * user's changes need approval, the form proposes a change request with that time instead: once
 * approved, the platform applies it then.
 */
export function ScheduledChanges({ flag, environment }: { flag: Stored<Flag>; environment: string }): ReactNode {
  const session = useSession();
  const { client, project, environments, user } = session;
  const write = usePermission('flags:write');
  const proposes = needsApprovalIn(session, environment);
  const envName = (key: string): string => environments.find((e) => e.key === key)?.name ?? key;
  const { state, reload } = useAsync(
    async () => {
      const [scheduled, requests] = await Promise.all([
        client.scheduledChanges(project, { flag: flag.key, status: 'scheduled' }),
        client.changeRequests(project, { status: 'open', resourceKey: flag.key }),
      ]);
      return { scheduled: scheduled.items, requests: requests.items.filter((cr) => cr.applyAt !== undefined && cr.applyAt !== null) };
    },
    [client, project, flag.key],
  );
  const [open, setOpen] = useState(false);
  const [what, setWhat] = useState<What>('on');
  const [variation, setVariation] = useState(flag.definition.variations[0]?.key ?? '');
  const [when, setWhen] = useState('');
  const [comment, setComment] = useState('');
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<{ tone: 'good' | 'bad'; text: string } | null>(null);
  const at = localInstant(when);
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;

  const submit = async (): Promise<void> => {
    if (at === null) {
      setMessage({ tone: 'bad', text: 'Choose a date and time.' });
      return;
    }
    const change: Partial<FlagEnvironment> = what === 'default' ? { defaultVariation: variation } : { enabled: what === 'on' };
    const note = comment.trim();
    setBusy(true);
    setMessage(null);
    try {
      if (proposes) {
        const cr = await client.proposeChange(project, { resourceKey: flag.key, environment, state: change, baseVersion: flag.version, applyAt: at.toISOString(), ...(note === '' ? {} : { comment: note }) });
        setMessage({ tone: 'good', text: `${envName(environment)} is protected: change request ${cr.id.slice(0, 8)} was proposed for ${formatTime(cr.applyAt)}. It applies then once an owner or admin approves it.` });
      } else {
        const sc = await client.scheduleChange(project, flag.key, { environment, at: at.toISOString(), state: change, ...(note === '' ? {} : { comment: note }) });
        setMessage({ tone: 'good', text: `Scheduled for ${formatTime(sc.at)} (${sc.at}).` });
      }
      setOpen(false);
      setWhen('');
      setComment('');
      reload();
    } catch (e) {
      setMessage({ tone: 'bad', text: errorMessage(e) });
    } finally {
      setBusy(false);
    }
  };

  const cancel = async (sc: ScheduledChange): Promise<void> => {
    setMessage(null);
    try {
      await client.cancelScheduledChange(project, flag.key, sc.id);
      setMessage({ tone: 'good', text: `Cancelled the change scheduled for ${formatTime(sc.at)}.` });
      reload();
    } catch (e) {
      setMessage({ tone: 'bad', text: errorMessage(e) });
    }
  };

  return (
    <section aria-labelledby="scheduled-changes-title">
      <h2 id="scheduled-changes-title">Scheduled changes</h2>
      <ResultMessage message={message} />
      {state.status === 'error' ? <ErrorNote error={state.error} onRetry={reload} /> : null}
      {state.status === 'ready' ? (
        state.data.scheduled.length === 0 && state.data.requests.length === 0 ? (
          <p className="small muted">None scheduled.</p>
        ) : (
          <ul aria-label="Scheduled changes of this flag">
            {state.data.scheduled.map((sc) => (
              <li key={sc.id}>
                <strong>{envName(sc.environment)}</strong>: {describeState(sc.state)} at {formatTime(sc.at)} <span className="small muted">({sc.at})</span>
                {sc.createdBy === user.id ? <span className="small"> · by you</span> : null}
                {sc.comment === null ? null : <span className="small"> · {sc.comment}</span>}{' '}
                <button type="button" aria-label={`Cancel the change scheduled for ${formatTime(sc.at)}`} {...allowanceProps(write)} onClick={() => void cancel(sc)}>
                  Cancel
                </button>
              </li>
            ))}
            {state.data.requests.map((cr: ChangeRequest) => (
              <li key={cr.id}>
                <strong>{envName(cr.environment)}</strong>: change request {cr.id.slice(0, 8)} at {formatTime(cr.applyAt)} <span className="small muted">({cr.applyAt})</span>{' '}
                <Badge tone={cr.approvedBy === null ? 'warn' : 'good'}>{cr.approvedBy === null ? 'awaiting approval' : 'approved'}</Badge>{' '}
                <a href={`#/change-requests?id=${encodeURIComponent(cr.id)}`}>Review</a>
              </li>
            ))}
          </ul>
        )
      ) : null}
      {open ? (
        <fieldset>
          <legend>Schedule a change in {envName(environment)}</legend>
          <label>
            Change
            <select value={what} onChange={(e) => { setWhat(e.target.value as What); }}>
              <option value="on">Turn on</option>
              <option value="off">Turn off</option>
              <option value="default">Serve another variation by default</option>
            </select>
          </label>
          {what === 'default' ? (
            <label>
              Default variation
              <select value={variation} onChange={(e) => { setVariation(e.target.value); }}>
                {flag.definition.variations.map((v) => (
                  <option key={v.key} value={v.key}>
                    {v.key}
                  </option>
                ))}
              </select>
            </label>
          ) : null}
          <label>
            When ({zone})
            <input type="datetime-local" value={when} onChange={(e) => { setWhen(e.target.value); }} />
          </label>
          <p className="small muted" aria-live="polite">
            {at === null ? 'Applied within about a minute after the time chosen.' : `That is ${at.toISOString()} (UTC); applied within about a minute after.`}
          </p>
          <label>
            Comment (optional)
            <textarea rows={2} maxLength={2000} value={comment} onChange={(e) => { setComment(e.target.value); }} />
          </label>
          <div className="actions">
            <button type="button" onClick={() => { setOpen(false); }}>
              Close
            </button>
            <button type="button" className="primary" {...allowanceProps(write, busy)} onClick={() => void submit()}>
              {proposes ? 'Propose for that time' : 'Schedule'}
            </button>
          </div>
        </fieldset>
      ) : (
        <button type="button" {...allowanceProps(write)} onClick={() => { setOpen(true); setMessage(null); }}>
          Schedule this change…
        </button>
      )}
    </section>
  );
}
