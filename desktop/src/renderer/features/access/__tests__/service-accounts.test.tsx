import '../../../test/dom.js';
import { cleanup, render, screen, waitFor, within } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { afterEach, describe, expect, it } from 'vitest';
import type { AccessTokenView, Role, ServiceAccount } from '@xp/shared';
import { ROLES, WithSession, fakeApi, projectOf, projectsBackend, user } from '../../../test/fake-api.js';
import type { Responder, SentRequest } from '../../../test/fake-api.js';
import Access from '../access.js';
import { ServiceAccounts, managesAccount, serviceAccountRoles } from '../service-accounts.js';

afterEach(cleanup);

const SECRET = 'xpp_minted_secret_0123456789';

function account(id: string, name: string, overrides: Partial<ServiceAccount> = {}): ServiceAccount {
  return { id, kind: 'service', name, description: null, role: 'editor', projectRoles: [], disabled: false, version: 1, createdAt: '2026-12-01T10:00:00Z', updatedAt: '2026-12-01T10:00:00Z', ...overrides };
}

function token(id: string, name: string, overrides: Partial<AccessTokenView> = {}): AccessTokenView {
  return { id, name, prefix: `xpp_${id}`, createdAt: '2026-12-02T10:00:00Z', expiresAt: null, lastUsedAt: null, revokedAt: null, role: null, projects: null, ...overrides };
}

const validation = (path: string, message: string): { status: number; body: unknown } => ({
  status: 400,
  body: { error: { code: 'VALIDATION_FAILED', message: `${path}: ${message}`, details: { issues: [{ path, message }] } } },
});

/**
 * The service account endpoints, keeping accounts and tokens as they change (PATCH checks the
 * version, as the API does); `refuse` answers a POST or PATCH of an account instead. The
 * organisation has projects demo, shop and web.
 */
function accountsApi(options: { initial?: ServiceAccount[]; tokens?: Record<string, AccessTokenView[]>; refuse?: Responder } = {}): ReturnType<typeof fakeApi> {
  let accounts = options.initial ?? [account('sa-deploy', 'github-deploy', { description: 'Applies flags/ from main', projectRoles: [{ project: 'demo', role: 'viewer' }] })];
  const tokens = new Map(Object.entries(options.tokens ?? { 'sa-deploy': [token('t-old', 'nightly', { lastUsedAt: '2026-12-05T08:00:00Z' }), token('t-lapsed', 'old ci', { expiresAt: '2026-01-01T00:00:00Z' })] }));
  const projects = projectsBackend([projectOf('demo'), projectOf('shop'), projectOf('web')]);
  return fakeApi((req) => {
    const path = req.path.split('?')[0] ?? '';
    if (path === '/api/v1/roles') {
      return { status: 200, body: ROLES };
    }
    if (path === '/api/v1/service-accounts') {
      if (req.method === 'POST') {
        const refused = options.refuse?.(req);
        if (refused !== undefined) {
          return refused;
        }
        const created = account('sa-new', '', req.body as Partial<ServiceAccount>);
        accounts = [...accounts, created];
        return { status: 201, body: created };
      }
      return { status: 200, body: { items: accounts } };
    }
    const one = /^\/api\/v1\/service-accounts\/([\w-]+)$/.exec(path)?.[1];
    if (one !== undefined) {
      const found = accounts.find((a) => a.id === one)!;
      if (req.method === 'PATCH') {
        const refused = options.refuse?.(req);
        if (refused !== undefined) {
          return refused;
        }
        if (req.ifMatch !== `"${found.version}"`) {
          return { status: 409, body: { error: { code: 'VERSION_CONFLICT', message: 'stale' } } };
        }
        const next = { ...found, ...(req.body as Partial<ServiceAccount>), version: found.version + 1 };
        accounts = accounts.map((a) => (a.id === one ? next : a));
        return { status: 200, body: next };
      }
      if (req.method === 'DELETE') {
        // As the API: the version read, or 428 / 409.
        if (req.ifMatch === null) {
          return { status: 428, body: { error: { code: 'PRECONDITION_REQUIRED', message: 'If-Match required' } } };
        }
        if (req.ifMatch !== `"${found.version}"`) {
          return { status: 409, body: { error: { code: 'VERSION_CONFLICT', message: 'stale' } } };
        }
        accounts = accounts.filter((a) => a.id !== one);
        return { status: 200, body: { tokensRevoked: 2, changeRequestsCancelled: 1, scheduledChangesCancelled: 0 } };
      }
    }
    const ofAccount = /^\/api\/v1\/service-accounts\/([\w-]+)\/tokens$/.exec(path)?.[1];
    if (ofAccount !== undefined) {
      if (req.method === 'POST') {
        const body = req.body as { name: string; expiresInDays?: number; role?: Role; projects?: string[] };
        const created = token('t-new', body.name, { role: body.role ?? null, projects: body.projects ?? null, expiresAt: body.expiresInDays === undefined ? null : '2027-03-02T10:00:00Z' });
        tokens.set(ofAccount, [created, ...(tokens.get(ofAccount) ?? [])]);
        return { status: 201, body: { token: SECRET, accessToken: created } };
      }
      return { status: 200, body: { items: tokens.get(ofAccount) ?? [] } };
    }
    const revoked = /^\/api\/v1\/service-accounts\/([\w-]+)\/tokens\/([\w-]+)$/.exec(path);
    if (revoked !== null && req.method === 'DELETE') {
      const [, owner = '', id = ''] = revoked;
      tokens.set(owner, (tokens.get(owner) ?? []).map((t) => (t.id === id ? { ...t, revokedAt: '2026-12-07T10:00:00Z' } : t)));
      return { status: 200, body: tokens.get(owner)!.find((t) => t.id === id) };
    }
    return projects.respond(req);
  });
}

function renderAccounts(client: ReturnType<typeof fakeApi>['client'], role: Role): void {
  render(
    <WithSession client={client} me={user({ id: 'u-me', role })}>
      <ServiceAccounts />
    </WithSession>,
  );
}

const writes = (sent: readonly SentRequest[]): string[] => sent.filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.path}`);
const rowOf = (name: string): HTMLElement => within(screen.getByRole('table', { name: 'Service accounts' })).getByText(name).closest('tr')!;
const options = (select: HTMLElement): string[] => within(select).getAllByRole('option').map((o) => o.getAttribute('value') ?? '');

describe('service account roles', () => {
  it('mirrors the API: owners give any role but owner, admins at most editor, others none', () => {
    expect(serviceAccountRoles('owner')).toEqual(['admin', 'editor', 'analyst', 'viewer']);
    expect(serviceAccountRoles('admin')).toEqual(['editor', 'analyst', 'viewer']);
    expect(serviceAccountRoles('editor')).toEqual([]);
    expect(managesAccount('admin', { role: 'editor', projectRoles: [{ project: 'demo', role: 'viewer' }] })).toBe(true);
    expect(managesAccount('admin', { role: 'viewer', projectRoles: [{ project: 'demo', role: 'admin' }] })).toBe(false);
    expect(managesAccount('owner', { role: 'admin', projectRoles: [] })).toBe(true);
  });
});

describe('Service accounts', () => {
  it('lists accounts with description, role, project roles, status and creation; a role that may not manage them sees them read only', async () => {
    const { client, sent } = accountsApi();
    render(
      <WithSession client={client} me={user({ id: 'u-me', role: 'editor' })}>
        <Access />
      </WithSession>,
    );
    const table = await screen.findByRole('table', { name: 'Service accounts' });
    const row = rowOf('github-deploy');
    expect(row.textContent).toContain('Applies flags/ from main');
    expect(row.textContent).toContain('editor');
    expect(row.textContent).toContain('demo: viewer');
    expect(row.textContent).toContain('active');
    expect(within(table).queryByRole('button')).toBeNull();
    expect(within(table).queryByRole('columnheader', { name: 'Actions' })).toBeNull();
    expect(screen.queryByRole('button', { name: 'New service account' })).toBeNull();
    expect(screen.getByText(/^Read only: owners and admins create service accounts/)).toBeTruthy();
    // Tokens are users:manage: a read-only role never asks for them.
    expect(sent.some((r) => r.path.includes('/tokens') && r.path.startsWith('/api/v1/service-accounts'))).toBe(false);
  });

  it('offers an owner admin accounts and an admin at most editor, and leaves an admin no actions on an admin account', async () => {
    const u = userEvent.setup();
    const api = accountsApi({ initial: [account('sa-robot', 'robot-admin', { role: 'admin' }), account('sa-deploy', 'github-deploy')] });
    renderAccounts(api.client, 'admin');
    await screen.findByRole('table', { name: 'Service accounts' });
    expect(within(rowOf('robot-admin')).queryByRole('button')).toBeNull();
    expect(rowOf('robot-admin').textContent).toContain('An owner manages it');
    expect(within(rowOf('github-deploy')).getByRole('button', { name: 'Edit github-deploy' })).toBeTruthy();

    await u.click(screen.getByRole('button', { name: 'New service account' }));
    let form = screen.getByRole('dialog', { name: 'New service account' });
    expect(options(within(form).getByRole('combobox', { name: 'Role' }))).toEqual(['editor', 'analyst', 'viewer']);
    await u.click(within(form).getByRole('button', { name: 'Add a project role' }));
    expect(options(within(form).getByRole('combobox', { name: 'Role in project role 1' }))).toEqual(['editor', 'analyst', 'viewer']);
    cleanup();

    renderAccounts(api.client, 'owner');
    await screen.findByRole('table', { name: 'Service accounts' });
    expect(within(rowOf('robot-admin')).getByRole('button', { name: 'Edit robot-admin' })).toBeTruthy();
    await u.click(screen.getByRole('button', { name: 'New service account' }));
    form = screen.getByRole('dialog', { name: 'New service account' });
    expect(options(within(form).getByRole('combobox', { name: 'Role' }))).toEqual(['admin', 'editor', 'analyst', 'viewer']);
  });

  it('creates an account with a description and project roles, sending trimmed values, and lists it', async () => {
    const u = userEvent.setup();
    const { client, sent } = accountsApi({ initial: [] });
    renderAccounts(client, 'owner');
    await screen.findByText(/No service accounts\./);

    await u.click(screen.getByRole('button', { name: 'New service account' }));
    const form = screen.getByRole('dialog', { name: 'New service account' });
    await u.type(within(form).getByRole('textbox', { name: 'Name' }), ' ci-bot ');
    await u.type(within(form).getByRole('textbox', { name: 'Description' }), 'Uploads code references');
    await u.selectOptions(within(form).getByRole('combobox', { name: 'Role' }), 'viewer');
    await u.click(within(form).getByRole('button', { name: 'Add a project role' }));
    await u.selectOptions(await within(form).findByRole('combobox', { name: 'Project of project role 1' }), 'shop');
    await u.selectOptions(within(form).getByRole('combobox', { name: 'Role in project role 1' }), 'editor');
    await u.click(within(form).getByRole('button', { name: 'Add a project role' }));
    // A project already given a role is not offered again.
    expect(options(await within(form).findByRole('combobox', { name: 'Project of project role 2' }))).toEqual(['', 'demo', 'web']);
    // An unfinished row (no project chosen) is left out.
    await u.click(within(form).getByRole('button', { name: 'Create service account' }));

    await waitFor(() => { expect(screen.queryByRole('dialog')).toBeNull(); });
    expect(sent.filter((r) => r.method === 'POST').map((r) => r.body)).toEqual([{ name: 'ci-bot', description: 'Uploads code references', role: 'viewer', projectRoles: [{ project: 'shop', role: 'editor' }] }]);
    expect((await screen.findByRole('status')).textContent).toContain('ci-bot is created');
    const row = await within(await screen.findByRole('table', { name: 'Service accounts' })).findByText('ci-bot');
    expect(row.closest('tr')!.textContent).toContain('shop: editor');
  });

  it("shows the API's refusals beside the field they name and keeps the form", async () => {
    const u = userEvent.setup();
    let answer = validation('body.name', 'must not be empty');
    const { client } = accountsApi({ initial: [], refuse: () => answer });
    renderAccounts(client, 'owner');
    await screen.findByText(/No service accounts\./);
    await u.click(screen.getByRole('button', { name: 'New service account' }));
    const form = screen.getByRole('dialog', { name: 'New service account' });
    await u.type(within(form).getByRole('textbox', { name: 'Name' }), '   ');
    await u.click(within(form).getByRole('button', { name: 'Create service account' }));

    const name = within(form).getByRole('textbox', { name: 'Name' });
    await waitFor(() => { expect(name.getAttribute('aria-invalid')).toBe('true'); });
    expect(document.getElementById(name.getAttribute('aria-describedby')!)?.textContent).toBe('Name is required');

    answer = validation('body.projectRoles[0].project', 'must be a key (lowercase letters, digits, - and _)');
    await u.type(name, 'ok');
    await u.click(within(form).getByRole('button', { name: 'Add a project role' }));
    await u.selectOptions(await within(form).findByRole('combobox', { name: 'Project of project role 1' }), 'web');
    await u.click(within(form).getByRole('button', { name: 'Create service account' }));
    const project = within(form).getByRole('combobox', { name: 'Project of project role 1' });
    await waitFor(() => { expect(project.getAttribute('aria-invalid')).toBe('true'); });
    expect(document.getElementById(project.getAttribute('aria-describedby')!)?.textContent).toBe('must be a key (lowercase letters, digits, - and _)');
    expect(name.getAttribute('aria-invalid')).toBeNull();
    // Not repeated in the form's general note.
    expect(within(form).getAllByRole('alert')).toHaveLength(1);

    answer = { status: 403, body: { error: { code: 'FORBIDDEN', message: 'an admin cannot give a service account the role admin; ask an owner' } } };
    await u.click(within(form).getByRole('button', { name: 'Create service account' }));
    expect((await within(form).findByText(/ask an owner/)).textContent).toContain('an admin cannot give');
    expect(screen.getByRole('dialog', { name: 'New service account' })).toBeTruthy();
  });

  it('edits only what changed, with the version listed; removing every project role sends an empty list', async () => {
    const u = userEvent.setup();
    const { client, sent } = accountsApi();
    renderAccounts(client, 'admin');
    await screen.findByRole('table', { name: 'Service accounts' });

    await u.click(within(rowOf('github-deploy')).getByRole('button', { name: 'Edit github-deploy' }));
    const form = screen.getByRole('dialog', { name: 'Edit github-deploy' });
    expect(within(form).getByRole('textbox', { name: 'Name' })).toHaveProperty('value', 'github-deploy');
    expect(within(form).getByRole('textbox', { name: 'Description' })).toHaveProperty('value', 'Applies flags/ from main');
    expect(within(form).getByRole('combobox', { name: 'Role' })).toHaveProperty('value', 'editor');
    expect(await within(form).findByRole('combobox', { name: 'Project of project role 1' })).toHaveProperty('value', 'demo');
    await u.clear(within(form).getByRole('textbox', { name: 'Description' }));
    await u.selectOptions(within(form).getByRole('combobox', { name: 'Role' }), 'analyst');
    await u.click(within(form).getByRole('button', { name: 'Remove project role 1 (demo)' }));
    await u.click(within(form).getByRole('button', { name: 'Save' }));

    await waitFor(() => { expect(screen.queryByRole('dialog')).toBeNull(); });
    const patch = sent.find((r) => r.method === 'PATCH')!;
    expect(patch.path).toBe('/api/v1/service-accounts/sa-deploy');
    expect(patch.ifMatch).toBe('"1"');
    expect(patch.body).toEqual({ description: '', role: 'analyst', projectRoles: [] });
    await waitFor(() => { expect(rowOf('github-deploy').textContent).toContain('analyst'); });

    // Saved unchanged: nothing is sent. Renamed only: only the name, with the new version.
    await u.click(within(rowOf('github-deploy')).getByRole('button', { name: 'Edit github-deploy' }));
    await u.click(within(screen.getByRole('dialog', { name: 'Edit github-deploy' })).getByRole('button', { name: 'Save' }));
    await waitFor(() => { expect(screen.queryByRole('dialog')).toBeNull(); });
    expect(sent.filter((r) => r.method === 'PATCH')).toHaveLength(1);
    await u.click(within(rowOf('github-deploy')).getByRole('button', { name: 'Edit github-deploy' }));
    const again = screen.getByRole('dialog', { name: 'Edit github-deploy' });
    await u.clear(within(again).getByRole('textbox', { name: 'Name' }));
    await u.type(within(again).getByRole('textbox', { name: 'Name' }), 'gitlab-deploy');
    await u.click(within(again).getByRole('button', { name: 'Save' }));
    await waitFor(() => { expect(screen.queryByRole('dialog')).toBeNull(); });
    expect(sent.filter((r) => r.method === 'PATCH').map((r) => [r.ifMatch, r.body])).toEqual([
      ['"1"', { description: '', role: 'analyst', projectRoles: [] }],
      ['"2"', { name: 'gitlab-deploy' }],
    ]);
  });

  it('disables after a confirmation that says the tokens stop, and enables again', async () => {
    const u = userEvent.setup();
    const { client, sent } = accountsApi();
    renderAccounts(client, 'owner');
    await screen.findByRole('table', { name: 'Service accounts' });

    await u.click(within(rowOf('github-deploy')).getByRole('button', { name: 'Disable github-deploy' }));
    const confirm = screen.getByRole('dialog', { name: 'Disable github-deploy?' });
    expect(confirm.textContent).toContain('Every token of github-deploy answers 401 at once');
    await u.click(within(confirm).getByRole('button', { name: 'Disable service account' }));
    await waitFor(() => { expect(rowOf('github-deploy').textContent).toContain('disabled'); });

    await u.click(within(rowOf('github-deploy')).getByRole('button', { name: 'Enable github-deploy' }));
    await waitFor(() => { expect(rowOf('github-deploy').textContent).toContain('active'); });
    expect(sent.filter((r) => r.method === 'PATCH').map((r) => [r.ifMatch, r.body])).toEqual([
      ['"1"', { disabled: true }],
      ['"2"', { disabled: false }],
    ]);
  });

  it('deletes after a confirmation that says its tokens are revoked; cancelling sends nothing', async () => {
    const u = userEvent.setup();
    const { client, sent } = accountsApi();
    renderAccounts(client, 'owner');
    await screen.findByRole('table', { name: 'Service accounts' });

    await u.click(within(rowOf('github-deploy')).getByRole('button', { name: 'Delete github-deploy' }));
    let confirm = screen.getByRole('dialog', { name: 'Delete github-deploy?' });
    expect(confirm.textContent).toContain('Its tokens are revoked at once');
    await u.click(within(confirm).getByRole('button', { name: 'Cancel' }));
    expect(writes(sent)).toEqual([]);

    await u.click(within(rowOf('github-deploy')).getByRole('button', { name: 'Delete github-deploy' }));
    confirm = screen.getByRole('dialog', { name: 'Delete github-deploy?' });
    await u.click(within(confirm).getByRole('button', { name: 'Delete and revoke its tokens' }));
    expect((await screen.findByRole('status')).textContent).toBe('github-deploy is deleted: 2 tokens revoked, 1 open change request cancelled.');
    expect(writes(sent)).toEqual(['DELETE /api/v1/service-accounts/sa-deploy']);
    expect(sent.find((r) => r.method === 'DELETE')?.ifMatch).toBe('"1"');
    expect(await screen.findByText(/No service accounts\./)).toBeTruthy();
  });

  it('lists tokens, mints one shown once with a copy button and a warning, and revokes one', async () => {
    const u = userEvent.setup();
    const { client, sent } = accountsApi();
    renderAccounts(client, 'owner');
    await screen.findByRole('table', { name: 'Service accounts' });

    const toggle = within(rowOf('github-deploy')).getByRole('button', { name: 'Tokens of github-deploy' });
    expect(toggle.getAttribute('aria-expanded')).toBe('false');
    await u.click(toggle);
    expect(toggle.getAttribute('aria-expanded')).toBe('true');
    const panel = screen.getByRole('region', { name: 'Tokens of github-deploy' });
    // The keyboard lands on the panel it opened.
    expect(document.activeElement).toBe(within(panel).getByRole('heading', { name: 'Tokens of github-deploy' }));
    const list = await within(panel).findByRole('table', { name: 'Tokens of github-deploy' });
    const old = within(list).getByRole('cell', { name: 'nightly' }).closest('tr')!;
    // Expired: nothing left to revoke.
    const lapsed = within(list).getByRole('cell', { name: 'old ci' }).closest('tr')!;
    expect(within(lapsed).queryByRole('button')).toBeNull();
    expect(lapsed.textContent).toContain('expired');
    expect(old.textContent).toContain("the account's role · all projects");
    expect(old.textContent).toContain('never');

    await u.type(within(panel).getByRole('textbox', { name: 'Token name' }), ' github actions ');
    expect(within(panel).getByRole('combobox', { name: 'Expires after' })).toHaveProperty('value', '90');
    await u.selectOptions(within(panel).getByRole('combobox', { name: 'Expires after' }), 'Never');
    // At or below the account's role (editor).
    expect(options(within(panel).getByRole('combobox', { name: 'Token role' }))).toEqual(['', 'editor', 'analyst', 'viewer']);
    await u.selectOptions(within(panel).getByRole('combobox', { name: 'Token role' }), 'analyst');
    await u.click(within(panel).getByRole('radio', { name: 'Only these projects' }));
    await u.click(await within(panel).findByRole('checkbox', { name: 'shop' }));
    await u.click(within(panel).getByRole('button', { name: 'Mint token' }));

    const shown = await screen.findByRole('dialog', { name: 'Token of github-deploy created' });
    expect(sent.filter((r) => r.method === 'POST').map((r) => [r.path, r.body])).toEqual([['/api/v1/service-accounts/sa-deploy/tokens', { name: 'github actions', role: 'analyst', projects: ['shop'] }]]);
    expect(within(shown).getByLabelText('Token').textContent).toBe(SECRET);
    expect(shown.textContent).toContain("Copy it now: you won't see it again.");
    await u.click(within(shown).getByRole('button', { name: 'Copy token' }));
    expect(await navigator.clipboard.readText()).toBe(SECRET);
    await u.click(within(shown).getByRole('button', { name: 'Done' }));
    await waitFor(() => { expect(screen.queryByRole('dialog')).toBeNull(); });
    expect(document.body.textContent).not.toContain(SECRET);
    const minted = (await within(panel).findByRole('cell', { name: 'github actions' })).closest('tr')!;
    expect(minted.textContent).toContain('analyst · shop');
    expect(within(panel).getByText(/live token/).textContent).toBe('2 live tokens, 1 revoked or expired');

    await u.click(within(minted).getByRole('button', { name: 'Revoke token github actions' }));
    const confirm = screen.getByRole('dialog', { name: 'Revoke token github actions of github-deploy?' });
    expect(confirm.textContent).toContain('stops working at once');
    await u.click(within(confirm).getByRole('button', { name: 'Revoke token' }));
    await within(minted).findByText('revoked');
    expect(within(panel).getByText(/live token/).textContent).toBe('1 live token, 2 revoked or expired');
    expect(writes(sent)).toEqual(['POST /api/v1/service-accounts/sa-deploy/tokens', 'DELETE /api/v1/service-accounts/sa-deploy/tokens/t-new']);
  });

  it('mints a token expiring after the chosen days, and refuses to limit it to no project before sending', async () => {
    const u = userEvent.setup();
    const { client, sent } = accountsApi();
    renderAccounts(client, 'owner');
    await screen.findByRole('table', { name: 'Service accounts' });
    await u.click(within(rowOf('github-deploy')).getByRole('button', { name: 'Tokens of github-deploy' }));
    const panel = screen.getByRole('region', { name: 'Tokens of github-deploy' });
    await u.type(within(panel).getByRole('textbox', { name: 'Token name' }), 'deploy');
    await u.selectOptions(within(panel).getByRole('combobox', { name: 'Expires after' }), '1 year');
    await u.click(within(panel).getByRole('radio', { name: 'Only these projects' }));
    await u.click(within(panel).getByRole('button', { name: 'Mint token' }));
    expect((await within(panel).findByRole('alert')).textContent).toBe('Tick at least one project, or choose All projects.');
    expect(writes(sent)).toEqual([]);

    await u.click(within(panel).getByRole('radio', { name: 'All projects' }));
    await u.click(within(panel).getByRole('button', { name: 'Mint token' }));
    await screen.findByRole('dialog', { name: 'Token of github-deploy created' });
    expect(sent.filter((r) => r.method === 'POST').map((r) => r.body)).toEqual([{ name: 'deploy', expiresInDays: 365 }]);
  });
});
