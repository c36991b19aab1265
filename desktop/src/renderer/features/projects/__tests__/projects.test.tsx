import '../../../test/dom.js';
import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Role, StoredEnvironment } from '@xp/shared';
import { formatTime } from '../../../lib/format.js';
import { WithSession, fakeApi, projectOf, projectsBackend, user } from '../../../test/fake-api.js';
import type { Responder } from '../../../test/fake-api.js';
import type { ProjectsShell } from '../projects-model.js';
import Projects from '../projects.js';

afterEach(() => {
  cleanup();
  window.location.hash = '';
});

const WEB = projectOf('web', { name: 'Web shop', description: 'The storefront', version: 3, createdAt: '2026-11-20T09:00:00Z' });
const APP = projectOf('app', { name: 'Mobile app', createdAt: '2026-11-22T09:00:00Z' });
const QA: StoredEnvironment = { key: 'qa', name: 'QA', production: false, requireApproval: true, version: 4, position: 1, description: 'Manual testing' };
const LIVE: StoredEnvironment = { key: 'live', name: 'Live', production: true, requireApproval: true, color: '#d62728', version: 1, position: 2 };
const DEV: StoredEnvironment = { key: 'dev', name: 'Dev', production: false, requireApproval: false, color: '#2ca02c', version: 1, position: 0 };

const error = (status: number, code: string, message: string, details?: unknown): { status: number; body: unknown } => ({ status, body: { error: { code, message, ...(details === undefined ? {} : { details }) } } });

/** The projects "web" (current; environments listed out of order, as positions say) and "app"; `more` answers first. */
function setup(role: Role = 'owner', more: Responder = () => undefined): { api: ReturnType<typeof fakeApi>; backend: ReturnType<typeof projectsBackend>; shell: ProjectsShell & { switchTo: ReturnType<typeof vi.fn>; reload: ReturnType<typeof vi.fn> } } {
  const backend = projectsBackend([WEB, APP], { web: [LIVE, DEV, QA] });
  const api = fakeApi((req) => more(req) ?? backend.respond(req));
  const shell = { switchTo: vi.fn(), switching: null, reload: vi.fn(() => Promise.resolve()) };
  render(
    <WithSession client={api.client} me={user({ role })} environments={[DEV, QA, LIVE]}>
      <Projects shell={shell} />
    </WithSession>,
  );
  return { api, backend, shell };
}

const cells = (row: HTMLElement): string[] => within(row).getAllByRole('cell').map((c) => c.textContent);
const rowOf = (table: HTMLElement, key: string): HTMLElement => within(table).getAllByRole('row').find((r) => within(r).queryAllByRole('cell')[0]?.textContent.startsWith(key) === true)!;
const writes = (api: ReturnType<typeof fakeApi>): [string, string, string | null, unknown][] => api.sent.filter((r) => r.method !== 'GET').map((r) => [r.method, r.path, r.ifMatch, r.body]);

describe('Projects screen', () => {
  it('lists every project with key, name, description and creation, marks the current one and switches to another', async () => {
    const u = userEvent.setup();
    const { shell } = setup();

    const table = await screen.findByRole('table', { name: 'Projects' });
    const [web, app] = within(table).getAllByRole('row').slice(1);
    expect(cells(web!).slice(0, 4)).toEqual(['web current', 'Web shop', 'The storefront', formatTime('2026-11-20T09:00:00Z')]);
    expect(cells(app!).slice(0, 4)).toEqual(['app', 'Mobile app', '—', formatTime('2026-11-22T09:00:00Z')]);
    expect(web!.getAttribute('aria-current')).toBe('true');
    expect(within(web!).queryByRole('button', { name: /^Switch to/ })).toBeNull();

    await u.click(within(app!).getByRole('button', { name: 'Switch to app' }));
    expect(shell.switchTo).toHaveBeenCalledWith('app');
  });

  it("shows the current project's environments in order with colour, production and approval, and another project's on request", async () => {
    const u = userEvent.setup();
    const { api } = setup();

    const envs = await screen.findByRole('table', { name: 'Environments of web' });
    expect(screen.getByRole('heading', { name: 'Environments of Web shop' })).toBeTruthy();
    const rows = within(envs).getAllByRole('row').slice(1);
    expect(rows.map((r) => cells(r).slice(0, 5))).toEqual([
      ['dev', 'Dev', ' #2ca02c', 'no', 'no'],
      ['qa', 'QA', 'none', 'no', 'requires approval'],
      ['live', 'Live', ' #d62728', 'production', 'requires approval'],
    ]);

    await u.click(screen.getByRole('button', { name: 'Show the environments of app' }));
    const appEnvs = await screen.findByRole('table', { name: 'Environments of app' });
    expect(within(appEnvs).getAllByRole('row').slice(1).map((r) => cells(r)[0])).toEqual(['development', 'staging', 'production']);
    expect(screen.getByRole('button', { name: 'Show the environments of app' }).getAttribute('aria-pressed')).toBe('true');
    expect(api.sent.some((r) => r.method === 'GET' && r.path === '/api/v1/projects/app/environments')).toBe(true);
  });

  it('creates a project, shows what the API refuses at its field, reloads the top bar and offers to switch to it', async () => {
    const u = userEvent.setup();
    let refuse = true;
    const { api, shell } = setup('admin', (req) =>
      refuse && req.method === 'POST' && req.path === '/api/v1/projects'
        ? error(400, 'VALIDATION_FAILED', 'invalid project', { issues: [{ path: 'body.key', message: 'must start with a letter or digit and contain only letters, digits, "_", "." and "-"' }] })
        : undefined,
    );
    await screen.findByRole('table', { name: 'Projects' });

    await u.click(screen.getByRole('button', { name: 'New project' }));
    const form = screen.getByRole('dialog', { name: 'New project' });
    await u.click(within(form).getByRole('button', { name: 'Create project' }));
    expect(within(form).getByRole('textbox', { name: 'Key' }).getAttribute('aria-invalid')).toBe('true');
    expect(form.textContent).toContain('Enter a key.');
    expect(form.textContent).toContain('Enter a name.');
    expect(api.sent.some((r) => r.method === 'POST')).toBe(false);

    await u.type(within(form).getByRole('textbox', { name: 'Key' }), '-shop');
    await u.type(within(form).getByRole('textbox', { name: 'Name' }), ' Shop ');
    await u.click(within(form).getByRole('button', { name: 'Create project' }));
    const key = within(form).getByRole('textbox', { name: 'Key' });
    await waitFor(() => { expect(key.getAttribute('aria-invalid')).toBe('true'); });
    expect(document.getElementById(key.getAttribute('aria-describedby')!.split(' ')[0]!)?.textContent).toMatch(/^must start with a letter or digit/);
    expect(shell.reload).not.toHaveBeenCalled();

    refuse = false;
    await u.clear(key);
    await u.type(key, 'shop');
    await u.type(within(form).getByRole('textbox', { name: 'Description (optional)' }), 'Checkout and cart');
    await u.click(within(form).getByRole('button', { name: 'Create project' }));

    const status = await screen.findByText(/Created project shop/);
    expect(writes(api).at(-1)).toEqual(['POST', '/api/v1/projects', null, { key: 'shop', name: 'Shop', description: 'Checkout and cart' }]);
    expect(screen.queryByRole('dialog')).toBeNull();
    expect(shell.reload).toHaveBeenCalledTimes(1);
    await screen.findByRole('table', { name: 'Environments of shop' });
    expect(within(screen.getByRole('table', { name: 'Projects' })).getByText('Checkout and cart')).toBeTruthy();

    await u.click(within(status).getByRole('button', { name: 'Switch to shop' }));
    expect(shell.switchTo).toHaveBeenCalledWith('shop');
  });

  it('edits name and description from the version listed, and after a conflict explains it and loads their version into the form', async () => {
    const u = userEvent.setup();
    const { api, backend } = setup();
    const table = await screen.findByRole('table', { name: 'Projects' });
    await u.click(within(table).getByRole('button', { name: 'Edit web' }));
    const form = screen.getByRole('dialog', { name: 'Edit project web' });
    expect(within(form).getByRole('button', { name: 'Save changes' }).getAttribute('aria-disabled')).toBe('true');

    backend.changeProject('web', { name: 'Storefront' });
    const name = within(form).getByRole('textbox', { name: 'Name' });
    await u.clear(name);
    await u.type(name, 'Web store');
    await u.click(within(form).getByRole('button', { name: 'Save changes' }));

    const alert = await within(form).findByText(/Someone else changed project web since you opened it/);
    expect(alert.textContent).toContain('The form now shows their version');
    expect(name).toHaveProperty('value', 'Storefront');
    expect(writes(api)).toEqual([['PATCH', '/api/v1/projects/web', '"3"', { name: 'Web store' }]]);

    await u.clear(name);
    await u.type(name, 'Web store');
    await u.clear(within(form).getByRole('textbox', { name: 'Description (optional)' }));
    await u.click(within(form).getByRole('button', { name: 'Save changes' }));

    await screen.findByText('Saved project web.');
    expect(writes(api).at(-1)).toEqual(['PATCH', '/api/v1/projects/web', '"4"', { name: 'Web store', description: '' }]);
    await waitFor(() => { expect(cells(rowOf(table, 'web'))[1]).toBe('Web store'); });
  });

  it('treats a 412 on an edit as a conflict too', async () => {
    const u = userEvent.setup();
    setup('owner', (req) => (req.method === 'PATCH' ? error(412, 'PRECONDITION_FAILED', 'version 3 is not the current one') : undefined));
    await u.click(await screen.findByRole('button', { name: 'Edit app' }));
    const form = screen.getByRole('dialog', { name: 'Edit project app' });
    await u.type(within(form).getByRole('textbox', { name: 'Name' }), '!');
    await u.click(within(form).getByRole('button', { name: 'Save changes' }));

    expect((await within(form).findByText(/Someone else changed project app/)).textContent).toBe(
      'Someone else changed project app since you opened it. The form now shows their version: check it, make your change again and save.',
    );
    expect(within(form).getByRole('textbox', { name: 'Name' })).toHaveProperty('value', 'Mobile app');
  });

  it('says so when the project was deleted meanwhile, and shows a duplicate key at the key field', async () => {
    const u = userEvent.setup();
    setup('owner', (req) => (req.method === 'PATCH' ? error(404, 'NOT_FOUND', 'project "app" not found') : req.method === 'POST' ? error(409, 'ALREADY_EXISTS', 'project "web" already exists') : undefined));
    await u.click(await screen.findByRole('button', { name: 'Edit app' }));
    const edit = screen.getByRole('dialog', { name: 'Edit project app' });
    await u.type(within(edit).getByRole('textbox', { name: 'Name' }), '!');
    await u.click(within(edit).getByRole('button', { name: 'Save changes' }));
    await within(edit).findByText('Someone else deleted project app since you opened it.');
    await u.keyboard('{Escape}');

    await u.click(screen.getByRole('button', { name: 'New project' }));
    const create = screen.getByRole('dialog', { name: 'New project' });
    await u.type(within(create).getByRole('textbox', { name: 'Key' }), 'web');
    await u.type(within(create).getByRole('textbox', { name: 'Name' }), 'Web again');
    await u.click(within(create).getByRole('button', { name: 'Create project' }));
    const key = within(create).getByRole('textbox', { name: 'Key' });
    await waitFor(() => { expect(key.getAttribute('aria-invalid')).toBe('true'); });
    // Said once, at the field the key is typed in.
    expect(within(create).getAllByText('project "web" already exists').map((e) => e.className)).toEqual(['field-error']);
    expect(key.getAttribute('aria-describedby')).toContain(within(create).getByText('project "web" already exists').id);
  });

  it('adds, edits and deletes environments with If-Match, reloading the top bar for the current project', async () => {
    const u = userEvent.setup();
    const { api, shell } = setup();
    const envs = await screen.findByRole('table', { name: 'Environments of web' });

    await u.click(screen.getByRole('button', { name: 'New environment' }));
    let form = screen.getByRole('dialog', { name: 'New environment in web' });
    await u.type(within(form).getByRole('textbox', { name: 'Key' }), 'perf');
    await u.type(within(form).getByRole('textbox', { name: 'Name' }), 'Performance');
    fireEvent.input(within(form).getByLabelText('Colour'), { target: { value: '#9467bd' } });
    await u.click(within(form).getByRole('checkbox', { name: 'Requires approval' }));
    await u.click(within(form).getByRole('button', { name: 'Add environment' }));
    await screen.findByText('Added environment Performance (perf).');
    expect(writes(api)).toEqual([['POST', '/api/v1/projects/web/environments', null, { key: 'perf', name: 'Performance', production: false, requireApproval: true, color: '#9467bd' }]]);
    await waitFor(() => { expect(within(envs).getAllByRole('row')).toHaveLength(5); });
    expect(shell.reload).toHaveBeenCalledTimes(1);

    await u.click(within(envs).getByRole('button', { name: 'Edit qa' }));
    form = screen.getByRole('dialog', { name: 'Edit environment qa' });
    const name = within(form).getByRole('textbox', { name: 'Name' });
    await u.clear(name);
    await u.type(name, 'Quality');
    await u.click(within(form).getByRole('checkbox', { name: 'Requires approval' }));
    await u.click(within(form).getByRole('button', { name: 'Save changes' }));
    await screen.findByText('Saved environment Quality (qa).');
    // The whole environment, with the description the form does not show and no colour it never had.
    expect(writes(api).at(-1)).toEqual(['PUT', '/api/v1/projects/web/environments/qa', '"4"', { key: 'qa', name: 'Quality', description: 'Manual testing', production: false, requireApproval: false }]);
    expect(shell.reload).toHaveBeenCalledTimes(2);

    await u.click(within(envs).getByRole('button', { name: 'Delete dev' }));
    const confirm = screen.getByRole('dialog', { name: 'Delete environment dev?' });
    await u.click(within(confirm).getByRole('button', { name: 'Delete environment' }));
    await screen.findByText('Deleted environment Dev (dev).');
    expect(writes(api).at(-1)).toEqual(['DELETE', '/api/v1/projects/web/environments/dev', '"1"', undefined]);
    await waitFor(() => { expect(within(envs).queryByRole('button', { name: 'Delete dev' })).toBeNull(); });
    expect(shell.reload).toHaveBeenCalledTimes(3);
  });

  it('sets the emergency off switch of a protected environment (editors may turn flags off), explained, and not of an unprotected one', async () => {
    const u = userEvent.setup();
    const { api } = setup();
    const envs = await screen.findByRole('table', { name: 'Environments of web' });

    await u.click(within(envs).getByRole('button', { name: 'Edit live' }));
    let form = screen.getByRole('dialog', { name: 'Edit environment live' });
    const turnOff = within(form).getByRole('checkbox', { name: 'Editors may turn flags off' });
    expect([turnOff.matches(':checked'), turnOff.matches(':disabled')]).toEqual([false, false]);
    const help = document.getElementById(turnOff.getAttribute('aria-describedby')!)!;
    expect(help.textContent).toMatch(/editors may turn a flag off here at once/);
    expect(help.textContent).toMatch(/audit log\s+marks each such change as having bypassed approval/);
    expect(help.textContent).toMatch(/Turning flags on, rules and rollouts still need an approved change request/);
    await u.click(turnOff);
    await u.click(within(form).getByRole('button', { name: 'Save changes' }));
    await screen.findByText('Saved environment Live (live).');
    expect(writes(api).at(-1)).toEqual(['PUT', '/api/v1/projects/web/environments/live', '"1"', { key: 'live', name: 'Live', production: true, requireApproval: true, editorsMayTurnOff: true, color: '#d62728' }]);
    await waitFor(() => { expect(cells(rowOf(envs, 'live'))[4]).toBe('requires approval editors may turn flags off'); });

    // Turned off again, it is sent as false (not left out, which would keep it).
    await u.click(within(envs).getByRole('button', { name: 'Edit live' }));
    form = screen.getByRole('dialog', { name: 'Edit environment live' });
    await u.click(within(form).getByRole('checkbox', { name: 'Editors may turn flags off' }));
    await u.click(within(form).getByRole('button', { name: 'Save changes' }));
    await waitFor(() => { expect((writes(api).at(-1)![3] as { editorsMayTurnOff?: boolean }).editorsMayTurnOff).toBe(false); });

    // Unprotected: editors change it directly anyway, so the switch is held back and says why.
    await u.click(within(envs).getByRole('button', { name: 'Edit dev' }));
    form = screen.getByRole('dialog', { name: 'Edit environment dev' });
    const unprotected = within(form).getByRole('checkbox', { name: 'Editors may turn flags off' });
    expect(unprotected.matches(':disabled')).toBe(true);
    expect(document.getElementById(unprotected.getAttribute('aria-describedby')!)!.textContent).toMatch(/Only for a protected environment/);
  });

  it("shows the API's refusal to delete an environment as it words it", async () => {
    const u = userEvent.setup();
    const { shell } = setup('owner', (req) =>
      req.method === 'DELETE' && req.path.endsWith('/environments/qa') ? error(409, 'INVALID_STATE', 'flags are on in "qa": checkout, search-v2', { flags: ['checkout', 'search-v2'] }) : undefined,
    );
    const envs = await screen.findByRole('table', { name: 'Environments of web' });

    await u.click(within(envs).getByRole('button', { name: 'Delete live' }));
    await u.click(screen.getByRole('button', { name: 'Delete environment' }));
    expect((await screen.findByRole('alert')).textContent).toBe('Could not delete Live: a production environment cannot be deleted; mark it non-production first');

    await u.click(within(envs).getByRole('button', { name: 'Delete qa' }));
    await u.click(screen.getByRole('button', { name: 'Delete environment' }));
    await waitFor(() => { expect(screen.getByRole('alert').textContent).toBe('Could not delete QA: flags are on in "qa": checkout, search-v2'); });
    expect(within(envs).getAllByRole('row')).toHaveLength(4);
    expect(shell.reload).not.toHaveBeenCalled();
  });

  it('reloads an environment someone else changed into the form and saves from their version', async () => {
    const u = userEvent.setup();
    const { api, backend } = setup();
    const envs = await screen.findByRole('table', { name: 'Environments of web' });
    await u.click(within(envs).getByRole('button', { name: 'Edit live' }));
    const form = screen.getByRole('dialog', { name: 'Edit environment live' });

    backend.changeEnvironment('web', 'live', { name: 'Prod' });
    await u.type(within(form).getByRole('textbox', { name: 'Name' }), '!');
    await u.click(within(form).getByRole('button', { name: 'Save changes' }));

    await within(form).findByText(/Someone else changed environment live since you opened it/);
    expect(within(form).getByRole('textbox', { name: 'Name' })).toHaveProperty('value', 'Prod');
    await u.click(within(form).getByRole('button', { name: 'Save changes' }));
    await screen.findByText('Saved environment Prod (live).');
    expect(writes(api).map((w) => w[2])).toEqual(['"1"', '"2"']);
  });

  it('deletes a project only once its key is typed, from the version listed, and says what the console shows next', async () => {
    const u = userEvent.setup();
    const { api, shell } = setup();
    await screen.findByRole('table', { name: 'Environments of web' });

    await u.click(screen.getByRole('button', { name: 'Delete project web…' }));
    const dialog = screen.getByRole('dialog', { name: 'Delete project web?' });
    const remove = within(dialog).getByRole('button', { name: 'Delete project' });
    expect(remove).toHaveProperty('disabled', true);
    const confirmation = within(dialog).getByRole('textbox', { name: /Type the project key, web, to confirm/ });
    await u.type(confirmation, 'we');
    expect(remove).toHaveProperty('disabled', true);
    await u.type(confirmation, 'b');
    expect(remove).toHaveProperty('disabled', false);
    await u.click(remove);

    expect((await screen.findByText(/Deleted project web\./)).textContent).toBe('Deleted project web. The console now shows project app.');
    expect(writes(api)).toEqual([['DELETE', '/api/v1/projects/web', '"3"', undefined]]);
    expect(shell.reload).toHaveBeenCalledTimes(1);
    const table = screen.getByRole('table', { name: 'Projects' });
    await waitFor(() => { expect(within(table).getAllByRole('row')).toHaveLength(2); });
  });

  it('lists the flags on in production and the running experiments that keep a project, linked when it is the current one', async () => {
    const u = userEvent.setup();
    const details = { flags: [{ key: 'checkout', environment: 'production' }, { key: 'search-v2', environment: 'live' }], experiments: ['cta-copy'] };
    const { shell } = setup('owner', (req) =>
      req.method === 'DELETE' ? error(409, 'INVALID_STATE', 'project "web" is in use; turn its flags off and stop its experiments first', details) : undefined,
    );
    await screen.findByRole('table', { name: 'Environments of web' });

    await u.click(screen.getByRole('button', { name: 'Delete project web…' }));
    let dialog = screen.getByRole('dialog', { name: 'Delete project web?' });
    await u.type(within(dialog).getByRole('textbox', { name: /to confirm/ }), 'web{Enter}');

    const alert = await within(dialog).findByRole('alert');
    expect(alert.textContent).toContain('project "web" is in use; turn its flags off and stop its experiments first');
    const flags = within(alert).getByRole('list', { name: 'Flags on in production' });
    expect(within(flags).getAllByRole('listitem').map((li) => li.textContent)).toEqual(['checkout in production', 'search-v2 in live']);
    expect(within(flags).getByRole('link', { name: 'checkout' }).getAttribute('href')).toBe('#/flags/checkout');
    expect(within(alert).getByRole('link', { name: 'cta-copy' }).getAttribute('href')).toBe('#/experiments/cta-copy');
    expect(shell.reload).not.toHaveBeenCalled();
    await u.click(within(dialog).getByRole('button', { name: 'Cancel' }));

    // Another project's flags are named, not linked: their pages would open in the current project.
    await u.click(screen.getByRole('button', { name: 'Show the environments of app' }));
    await u.click(screen.getByRole('button', { name: 'Delete project app…' }));
    dialog = screen.getByRole('dialog', { name: 'Delete project app?' });
    await u.type(within(dialog).getByRole('textbox', { name: /to confirm/ }), 'app{Enter}');
    const other = await within(dialog).findByRole('alert');
    expect(within(other).getByRole('list', { name: 'Running experiments' }).textContent).toBe('cta-copy');
    expect(within(other).queryByRole('link')).toBeNull();
    expect(other.textContent).toContain('Switch to the project to open them.');
  });

  it('explains a deletion from a stale version and sends the version reloaded next time', async () => {
    const u = userEvent.setup();
    const { api, backend } = setup();
    await screen.findByRole('table', { name: 'Environments of web' });
    backend.changeProject('web', { description: 'Changed elsewhere' });

    await u.click(screen.getByRole('button', { name: 'Delete project web…' }));
    const dialog = screen.getByRole('dialog', { name: 'Delete project web?' });
    await u.type(within(dialog).getByRole('textbox', { name: /to confirm/ }), 'web{Enter}');
    expect((await within(dialog).findByRole('alert')).textContent).toMatch(/^Could not delete web: someone else changed it since you opened it \(project was changed by someone else \(version 4, you sent 3\)\)\. It has been reloaded/);
    await screen.findByText('Changed elsewhere');

    await u.click(within(dialog).getByRole('button', { name: 'Delete project' }));
    await screen.findByText(/Deleted project web\./);
    expect(writes(api).map((w) => w[2])).toEqual(['"3"', '"4"']);
  });

  it('shows an editor the lists without the buttons that change them, and says who can', async () => {
    setup('editor');

    const table = await screen.findByRole('table', { name: 'Projects' });
    const envs = await screen.findByRole('table', { name: 'Environments of web' });
    expect(screen.getByText('Editors cannot create, change or delete projects: owners and admins do. The list is read-only.')).toBeTruthy();
    expect(screen.getByText('Editors cannot add, change or delete environments: owners and admins do. The list is read-only.')).toBeTruthy();
    expect(screen.queryByRole('button', { name: 'New project' })).toBeNull();
    expect(within(table).queryByRole('button', { name: /^Edit/ })).toBeNull();
    expect(screen.queryByRole('button', { name: /^Delete project/ })).toBeNull();
    expect(screen.queryByRole('heading', { name: 'Danger zone' })).toBeNull();
    expect(screen.queryByRole('button', { name: 'New environment' })).toBeNull();
    expect(within(envs).queryAllByRole('button')).toEqual([]);
    expect(within(envs).getAllByRole('columnheader').map((h) => h.textContent)).toEqual(['Key', 'Name', 'Colour', 'Production', 'Requires approval']);
    // Switching stays: it changes nothing.
    expect(within(table).getByRole('button', { name: 'Switch to app' })).toBeTruthy();
    // The organisation role decides here: no second note under the project.
    expect(screen.queryByText(/ask an owner or admin to rename or delete/)).toBeNull();
  });

  it('says why an admin who is a viewer of the project gets no Edit or Danger zone for it', async () => {
    const backend = projectsBackend([WEB, APP], { web: [LIVE, DEV, QA] });
    const api = fakeApi((req) => backend.respond(req));
    const shell = { switchTo: vi.fn(), switching: null, reload: vi.fn(() => Promise.resolve()) };
    render(
      <WithSession client={api.client} me={user({ role: 'admin', projectRoles: [{ project: 'web', role: 'viewer' }] })} environments={[DEV, QA, LIVE]}>
        <Projects shell={shell} />
      </WithSession>,
    );

    await screen.findByRole('table', { name: 'Environments of web' });
    expect(screen.queryByRole('heading', { name: 'Danger zone' })).toBeNull();
    expect(screen.getByText('Viewers in project web cannot create, change or delete projects: ask an owner or admin to rename or delete web.')).toBeTruthy();
  });
});
