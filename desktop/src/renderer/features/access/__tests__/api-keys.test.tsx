import '../../../test/dom.js';
import { cleanup, render, screen, waitFor, within } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { afterEach, describe, expect, it } from 'vitest';
import type { AccessTokenView, Role, TokenPolicyView } from '@xp/shared';
import { ROLES, WithSession, fakeApi, projectOf, projectsBackend, user } from '../../../test/fake-api.js';
import type { Responder } from '../../../test/fake-api.js';
import Access from '../access.js';
import { ApiKeys, tokenAccess } from '../api-keys.js';
import { expiryChoices } from '../token-table.js';

afterEach(cleanup);

function key(id: string, name: string, revoked = false, scope: Pick<AccessTokenView, 'role' | 'projects'> = { role: null, projects: null }): AccessTokenView {
  return { id, name, prefix: `xpp_${id}`, createdAt: '2026-11-25T10:00:00Z', expiresAt: null, lastUsedAt: null, revokedAt: revoked ? '2026-11-25T11:00:00Z' : null, ...scope };
}

const apiError = (status: number, code: string, message: string, details?: unknown): { status: number; body: unknown } => ({ status, body: { error: { code, message, ...(details === undefined ? {} : { details }) } } });

/**
 * The personal API key endpoints (every role manages its own keys), keeping the list as it changes;
 * a created key has the role and projects asked for (null when not). `refuse` answers a POST instead
 * (the API's 400/403/404). The organisation has projects demo, shop and web.
 */
function keysApi(options: { initial?: AccessTokenView[]; refuse?: Responder; policy?: TokenPolicyView } = {}): ReturnType<typeof fakeApi> {
  let keys = options.initial ?? [key('old', 'laptop')];
  const projects = projectsBackend([projectOf('demo'), projectOf('shop'), projectOf('web')]);
  return fakeApi((req) => {
    if (req.path === '/api/v1/roles') {
      return { status: 200, body: ROLES };
    }
    if (req.path === '/api/v1/organisation/token-policy' && options.policy !== undefined) {
      return { status: 200, body: options.policy };
    }
    if (req.path === '/api/v1/me/tokens') {
      if (req.method === 'POST') {
        const refused = options.refuse?.(req);
        if (refused !== undefined) {
          return refused;
        }
        const body = req.body as { name: string; role?: Role; projects?: string[] };
        const created = key('new', body.name, false, { role: body.role ?? null, projects: body.projects ?? null });
        keys = [...keys, created];
        return { status: 201, body: { token: 'xpp_new_secret', accessToken: created } };
      }
      return { status: 200, body: { items: keys } };
    }
    const revoked = /^\/api\/v1\/me\/tokens\/(\w+)$/.exec(req.path)?.[1];
    if (req.method === 'DELETE' && revoked !== undefined) {
      keys = keys.map((k) => (k.id === revoked ? key(k.id, k.name, true, { role: k.role ?? null, projects: k.projects ?? null }) : k));
      return { status: 200, body: keys.find((k) => k.id === revoked) };
    }
    return projects.respond(req);
  });
}

const posted = (sent: readonly { method: string; path: string; body: unknown }[]): unknown[] => sent.filter((r) => r.method === 'POST' && r.path === '/api/v1/me/tokens').map((r) => r.body);

/** The API keys section for a signed-in `role`. */
function renderKeys(client: ReturnType<typeof fakeApi>['client'], role: Role): void {
  render(
    <WithSession client={client} me={user({ role })}>
      <ApiKeys />
    </WithSession>,
  );
}

/** The access cell of the key named `name`. */
function accessOf(name: string): string | null {
  const row = screen.getByRole('cell', { name }).closest('tr')!;
  const column = within(screen.getByRole('table', { name: 'API keys' })).getAllByRole('columnheader').findIndex((h) => h.textContent === 'Access');
  return within(row).getAllByRole('cell')[column]?.textContent ?? null;
}

async function revoke(u: ReturnType<typeof userEvent.setup>, name: string): Promise<void> {
  const row = screen.getByRole('cell', { name }).closest('tr')!;
  await u.click(within(row).getByRole('button', { name: 'Revoke' }));
  await u.click(within(screen.getByRole('dialog')).getByRole('button', { name: 'Revoke' }));
  await waitFor(() => { expect(within(row).queryByRole('button', { name: 'Revoke' })).toBeNull(); });
}

describe('API keys', () => {
  it('clears the "copy this key now" banner when that very key is revoked, not when another one is', async () => {
    const u = userEvent.setup();
    const { client } = keysApi();
    render(
      <WithSession client={client} me={user({ role: 'viewer' })}>
        <Access />
      </WithSession>,
    );

    await u.type(await screen.findByRole('textbox', { name: 'New key name' }), 'ci');
    await u.click(screen.getByRole('button', { name: 'Create key (90 days)' }));
    expect((await screen.findByText(/Copy this key now/)).textContent).toContain('xpp_new_secret');
    await screen.findByRole('cell', { name: 'ci' });

    await revoke(u, 'laptop');
    expect(screen.getByText(/Copy this key now/)).toBeTruthy();

    await revoke(u, 'ci');
    expect(screen.queryByText(/Copy this key now/)).toBeNull();
    expect(screen.queryByText(/xpp_new_secret/)).toBeNull();
  });

  it('sends neither role nor projects unless chosen: the key follows my role on every project', async () => {
    const u = userEvent.setup();
    const { client, sent } = keysApi();
    renderKeys(client, 'editor');

    await u.type(await screen.findByRole('textbox', { name: 'New key name' }), ' ci ');
    expect(screen.getByRole('combobox', { name: 'Role' })).toHaveProperty('value', '');
    expect(screen.getByRole('radio', { name: 'All projects' })).toHaveProperty('checked', true);
    await u.click(screen.getByRole('button', { name: 'Create key (90 days)' }));

    await screen.findByText(/Copy this key now/);
    expect(posted(sent)).toEqual([{ name: 'ci', expiresInDays: 90 }]);
    // "All projects" loads no project list.
    expect(sent.some((r) => r.path.startsWith('/api/v1/projects'))).toBe(false);
    await screen.findByRole('cell', { name: 'ci' });
    expect(accessOf('ci')).toBe('your role · all projects');
  });

  it('sends the chosen role and the ticked project keys, and lists the key with that access', async () => {
    const u = userEvent.setup();
    const { client, sent } = keysApi();
    renderKeys(client, 'editor');

    await u.type(await screen.findByRole('textbox', { name: 'New key name' }), 'ci');
    await u.selectOptions(screen.getByRole('combobox', { name: 'Role' }), 'analyst');
    await u.click(screen.getByRole('radio', { name: 'Only these projects' }));
    await u.click(await screen.findByRole('checkbox', { name: 'demo' }));
    await u.click(screen.getByRole('checkbox', { name: 'web' }));
    await u.click(screen.getByRole('checkbox', { name: 'shop' }));
    await u.click(screen.getByRole('checkbox', { name: 'web' }));
    await u.click(screen.getByRole('button', { name: 'Create key (90 days)' }));

    await screen.findByText(/Copy this key now/);
    expect(posted(sent)).toEqual([{ name: 'ci', expiresInDays: 90, role: 'analyst', projects: ['demo', 'shop'] }]);
    await screen.findByRole('cell', { name: 'ci' });
    expect(accessOf('ci')).toBe('analyst · demo, shop');
    // The form starts afresh for the next key.
    expect(screen.getByRole('combobox', { name: 'Role' })).toHaveProperty('value', '');
    expect(screen.getByRole('radio', { name: 'All projects' })).toHaveProperty('checked', true);
  });

  it('offers only the roles at or below mine', async () => {
    const options = (): string[] => within(screen.getByRole('combobox', { name: 'Role' })).getAllByRole('option').map((o) => o.textContent);
    const { client } = keysApi();
    renderKeys(client, 'editor');
    await screen.findByRole('table', { name: 'API keys' });
    expect(options()).toEqual(['Same as mine (follows my role)', 'editor', 'analyst', 'viewer']);
    cleanup();

    renderKeys(client, 'owner');
    await screen.findByRole('table', { name: 'API keys' });
    expect(options()).toEqual(['Same as mine (follows my role)', 'owner', 'admin', 'editor', 'analyst', 'viewer']);
    cleanup();

    renderKeys(client, 'viewer');
    await screen.findByRole('table', { name: 'API keys' });
    expect(options()).toEqual(['Same as mine (follows my role)', 'viewer']);
  });

  it('asks for at least one project when limited to some, at the field, and sends nothing until one is ticked', async () => {
    const u = userEvent.setup();
    const { client, sent } = keysApi();
    renderKeys(client, 'admin');

    await u.type(await screen.findByRole('textbox', { name: 'New key name' }), 'ci');
    await u.click(screen.getByRole('radio', { name: 'Only these projects' }));
    await screen.findByRole('checkbox', { name: 'demo' });
    await u.click(screen.getByRole('button', { name: 'Create key (90 days)' }));

    const message = screen.getByRole('alert');
    expect(message.textContent).toBe('Tick at least one project, or choose All projects.');
    // Tied to the choice it is about.
    expect(screen.getByRole('group', { name: 'Projects' }).getAttribute('aria-describedby')).toContain(message.id);
    expect(screen.getByRole('group', { name: 'Only these projects' }).getAttribute('aria-describedby')).toBe(message.id);
    expect(posted(sent)).toEqual([]);

    await u.click(screen.getByRole('checkbox', { name: 'shop' }));
    expect(screen.queryByRole('alert')).toBeNull();
    await u.click(screen.getByRole('button', { name: 'Create key (90 days)' }));
    await screen.findByText(/Copy this key now/);
    expect(posted(sent)).toEqual([{ name: 'ci', expiresInDays: 90, projects: ['shop'] }]);
  });

  it("shows the API's refusals: a role above mine (403), an unknown project (404), an invalid list (400, at the field)", async () => {
    const u = userEvent.setup();
    const answers = [
      apiError(403, 'FORBIDDEN', 'a token cannot have a role above your own (editor)'),
      apiError(404, 'NOT_FOUND', 'project "shop" not found'),
      apiError(400, 'VALIDATION_FAILED', 'invalid request', { issues: [{ path: 'body.projects', message: 'at most 50 projects' }] }),
    ];
    const { client, sent } = keysApi({ refuse: () => answers.shift() });
    renderKeys(client, 'editor');
    const create = async (): Promise<void> => { await u.click(screen.getByRole('button', { name: 'Create key (90 days)' })); };

    await u.type(await screen.findByRole('textbox', { name: 'New key name' }), 'ci');
    await u.click(screen.getByRole('radio', { name: 'Only these projects' }));
    await u.click(await screen.findByRole('checkbox', { name: 'shop' }));
    await create();
    expect((await screen.findByRole('alert')).textContent).toBe('You do not have permission to do this: a token cannot have a role above your own (editor)');

    await create();
    await waitFor(() => { expect(screen.getByRole('alert').textContent).toBe('project "shop" not found'); });

    await create();
    await waitFor(() => { expect(screen.getByRole('alert').textContent).toBe('at most 50 projects'); });
    expect(screen.getByRole('alert').id).toBe('api-key-projects-error');

    expect(posted(sent)).toHaveLength(3);
    expect(screen.queryByText(/Copy this key now/)).toBeNull();
    // What was typed and chosen stays for another try.
    expect(screen.getByRole('textbox', { name: 'New key name' })).toHaveProperty('value', 'ci');
    expect(screen.getByRole('checkbox', { name: 'shop' })).toHaveProperty('checked', true);
  });

  it("lists each key's access: its role or mine, its projects or all; an older API's keys (no scopes) as mine on all", async () => {
    const older = { id: 'legacy', name: 'legacy', prefix: 'xpp_legacy', createdAt: '2026-11-25T10:00:00Z', expiresAt: null, lastUsedAt: null, revokedAt: null };
    const { client } = keysApi({
      initial: [
        key('a', 'reporting', false, { role: 'viewer', projects: ['demo', 'shop'] }),
        key('b', 'deploys', false, { role: 'editor', projects: null }),
        key('c', 'ci-web', false, { role: null, projects: ['web'] }),
        key('d', 'laptop'),
        older,
      ],
    });
    render(
      <WithSession client={client} me={user({ role: 'owner' })}>
        <Access />
      </WithSession>,
    );

    await screen.findByRole('cell', { name: 'reporting' });
    expect(accessOf('reporting')).toBe('viewer · demo, shop');
    expect(accessOf('deploys')).toBe('editor · all projects');
    expect(accessOf('ci-web')).toBe('your role · web');
    expect(accessOf('laptop')).toBe('your role · all projects');
    expect(accessOf('legacy')).toBe('your role · all projects');
    expect(tokenAccess({})).toBe('your role · all projects');
    expect(tokenAccess({ role: 'editor', projects: [] })).toBe('editor · no project left');
  });

  it('says never for a key without expiry or use, and marks an expired key expired, with nothing to revoke', async () => {
    const { client } = keysApi({ initial: [key('a', 'laptop'), { ...key('b', 'old ci'), expiresAt: '2026-01-01T00:00:00Z', lastUsedAt: '2025-12-31T09:00:00Z' }] });
    renderKeys(client, 'viewer');
    const laptop = (await screen.findByRole('cell', { name: 'laptop' })).closest('tr')!;
    const cells = within(laptop).getAllByRole('cell').map((c) => c.textContent);
    expect(cells.slice(4, 6)).toEqual(['never', 'never']);
    expect(within(laptop).getByRole('button', { name: 'Revoke' })).toBeTruthy();
    const old = screen.getByRole('cell', { name: 'old ci' }).closest('tr')!;
    expect(within(old).queryByRole('button')).toBeNull();
    expect(old.textContent).toContain('expired');
  });
});

describe('token lifetimes under the organisation policy', () => {
  const labels = (policy: TokenPolicyView | null): string[] => expiryChoices(policy).choices.map((c) => c.label);

  it('offers what the policy allows, and starts from its default', () => {
    expect(labels(null)).toEqual(['30 days', '90 days', '180 days', '1 year', 'Never']);
    expect(expiryChoices(null).initial).toBe(90);
    // A maximum: nothing longer, never "Never", the maximum itself offered.
    expect(labels({ maxLifetimeDays: 60, defaultLifetimeDays: null })).toEqual(['30 days', '60 days (the maximum)']);
    expect(expiryChoices({ maxLifetimeDays: 60, defaultLifetimeDays: null }).initial).toBe(60);
    // A default without a maximum: a mint without a lifetime gets the default, so "Never" cannot be asked.
    expect(labels({ maxLifetimeDays: null, defaultLifetimeDays: 7 })).toEqual(['7 days', '30 days', '90 days', '180 days', '1 year']);
    expect(expiryChoices({ maxLifetimeDays: 365, defaultLifetimeDays: 14 }).initial).toBe(14);
  });

  it('creates a key within a 30-day maximum instead of asking the refused 90 days', async () => {
    const u = userEvent.setup();
    const { client, sent } = keysApi({ policy: { maxLifetimeDays: 30, defaultLifetimeDays: null } });
    renderKeys(client, 'editor');
    const form = await screen.findByRole('form', { name: 'New API key' });
    const expiry = within(form).getByRole('combobox', { name: 'Expires after' });
    await waitFor(() => {
      expect(within(expiry).getAllByRole('option').map((o) => o.textContent)).toEqual(['30 days (the maximum)']);
    });
    await u.type(within(form).getByRole('textbox', { name: 'New key name' }), 'ci');
    await u.click(within(form).getByRole('button', { name: /Create/ }));
    await waitFor(() => {
      expect(posted(sent)).toEqual([{ name: 'ci', expiresInDays: 30 }]);
    });
  });
});
