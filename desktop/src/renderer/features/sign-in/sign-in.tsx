import { useEffect, useState } from 'react';
import type { ReactNode, SyntheticEvent } from 'react';
import { ApiError } from '@xp/shared';
import type { XpApiClient } from '@xp/shared';
import type { ProfileView } from '../../../ipc-contract.js';
import { desktopBridge } from '../../lib/bridge.js';
import { Dialog, errorMessage } from '../../lib/ui.js';

/** Email (read-only without `onEmail`), password, and the last sign-in error. */
function Credentials({ email, onEmail, password, onPassword, error }: { email: string; onEmail?: (email: string) => void; password: string; onPassword: (password: string) => void; error: string | null }): ReactNode {
  return (
    <>
      <label>
        Email
        {onEmail === undefined ? (
          <input type="email" autoComplete="username" value={email} readOnly />
        ) : (
          <input type="email" autoComplete="username" required value={email} onChange={(e) => { onEmail(e.target.value); }} />
        )}
      </label>
      <label>
        Password
        <input type="password" autoComplete="current-password" required value={password} onChange={(e) => { onPassword(e.target.value); }} />
      </label>
      {error === null ? null : (
        <p className="state-error" role="alert">
          {error}
        </p>
      )}
    </>
  );
}

/** A sign-in form's submit: logs in, hands the token on, and keeps the error to show. */
function useSignIn(client: XpApiClient, onSignedIn: (token: string) => Promise<void>): { busy: boolean; error: string | null; signIn: (e: SyntheticEvent, email: string, password: string) => Promise<void> } {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const signIn = async (e: SyntheticEvent, email: string, password: string): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const { token } = await client.login(email, password);
      await onSignedIn(token);
    } catch (err) {
      // Here a 401 means wrong credentials ("invalid email or password"), not an expired session.
      setError(err instanceof ApiError && err.status === 401 ? err.message : errorMessage(err));
      setBusy(false);
    }
  };
  return { busy, error, signIn };
}

/** Sign-in with email and password; in the desktop app, also picks the connection profile. */
export function SignIn({ client, onSignedIn, themeButton }: { client: XpApiClient; onSignedIn: (token: string) => Promise<void>; themeButton: ReactNode }): ReactNode {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const { busy, error, signIn } = useSignIn(client, onSignedIn);
  const [profiles, setProfiles] = useState<ProfileView[] | null>(null);
  const bridge = desktopBridge();

  useEffect(() => {
    void bridge?.listProfiles().then(setProfiles);
  }, [bridge]);

  const submit = (e: SyntheticEvent): Promise<void> => signIn(e, email.trim(), password);

  return (
    <main className="centered sign-in">
      <div className="sign-in-card">
        <div className="sign-in-head">
          <h1>Sign in to xp</h1>
          {themeButton}
        </div>
        {profiles === null ? null : (
          <label>
            Connection
            <select
              value={profiles.find((p) => p.active)?.id ?? ''}
              onChange={(e) => {
                void bridge?.selectProfile(e.target.value).then(setProfiles);
              }}
            >
              {profiles.map((p) => (
                <option key={p.id} value={p.id}>
                  {p.name} — {p.apiUrl}
                </option>
              ))}
            </select>
          </label>
        )}
        <form onSubmit={(e) => void submit(e)}>
          <Credentials email={email} onEmail={setEmail} password={password} onPassword={setPassword} error={error} />
          <button type="submit" className="primary" disabled={busy}>
            {busy ? 'Signing in…' : 'Sign in'}
          </button>
        </form>
        <p className="muted small">
          First start? The owner&apos;s password is printed by <code>npm start</code> and kept in <code>initial-credentials.txt</code> in the data folder (<code>.xp</code>, or <code>XP_DATA_DIR</code> when set).
        </p>
      </div>
    </main>
  );
}

/**
 * Shown over the console when the session expires: signing in again here keeps every screen, draft
 * and pending save as it was (the requests that met the expiry are sent again once signed in).
 */
export function SessionExpired({ client, email, onSignedIn, onSignOut }: { client: XpApiClient; email: string; onSignedIn: (token: string) => Promise<void>; onSignOut: () => void }): ReactNode {
  const [password, setPassword] = useState('');
  const { busy, error, signIn } = useSignIn(client, onSignedIn);
  const submit = (e: SyntheticEvent): Promise<void> => signIn(e, email, password);

  return (
    <Dialog title="Your session has expired" onClose={onSignOut}>
      <p>Sign in again to carry on where you were: unsaved changes stay, and what was being saved is sent once you are signed in.</p>
      <form onSubmit={(e) => void submit(e)}>
        <Credentials email={email} password={password} onPassword={setPassword} error={error} />
        <div className="actions">
          <button type="button" onClick={onSignOut}>
            Sign out
          </button>
          <button type="submit" className="primary" disabled={busy}>
            {busy ? 'Signing in…' : 'Sign in'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
