import { useEffect, useState } from 'react';
import type { ReactNode, SyntheticEvent } from 'react';
import { ApiError } from '@xp/shared';
import type { XpApiClient } from '@xp/shared';
import type { ProfileView } from '../../../ipc-contract.js';
import { desktopBridge } from '../../lib/bridge.js';
import { Dialog, FormError, errorMessage } from '../../lib/ui.js';

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
      <FormError message={error} />
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

/** A profile id from its name: lower-case letters, digits and "-", unique among `taken`. */
export function profileId(name: string, taken: readonly string[]): string {
  const base = name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 56) || 'profile';
  let id = base;
  for (let n = 2; taken.includes(id); n++) {
    id = `${base}-${n}`;
  }
  return id;
}

/** Whether an API URL sends passwords and tokens unencrypted over the network (http to another machine). */
export function cleartextRemote(apiUrl: string): boolean {
  if (!URL.canParse(apiUrl)) {
    return false;
  }
  const url = new URL(apiUrl);
  return url.protocol === 'http:' && !['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
}

/** Adds or edits a connection profile (name and API URL); the main process validates and stores it. */
function ProfileForm({ profile, taken, onSave, onClose }: { profile: ProfileView | null; taken: readonly string[]; onSave: (p: { id: string; name: string; apiUrl: string }) => Promise<void>; onClose: () => void }): ReactNode {
  const [name, setName] = useState(profile?.name ?? '');
  const [apiUrl, setApiUrl] = useState(profile?.apiUrl ?? 'https://');
  const [error, setError] = useState<string | null>(null);
  const save = async (e: SyntheticEvent): Promise<void> => {
    e.preventDefault();
    setError(null);
    try {
      await onSave({ id: profile?.id ?? profileId(name, taken), name: name.trim(), apiUrl: apiUrl.trim() });
      onClose();
    } catch (err) {
      setError(errorMessage(err));
    }
  };
  return (
    <Dialog title={profile === null ? 'Add a connection' : `Edit ${profile.name}`} onClose={onClose}>
      <form onSubmit={(e) => void save(e)}>
        <label>
          Name
          <input required maxLength={100} value={name} onChange={(e) => { setName(e.target.value); }} placeholder="Staging" />
        </label>
        <label>
          API URL
          <input type="url" required value={apiUrl} onChange={(e) => { setApiUrl(e.target.value); }} placeholder="https://xp.example.com" />
        </label>
        {cleartextRemote(apiUrl) ? (
          <p className="banner banner-warn" role="note">
            Plain http to another machine: your password and session token would cross the network unencrypted. Use https.
          </p>
        ) : null}
        {profile !== null && profile.hasToken ? <p className="muted small">Changing the URL signs this connection out.</p> : null}
        <FormError message={error} />
        <div className="actions">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="primary">
            Save
          </button>
        </div>
      </form>
    </Dialog>
  );
}

/** The desktop app's connection profiles: pick one, add, edit or remove them. */
function Connections({ bridge }: { bridge: NonNullable<ReturnType<typeof desktopBridge>> }): ReactNode {
  const [profiles, setProfiles] = useState<ProfileView[] | null>(null);
  const [editing, setEditing] = useState<ProfileView | 'new' | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    void bridge.listProfiles().then(setProfiles);
  }, [bridge]);
  if (profiles === null) {
    return null;
  }
  const active = profiles.find((p) => p.active);
  const change = (promise: Promise<ProfileView[]>): void => {
    setError(null);
    promise.then(setProfiles, (e: unknown) => {
      setError(errorMessage(e));
    });
  };
  return (
    <div className="connections">
      <label>
        Connection
        <select
          value={active?.id ?? ''}
          onChange={(e) => {
            change(bridge.selectProfile(e.target.value));
          }}
        >
          {profiles.map((p) => (
            <option key={p.id} value={p.id}>
              {p.name} — {p.apiUrl}
            </option>
          ))}
        </select>
      </label>
      <div className="row">
        <button type="button" onClick={() => { setEditing('new'); }}>
          Add…
        </button>
        <button type="button" disabled={active === undefined} onClick={() => { setEditing(active ?? null); }}>
          Edit…
        </button>
        <button type="button" disabled={active === undefined || profiles.length <= 1} onClick={() => { if (active !== undefined) { change(bridge.removeProfile(active.id)); } }}>
          Remove
        </button>
      </div>
      <FormError message={error} />
      {editing === null ? null : (
        <ProfileForm
          profile={editing === 'new' ? null : editing}
          taken={profiles.map((p) => p.id)}
          onClose={() => { setEditing(null); }}
          onSave={async (p) => {
            const saved = await bridge.saveProfile(p);
            // A new connection is the one to sign in to.
            setProfiles(editing === 'new' ? await bridge.selectProfile(p.id) : saved);
          }}
        />
      )}
    </div>
  );
}

/** Sign-in with email and password; in the desktop app, also picks the connection profile. */
export function SignIn({ client, onSignedIn, themeButton }: { client: XpApiClient; onSignedIn: (token: string) => Promise<void>; themeButton: ReactNode }): ReactNode {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const { busy, error, signIn } = useSignIn(client, onSignedIn);
  const bridge = desktopBridge();

  const submit = (e: SyntheticEvent): Promise<void> => signIn(e, email.trim(), password);

  return (
    <main className="centered sign-in">
      <div className="sign-in-card">
        <div className="sign-in-head">
          <h1>Sign in to xp</h1>
          {themeButton}
        </div>
        {bridge === undefined ? null : <Connections bridge={bridge} />}
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
