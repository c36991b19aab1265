import '../../../test/dom.js';
import { cleanup, render, screen, within } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Me, SsoInfo } from '@xp/shared';
import { fakeApi, user } from '../../../test/fake-api.js';
import type { Responder } from '../../../test/fake-api.js';
import type { ProfileView, SsoSignInOutcome, XpBridge } from '../../../../ipc-contract.js';
import { SSO_TIMEOUT_MESSAGE, SessionExpired, SignIn, ssoErrorMessage } from '../sign-in.js';

/**
 * Single sign-on inside the desktop app: the page asks main (`window.xp.ssoStart`) to sign in in
 * the system browser, shows the confirmation code main answers, waits (`ssoWait`), and exchanges the
 * code main hands back, with main's verifier, through the /api proxy. The bridge is faked here (Electron cannot start); the main side has its own tests.
 */

afterEach(() => {
  cleanup();
  Reflect.deleteProperty(window, 'xp');
});

const OKTA: SsoInfo = { enabled: true, name: 'Okta', passwordSignIn: 'all' };
const VERIFIER = 'v'.repeat(43);
/** The code main derives from its challenge, which the xp site's confirmation page shows too. */
const CONFIRMATION = 'K7QX-2MPA';

/** The bridge as main answers it: `finish` settles the waiting sign-in as the browser (or main) would. */
function installBridge(profiles: ProfileView[] = [{ id: 'local', name: 'Local', apiUrl: 'http://localhost:8000', hasToken: false, active: true }]) {
  const calls: string[] = [];
  let pending: ((outcome: SsoSignInOutcome) => void) | null = null;
  /** An outcome `finish` gave before the page asked for it (main keeps it for the wait). */
  let early: SsoSignInOutcome | null = null;
  let active = profiles;
  const bridge: XpBridge = {
    listProfiles: () => Promise.resolve(active),
    saveProfile: () => Promise.resolve(active),
    removeProfile: () => Promise.resolve(active),
    selectProfile: (id) => {
      active = active.map((p) => ({ ...p, active: p.id === id }));
      return Promise.resolve(active);
    },
    setToken: () => Promise.resolve(true),
    hasToken: () => Promise.resolve(false),
    ssoStart: (...args: unknown[]) => {
      calls.push(`ssoStart${args.length === 0 ? '' : ' with arguments'}`);
      return Promise.resolve({ confirmationCode: CONFIRMATION });
    },
    ssoWait: (...args: unknown[]) => {
      calls.push(`ssoWait${args.length === 0 ? '' : ' with arguments'}`);
      if (early !== null) {
        const outcome = early;
        early = null;
        return Promise.resolve(outcome);
      }
      return new Promise((resolve) => {
        pending = resolve;
      });
    },
    ssoDiscard: (token) => {
      calls.push(`ssoDiscard ${token}`);
      return Promise.resolve(true);
    },
    ssoCancel: () => {
      calls.push('ssoCancel');
      const waiting = pending !== null;
      pending?.({ status: 'cancelled' });
      pending = null;
      return Promise.resolve(waiting);
    },
    onDeepLink: () => () => undefined,
    onMenu: () => () => undefined,
  };
  Object.defineProperty(window, 'xp', { value: bridge, configurable: true });
  const finish = (outcome: SsoSignInOutcome): void => {
    const resolve = pending;
    pending = null;
    if (resolve === null) {
      early = outcome;
    } else {
      resolve(outcome);
    }
  };
  return { calls, finish };
}

/** The API behind the proxy: SSO info, then the exchange answering `exchange`. */
function api(exchange: Responder = () => ({ status: 200, body: { token: 'sso-session', expiresAt: '2026-12-08T00:00:00Z', user: user({ id: 'u-ana', email: 'ana@example.com' }) } })) {
  return fakeApi((req) => {
    if (req.method === 'GET' && req.path === '/api/v1/auth/sso') {
      return { status: 200, body: OKTA };
    }
    if (req.method === 'POST' && req.path === '/api/v1/auth/sso/exchange') {
      return exchange(req);
    }
    return undefined;
  });
}

describe('single sign-on in the desktop app', () => {
  it('asks the connection for SSO, waits for the browser (with Cancel), then exchanges the code with the verifier and signs in', async () => {
    const u = userEvent.setup();
    const { calls, finish } = installBridge();
    const { client, sent } = api();
    const signedIn: string[] = [];
    const went: string[] = [];
    render(<SignIn client={client} themeButton={null} goTo={(url) => { went.push(url); }} onSignedIn={(token) => { signedIn.push(token); return Promise.resolve(); }} />);

    await u.click(await screen.findByRole('button', { name: 'Sign in with Okta' }));

    expect(screen.getByRole('status').textContent).toBe('Finish signing in in your browser.');
    // The code the xp site's page asks to confirm, so a sign-in someone else started is told apart.
    expect((await screen.findByText(/Your browser will ask you to confirm the code/)).textContent).toBe(`Your browser will ask you to confirm the code ${CONFIRMATION}. Continue there only if it shows this code.`);
    expect(screen.getByRole('button', { name: 'Cancel' })).toBeTruthy();
    expect(screen.queryByRole('button', { name: 'Sign in with Okta' })).toBeNull();
    // The connection cannot change under a waiting sign-in (its code is for this connection's API).
    expect(screen.queryByRole('combobox', { name: 'Connection' })).toBeNull();
    // No URL from the page: main picks the active profile's API; the page does not leave.
    expect(calls).toEqual(['ssoStart', 'ssoWait']);
    expect(went).toEqual([]);

    finish({ status: 'code', code: 'one-time-code', verifier: VERIFIER });

    await vi.waitFor(() => { expect(signedIn).toEqual(['sso-session']); });
    expect(sent.filter((r) => r.path === '/api/v1/auth/sso/exchange').map((r) => r.body)).toEqual([{ code: 'one-time-code', verifier: VERIFIER }]);
    expect(screen.queryByRole('alert')).toBeNull();
  });

  it.each([
    ['domain-not-allowed', ssoErrorMessage('domain-not-allowed')],
    ['account-disabled', ssoErrorMessage('account-disabled')],
  ] as const)('says why the browser came back without a session (%s), as the web console does', async (reason, message) => {
    const u = userEvent.setup();
    const { finish } = installBridge();
    const { client, sent } = api();
    render(<SignIn client={client} themeButton={null} onSignedIn={() => Promise.reject(new Error('not expected'))} />);

    await u.click(await screen.findByRole('button', { name: 'Sign in with Okta' }));
    finish({ status: 'error', reason });

    expect((await screen.findByRole('alert')).textContent).toBe(message);
    expect(screen.getByRole('button', { name: 'Sign in with Okta' })).toBeTruthy();
    expect(sent.some((r) => r.path === '/api/v1/auth/sso/exchange')).toBe(false);
  });

  it('stops waiting on Cancel, with no error, and can start again', async () => {
    const u = userEvent.setup();
    const { calls } = installBridge();
    const { client } = api();
    render(<SignIn client={client} themeButton={null} onSignedIn={() => Promise.resolve()} />);

    await u.click(await screen.findByRole('button', { name: 'Sign in with Okta' }));
    // The button pressed is gone: focus is on Cancel, and back on the button after it.
    expect(document.activeElement).toBe(screen.getByRole('button', { name: 'Cancel' }));
    await u.keyboard('{Enter}');

    const again = await screen.findByRole('button', { name: 'Sign in with Okta' });
    await vi.waitFor(() => { expect(document.activeElement).toBe(again); });
    expect(screen.queryByRole('status')).toBeNull();
    expect(screen.queryByRole('alert')).toBeNull();
    expect(calls).toEqual(['ssoStart', 'ssoWait', 'ssoCancel']);
    await u.click(again);
    expect(screen.getByRole('status').textContent).toBe('Finish signing in in your browser.');
  });

  it('says the browser sign-in took too long when main stops waiting', async () => {
    const u = userEvent.setup();
    const { finish } = installBridge();
    const { client } = api();
    render(<SignIn client={client} themeButton={null} onSignedIn={() => Promise.resolve()} />);

    await u.click(await screen.findByRole('button', { name: 'Sign in with Okta' }));
    finish({ status: 'timeout' });

    expect((await screen.findByRole('alert')).textContent).toBe(SSO_TIMEOUT_MESSAGE);
    expect(SSO_TIMEOUT_MESSAGE).toContain('took too long');
  });

  it('says the sign-in expired when the API refuses the code (401)', async () => {
    const u = userEvent.setup();
    const { finish } = installBridge();
    const { client } = api(() => ({ status: 401, body: { error: { code: 'SSO_CODE_REFUSED', message: 'sign-in code expired or already used' } } }));
    let signedIn = false;
    render(<SignIn client={client} themeButton={null} onSignedIn={() => { signedIn = true; return Promise.resolve(); }} />);

    await u.click(await screen.findByRole('button', { name: 'Sign in with Okta' }));
    finish({ status: 'code', code: 'stale', verifier: VERIFIER });

    expect((await screen.findByRole('alert')).textContent).toBe(ssoErrorMessage('expired'));
    expect(signedIn).toBe(false);
  });

  it('cancels the wait when the sign-in screen goes away', async () => {
    const u = userEvent.setup();
    const { calls } = installBridge();
    const { client } = api();
    const { unmount } = render(<SignIn client={client} themeButton={null} onSignedIn={() => Promise.resolve()} />);

    await u.click(await screen.findByRole('button', { name: 'Sign in with Okta' }));
    await screen.findByText(/confirm the code/);
    unmount();

    expect(calls).toEqual(['ssoStart', 'ssoWait', 'ssoCancel']);
  });

  it('points a password that meets SSO_REQUIRED to the SSO button, which the desktop app now has', async () => {
    const u = userEvent.setup();
    installBridge();
    const { client } = fakeApi((req) =>
      req.path === '/api/v1/auth/sso'
        ? { status: 200, body: OKTA }
        : req.path === '/api/v1/auth/login'
          ? { status: 403, body: { error: { code: 'SSO_REQUIRED', message: 'this organisation signs in with Okta: use Sign in with Okta' } } }
          : undefined,
    );
    render(<SignIn client={client} themeButton={null} onSignedIn={() => Promise.resolve()} />);

    await screen.findByRole('button', { name: 'Sign in with Okta' });
    await u.type(screen.getByLabelText('Email'), 'ana@example.com');
    await u.type(screen.getByLabelText('Password'), 'her old password');
    await u.click(screen.getByRole('button', { name: 'Sign in' }));

    expect((await screen.findByRole('alert')).textContent).toBe('Your organisation signs in with Okta, not with a password: use the "Sign in with Okta" button.');
  });

  it('asks the newly chosen connection whether it offers SSO', async () => {
    const u = userEvent.setup();
    installBridge([
      { id: 'local', name: 'Local', apiUrl: 'http://localhost:8000', hasToken: false, active: true },
      { id: 'prod', name: 'Production', apiUrl: 'https://xp.corp.example', hasToken: false, active: false },
    ]);
    const { client, sent } = api();
    render(<SignIn client={client} themeButton={null} onSignedIn={() => Promise.resolve()} />);
    await screen.findByRole('button', { name: 'Sign in with Okta' });

    await u.selectOptions(screen.getByRole('combobox', { name: 'Connection' }), 'prod');

    await vi.waitFor(() => { expect(sent.filter((r) => r.path === '/api/v1/auth/sso')).toHaveLength(2); });
  });
});

describe('the session-expired dialog in the desktop app', () => {
  const me = (overrides: Partial<Me>): Me => ({ ...user({ id: 'u-ana', email: 'ana@example.com', name: 'Ana', role: 'editor' }), ...overrides });

  it('signs a person without a password in again in the browser, keeping the page', async () => {
    const u = userEvent.setup();
    const { calls, finish } = installBridge();
    const { client, sent } = api();
    const renewed: string[] = [];
    const went: string[] = [];
    render(<SessionExpired client={client} user={me({ hasPassword: false, sso: true })} goTo={(url) => { went.push(url); }} onSignedIn={(token) => { renewed.push(token); return Promise.resolve(); }} onSignOut={() => undefined} />);

    const dialog = screen.getByRole('dialog', { name: 'Your session has expired' });
    const button = await within(dialog).findByRole('button', { name: 'Sign in with Okta again' });
    expect(dialog.textContent).toContain('This opens Okta in your browser; the app keeps unsaved changes meanwhile.');
    expect(within(dialog).queryByLabelText('Password')).toBeNull();

    await u.click(button);
    expect(within(dialog).getByRole('status').textContent).toBe('Finish signing in in your browser.');
    finish({ status: 'code', code: 'again', verifier: VERIFIER });

    await vi.waitFor(() => { expect(renewed).toEqual(['sso-session']); });
    expect(calls).toEqual(['ssoStart', 'ssoWait']);
    expect(went).toEqual([]);
    expect(sent.find((r) => r.path === '/api/v1/auth/sso/exchange')?.body).toEqual({ code: 'again', verifier: VERIFIER });
  });

  it("refuses another person's session, and ends it: the screens and drafts are the expired session's", async () => {
    const u = userEvent.setup();
    const { calls, finish } = installBridge();
    const { client } = api(() => ({ status: 200, body: { token: 'someone-else', expiresAt: '2026-12-08T00:00:00Z', user: user({ id: 'u-bob', email: 'bob@example.com' }) } }));
    const renewed: string[] = [];
    render(<SessionExpired client={client} user={me({ hasPassword: false, sso: true })} onSignedIn={(token) => { renewed.push(token); return Promise.resolve(); }} onSignOut={() => undefined} />);

    await u.click(await screen.findByRole('button', { name: 'Sign in with Okta again' }));
    finish({ status: 'code', code: 'bobs', verifier: VERIFIER });

    expect((await screen.findByRole('alert')).textContent).toBe('You signed in as bob@example.com, not as the person whose session expired (that sign-in was ended). Sign out first to switch accounts.');
    expect(renewed).toEqual([]);
    // Ended through main (the /api proxy would send the expired session's token, not this one), before the error shows.
    expect(calls).toEqual(['ssoStart', 'ssoWait', 'ssoDiscard someone-else']);
  });

  it('says why the browser came back without a session', async () => {
    const u = userEvent.setup();
    const { finish } = installBridge();
    const { client } = api();
    render(<SessionExpired client={client} user={me({ hasPassword: false, sso: true })} onSignedIn={() => Promise.resolve()} onSignOut={() => undefined} />);

    await u.click(await screen.findByRole('button', { name: 'Sign in with Okta again' }));
    finish({ status: 'error', reason: 'denied' });

    expect((await screen.findByRole('alert')).textContent).toBe(ssoErrorMessage('denied'));
  });
});
