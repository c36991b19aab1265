import '../../../test/dom.js';
import { render, screen, waitFor, within } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import type { Project, Role } from '@xp/shared';
import { App } from '../../../app/app.js';
import { ROLES, fakeFetch, projectOf, projectsBackend, signedInConsole, user } from '../../../test/fake-api.js';

/** The whole console on a signed-in `role`, with `projects` behind the fake project endpoints. */
function start(projects: readonly Project[], role: Role = 'owner'): ReturnType<typeof fakeFetch> & { backend: ReturnType<typeof projectsBackend> } {
  const backend = projectsBackend(projects);
  const api = fakeFetch((req) => {
    const path = req.path.split('?')[0] ?? '';
    if (path === '/api/v1/me') {
      return { status: 200, body: user({ role }) };
    }
    if (path === '/api/v1/roles') {
      return { status: 200, body: ROLES };
    }
    if (path.endsWith('/changes/stream') || path.endsWith('/changes')) {
      // Stops the change feed (a 401 would now mean an expired session).
      return { status: 404 };
    }
    return backend.respond(req) ?? (req.method === 'GET' ? { status: 200, body: { items: [] } } : undefined);
  });
  vi.stubGlobal('fetch', api.fetch);
  render(<App />);
  return { ...api, backend };
}

const topBar = (): HTMLElement => screen.getByRole('banner');

signedInConsole();

describe('Projects in the console', () => {
  it('is in the sidebar, after the nine screens with Alt+digit, and names the window', async () => {
    const u = userEvent.setup();
    window.location.hash = '#/flags';
    start([projectOf('web')]);
    const nav = await screen.findByRole('navigation', { name: 'Screens' });

    const links = within(nav).getAllByRole('link');
    const projects = within(nav).getByRole('link', { name: 'Projects' });
    expect(links.indexOf(projects)).toBeGreaterThanOrEqual(9);
    expect(projects.getAttribute('aria-keyshortcuts')).toBeNull();
    expect(links.slice(0, 9).map((l) => l.getAttribute('aria-keyshortcuts'))).toEqual(['Alt+1', 'Alt+2', 'Alt+3', 'Alt+4', 'Alt+5', 'Alt+6', 'Alt+7', 'Alt+8', 'Alt+9']);

    await u.click(projects);
    await screen.findByRole('heading', { name: 'Projects', level: 1 });
    expect(projects.getAttribute('aria-current')).toBe('page');
    expect(document.title).toBe('Projects · xp console');
  });

  it('adds a created project to the top bar and switches to it when asked', async () => {
    const u = userEvent.setup();
    window.location.hash = '#/projects';
    const { sent } = start([projectOf('web')]);
    await screen.findByRole('table', { name: 'Projects' });
    expect(within(topBar()).queryByRole('combobox', { name: 'Project' })).toBeNull();

    await u.click(screen.getByRole('button', { name: 'New project' }));
    const form = screen.getByRole('dialog', { name: 'New project' });
    await u.type(within(form).getByRole('textbox', { name: 'Key' }), 'shop');
    await u.type(within(form).getByRole('textbox', { name: 'Name' }), 'Shop');
    await u.click(within(form).getByRole('button', { name: 'Create project' }));

    const select = await within(topBar()).findByRole('combobox', { name: 'Project' });
    expect([...(select as HTMLSelectElement).options].map((o) => o.value)).toEqual(['web', 'shop']);
    expect(select).toHaveProperty('value', 'web');

    await u.click(within(await screen.findByText(/Created project shop/)).getByRole('button', { name: 'Switch to shop' }));
    await waitFor(() => { expect(select).toHaveProperty('value', 'shop'); });
    expect(window.localStorage.getItem('xp.project')).toBe('shop');
    expect(within(topBar()).getByRole('combobox', { name: 'Environment' }).textContent).toBe('DevelopmentStagingProduction (protected)');
    expect(within(screen.getByRole('table', { name: 'Projects' })).getByText('current').closest('tr')?.textContent).toContain('shop');
    expect(sent.some((r) => r.path === '/api/v1/projects/shop/environments')).toBe(true);
  });

  it("refreshes the top bar's environments after one is added to the current project", async () => {
    const u = userEvent.setup();
    window.location.hash = '#/projects';
    start([projectOf('web')]);
    await screen.findByRole('table', { name: 'Environments of web' });

    await u.click(screen.getByRole('button', { name: 'New environment' }));
    const form = screen.getByRole('dialog', { name: 'New environment in web' });
    await u.type(within(form).getByRole('textbox', { name: 'Key' }), 'qa');
    await u.type(within(form).getByRole('textbox', { name: 'Name' }), 'QA');
    await u.click(within(form).getByRole('button', { name: 'Add environment' }));

    const environment = within(topBar()).getByRole('combobox', { name: 'Environment' });
    await waitFor(() => { expect(environment.textContent).toBe('DevelopmentStagingProduction (protected)QA'); });
  });

  it('moves to the first project left after deleting the current one, and to an empty state offering to create one after the last', async () => {
    const u = userEvent.setup();
    window.location.hash = '#/projects';
    window.localStorage.setItem('xp.project', 'shop');
    const { sent } = start([projectOf('web'), projectOf('shop', { version: 2 })]);
    const select = within(await screen.findByRole('banner')).getByRole('combobox', { name: 'Project' });
    expect(select).toHaveProperty('value', 'shop');

    await u.click(await screen.findByRole('button', { name: 'Delete project shop…' }));
    await u.type(screen.getByRole('textbox', { name: /to confirm/ }), 'shop{Enter}');
    await screen.findByText('Deleted project shop. The console now shows project web.');
    await waitFor(() => { expect(within(topBar()).queryByRole('combobox', { name: 'Project' })).toBeNull(); });
    expect(within(topBar()).getByText('web')).toBeTruthy();
    expect(window.localStorage.getItem('xp.project')).toBe('web');
    expect(sent.find((r) => r.method === 'DELETE')).toMatchObject({ path: '/api/v1/projects/shop', ifMatch: '"2"' });

    await u.click(await screen.findByRole('button', { name: 'Delete project web…' }));
    await u.type(screen.getByRole('textbox', { name: /to confirm/ }), 'web{Enter}');
    await screen.findByText('Deleted project web. No project is left: create one to go on.');
    await within(topBar()).findByText('No project');
    expect(within(topBar()).queryByRole('combobox', { name: 'Environment' })).toBeNull();
    expect(window.localStorage.getItem('xp.project')).toBeNull();
    const empty = await screen.findByText(/No projects yet/);
    expect(within(empty.parentElement!).getByRole('button', { name: 'Create the first project' })).toBeTruthy();
  });

  it('moves on when the project shown is deleted elsewhere: its change feed answers 404, and the console shows a project left', async () => {
    window.location.hash = '#/flags/checkout';
    window.localStorage.setItem('xp.project', 'shop');
    let deletedElsewhere = false;
    const backend = projectsBackend([projectOf('web'), projectOf('shop')]);
    const api = fakeFetch((req) => {
      const path = req.path.split('?')[0] ?? '';
      if (path === '/api/v1/me') {
        return { status: 200, body: user({ role: 'owner' }) };
      }
      if (path === '/api/v1/roles') {
        return { status: 200, body: ROLES };
      }
      if (path.endsWith('/changes/stream')) {
        // Unavailable (retried) while the project exists; then the API no longer knows it.
        return deletedElsewhere && path.startsWith('/api/v1/projects/shop/') ? { status: 404 } : { status: 503 };
      }
      if (deletedElsewhere && path.startsWith('/api/v1/projects/shop')) {
        return { status: 404, body: { error: { code: 'NOT_FOUND', message: 'project "shop" not found' } } };
      }
      if (deletedElsewhere && path === '/api/v1/projects' && req.method === 'GET') {
        return { status: 200, body: { items: [projectOf('web')] } };
      }
      return backend.respond(req) ?? (req.method === 'GET' ? { status: 200, body: { items: [] } } : undefined);
    });
    vi.stubGlobal('fetch', api.fetch);
    render(<App />);
    const select = within(await screen.findByRole('banner')).getByRole('combobox', { name: 'Project' });
    expect(select).toHaveProperty('value', 'shop');

    deletedElsewhere = true;
    const notice = await screen.findByText(/Project shop was deleted/, {}, { timeout: 5_000 });
    expect(notice.textContent).toContain('Project shop was deleted. The console now shows project web.');
    expect(notice.getAttribute('role')).toBe('alert');
    await waitFor(() => { expect(within(topBar()).getByText('web')).toBeTruthy(); });
    expect(window.localStorage.getItem('xp.project')).toBe('web');
    // The flag opened belonged to the deleted project: the console shows the flags list.
    expect(window.location.hash).toBe('#/flags');
  });

  it('starts without projects: the other screens point to Projects, where the first one is created and opened', async () => {
    const u = userEvent.setup();
    window.location.hash = '#/flags';
    const { sent } = start([]);

    const link = await screen.findByRole('link', { name: 'Create the first project' });
    expect(within(topBar()).getByText('No project')).toBeTruthy();
    await u.click(link);
    await u.click(await screen.findByRole('button', { name: 'Create the first project' }));
    const form = screen.getByRole('dialog', { name: 'New project' });
    await u.type(within(form).getByRole('textbox', { name: 'Key' }), 'first');
    await u.type(within(form).getByRole('textbox', { name: 'Name' }), 'First');
    await u.click(within(form).getByRole('button', { name: 'Create project' }));

    // The only project becomes the current one: the top bar (by its name) and the list say so.
    await within(topBar()).findByText('First');
    const table = screen.getByRole('table', { name: 'Projects' });
    await waitFor(() => { expect(within(table).getByText('current')).toBeTruthy(); });
    expect(within(topBar()).getByRole('combobox', { name: 'Environment' })).toBeTruthy();
    // The button that opened the form is gone with the empty list: focus goes to the new project's row, not the page's start.
    await waitFor(() => { expect(document.activeElement).toBe(within(table).getByRole('button', { name: 'Show the environments of first' })); });
    // No change feed, no request, for the empty project key.
    expect(sent.some((r) => r.path.startsWith('/api/v1/projects//'))).toBe(false);
  });

  it('keeps Users & keys, Health and the audit log without a project: people and API keys are the organisation\'s', async () => {
    window.location.hash = '#/access';
    const { sent } = start([]);

    await screen.findByRole('heading', { name: 'Users, roles and keys', level: 1 });
    expect(screen.queryByText(/No project yet/)).toBeNull();
    expect(screen.queryByRole('heading', { name: /SDK keys/ })).toBeNull();
    window.location.hash = '#/audit';
    await screen.findByRole('heading', { name: 'Audit log', level: 1 });
    expect(screen.getByRole('combobox', { name: 'Scope' })).toHaveProperty('value', 'all');
    await waitFor(() => { expect(sent.some((r) => r.path.startsWith('/api/v1/audit'))).toBe(true); });
    expect(sent.filter((r) => r.path.startsWith('/api/v1/audit')).every((r) => !r.path.includes('project='))).toBe(true);
    expect(sent.some((r) => r.path.startsWith('/api/v1/projects//'))).toBe(false);
  });

  it('shows a viewer without projects that an owner or admin creates them', async () => {
    window.location.hash = '#/flags';
    start([], 'viewer');

    expect((await screen.findByText(/Ask an owner or admin to create one/)).textContent).toBe('Ask an owner or admin to create one on the Projects screen.');
    expect(screen.queryByRole('link', { name: 'Create the first project' })).toBeNull();
    expect(screen.getByRole('link', { name: 'Projects' })).toBeTruthy();
  });
});
