import '../../../test/dom.js';
import { cleanup, render, screen, within } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Me, SsoInfo } from '@xp/shared';
import { fakeApi, user } from '../../../test/fake-api.js';
import type { Responder } from '../../../test/fake-api.js';
import { SessionExpired } from '../sign-in.js';

afterEach(() => {
  cleanup();
  Reflect.deleteProperty(window, 'xp');
});

const OKTA: SsoInfo = { enabled: true, name: 'Okta', passwordSignIn: 'all' };

/** `GET /api/v1/auth/sso` answering `info` (contract: docs/api.md), then `more`. */
function ssoApi(info: SsoInfo, more: Responder = () => undefined): ReturnType<typeof fakeApi> {
  return fakeApi((req) => (req.method === 'GET' && req.path === '/api/v1/auth/sso' ? { status: 200, body: info } : more(req)));
}

/** A person as GET /api/v1/me describes them. */
const me = (overrides: Partial<Me>): Me => ({ ...user({ id: 'u-ana', email: 'ana@example.com', name: 'Ana', role: 'editor' }), ...overrides });

const login: Responder = (req) =>
  req.path === '/api/v1/auth/login' ? { status: 200, body: { token: 'renewed', expiresAt: '2026-12-08T00:00:00Z', user: user() } } : undefined;

describe('the session-expired dialog and single sign-on', () => {
  it('offers a person without a password "Sign in with <name> again" (leaving the page, which it says) and no password field', async () => {
    const u = userEvent.setup();
    const { client, sent } = ssoApi(OKTA);
    const went: string[] = [];
    render(<SessionExpired client={client} user={me({ hasPassword: false, sso: true })} goTo={(url) => { went.push(url); }} onSignedIn={() => Promise.resolve()} onSignOut={() => undefined} />);

    const dialog = screen.getByRole('dialog', { name: 'Your session has expired' });
    const button = await within(dialog).findByRole('button', { name: 'Sign in with Okta again' });
    expect(within(dialog).queryByLabelText('Password')).toBeNull();
    expect(within(dialog).queryByRole('button', { name: 'Sign in' })).toBeNull();
    expect(dialog.textContent).toContain('You sign in with Okta.');
    expect(dialog.textContent).toContain('unsaved changes on this page are lost');
    // Signing out stays possible.
    expect(within(dialog).getByRole('button', { name: 'Sign out' })).toBeTruthy();

    await u.click(button);
    expect(went).toEqual(['http://localhost:3000/api/v1/auth/sso/start']);
    expect(sent.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /api/v1/auth/sso']);
  });

  it('offers a person without a password the SSO button even when the API does not say how SSO is named', () => {
    const { client } = fakeApi(() => undefined);
    render(<SessionExpired client={client} user={me({ hasPassword: false, sso: true })} goTo={() => undefined} onSignedIn={() => Promise.resolve()} onSignOut={() => undefined} />);

    expect(screen.getByRole('button', { name: 'Sign in with SSO again' })).toBeTruthy();
    expect(screen.queryByLabelText('Password')).toBeNull();
  });

  it('offers a linked person who also has a password both: the SSO button and the password, which keeps the page', async () => {
    const u = userEvent.setup();
    const { client, sent } = ssoApi(OKTA, login);
    const signedIn: string[] = [];
    render(<SessionExpired client={client} user={me({ hasPassword: true, sso: true })} goTo={() => undefined} onSignedIn={(token) => { signedIn.push(token); return Promise.resolve(); }} onSignOut={() => undefined} />);

    await screen.findByRole('button', { name: 'Sign in with Okta again' });
    expect(screen.getByRole('dialog').textContent).toContain('Or with your password, keeping unsaved changes:');
    await u.type(screen.getByLabelText('Password'), 'her password');
    await u.click(screen.getByRole('button', { name: 'Sign in' }));

    await vi.waitFor(() => { expect(signedIn).toEqual(['renewed']); });
    expect(sent.find((r) => r.path === '/api/v1/auth/login')?.body).toEqual({ email: 'ana@example.com', password: 'her password' });
  });

  it('offers a linked non-owner only the SSO button when SSO is enforced, and an owner the password too (break-glass)', async () => {
    const enforced: SsoInfo = { enabled: true, name: 'Okta', passwordSignIn: 'owners' };
    const { client } = ssoApi(enforced);
    render(<SessionExpired client={client} user={me({ hasPassword: true, sso: true })} goTo={() => undefined} onSignedIn={() => Promise.resolve()} onSignOut={() => undefined} />);
    await screen.findByRole('button', { name: 'Sign in with Okta again' });
    expect(screen.queryByLabelText('Password')).toBeNull();
    cleanup();

    render(<SessionExpired client={ssoApi(enforced).client} user={me({ role: 'owner', hasPassword: true, sso: true })} goTo={() => undefined} onSignedIn={() => Promise.resolve()} onSignOut={() => undefined} />);
    await screen.findByRole('button', { name: 'Sign in with Okta again' });
    expect(screen.getByLabelText('Password')).toBeTruthy();
  });

  it('asks a password user who is not linked for their password only, without asking the API about SSO', async () => {
    const { client, sent } = ssoApi(OKTA);
    render(<SessionExpired client={client} user={me({ hasPassword: true, sso: false })} goTo={() => undefined} onSignedIn={() => Promise.resolve()} onSignOut={() => undefined} />);

    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(screen.getByLabelText('Password')).toBeTruthy();
    expect(screen.queryByRole('button', { name: /^Sign in with/ })).toBeNull();
    expect(sent).toEqual([]);
  });

  it('asks for the password when an older server says nothing of passwords or SSO', async () => {
    const { client, sent } = ssoApi(OKTA);
    render(<SessionExpired client={client} user={me({})} goTo={() => undefined} onSignedIn={() => Promise.resolve()} onSignOut={() => undefined} />);

    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(screen.getByLabelText('Password')).toBeTruthy();
    expect(screen.queryByRole('button', { name: /^Sign in with/ })).toBeNull();
    expect(sent).toEqual([]);
  });
});
