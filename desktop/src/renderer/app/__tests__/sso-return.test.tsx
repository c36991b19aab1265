import '../../test/dom.js';
import { cleanup, render, screen } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SSO_ERROR_REASONS } from '@xp/shared';
import type { SsoErrorReason } from '@xp/shared';
import { ROLES, fakeFetch, user } from '../../test/fake-api.js';
import type { Responder } from '../../test/fake-api.js';
import { App } from '../app.js';

/**
 * Coming back from the identity provider: the API's callback redirects to `/#sso-code=<code>` or
 * `/#sso-error=<reason>` (contract: docs/api.md, "Single sign-on").
 */

/** The API with one project; `more` answers first. Records the URL hash and Authorization header of each request. */
function api(more: Responder = () => undefined): { sent: ReturnType<typeof fakeFetch>['sent']; seen: { path: string; hash: string; authorization: string | null }[] } {
  const seen: { path: string; hash: string; authorization: string | null }[] = [];
  const { fetch, sent } = fakeFetch((req) => {
    const answer = more(req);
    if (answer !== undefined) {
      return answer;
    }
    const path = req.path.split('?')[0] ?? '';
    if (path === '/api/v1/auth/sso') {
      return { status: 200, body: { enabled: true, name: 'Okta', passwordSignIn: 'all' } };
    }
    if (path === '/api/v1/me') {
      return { status: 200, body: user({ role: 'editor', email: 'ana@example.com' }) };
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
    return req.method === 'GET' ? { status: 200, body: { items: [] } } : undefined;
  });
  vi.stubGlobal('fetch', (input: string | URL | Request, init?: RequestInit) => {
    seen.push({ path: new URL(input instanceof Request ? input.url : input.toString()).pathname, hash: window.location.hash, authorization: new Headers(init?.headers).get('authorization') });
    return fetch(input, init);
  });
  return { sent, seen };
}

const exchange = (status: number): Responder => (req) => {
  if (req.path !== '/api/v1/auth/sso/exchange') {
    return undefined;
  }
  return status === 200
    ? { status: 200, body: { token: 'sso-session', expiresAt: '2026-12-08T10:00:00Z', user: user({ role: 'editor', email: 'ana@example.com' }) } }
    : { status, body: { error: { code: 'UNAUTHENTICATED', message: 'sign-in code expired or already used' } } };
};

beforeEach(() => {
  window.localStorage.clear();
  window.localStorage.setItem('xp.theme', 'light');
  window.sessionStorage.clear();
});
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  window.history.replaceState(null, '', '/');
});

describe('coming back from single sign-on', () => {
  it('removes the code from the URL before anything else, exchanges it once and keeps the session as a password sign-in does', async () => {
    window.history.replaceState(null, '', '/#sso-code=one-time%2Dcode');
    const historyLength = window.history.length;
    const { sent, seen } = api(exchange(200));
    render(<App />);

    expect(await screen.findByRole('button', { name: 'Sign out' })).toBeTruthy();
    expect(window.location.hash).toBe('#/');
    // Replaced, not pushed: Back does not return to the code.
    expect(window.history.length).toBe(historyLength);
    expect(seen[0]).toEqual({ path: '/api/v1/auth/sso/exchange', hash: '#/', authorization: null });
    expect(sent.filter((r) => r.path === '/api/v1/auth/sso/exchange').map((r) => r.body)).toEqual([{ code: 'one-time-code' }]);
    expect(window.sessionStorage.getItem('xp.session')).toBe('sso-session');
    expect(seen.find((r) => r.path === '/api/v1/me')?.authorization).toBe('Bearer sso-session');
    expect(await screen.findByRole('heading', { name: 'Flags', level: 1 })).toBeTruthy();
  });

  it('replaces a session stored earlier in the tab with the one of the SSO sign-in', async () => {
    window.sessionStorage.setItem('xp.session', 'older-session');
    window.history.replaceState(null, '', '/#sso-code=abc');
    const { seen } = api(exchange(200));
    render(<App />);

    await screen.findByRole('button', { name: 'Sign out' });
    expect(window.sessionStorage.getItem('xp.session')).toBe('sso-session');
    expect(seen.some((r) => r.authorization === 'Bearer older-session')).toBe(false);
  });

  it('says a refused code expired, on the sign-in screen with the SSO button, and stores no session', async () => {
    window.history.replaceState(null, '', '/#sso-code=used-already');
    const { sent } = api(exchange(401));
    render(<App />);

    expect((await screen.findByRole('alert')).textContent).toBe('That single sign-on expired or was already used (it lasts 10 minutes and works only in the browser that started it). Sign in again.');
    expect(screen.getByRole('heading', { name: 'Sign in to xp' })).toBeTruthy();
    expect(await screen.findByRole('button', { name: 'Sign in with Okta' })).toBeTruthy();
    expect(window.location.hash).toBe('#/');
    expect(window.sessionStorage.getItem('xp.session')).toBeNull();
    expect(sent.filter((r) => r.path === '/api/v1/auth/sso/exchange')).toHaveLength(1);
  });

  const MESSAGES: Record<SsoErrorReason, string> = {
    denied: 'Single sign-on was cancelled, or your identity provider refused it. Try again, or ask your administrator whether you have access to xp.',
    expired: 'That single sign-on expired or was already used (it lasts 10 minutes and works only in the browser that started it). Sign in again.',
    'email-unverified': 'Your identity provider did not confirm that your email address is verified, so xp cannot sign you in. Ask your administrator to verify it.',
    'domain-not-allowed': 'Your email address is not in a domain allowed to sign in to xp. Sign in with your work account, or ask your administrator.',
    'account-disabled': 'Your xp account is disabled; ask an administrator of your organization to enable it.',
    'idp-unavailable': 'xp could not reach your identity provider. Try again in a moment; if it keeps failing, tell your administrator.',
    'invalid-response': "Your identity provider's answer failed xp's security checks, so you were not signed in. Tell your administrator: the server log says why.",
    busy: 'Too many single sign-ins are under way right now. Wait a few minutes, then sign in again.',
  };

  it.each([...SSO_ERROR_REASONS])('announces a plain message for #sso-error=%s, removed from the URL, without exchanging anything', async (reason) => {
    window.history.replaceState(null, '', `/#sso-error=${reason}`);
    const { sent } = api();
    render(<App />);

    expect((await screen.findByRole('alert')).textContent).toBe(MESSAGES[reason]);
    expect(window.location.hash).toBe('#/');
    expect(sent.some((r) => r.path.startsWith('/api/v1/auth/sso/exchange'))).toBe(false);
    expect(await screen.findByRole('button', { name: 'Sign in with Okta' })).toBeTruthy();
  });

  it('says so for a reason it does not know, rather than nothing', async () => {
    window.history.replaceState(null, '', '/#sso-error=something-new');
    api();
    render(<App />);

    expect((await screen.findByRole('alert')).textContent).toBe('Single sign-on did not complete. Sign in again.');
  });
});
