import '../../test/dom.js';
import { render, screen, within } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import type { Me, StoredEnvironment } from '@xp/shared';
import { ROLES, fakeFetch, projectOf, signedInConsole, user } from '../../test/fake-api.js';
import type { Responder } from '../../test/fake-api.js';
import { App } from '../app.js';

const DEVELOPMENT: StoredEnvironment = { key: 'development', name: 'Development', production: false, requireApproval: false, version: 1, position: 0 };

/** The API of a signed-in editor described by `me` (GET /api/v1/me), SSO "Okta" on; `more` answers first. */
function api(me: Partial<Me>, more: Responder = () => undefined): ReturnType<typeof fakeFetch> {
  return fakeFetch((req) => {
    const answer = more(req);
    if (answer !== undefined) {
      return answer;
    }
    const path = req.path.split('?')[0] ?? '';
    if (path === '/api/v1/me') {
      return { status: 200, body: { ...user({ role: 'editor', email: 'ana@example.com' }), ...me } };
    }
    if (path === '/api/v1/auth/sso') {
      return { status: 200, body: { enabled: true, name: 'Okta', passwordSignIn: 'all' } };
    }
    if (path === '/api/v1/projects') {
      return { status: 200, body: { items: [projectOf('web')] } };
    }
    if (path === '/api/v1/roles') {
      return { status: 200, body: ROLES };
    }
    if (path.endsWith('/environments')) {
      return { status: 200, body: { items: [DEVELOPMENT] } };
    }
    if (path.endsWith('/changes/stream')) {
      return { status: 404 };
    }
    return req.method === 'GET' ? { status: 200, body: { items: [] } } : undefined;
  });
}

signedInConsole();

describe('the console for a person who signs in with SSO', () => {
  it('hides "Change password…" from a person without a password', async () => {
    window.location.hash = '#/segments';
    vi.stubGlobal('fetch', api({ hasPassword: false, sso: true }).fetch);
    render(<App />);

    await screen.findByRole('heading', { name: 'Segments' });
    const topbar = screen.getByRole('banner');
    expect(within(topbar).getByRole('button', { name: 'Sign out' })).toBeTruthy();
    expect(within(topbar).queryByRole('button', { name: 'Change password…' })).toBeNull();
  });

  it('offers "Change password…" to a person with a password, linked or not, and when an older server does not say', async () => {
    for (const me of [{ hasPassword: true, sso: true }, { hasPassword: true, sso: false }, {}]) {
      window.location.hash = '#/segments';
      vi.stubGlobal('fetch', api(me).fetch);
      const { unmount } = render(<App />);

      await screen.findByRole('heading', { name: 'Segments' });
      expect(within(screen.getByRole('banner')).getByRole('button', { name: 'Change password…' })).toBeTruthy();
      unmount();
    }
  });

  it('offers "Sign in with Okta again", not a password, when the session of a person without a password expires', async () => {
    window.location.hash = '#/segments';
    let expired = false;
    const { fetch, sent } = api({ hasPassword: false, sso: true }, (req) =>
      expired && req.path.includes('/metrics') ? { status: 401, body: { error: { code: 'UNAUTHENTICATED', message: 'session expired' } } } : undefined,
    );
    vi.stubGlobal('fetch', fetch);
    render(<App />);
    await screen.findByRole('heading', { name: 'Segments' });

    expired = true;
    // The next screen's list meets the expiry.
    await userEvent.setup().click(screen.getByRole('link', { name: 'Metrics' }));
    const dialog = await screen.findByRole('dialog', { name: 'Your session has expired' });

    expect(await within(dialog).findByRole('button', { name: 'Sign in with Okta again' })).toBeTruthy();
    expect(within(dialog).queryByLabelText('Password')).toBeNull();
    expect(dialog.textContent).toContain('unsaved changes on this page are lost');
    expect(sent.some((r) => r.path === '/api/v1/auth/login')).toBe(false);
  });
});
