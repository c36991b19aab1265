import '../../../test/dom.js';
import { cleanup, render, screen } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { SsoInfo } from '@xp/shared';
import { fakeApi, user } from '../../../test/fake-api.js';
import type { Responder } from '../../../test/fake-api.js';
import { SignIn } from '../sign-in.js';

afterEach(() => {
  cleanup();
  Reflect.deleteProperty(window, 'xp');
});

/** `GET /api/v1/auth/sso` answering `info` (contract: docs/api.md), then `more`. */
function ssoApi(info: SsoInfo, more: Responder = () => undefined): ReturnType<typeof fakeApi> {
  return fakeApi((req) => (req.method === 'GET' && req.path === '/api/v1/auth/sso' ? { status: 200, body: info } : more(req)));
}

const OKTA: SsoInfo = { enabled: true, name: 'Okta', passwordSignIn: 'all' };

describe('sign-in with SSO', () => {
  it('offers "Sign in with <name>", which leaves the page for the API\'s SSO start, above the password form', async () => {
    const u = userEvent.setup();
    const { client, sent } = ssoApi(OKTA);
    const went: string[] = [];
    render(<SignIn client={client} themeButton={null} goTo={(url) => { went.push(url); }} onSignedIn={() => Promise.resolve()} />);

    const button = await screen.findByRole('button', { name: 'Sign in with Okta' });
    // The password form is there too, for everyone.
    expect(screen.getByRole('textbox', { name: 'Email' })).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Sign in' })).toBeTruthy();

    await u.click(button);
    // Relative to the API base the console uses: the page's origin (the test page is http://localhost:3000/).
    expect(went).toEqual(['http://localhost:3000/api/v1/auth/sso/start']);
    expect(sent.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /api/v1/auth/sso']);
  });

  it('reaches the SSO button by keyboard first, and goes with Enter', async () => {
    const u = userEvent.setup();
    const { client } = ssoApi({ enabled: true, name: 'Entra ID', passwordSignIn: 'all' });
    const went: string[] = [];
    render(<SignIn client={client} themeButton={null} goTo={(url) => { went.push(url); }} onSignedIn={() => Promise.resolve()} />);
    const button = await screen.findByRole('button', { name: 'Sign in with Entra ID' });

    await u.tab();
    expect(document.activeElement).toBe(button);
    await u.keyboard('{Enter}');
    expect(went).toEqual(['http://localhost:3000/api/v1/auth/sso/start']);
    await u.tab();
    expect(document.activeElement).toBe(screen.getByRole('textbox', { name: 'Email' }));
  });

  it('names the button "SSO" when the API gives no name', async () => {
    const { client } = ssoApi({ enabled: true, name: null, passwordSignIn: 'all' });
    render(<SignIn client={client} themeButton={null} onSignedIn={() => Promise.resolve()} />);

    expect(await screen.findByRole('button', { name: 'Sign in with SSO' })).toBeTruthy();
  });

  it('shows no SSO button when SSO is off, and only the password form', async () => {
    const { client, sent } = ssoApi({ enabled: false, name: null, passwordSignIn: 'all' });
    render(<SignIn client={client} themeButton={null} onSignedIn={() => Promise.resolve()} />);

    await screen.findByRole('textbox', { name: 'Email' });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(sent).toHaveLength(1);
    expect(screen.queryByRole('button', { name: /^Sign in with/ })).toBeNull();
    expect(screen.queryByRole('button', { name: /break-glass/ })).toBeNull();
  });

  it('shows the password form when the API does not know the SSO route (an older server) or does not answer', async () => {
    for (const respond of [() => undefined, () => { throw new TypeError('Failed to fetch'); }] as Responder[]) {
      const { client, sent } = fakeApi(respond);
      render(<SignIn client={client} themeButton={null} onSignedIn={() => Promise.resolve()} />);

      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(sent.map((r) => r.path)).toEqual(['/api/v1/auth/sso']);
      expect(screen.getByRole('textbox', { name: 'Email' })).toBeTruthy();
      expect(screen.queryByRole('button', { name: /^Sign in with/ })).toBeNull();
      expect(screen.queryByRole('alert')).toBeNull();
      cleanup();
    }
  });

  it('folds the password form under "Owner sign-in (break-glass)" when only owners may use a password, opened by keyboard', async () => {
    const u = userEvent.setup();
    const signedIn: string[] = [];
    const { client, sent } = ssoApi({ enabled: true, name: 'Okta', passwordSignIn: 'owners' }, (req) =>
      req.path === '/api/v1/auth/login' ? { status: 200, body: { token: 'owner-token', expiresAt: '2026-12-08T00:00:00Z', user: user() } } : undefined,
    );
    render(<SignIn client={client} themeButton={null} onSignedIn={(token) => { signedIn.push(token); return Promise.resolve(); }} />);

    await screen.findByRole('button', { name: 'Sign in with Okta' });
    const disclosure = screen.getByRole('button', { name: /Owner sign-in \(break-glass\)/ });
    expect(disclosure.getAttribute('aria-expanded')).toBe('false');
    expect(screen.queryByRole('textbox', { name: 'Email' })).toBeNull();
    expect(screen.queryByRole('button', { name: 'Sign in' })).toBeNull();
    const region = document.getElementById(disclosure.getAttribute('aria-controls') ?? '');
    expect(region?.hidden).toBe(true);

    await u.tab();
    await u.tab();
    expect(document.activeElement).toBe(disclosure);
    await u.keyboard('{Enter}');
    expect(disclosure.getAttribute('aria-expanded')).toBe('true');
    expect(region?.hidden).toBe(false);
    await u.tab();
    expect(document.activeElement).toBe(screen.getByRole('textbox', { name: 'Email' }));
    await u.keyboard('owner@example.com');
    await u.type(screen.getByLabelText('Password'), 'break glass');
    await u.click(screen.getByRole('button', { name: 'Sign in' }));

    await vi.waitFor(() => { expect(signedIn).toEqual(['owner-token']); });
    expect(sent.find((r) => r.path === '/api/v1/auth/login')?.body).toEqual({ email: 'owner@example.com', password: 'break glass' });

    // And folds again.
    await u.click(disclosure);
    expect(disclosure.getAttribute('aria-expanded')).toBe('false');
    expect(screen.queryByRole('textbox', { name: 'Email' })).toBeNull();
  });

  it('tells a non-owner whose right password meets SSO_REQUIRED to use the SSO button, announced', async () => {
    const u = userEvent.setup();
    const { client } = ssoApi({ enabled: true, name: 'Okta', passwordSignIn: 'all' }, (req) =>
      req.path === '/api/v1/auth/login' ? { status: 403, body: { error: { code: 'SSO_REQUIRED', message: 'this organisation signs in with Okta: use Sign in with Okta' } } } : undefined,
    );
    let signedIn = false;
    render(<SignIn client={client} themeButton={null} onSignedIn={() => { signedIn = true; return Promise.resolve(); }} />);

    await screen.findByRole('button', { name: 'Sign in with Okta' });
    await u.type(screen.getByLabelText('Email'), 'ana@example.com');
    await u.type(screen.getByLabelText('Password'), 'her old password');
    await u.click(screen.getByRole('button', { name: 'Sign in' }));

    expect((await screen.findByRole('alert')).textContent).toBe('Your organisation signs in with Okta, not with a password: use the "Sign in with Okta" button.');
    expect(signedIn).toBe(false);
  });

  it('announces why the last SSO sign-in failed', async () => {
    const { client } = ssoApi(OKTA);
    render(<SignIn client={client} themeButton={null} notice="That single sign-on expired." onSignedIn={() => Promise.resolve()} />);

    expect(screen.getByRole('alert').textContent).toBe('That single sign-on expired.');
    expect(await screen.findByRole('button', { name: 'Sign in with Okta' })).toBeTruthy();
  });
});
