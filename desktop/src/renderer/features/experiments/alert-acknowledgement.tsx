import { useState } from 'react';
import type { ReactNode } from 'react';
import { MAX_ACKNOWLEDGE_COMMENT } from '@xp/shared';
import type { GuardrailAlert } from '@xp/shared';
import { useSession } from '../../app/session.js';
import { formatTime } from '../../lib/format.js';
import { allowanceProps } from '../../lib/permissions.js';
import type { Allowance } from '../../lib/permissions.js';
import { ErrorNote } from '../../lib/ui.js';

/** Whether someone has acknowledged the alert (a server before acknowledgements sends nothing: not acknowledged). */
export function isAcknowledged(alert: GuardrailAlert): boolean {
  return alert.acknowledgedAt !== null && alert.acknowledgedAt !== undefined;
}

/** "Acknowledged by Eddie 25 Nov, 13:00: “Looking at the CDN change”." or "New: nobody has acknowledged it yet." */
export function acknowledgementText(alert: GuardrailAlert): string {
  if (!isAcknowledged(alert)) {
    return 'New: nobody has acknowledged it yet.';
  }
  const who = alert.acknowledgedByName ?? alert.acknowledgedBy ?? 'someone';
  const comment = alert.acknowledgeComment ?? null;
  return `Acknowledged by ${who} ${formatTime(alert.acknowledgedAt)}${comment === null ? '' : `: “${comment}”`}.`;
}

/**
 * One open alert's acknowledgement: its state (new, or acknowledged by whom, when and why) and, for
 * those who may edit experiments, Acknowledge… (an optional comment, then Acknowledge) or
 * Un-acknowledge; for the others the buttons are disabled with the reason. `onChanged` gets the
 * alert the API returned.
 */
export function AlertAcknowledgement({ alert, allowance, onChanged }: { alert: GuardrailAlert; allowance: Allowance; onChanged: (alert: GuardrailAlert) => void }): ReactNode {
  const { client, project } = useSession();
  const [editing, setEditing] = useState(false);
  const [comment, setComment] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const acknowledged = isAcknowledged(alert);
  const send = (request: Promise<GuardrailAlert>): void => {
    setBusy(true);
    setError(null);
    request.then(
      (updated) => {
        setBusy(false);
        setEditing(false);
        setComment('');
        onChanged(updated);
      },
      (e: unknown) => {
        setBusy(false);
        setError(e);
      },
    );
  };
  const fieldId = `alert-${alert.id}-comment`;
  return (
    <div className="small" role="group" aria-label={`Acknowledgement of alert ${alert.id}`}>
      <p>{acknowledgementText(alert)}</p>
      {editing ? (
        <form
          aria-label={`Acknowledge alert ${alert.id}`}
          onSubmit={(event) => {
            event.preventDefault();
            const text = comment.trim();
            send(client.acknowledgeAlert(project, alert.id, text === '' ? {} : { comment: text }));
          }}
        >
          <label htmlFor={fieldId}>Comment (optional)</label>
          <textarea id={fieldId} rows={2} maxLength={MAX_ACKNOWLEDGE_COMMENT} value={comment} placeholder="Seen, investigating…" onChange={(e) => { setComment(e.target.value); }} />
          <button type="submit" {...allowanceProps(allowance, busy)} aria-busy={busy}>
            Acknowledge
          </button>
          <button type="button" onClick={() => { setEditing(false); setError(null); }}>
            Cancel
          </button>
        </form>
      ) : acknowledged ? (
        <button type="button" {...allowanceProps(allowance, busy)} aria-busy={busy} onClick={() => { send(client.acknowledgeAlert(project, alert.id, { acknowledged: false })); }}>
          Un-acknowledge
        </button>
      ) : (
        <button type="button" {...allowanceProps(allowance)} onClick={() => { setEditing(true); }}>
          Acknowledge…
        </button>
      )}
      {error === null ? null : <ErrorNote error={error} />}
    </div>
  );
}
