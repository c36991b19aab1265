import { useEffect, useState } from 'react';
import type { ReactNode, SyntheticEvent } from 'react';
import { ApiError, PASSWORD_CHANGE_REQUIRED } from '@xp/shared';
import type { XpApiClient } from '@xp/shared';
import type { ProfileView } from '../../../ipc-contract.js';
import { desktopBridge } from '../../lib/bridge.js';
import { Dialog, FormError, errorMessage } from '../../lib/ui.js';
import { pendingProps } from '../../lib/permissions.js';

/** The API's answer to the right password of an account an administrator disabled (403). */
const ACCOUNT_DISABLED = 'ACCOUNT_DISABLED';

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

/** The new password (twice) for a password an administrator set, asked for after the API refused it at sign-in. */
function NewPassword({ value, onValue, confirm, onConfirm }: { value: string; onValue: (v: string) => void; confirm: string; onConfirm: (v: string) => void }): ReactNode {
  return (
    <fieldset className="new-password">
      <legend>Choose a new password</legend>
      <p className="muted small">Your password was set by an administrator. Choose your own to continue: at least 12 characters, not a common password, not your email or name.</p>
      <label>
        New password
        <input type="password" autoComplete="new-password" required value={value} onChange={(e) => { onValue(e.target.value); }} />
      </label>
      <label>
        Confirm new password
        <input type="password" autoComplete="new-password" required value={confirm} onChange={(e) => { onConfirm(e.target.value); }} />
      </label>
    </fieldset>
  );
}

interface SignInState {
  readonly busy: boolean;
  readonly error: string | null;
  /** The API answered PASSWORD_CHANGE_REQUIRED: the form asks for a new password, sent with the next login. */
  readonly mustChoose: boolean;
  readonly newPassword: string;
  readonly setNewPassword: (v: string) => void;
  readonly confirm: string;
  readonly setConfirm: (v: string) => void;
  readonly signIn: (e: SyntheticEvent, email: string, password: string) => Promise<void>;
}

/**
 * A sign-in form's submit: logs in, hands the token on, and keeps the error to show. A password an
 * administrator set is answered PASSWORD_CHANGE_REQUIRED: the form then asks for a new one (twice)
 * and logs in again with it, which replaces the administrator's.
 */
function useSignIn(client: XpApiClient, onSignedIn: (token: string) => Promise<void>): SignInState {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [mustChoose, setMustChoose] = useState(false);
  const [newPassword, setNewPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const signIn = async (e: SyntheticEvent, email: string, password: string): Promise<void> => {
    e.preventDefault();
    setError(null);
    if (mustChoose && newPassword !== confirm) {
      setError('The new passwords do not match.');
      return;
    }
    setBusy(true);
    try {
      const { token } = await client.login(email, password, mustChoose ? newPassword : undefined);
      await onSignedIn(token);
    } catch (err) {
      if (err instanceof ApiError && err.code === PASSWORD_CHANGE_REQUIRED) {
        setMustChoose(true);
        setError(null);
      } else {
        // Here a 401 means wrong credentials ("invalid email or password"), not an expired session, and
        // ACCOUNT_DISABLED (the right password, a disabled account) says whom to ask, as the API words
        // it, not as a missing permission; a 400 after a new password names what is wrong with it.
        setError(err instanceof ApiError && (err.status === 401 || err.code === ACCOUNT_DISABLED) ? err.message : weakNewPassword(err) ?? errorMessage(err));
      }
      setBusy(false);
    }
  };
  return { busy, error, mustChoose, newPassword, setNewPassword, confirm, setConfirm, signIn };
}

/** The API's "newPassword too weak: …" in the form's words, naming the field as the form labels it. */
function weakNewPassword(err: unknown): string | undefined {
  const prefix = 'newPassword too weak: ';
  return err instanceof ApiError && err.status === 400 && err.message.startsWith(prefix) ? `The new password is too weak: ${err.message.slice(prefix.length)}.` : undefined;
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
  const { busy, error, signIn, mustChoose, newPassword, setNewPassword, confirm, setConfirm } = useSignIn(client, onSignedIn);
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
          <Credentials email={email} {...(mustChoose ? {} : { onEmail: setEmail })} password={password} onPassword={setPassword} error={mustChoose ? null : error} />
          {mustChoose ? <NewPassword value={newPassword} onValue={setNewPassword} confirm={confirm} onConfirm={setConfirm} /> : null}
          {mustChoose ? <FormError message={error} /> : null}
          <button type="submit" className="primary" {...pendingProps(busy)}>
            {busy ? 'Signing in…' : mustChoose ? 'Set password and sign in' : 'Sign in'}
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
  const { busy, error, signIn, mustChoose, newPassword, setNewPassword, confirm, setConfirm } = useSignIn(client, onSignedIn);
  const submit = (e: SyntheticEvent): Promise<void> => signIn(e, email, password);

  return (
    <Dialog title="Your session has expired" onClose={onSignOut}>
      <p>Sign in again to carry on where you were: unsaved changes stay, and what was being saved is sent once you are signed in.</p>
      <form onSubmit={(e) => void submit(e)}>
        <Credentials email={email} password={password} onPassword={setPassword} error={mustChoose ? null : error} />
        {mustChoose ? <NewPassword value={newPassword} onValue={setNewPassword} confirm={confirm} onConfirm={setConfirm} /> : null}
        {mustChoose ? <FormError message={error} /> : null}
        <div className="actions">
          <button type="button" onClick={onSignOut}>
            Sign out
          </button>
          <button type="submit" className="primary" {...pendingProps(busy)}>
            {busy ? 'Signing in…' : mustChoose ? 'Set password and sign in' : 'Sign in'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
