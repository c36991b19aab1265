import '../../test/dom.js';
import { cleanup, render, screen } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ProfileView, XpBridge } from '../../../ipc-contract.js';
import { ROLES, fakeFetch, user } from '../../test/fake-api.js';
import { App } from '../app.js';

/**
 * The desktop app's session: the page asks the bridge whether the active profile is signed in and
 * stores a new token write-only; the main process's proxy adds the real token to /api requests.
 */

/** The bridge as the main process answers it: no call returns a token. */
function installBridge(signedIn: boolean): { calls: string[] } {
  const calls: string[] = [];
  let hasToken = signedIn;
  const profiles = (): ProfileView[] => [{ id: 'local', name: 'Local', apiUrl: 'http://localhost:8000', hasToken, active: true }];
  const bridge: XpBridge = {
    listProfiles: () => Promise.resolve(profiles()),
    saveProfile: () => Promise.resolve(profiles()),
    removeProfile: () => Promise.resolve(profiles()),
    selectProfile: () => Promise.resolve(profiles()),
    setToken: (token) => {
      calls.push(`setToken ${token ?? 'null'}`);
      hasToken = token !== null;
      return Promise.resolve(hasToken);
    },
    hasToken: () => {
      calls.push('hasToken');
      return Promise.resolve(hasToken);
    },
    ssoStart: () => Promise.resolve({ confirmationCode: 'ABCD-EFGH' }),
    ssoWait: () => Promise.resolve({ status: 'cancelled' }),
    ssoCancel: () => Promise.resolve(false),
    ssoDiscard: () => Promise.resolve(false),
    onDeepLink: () => () => undefined,
    onMenu: () => () => undefined,
  };
  Object.defineProperty(window, 'xp', { value: bridge, configurable: true });
  return { calls };
}

/** The API behind the app's proxy, recording the Authorization header the page sent. */
function api(): { authorizations: (string | null)[]; sent: ReturnType<typeof fakeFetch>['sent'] } {
  const authorizations: (string | null)[] = [];
  const { fetch, sent } = fakeFetch((req) => {
    const path = req.path.split('?')[0] ?? '';
    if (path === '/api/v1/auth/login') {
      return { status: 200, body: { token: 'issued-at-sign-in', expiresAt: '2026-11-26T10:00:00Z', user: user() } };
    }
    if (path === '/api/v1/me') {
      return { status: 200, body: user({ role: 'owner' }) };
    }
    if (path === '/api/v1/projects') {
      return { status: 200, body: { items: [{ id: 'p-web', key: 'web', name: 'web', description: null, version: 1, createdAt: '2026-11-25T10:00:00Z', updatedAt: '2026-11-25T10:00:00Z' }] } };
    }
    if (path === '/api/v1/roles') {
      return { status: 200, body: ROLES };
    }
    if (path.endsWith('/environments')) {
      return { status: 200, body: { items: [{ key: 'development', name: 'Development', production: false, requireApproval: false, version: 1, position: 0 }] } };
    }
    if (path.endsWith('/changes/stream') || path.endsWith('/code-refs/flags')) {
      return { status: 404 };
    }
    if (path === '/api/v1/auth/logout') {
      return { status: 204 };
    }
    return req.method === 'GET' ? { status: 200, body: { items: [] } } : undefined;
  });
  vi.stubGlobal('fetch', (input: string | URL | Request, init?: RequestInit) => {
    authorizations.push(new Headers(init?.headers).get('authorization'));
    return fetch(input, init);
  });
  return { authorizations, sent };
}

beforeEach(() => {
  window.localStorage.clear();
  window.localStorage.setItem('xp.theme', 'light');
  window.sessionStorage.clear();
  window.location.hash = '#/flags';
});
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  Reflect.deleteProperty(window, 'xp');
  window.location.hash = '';
});

describe('desktop session', () => {
  it("restores the active profile's session without the page ever reading its token", async () => {
    const { calls } = installBridge(true);
    const { authorizations } = api();
    render(<App />);

    expect(await screen.findByRole('button', { name: 'Sign out' })).toBeTruthy();

    expect(calls).toEqual(['hasToken']);
    // The page sends a stand-in; the app's proxy replaces it with the stored token.
    expect(new Set(authorizations.filter((a) => a !== null))).toEqual(new Set(['Bearer desktop-session']));
    expect(window.sessionStorage.getItem('xp.session')).toBeNull();
  });

  it('stores the token of a new sign-in through the write-only bridge call, and clears it on sign-out', async () => {
    const u = userEvent.setup();
    const { calls } = installBridge(false);
    api();
    render(<App />);

    await u.type(await screen.findByLabelText('Email'), 'ana@example.com');
    await u.type(screen.getByLabelText('Password'), 'her password');
    await u.click(screen.getByRole('button', { name: 'Sign in' }));
    await u.click(await screen.findByRole('button', { name: 'Sign out' }));

    expect(await screen.findByRole('heading', { name: 'Sign in to xp' })).toBeTruthy();
    expect(calls).toEqual(['hasToken', 'setToken issued-at-sign-in', 'setToken null']);
    expect(window.sessionStorage.getItem('xp.session')).toBeNull();
  });
});
