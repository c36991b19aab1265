import '../../test/dom.js';
import { cleanup, render, screen, waitFor, within } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import type { Experiment, Flag, Role, Stored, StoredEnvironment } from '@xp/shared';
import { ROLES, fakeFetch, signedInConsole, user } from '../../test/fake-api.js';
import { abExperiment, booleanFlag, storedOf } from '../../test/fixtures.js';
import type { Responder } from '../../test/fake-api.js';
import { App } from '../app.js';

const DEVELOPMENT: StoredEnvironment = { key: 'development', name: 'Development', production: false, requireApproval: false, version: 1, position: 0 };

function project(key: string, name = key): { id: string; key: string; name: string; description: null; version: number; createdAt: string; updatedAt: string } {
  return { id: `p-${key}`, key, name, description: null, version: 1, createdAt: '2026-11-25T10:00:00Z', updatedAt: '2026-11-25T10:00:00Z' };
}

/** The API of a signed-in `role` with projects "web" and "shop"; `more` answers first. */
function api(role: Role, more: Responder = () => undefined): ReturnType<typeof fakeFetch> {
  return fakeFetch((req) => {
    const answer = more(req);
    if (answer !== undefined) {
      return answer;
    }
    const path = req.path.split('?')[0] ?? '';
    if (path === '/api/v1/me') {
      return { status: 200, body: user({ role }) };
    }
    if (path === '/api/v1/projects') {
      return { status: 200, body: { items: [project('web'), project('shop')] } };
    }
    if (path === '/api/v1/roles') {
      return { status: 200, body: ROLES };
    }
    if (path.endsWith('/environments')) {
      return { status: 200, body: { items: [DEVELOPMENT] } };
    }
    if (path.endsWith('/code-refs/flags')) {
      return { status: 200, body: { flags: [] } };
    }
    if (path.endsWith('/changes/stream')) {
      // Stops the change feed (a 401 would now mean an expired session).
      return { status: 404 };
    }
    return req.method === 'GET' ? { status: 200, body: { items: [] } } : undefined;
  });
}

function experiment(key: string): Stored<Experiment> {
  return storedOf(abExperiment(key, { name: 'CTA copy' }));
}

signedInConsole();

describe('console shell', () => {
  it('loads the permission matrix with the session and disables what the role may not do', async () => {
    window.location.hash = '#/flags';
    const { fetch, sent } = api('viewer');
    vi.stubGlobal('fetch', fetch);
    render(<App />);

    const create = await screen.findByRole('button', { name: 'Create the first flag' });
    expect(create).toHaveProperty('disabled', true);
    expect(create.getAttribute('aria-description')).toBe('Viewers cannot change flags');
    expect(screen.getByRole('button', { name: 'New flag' })).toHaveProperty('disabled', true);
    expect(sent.some((r) => r.path === '/api/v1/roles')).toBe(true);
  });

  it('disables nothing when the API does not serve the permission matrix (the API still decides)', async () => {
    window.location.hash = '#/flags';
    const { fetch } = api('viewer', (req) => (req.path === '/api/v1/roles' ? { status: 404, body: { error: { code: 'NOT_FOUND', message: 'no such route' } } } : undefined));
    vi.stubGlobal('fetch', fetch);
    render(<App />);

    expect(await screen.findByRole('button', { name: 'Create the first flag' })).toHaveProperty('disabled', false);
  });

  it('offers the Webhooks screen to roles holding webhooks:manage only, and tells the others who can', async () => {
    window.location.hash = '#/webhooks';
    const admin = api('admin', (req) => (req.path === '/api/v1/projects/web/webhooks' ? { status: 200, body: { items: [] } } : undefined));
    vi.stubGlobal('fetch', admin.fetch);
    render(<App />);

    expect(await screen.findByText(/No webhooks in this project yet/)).toBeTruthy();
    expect(screen.getByRole('navigation', { name: 'Screens' }).textContent).toContain('Webhooks');
    expect(screen.getByRole('link', { name: 'Webhooks' }).getAttribute('aria-current')).toBe('page');
    cleanup();

    const editor = api('editor');
    vi.stubGlobal('fetch', editor.fetch);
    render(<App />);

    expect((await screen.findByRole('note')).textContent).toContain('Editors cannot manage webhooks: owners and admins do');
    expect(screen.getByRole('navigation', { name: 'Screens' }).textContent).not.toContain('Webhooks');
    expect(editor.sent.some((r) => r.path.includes('/webhooks'))).toBe(false);
  });

  it('skips to the content without leaving the screen, and names the window after the screen', async () => {
    window.location.hash = '#/metrics';
    vi.stubGlobal('fetch', api('owner').fetch);
    const u = userEvent.setup();
    render(<App />);
    await screen.findByRole('heading', { name: 'Metrics', level: 1 });
    expect(document.title).toBe('Metrics · xp console');

    await u.click(screen.getByRole('link', { name: 'Skip to content' }));
    expect(document.activeElement).toBe(screen.getByRole('main'));
    expect(window.location.hash).toBe('#/metrics');
    expect(screen.getByRole('heading', { level: 1 }).textContent).toBe('Metrics');
  });

  it("moves the focus to the new screen's heading when the screen changes, not on the first load", async () => {
    window.location.hash = '#/metrics';
    vi.stubGlobal('fetch', api('owner').fetch);
    const u = userEvent.setup();
    render(<App />);
    await screen.findByRole('heading', { name: 'Metrics', level: 1 });
    expect(document.activeElement).toBe(document.body);

    within(screen.getByRole('navigation', { name: 'Screens' })).getByRole('link', { name: 'Segments' }).focus();
    await u.keyboard('{Enter}');
    const heading = await screen.findByRole('heading', { name: 'Segments', level: 1 });
    await waitFor(() => { expect(document.activeElement).toBe(heading); });
    expect(heading.getAttribute('tabindex')).toBe('-1');
    expect(document.title).toBe('Segments · xp console');
  });

  it('names the projects in the Project select, as renamed, and selects them by key', async () => {
    const u = userEvent.setup();
    const { fetch } = api('owner', (req) => (req.path === '/api/v1/projects' ? { status: 200, body: { items: [project('web'), project('shop', 'Web shop')] } } : undefined));
    vi.stubGlobal('fetch', fetch);
    render(<App />);

    await screen.findByRole('heading', { name: 'Flags' });
    const select = screen.getByRole<HTMLSelectElement>('combobox', { name: 'Project' });
    expect([...select.options].map((o) => [o.value, o.textContent])).toEqual([
      ['web', 'web'],
      ['shop', 'Web shop (shop)'],
    ]);
    await u.selectOptions(select, 'shop');
    await waitFor(() => { expect(select.value).toBe('shop'); });
  });

  it("goes to the other project's experiment list when the project changes on an experiment", async () => {
    const u = userEvent.setup();
    window.location.hash = '#/experiments/cta-copy';
    const { fetch, sent } = api('owner', (req) => (req.path === '/api/v1/projects/web/experiments/cta-copy' ? { status: 200, body: experiment('cta-copy') } : undefined));
    vi.stubGlobal('fetch', fetch);
    render(<App />);

    await screen.findByRole('heading', { name: 'CTA copy' });
    await u.selectOptions(screen.getByRole('combobox', { name: 'Project' }), 'shop');

    await screen.findByRole('heading', { name: 'Experiments' });
    await waitFor(() => { expect(window.location.hash).toBe('#/experiments'); });
    expect(screen.queryByRole('alert')).toBeNull();
    expect(sent.some((r) => r.path.startsWith('/api/v1/projects/shop/experiments/'))).toBe(false);
    expect(sent.some((r) => r.path.startsWith('/api/v1/projects/shop/experiments?'))).toBe(true);
    expect(window.localStorage.getItem('xp.project')).toBe('shop');
  });

  it("opens a link's project (…/?project=shop#/flags/checkout), as the editor's links name it", async () => {
    window.history.replaceState(null, '', '/?project=shop#/flags/checkout');
    try {
      const { fetch, sent } = api('owner', (req) => (req.path === '/api/v1/projects/shop/flags/checkout' ? { status: 200, body: storedOf(booleanFlag('checkout', { name: 'Checkout' })) } : undefined));
      vi.stubGlobal('fetch', fetch);
      render(<App />);

      await screen.findByRole('heading', { name: 'Checkout' });
      expect(screen.getByRole<HTMLSelectElement>('combobox', { name: 'Project' }).value).toBe('shop');
      expect(sent.some((r) => r.path.startsWith('/api/v1/projects/web/flags/'))).toBe(false);
    } finally {
      window.history.replaceState(null, '', '/');
    }
  });

  it("offers to sign out when the saved session's API does not answer, instead of only Retry", async () => {
    const u = userEvent.setup();
    const { fetch } = api('owner', (req) => (req.path === '/api/v1/me' ? { status: 502, body: { error: { code: 'API_UNREACHABLE', message: 'the API at https://xp.gone.example.com does not answer' } } } : undefined));
    vi.stubGlobal('fetch', fetch);
    render(<App />);

    await u.click(await screen.findByRole('button', { name: 'Sign out' }));

    expect(await screen.findByRole('heading', { name: 'Sign in to xp' })).toBeTruthy();
    expect(window.sessionStorage.getItem('xp.session')).toBeNull();
  });

  it('says when switching project fails, keeps the current one and offers to try again', async () => {
    const u = userEvent.setup();
    window.location.hash = '#/flags';
    let failing = true;
    const { fetch } = api('owner', (req) =>
      failing && req.path === '/api/v1/projects/shop/environments' ? { status: 503, body: { error: { code: 'UNAVAILABLE', message: 'the database is busy' } } } : undefined,
    );
    vi.stubGlobal('fetch', fetch);
    render(<App />);

    await screen.findByRole('heading', { name: 'Flags' });
    const select = screen.getByRole('combobox', { name: 'Project' });
    await u.selectOptions(select, 'shop');

    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toMatch(/Could not switch to project shop \(the database is busy\); still showing web\./);
    expect(select).toHaveProperty('value', 'web');
    expect(window.localStorage.getItem('xp.project')).toBeNull();

    failing = false;
    await u.click(screen.getByRole('button', { name: 'Try again' }));
    await waitFor(() => { expect(select).toHaveProperty('value', 'shop'); });
    expect(screen.queryByRole('alert')).toBeNull();
    expect(window.localStorage.getItem('xp.project')).toBe('shop');
  });

  it("closes a segment's edit dialog when the project changes, so it cannot be saved into the other project", async () => {
    const u = userEvent.setup();
    window.location.hash = '#/segments';
    const beta = { key: 'beta', version: 3, archived: false, createdAt: '2026-11-25T10:00:00Z', updatedAt: '2026-11-25T10:00:00Z', createdBy: null, updatedBy: null, definition: { key: 'beta', name: 'Beta', type: 'ids', attribute: 'id', values: ['a'] } };
    const { fetch } = api('owner', (req) => (req.path.startsWith('/api/v1/projects/web/segments?') ? { status: 200, body: { items: [beta] } } : undefined));
    vi.stubGlobal('fetch', fetch);
    render(<App />);

    await u.click(await screen.findByRole('button', { name: 'Edit beta' }));
    expect(screen.getByRole('dialog', { name: 'Edit segment beta' })).toBeTruthy();
    await u.selectOptions(screen.getByRole('combobox', { name: 'Project' }), 'shop');

    await screen.findByText(/No segments yet/);
    expect(screen.queryByRole('dialog')).toBeNull();
  });

  it('asks before leaving a flag with unsaved changes by a link or a project switch, and stays when told to', async () => {
    const u = userEvent.setup();
    window.location.hash = '#/flags/checkout';
    const { fetch, sent } = api('owner', (req) => (req.path === '/api/v1/projects/web/flags/checkout' ? { status: 200, body: storedOf(booleanFlag('checkout', { name: 'Checkout' })) } : undefined));
    vi.stubGlobal('fetch', fetch);
    render(<App />);
    await u.selectOptions(await screen.findByRole('combobox', { name: 'Default variation' }), 'on');

    await u.click(screen.getByRole('link', { name: 'Experiments' }));
    const dialog = await screen.findByRole('dialog', { name: 'Leave without saving?' });
    expect(dialog.textContent).toContain('Your changes to checkout in Development are not saved; leaving discards them.');
    await u.click(screen.getByRole('button', { name: 'Cancel' }));
    expect(window.location.hash).toBe('#/flags/checkout');
    expect(screen.getByRole('combobox', { name: 'Default variation' })).toHaveProperty('value', 'on');

    await u.selectOptions(screen.getByRole('combobox', { name: 'Project' }), 'shop');
    await screen.findByRole('dialog', { name: 'Leave without saving?' });
    await u.click(screen.getByRole('button', { name: 'Cancel' }));
    expect(sent.some((r) => r.path.startsWith('/api/v1/projects/shop/'))).toBe(false);
    expect(screen.getByRole('combobox', { name: 'Project' })).toHaveProperty('value', 'web');

    await u.click(screen.getByRole('link', { name: 'Experiments' }));
    await u.click(await screen.findByRole('button', { name: 'Leave and discard' }));
    await screen.findByRole('heading', { name: 'Experiments' });
    expect(window.location.hash).toBe('#/experiments');
    // Without a draft nothing asks.
    await u.click(screen.getByRole('link', { name: 'Flags' }));
    await screen.findByRole('heading', { name: 'Flags' });
    expect(screen.queryByRole('dialog')).toBeNull();
  });

  it('signs in again in place when the session expires, then sends the save that met the expiry, keeping the draft', async () => {
    const u = userEvent.setup();
    window.location.hash = '#/flags/checkout';
    let stored = storedOf(booleanFlag('checkout', { name: 'Checkout' }));
    let expired = false;
    /** The Authorization header of the request being answered, and of every PUT. */
    let authorization: string | null = null;
    const putAuthorizations: (string | null)[] = [];
    const { fetch: answer, sent } = api('owner', (req) => {
      if (req.path === '/api/v1/auth/login') {
        return req.body !== null && (req.body as { password: string }).password === 'right one'
          ? { status: 200, body: { token: 'renewed', expiresAt: '2026-11-26T10:00:00Z', user: user() } }
          : { status: 401, body: { error: { code: 'UNAUTHENTICATED', message: 'invalid email or password' } } };
      }
      if (req.method === 'PUT') {
        putAuthorizations.push(authorization);
      }
      if (expired && authorization === 'Bearer test-token') {
        return { status: 401, body: { error: { code: 'UNAUTHENTICATED', message: 'session expired' } } };
      }
      if (req.path === '/api/v1/projects/web/flags/checkout') {
        return { status: 200, body: stored };
      }
      if (req.method === 'PUT' && req.path === '/api/v1/projects/web/flags/checkout/environments/development') {
        stored = storedOf({ ...stored.definition, environments: { development: req.body as Flag['environments'][string] } }, { version: 2 });
        return { status: 200, body: stored };
      }
      return undefined;
    });
    vi.stubGlobal('fetch', (input: string | URL | Request, init?: RequestInit) => {
      authorization = new Headers(init?.headers).get('authorization');
      return answer(input, init);
    });
    render(<App />);
    await u.selectOptions(await screen.findByRole('combobox', { name: 'Default variation' }), 'on');

    expired = true;
    await u.click(screen.getByRole('button', { name: 'Save' }));
    const dialog = await screen.findByRole('dialog', { name: 'Your session has expired' });
    expect(screen.getByRole('combobox', { name: 'Default variation' })).toHaveProperty('value', 'on');
    await u.type(screen.getByLabelText('Password'), 'wrong one');
    await u.click(screen.getByRole('button', { name: 'Sign in' }));
    expect((await screen.findByRole('alert')).textContent).toBe('invalid email or password');
    await u.clear(screen.getByLabelText('Password'));
    await u.type(screen.getByLabelText('Password'), 'right one');
    await u.click(screen.getByRole('button', { name: 'Sign in' }));

    await waitFor(() => { expect(dialog.isConnected).toBe(false); });
    await screen.findByText('Saved the targeting', { exact: false });
    const puts = sent.filter((r) => r.method === 'PUT');
    expect(putAuthorizations).toEqual(['Bearer test-token', 'Bearer renewed']);
    expect(puts[1]?.body).toMatchObject({ defaultVariation: 'on' });
    expect(window.sessionStorage.getItem('xp.session')).toBe('renewed');
    expect(sent.find((r) => r.path === '/api/v1/auth/login')?.body).toMatchObject({ email: user().email });
  });
});
