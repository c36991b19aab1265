import { useEffect, useId, useRef, useState } from 'react';
import type { ReactNode, RefObject, SyntheticEvent } from 'react';
import { ApiError, PASSWORD_CHANGE_REQUIRED, SSO_ERROR_REASONS, SSO_REQUIRED } from '@xp/shared';
import type { Me, SsoErrorReason, SsoInfo, XpApiClient } from '@xp/shared';
import type { ProfileView, SsoSignInOutcome, XpBridge } from '../../../ipc-contract.js';
import { pageApiUrl } from '../../app/session.js';
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
function useSignIn(client: XpApiClient, onSignedIn: (token: string) => Promise<void>, sso: SsoInfo | null = null): SignInState {
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
      } else if (err instanceof ApiError && err.code === SSO_REQUIRED) {
        setError(ssoRequiredMessage(err, sso));
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

/**
 * The login's 403 SSO_REQUIRED (the right password of someone who must sign in with the identity
 * provider) as what to do instead: the SSO button of this screen (the desktop app has one too).
 */
function ssoRequiredMessage(err: ApiError, sso: SsoInfo | null): string {
  if (sso === null || !sso.enabled) {
    return err.message;
  }
  const name = sso.name ?? 'SSO';
  return `Your organisation signs in with ${name}, not with a password: use the "Sign in with ${name}" button.`;
}

/**
 * What to tell someone an SSO sign-in came back to without a session, per `#sso-error=` reason
 * (shared's SSO_ERROR_REASONS); `expired` is also what a refused code exchange says.
 */
export function ssoErrorMessage(reason: string): string {
  const messages: Record<SsoErrorReason, string> = {
    denied: 'Single sign-on was cancelled, or your identity provider refused it. Try again, or ask your administrator whether you have access to xp.',
    expired: 'That single sign-on expired or was already used (it lasts 10 minutes and works only in the browser that started it). Sign in again.',
    'email-unverified': 'Your identity provider did not confirm that your email address is verified, so xp cannot sign you in. Ask your administrator to verify it.',
    'domain-not-allowed': 'Your email address is not in a domain allowed to sign in to xp. Sign in with your work account, or ask your administrator.',
    'account-disabled': 'Your xp account is disabled; ask an administrator of your organization to enable it.',
    'idp-unavailable': 'xp could not reach your identity provider. Try again in a moment; if it keeps failing, tell your administrator.',
    'invalid-response': 'Your identity provider\'s answer failed xp\'s security checks, so you were not signed in. Tell your administrator: the server log says why.',
    busy: 'Too many single sign-ins are under way right now. Wait a few minutes, then sign in again.',
  };
  return (SSO_ERROR_REASONS as readonly string[]).includes(reason) ? messages[reason as SsoErrorReason] : 'Single sign-on did not complete. Sign in again.';
}

/**
 * `GET /api/v1/auth/sso`: null while asked, and when SSO is off, the API does not know the route
 * (an older server) or does not answer — the password form is then all there is. Nobody asks when
 * `ask` is false. The desktop app asks its active connection's API through its /api proxy, again
 * when `connection` (the active profile's id) changes.
 */
function useSsoInfo(client: XpApiClient, ask = true, connection?: string): SsoInfo | null {
  const [info, setInfo] = useState<SsoInfo | null>(null);
  useEffect(() => {
    // Another connection (desktop) is another API: its answer, not the last one's.
    setInfo(null);
    if (!ask) {
      return undefined;
    }
    let cancelled = false;
    client.ssoInfo().then(
      (answer) => {
        if (!cancelled) {
          setInfo(answer.enabled ? answer : null);
        }
      },
      () => undefined,
    );
    return () => {
      cancelled = true;
    };
  }, [client, ask, connection]);
  return info;
}

/** What the desktop app says when the browser did not come back within the API's 10 minutes. */
export const SSO_TIMEOUT_MESSAGE = 'The sign-in in your browser took too long (more than 10 minutes), so the app stopped waiting. Sign in again.';

interface DesktopSso {
  /** The browser is open at the identity provider; the app waits for it. */
  readonly waiting: boolean;
  /** The code the xp site's page will ask the person to check (`XXXX-XXXX`), once main has opened the browser. */
  readonly confirmationCode: string | null;
  /** The browser came back with a code: the app is exchanging it for a session. */
  readonly finishing: boolean;
  readonly error: string | null;
  readonly start: () => void;
  readonly cancel: () => void;
}

/**
 * Single sign-on in the desktop app (RFC 8252): main opens the system browser at the active
 * connection's SSO start and waits on 127.0.0.1 for the code, which the page exchanges with main's
 * verifier through the /api proxy. While it waits it shows the confirmation code the xp site asks the
 * person to check before the code comes back. The page stays as it is meanwhile (drafts too).
 * `sameUser` (the session-expired dialog) refuses a session of another person (the screens are
 * that person's) and ends it at once (main's logout with its token: the /api proxy would send the
 * profile's own). Leaving the screen while waiting cancels the wait.
 */
function useDesktopSso(bridge: XpBridge | undefined, client: XpApiClient, onSignedIn: (token: string) => Promise<void>, sameUser?: string): DesktopSso {
  const [waiting, setWaiting] = useState(false);
  const [confirmationCode, setConfirmationCode] = useState<string | null>(null);
  const [finishing, setFinishing] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const live = useRef({ mounted: true, waiting: false });
  useEffect(() => {
    const state = live.current;
    state.mounted = true;
    return () => {
      state.mounted = false;
      if (state.waiting && bridge !== undefined) {
        void bridge.ssoCancel().catch(() => undefined);
      }
    };
  }, [bridge]);

  const finish = async (outcome: SsoSignInOutcome): Promise<void> => {
    switch (outcome.status) {
      case 'code': {
        setFinishing(true);
        try {
          const { token, user } = await client.ssoExchange(outcome.code, outcome.verifier);
          if (sameUser !== undefined && user.id !== sameUser) {
            // Not left alive for its 12 hours: nobody would sign it out.
            const ended = (await bridge?.ssoDiscard(token).catch(() => false)) === true;
            if (live.current.mounted) {
              setError(`You signed in as ${user.email}, not as the person whose session expired${ended ? ' (that sign-in was ended)' : ''}. Sign out first to switch accounts.`);
            }
            return;
          }
          await onSignedIn(token);
        } catch (e) {
          if (live.current.mounted) {
            setError(e instanceof ApiError && e.status === 401 ? ssoErrorMessage('expired') : `Single sign-on could not be completed: ${errorMessage(e)}`);
          }
        } finally {
          if (live.current.mounted) {
            setFinishing(false);
          }
        }
        return;
      }
      case 'error':
        setError(ssoErrorMessage(outcome.reason));
        return;
      case 'timeout':
        setError(SSO_TIMEOUT_MESSAGE);
        return;
      case 'cancelled':
        return;
    }
  };

  const start = (): void => {
    if (bridge === undefined) {
      return;
    }
    setError(null);
    setConfirmationCode(null);
    setWaiting(true);
    live.current.waiting = true;
    bridge
      .ssoStart()
      .then(({ confirmationCode: code }) => {
        if (live.current.mounted) {
          setConfirmationCode(code);
        }
        return bridge.ssoWait();
      })
      .then(
        async (outcome) => {
          live.current.waiting = false;
          if (!live.current.mounted) {
            return;
          }
          setWaiting(false);
          await finish(outcome);
        },
        (e: unknown) => {
          live.current.waiting = false;
          if (live.current.mounted) {
            setWaiting(false);
            setError(errorMessage(e));
          }
        },
      );
  };
  const cancel = (): void => {
    if (bridge !== undefined) {
      void bridge.ssoCancel().catch(() => undefined);
    }
  };
  return { waiting, confirmationCode, finishing, error, start, cancel };
}

/**
 * The SSO button's form, with the desktop sign-in's error under it. The web console: a full-page
 * navigation to the API, which sends the browser on to the identity provider (not a native GET form:
 * the console's CSP, form-action 'self', would block the redirect off-origin). The desktop app: the
 * system browser, with the code coming back to the main process.
 */
function SsoForm({ inDesktop, desktopSso, goTo, children }: { inDesktop: boolean; desktopSso: DesktopSso; goTo: (url: string) => void; children: ReactNode }): ReactNode {
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        if (!inDesktop) {
          goTo(ssoStartUrl());
        } else if (!desktopSso.finishing) {
          desktopSso.start();
        }
      }}
    >
      {children}
      <FormError message={desktopSso.error} />
    </form>
  );
}

/**
 * The desktop app's wait for the browser: what to do there, the code the xp site will ask to
 * confirm (so a sign-in someone else started is told apart), and a way to stop waiting (focused:
 * it replaced the button pressed).
 */
function SsoWaiting({ name, code, onCancel }: { name: string; code: string | null; onCancel: () => void }): ReactNode {
  const cancel = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    cancel.current?.focus();
  }, []);
  return (
    <div className="sso-waiting">
      <p role="status">Finish signing in in your browser.</p>
      <p className="muted small">A tab opened at {name} in your system browser. Come back here once it says you are signed in.</p>
      {code === null ? null : (
        <p className="sso-code">
          Your browser will ask you to confirm the code <strong>{code}</strong>. Continue there only if it shows this code.
        </p>
      )}
      <button type="button" ref={cancel} onClick={onCancel}>
        Cancel
      </button>
    </div>
  );
}

/** The SSO button, focused again when a wait for the browser ends without a session (it replaces the Cancel button that had focus). */
function useFocusAfterWait(waiting: boolean): RefObject<HTMLButtonElement | null> {
  const button = useRef<HTMLButtonElement>(null);
  const waited = useRef(false);
  useEffect(() => {
    if (waiting) {
      waited.current = true;
    } else if (waited.current) {
      waited.current = false;
      button.current?.focus();
    }
  }, [waiting]);
  return button;
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

/** The desktop app's connection profiles: pick one, add, edit or remove them; `onActive` hears which one is active (its id and URL). */
function Connections({ bridge, onActive }: { bridge: NonNullable<ReturnType<typeof desktopBridge>>; onActive?: (key: string) => void }): ReactNode {
  const [profiles, setProfiles] = useState<ProfileView[] | null>(null);
  const [editing, setEditing] = useState<ProfileView | 'new' | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    void bridge.listProfiles().then(setProfiles);
  }, [bridge]);
  const activeKey = profiles === null ? undefined : profiles.filter((p) => p.active).map((p) => `${p.id} ${p.apiUrl}`)[0];
  useEffect(() => {
    if (activeKey !== undefined) {
      onActive?.(activeKey);
    }
  }, [activeKey, onActive]);
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

/** Leaves the console for `url` (a full-page navigation). */
function leavePage(url: string): void {
  window.location.assign(url);
}

/** Where the SSO button goes: the API's start of a sign-in at the identity provider, on the API base the console uses. */
export function ssoStartUrl(): string {
  return new URL('/api/v1/auth/sso/start', pageApiUrl()).href;
}

/**
 * Sign-in with email and password; in the desktop app, also picks the connection profile. When the
 * API offers SSO, a "Sign in with <name>" button goes to the identity provider: a full-page navigation
 * in the web console, the system browser in the desktop app (which waits for it, cancellable); when SSO is enforced only owners may use a password, so the password form
 * is folded under "Owner sign-in (break-glass)". `notice` is why the last SSO sign-in failed; `goTo`
 * leaves the page for the SSO start (tests record it instead).
 */
export function SignIn({ client, onSignedIn, themeButton, notice = null, goTo = leavePage }: { client: XpApiClient; onSignedIn: (token: string) => Promise<void>; themeButton: ReactNode; notice?: string | null; goTo?: (url: string) => void }): ReactNode {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const bridge = desktopBridge();
  /** The desktop app's active connection: SSO is asked of its API once it is known. */
  const [connection, setConnection] = useState<string | undefined>(undefined);
  const sso = useSsoInfo(client, bridge === undefined || connection !== undefined, connection);
  const { busy, error, signIn, mustChoose, newPassword, setNewPassword, confirm, setConfirm } = useSignIn(client, onSignedIn, sso);
  const desktopSso = useDesktopSso(bridge, client, onSignedIn);
  const ssoButton = useFocusAfterWait(desktopSso.waiting);
  /** Whether the user opened (true) or closed (false) the owners' password form; null until they choose. */
  const [breakGlass, setBreakGlass] = useState<boolean | null>(null);
  const breakGlassId = useId();

  const submit = (e: SyntheticEvent): Promise<void> => signIn(e, email.trim(), password);

  const passwordForm = (
    <form onSubmit={(e) => void submit(e)}>
      <Credentials email={email} {...(mustChoose ? {} : { onEmail: setEmail })} password={password} onPassword={setPassword} error={mustChoose ? null : error} />
      {mustChoose ? <NewPassword value={newPassword} onValue={setNewPassword} confirm={confirm} onConfirm={setConfirm} /> : null}
      {mustChoose ? <FormError message={error} /> : null}
      <button type="submit" className="primary" {...pendingProps(busy)}>
        {busy ? 'Signing in…' : mustChoose ? 'Set password and sign in' : 'Sign in'}
      </button>
    </form>
  );
  const ssoName = sso?.name ?? 'SSO';
  // Until the user chooses, the form folds only while empty: what was typed before the API answered stays in view.
  const folded = sso?.passwordSignIn === 'owners' && (breakGlass === null ? email === '' && password === '' : !breakGlass);

  return (
    <main className="centered sign-in">
      <div className="sign-in-card">
        <div className="sign-in-head">
          <h1>Sign in to xp</h1>
          {themeButton}
        </div>
        {notice === null ? null : (
          <p className="banner banner-bad" role="alert">
            {notice}
          </p>
        )}
        {/* Hidden while the browser signs in: the code it brings back is for this connection's API. */}
        {bridge === undefined || desktopSso.waiting || desktopSso.finishing ? null : <Connections bridge={bridge} onActive={setConnection} />}
        {sso === null ? (
          passwordForm
        ) : (
          <>
            {desktopSso.waiting ? (
              <SsoWaiting name={ssoName} code={desktopSso.confirmationCode} onCancel={desktopSso.cancel} />
            ) : (
              <SsoForm inDesktop={bridge !== undefined} desktopSso={desktopSso} goTo={goTo}>
                <button type="submit" className="primary" ref={ssoButton} {...pendingProps(desktopSso.finishing)}>
                  {desktopSso.finishing ? 'Signing in…' : `Sign in with ${ssoName}`}
                </button>
              </SsoForm>
            )}
            {sso.passwordSignIn === 'owners' ? (
              <>
                <button type="button" className="ghost disclosure" aria-expanded={!folded} aria-controls={breakGlassId} onClick={() => { setBreakGlass(folded); }}>
                  {folded ? '▸' : '▾'} Owner sign-in (break-glass)
                </button>
                <div id={breakGlassId} hidden={folded}>
                  <p className="muted small">Only owners may sign in with a password, for when {ssoName} is unavailable.</p>
                  {passwordForm}
                </div>
              </>
            ) : (
              <>
                <p className="muted small sign-in-or">Or with your email and password:</p>
                {passwordForm}
              </>
            )}
          </>
        )}
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
 *
 * A person without a password (created at their first SSO sign-in: `hasPassword` false) is not asked
 * for one: they get "Sign in with <name> again", a full-page navigation to the identity provider that
 * loses what is unsaved on the page (in the desktop app: the system browser, and the page stays as it
 * is; a session of another person is refused). A person linked to the IdP who also has a password
 * gets both (the password alone when SSO is enforced and they are an owner; the button alone when
 * enforced and they are not).
 */
export function SessionExpired({ client, user, onSignedIn, onSignOut, goTo = leavePage }: { client: XpApiClient; user: Me; onSignedIn: (token: string) => Promise<void>; onSignOut: () => void; goTo?: (url: string) => void }): ReactNode {
  const email = user.email;
  const [password, setPassword] = useState('');
  // Older servers say neither: a password user, as before.
  const noPassword = user.hasPassword === false;
  // Only people who sign in with SSO need to know how the installation offers it.
  const sso = useSsoInfo(client, noPassword || user.sso === true);
  const { busy, error, signIn, mustChoose, newPassword, setNewPassword, confirm, setConfirm } = useSignIn(client, onSignedIn, sso);
  const submit = (e: SyntheticEvent): Promise<void> => signIn(e, email, password);
  const bridge = desktopBridge();
  const desktopSso = useDesktopSso(bridge, client, onSignedIn, user.id);
  const ssoButton = useFocusAfterWait(desktopSso.waiting);
  const offerSso = noPassword || (user.sso === true && sso !== null);
  const offerPassword = !noPassword && !(offerSso && sso?.passwordSignIn === 'owners' && user.role !== 'owner');
  const ssoName = sso?.name ?? 'SSO';

  return (
    <Dialog title="Your session has expired" onClose={onSignOut}>
      {offerPassword ? <p>Sign in again to carry on where you were: unsaved changes stay, and what was being saved is sent once you are signed in.</p> : null}
      {offerSso && desktopSso.waiting ? <SsoWaiting name={ssoName} code={desktopSso.confirmationCode} onCancel={desktopSso.cancel} /> : null}
      {offerSso && !desktopSso.waiting ? (
        <>
          <SsoForm inDesktop={bridge !== undefined} desktopSso={desktopSso} goTo={goTo}>
            <p className="muted small">
              {noPassword ? `You sign in with ${ssoName}. ` : ''}
              {bridge === undefined
                ? `This leaves the page for ${ssoName} and brings you back to the console: unsaved changes on this page are lost.`
                : `This opens ${ssoName} in your browser; the app keeps unsaved changes meanwhile.`}
            </p>
            <button type="submit" className={offerPassword ? undefined : 'primary'} ref={ssoButton} {...pendingProps(desktopSso.finishing)}>
              {desktopSso.finishing ? 'Signing in…' : `Sign in with ${ssoName} again`}
            </button>
          </SsoForm>
          {offerPassword ? <p className="muted small sign-in-or">Or with your password, keeping unsaved changes:</p> : null}
        </>
      ) : null}
      {offerPassword ? (
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
      ) : (
        <div className="actions">
          <button type="button" onClick={onSignOut}>
            Sign out
          </button>
        </div>
      )}
    </Dialog>
  );
}
