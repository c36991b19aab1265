import { useState } from 'react';
import type { ReactNode, SyntheticEvent } from 'react';
import { ApiError } from '@xp/shared';
import type { XpApiClient } from '@xp/shared';
import { Dialog, FormError, errorMessage } from '../../lib/ui.js';
import { pendingProps } from '../../lib/permissions.js';
import { DoneActions } from '../../lib/copy-button.js';
import { FieldError, invalidProps } from '../../lib/field-errors.js';

/**
 * Changes the signed-in user's password (`PUT /api/v1/me/password`): the current one, the new one
 * twice, and optionally revoking their personal access tokens. This session stays; the others end.
 */
export function ChangePassword({ client, onClose }: { client: XpApiClient; onClose: () => void }): ReactNode {
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [confirm, setConfirm] = useState('');
  const [revokeTokens, setRevokeTokens] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  /** The problem with the confirmation (it differs from the new password), shown under it. */
  const [confirmError, setConfirmError] = useState<string | undefined>(undefined);
  const [done, setDone] = useState(false);

  const submit = async (e: SyntheticEvent): Promise<void> => {
    e.preventDefault();
    setError(null);
    setConfirmError(undefined);
    if (next !== confirm) {
      setConfirmError('The new passwords do not match.');
      return;
    }
    setBusy(true);
    try {
      await client.changePassword(current, next, revokeTokens ? { revokeAccessTokens: true } : {});
      setDone(true);
    } catch (err) {
      // A 401 here is the current password (the console does not take it for an expired session);
      // a 400 names what is wrong with the new one; a 429 says when to try again.
      setError(err instanceof ApiError && (err.status === 401 || err.status === 429) ? err.message : errorMessage(err));
    }
    setBusy(false);
  };

  if (done) {
    return (
      <Dialog title="Password changed" onClose={onClose}>
        <p role="status">
          Your password has been changed. Your other sessions have ended: sign in again there with the new password.
          {revokeTokens ? ' Your personal access tokens have been revoked.' : ''}
        </p>
        <DoneActions onDone={onClose} />
      </Dialog>
    );
  }
  return (
    <Dialog title="Change password" onClose={onClose}>
      <form onSubmit={(e) => void submit(e)}>
        <label>
          Current password
          <input type="password" autoComplete="current-password" required value={current} onChange={(e) => { setCurrent(e.target.value); }} />
        </label>
        <label>
          New password
          <input type="password" autoComplete="new-password" required value={next} onChange={(e) => { setNext(e.target.value); }} />
        </label>
        <label>
          Confirm new password
          <input
            type="password"
            autoComplete="new-password"
            required
            value={confirm}
            onChange={(e) => { setConfirm(e.target.value); setConfirmError(undefined); }}
            {...invalidProps('change-password-confirm-error', confirmError)}
          />
        </label>
        <FieldError id="change-password-confirm-error" message={confirmError} />
        <label className="inline">
          <input type="checkbox" checked={revokeTokens} onChange={(e) => { setRevokeTokens(e.target.checked); }} /> Also revoke my personal access tokens
        </label>
        <p className="muted small">At least 12 characters, not a common password, not your email or name. Your other sessions end; this one stays signed in.</p>
        <FormError message={error} />
        <div className="actions">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="primary" {...pendingProps(busy)}>
            {busy ? 'Changing…' : 'Change password'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
