import '../../../test/dom.js';
import { cleanup, render, screen, within } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { fakeApi } from '../../../test/fake-api.js';
import type { ConnectionProfile, ProfileView, XpBridge } from '../../../../ipc-contract.js';
import { SignIn, cleartextRemote, profileId } from '../sign-in.js';

afterEach(() => {
  cleanup();
  Reflect.deleteProperty(window, 'xp');
});

/** The desktop bridge as the main process answers it (profiles in memory; invalid URLs refused as main refuses them). */
function installBridge(): { calls: string[] } {
  const calls: string[] = [];
  let profiles: ProfileView[] = [{ id: 'local', name: 'Local', apiUrl: 'http://localhost:8000', hasToken: false, active: true }];
  const bridge: Partial<XpBridge> = {
    listProfiles: () => Promise.resolve(profiles),
    saveProfile: (p: ConnectionProfile) => {
      calls.push(`save ${p.id} ${p.name} ${p.apiUrl}`);
      if (!/^https?:\/\/[^/]/.test(p.apiUrl)) {
        return Promise.reject(new Error('apiUrl must be an absolute http(s) URL'));
      }
      profiles = [...profiles.filter((x) => x.id !== p.id), { ...p, hasToken: false, active: false }];
      return Promise.resolve(profiles);
    },
    selectProfile: (id: string) => {
      calls.push(`select ${id}`);
      profiles = profiles.map((x) => ({ ...x, active: x.id === id }));
      return Promise.resolve(profiles);
    },
    removeProfile: (id: string) => {
      calls.push(`remove ${id}`);
      profiles = profiles.filter((x) => x.id !== id).map((x, i) => ({ ...x, active: i === 0 }));
      return Promise.resolve(profiles);
    },
  };
  Object.defineProperty(window, 'xp', { value: bridge, configurable: true });
  return { calls };
}

describe('sign-in', () => {
  it('says the email or password is wrong, not that a session expired', async () => {
    const u = userEvent.setup();
    const { client } = fakeApi((req) => (req.method === 'POST' && req.path === '/api/v1/auth/login' ? { status: 401, body: { error: { code: 'UNAUTHENTICATED', message: 'invalid email or password' } } } : undefined));
    let signedIn = false;
    render(<SignIn client={client} themeButton={null} onSignedIn={() => { signedIn = true; return Promise.resolve(); }} />);

    await u.type(screen.getByLabelText('Email'), 'ana@example.com');
    await u.type(screen.getByLabelText('Password'), 'not her password');
    await u.click(screen.getByRole('button', { name: 'Sign in' }));

    expect((await screen.findByRole('alert')).textContent).toBe('invalid email or password');
    expect(signedIn).toBe(false);
    expect(screen.getByRole('button', { name: 'Sign in' })).toHaveProperty('disabled', false);
  });

  it('says a disabled account is disabled, in the API\'s words, not as a missing permission, and lets the user try again', async () => {
    const u = userEvent.setup();
    const message = 'this account is disabled; ask an administrator of your organization to enable it';
    const { client, sent } = fakeApi((req) => (req.method === 'POST' && req.path === '/api/v1/auth/login' ? { status: 403, body: { error: { code: 'ACCOUNT_DISABLED', message } } } : undefined));
    let signedIn = false;
    render(<SignIn client={client} themeButton={null} onSignedIn={() => { signedIn = true; return Promise.resolve(); }} />);

    await u.type(screen.getByLabelText('Email'), 'ana@example.com');
    await u.type(screen.getByLabelText('Password'), 'her right password');
    await u.click(screen.getByRole('button', { name: 'Sign in' }));

    expect((await screen.findByRole('alert')).textContent).toBe(message);
    expect(signedIn).toBe(false);
    // Not taken for an administrator's password: no new-password fields.
    expect(screen.queryByRole('group', { name: 'Choose a new password' })).toBeNull();
    expect(screen.getByRole('button', { name: 'Sign in' }).getAttribute('aria-disabled')).toBeNull();
    expect(sent.filter((r) => r.path === '/api/v1/auth/login')).toHaveLength(1);
  });

  it('asks for a new password (twice) when an administrator set the password, and sends it with the login', async () => {
    const u = userEvent.setup();
    const { client, sent } = fakeApi((req) => {
      if (req.method !== 'POST' || req.path !== '/api/v1/auth/login') {
        return undefined;
      }
      const body = req.body as { newPassword?: string };
      if (body.newPassword === undefined) {
        return { status: 403, body: { error: { code: 'PASSWORD_CHANGE_REQUIRED', message: 'this password was set by an administrator; choose a new one: send newPassword with the login' } } };
      }
      if (body.newPassword === 'password1234') {
        return { status: 400, body: { error: { code: 'VALIDATION_FAILED', message: 'newPassword too weak: is a commonly used password' } } };
      }
      return { status: 200, body: { token: 'xps_new', expiresAt: '2026-12-05T00:00:00Z', user: { id: 'u1', email: 'ana@example.com', name: 'Ana', role: 'editor', disabled: false, passwordChangeRequired: false, version: 2, createdAt: '', updatedAt: '' } } };
    });
    const signedIn: string[] = [];
    render(<SignIn client={client} themeButton={null} onSignedIn={(token) => { signedIn.push(token); return Promise.resolve(); }} />);

    await u.type(screen.getByLabelText('Email'), 'ana@example.com');
    await u.type(screen.getByLabelText('Password'), 'given-by-admin-123');
    await u.click(screen.getByRole('button', { name: 'Sign in' }));
    const group = await screen.findByRole('group', { name: 'Choose a new password' });
    expect(screen.queryByRole('alert')).toBeNull();

    await u.type(within(group).getByLabelText('New password'), 'password1234');
    await u.type(within(group).getByLabelText('Confirm new password'), 'password123');
    await u.click(screen.getByRole('button', { name: 'Set password and sign in' }));
    expect((await screen.findByRole('alert')).textContent).toBe('The new passwords do not match.');
    expect(sent.filter((r) => r.path === '/api/v1/auth/login')).toHaveLength(1);

    await u.type(within(group).getByLabelText('Confirm new password'), '4');
    await u.click(screen.getByRole('button', { name: 'Set password and sign in' }));
    expect((await screen.findByRole('alert')).textContent).toBe('The new password is too weak: is a commonly used password.');

    await u.clear(within(group).getByLabelText('New password'));
    await u.clear(within(group).getByLabelText('Confirm new password'));
    await u.type(within(group).getByLabelText('New password'), 'violet harbour quokka');
    await u.type(within(group).getByLabelText('Confirm new password'), 'violet harbour quokka');
    await u.click(screen.getByRole('button', { name: 'Set password and sign in' }));
    await vi.waitFor(() => { expect(signedIn).toEqual(['xps_new']); }, { timeout: 5_000 });
    expect(sent.filter((r) => r.path === '/api/v1/auth/login').map((r) => r.body)).toEqual([
      { email: 'ana@example.com', password: 'given-by-admin-123' },
      { email: 'ana@example.com', password: 'given-by-admin-123', newPassword: 'password1234' },
      { email: 'ana@example.com', password: 'given-by-admin-123', newPassword: 'violet harbour quokka' },
    ]);
  });

  it('adds a connection in the desktop app, warns about plain http to another machine, and signs in to it', async () => {
    const u = userEvent.setup();
    const { calls } = installBridge();
    const { client } = fakeApi(() => undefined);
    render(<SignIn client={client} themeButton={null} onSignedIn={() => Promise.resolve()} />);

    expect(await screen.findByRole('button', { name: 'Remove' })).toHaveProperty('disabled', true);
    await u.click(screen.getByRole('button', { name: 'Add…' }));
    const dialog = screen.getByRole('dialog', { name: 'Add a connection' });
    await u.type(within(dialog).getByLabelText('Name'), 'Staging EU');
    await u.clear(within(dialog).getByLabelText('API URL'));
    await u.type(within(dialog).getByLabelText('API URL'), 'http://xp.staging.internal:8000');
    expect(within(dialog).getByRole('note').textContent).toContain('unencrypted');
    await u.clear(within(dialog).getByLabelText('API URL'));
    await u.type(within(dialog).getByLabelText('API URL'), 'https://xp.staging.example.com');
    expect(within(dialog).queryByRole('note')).toBeNull();
    await u.click(within(dialog).getByRole('button', { name: 'Save' }));

    expect(calls).toEqual(['save staging-eu Staging EU https://xp.staging.example.com', 'select staging-eu']);
    expect(screen.queryByRole('dialog')).toBeNull();
    expect(screen.getByRole<HTMLSelectElement>('combobox', { name: 'Connection' }).value).toBe('staging-eu');
    await u.click(screen.getByRole('button', { name: 'Remove' }));
    expect(calls.at(-1)).toBe('remove staging-eu');
  });

  it("shows the main process's refusal of a profile in the form", async () => {
    const u = userEvent.setup();
    installBridge();
    const { client } = fakeApi(() => undefined);
    render(<SignIn client={client} themeButton={null} onSignedIn={() => Promise.resolve()} />);

    await u.click(await screen.findByRole('button', { name: 'Edit…' }));
    const dialog = screen.getByRole('dialog', { name: 'Edit Local' });
    await u.clear(within(dialog).getByLabelText('API URL'));
    await u.type(within(dialog).getByLabelText('API URL'), 'ftp://x');
    await u.click(within(dialog).getByRole('button', { name: 'Save' }));

    expect((await within(dialog).findByRole('alert')).textContent).toBe('apiUrl must be an absolute http(s) URL');
  });

  it('makes profile ids from names and tells cleartext remote URLs from local ones', () => {
    expect(profileId('Staging EU', ['local'])).toBe('staging-eu');
    expect(profileId('Local', ['local'])).toBe('local-2');
    expect(profileId('***', [])).toBe('profile');
    expect(cleartextRemote('http://localhost:8000')).toBe(false);
    expect(cleartextRemote('http://127.0.0.1:8000')).toBe(false);
    expect(cleartextRemote('https://xp.example.com')).toBe(false);
    expect(cleartextRemote('http://xp.example.com')).toBe(true);
  });
});
