import '../../../test/dom.js';
import { cleanup, render, screen, waitFor, within } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { afterEach, describe, expect, it } from 'vitest';
import type { Role, StoredEnvironment } from '@xp/shared';
import { ROLES, WithSession, fakeApi, user } from '../../../test/fake-api.js';
import type { Responder } from '../../../test/fake-api.js';
import type { SdkKeyView } from '@xp/shared';
import Access from '../access.js';
import { SdkKeys } from '../sdk-keys.js';

afterEach(cleanup);

const DEVELOPMENT: StoredEnvironment = { key: 'development', name: 'Development', production: false, requireApproval: false, version: 1, position: 0 };
const PRODUCTION: StoredEnvironment = { key: 'production', name: 'Production', production: true, requireApproval: false, version: 1, position: 1 };
const ENVIRONMENTS = [DEVELOPMENT, PRODUCTION];
const SECRET = 'xpk_cli_Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5';

function sdkKey(id: string, environment: string, kind: SdkKeyView['kind'], name: string, revoked = false): SdkKeyView {
  return { id, environment, kind, name, prefix: `xpk_${kind === 'server' ? 'srv' : 'cli'}_${id}`, createdAt: '2026-11-25T10:00:00Z', revokedAt: revoked ? '2026-11-26T10:00:00Z' : null, lastUsedAt: null, expiresAt: null };
}

const PATH = '/api/v1/projects/web/sdk-keys';

/**
 * The SDK key endpoints of project "web", keeping the list as it changes. `refuse` answers
 * creates and revokes with that error instead.
 */
function keysApi(initial: SdkKeyView[], refuse?: { status: number; body: unknown }): ReturnType<typeof fakeApi> {
  let keys = [...initial];
  const respond: Responder = (req) => {
    if (req.path === '/api/v1/roles') {
      return { status: 200, body: ROLES };
    }
    if (req.path === '/api/v1/me/tokens') {
      return { status: 200, body: { items: [] } };
    }
    if (req.path === PATH && req.method === 'GET') {
      return { status: 200, body: { items: keys } };
    }
    if (refuse !== undefined && req.method !== 'GET') {
      return refuse;
    }
    if (req.path === PATH && req.method === 'POST') {
      const body = req.body as { environment: string; kind: SdkKeyView['kind']; name: string };
      const created = sdkKey('new', body.environment, body.kind, body.name);
      keys = [...keys, created];
      return { status: 201, body: { key: SECRET, sdkKey: created } };
    }
    const rotated = new RegExp(`^${PATH}/(\\w+)/rotate$`).exec(req.path)?.[1];
    if (req.method === 'POST' && rotated !== undefined) {
      const hours = (req.body as { keepPreviousHours: number }).keepPreviousHours;
      const old = keys.find((k) => k.id === rotated)!;
      const previous = { ...old, expiresAt: new Date(Date.now() + hours * 3_600_000).toISOString() };
      const created = sdkKey('rotated', old.environment, old.kind, old.name);
      keys = [...keys.map((k) => (k.id === rotated ? previous : k)), created];
      return { status: 201, body: { key: SECRET, sdkKey: created, previous } };
    }
    const revoked = new RegExp(`^${PATH}/(\\w+)$`).exec(req.path)?.[1];
    if (req.method === 'DELETE' && revoked !== undefined) {
      keys = keys.map((k) => (k.id === revoked ? { ...k, revokedAt: '2026-11-27T10:00:00Z' } : k));
      return { status: 200, body: keys.find((k) => k.id === revoked) };
    }
    return undefined;
  };
  return fakeApi(respond);
}

function renderKeys(api: ReturnType<typeof fakeApi>, role: Role = 'owner'): void {
  render(
    <WithSession client={api.client} me={user({ role })} environments={ENVIRONMENTS}>
      <SdkKeys />
    </WithSession>,
  );
}

const SEEDED = [sdkKey('devsrv', 'development', 'server', 'Development server'), sdkKey('devcli', 'development', 'client', 'Development client'), sdkKey('old', 'production', 'server', 'Old backend', true), sdkKey('prodsrv', 'production', 'server', 'Checkout service')];

describe('SDK keys', () => {
  it('lists the keys by environment with kind, prefix and status, active ones first', async () => {
    renderKeys(keysApi(SEEDED));

    const dev = await screen.findByRole('table', { name: 'SDK keys in Development' });
    const devRows = within(dev).getAllByRole('row').slice(1);
    expect(devRows.map((r) => within(r).getAllByRole('cell')[0]?.textContent)).toEqual(['Development server', 'Development client']);
    expect(devRows[0]?.textContent).toContain('Server-side (secret)');
    expect(devRows[0]?.textContent).toContain('xpk_srv_devsrv…');
    expect(devRows[1]?.textContent).toContain('Client-side (public)');
    expect(devRows[1]?.textContent).toContain('active');

    const prod = screen.getByRole('table', { name: 'SDK keys in Production' });
    const prodRows = within(prod).getAllByRole('row').slice(1);
    expect(prodRows.map((r) => within(r).getAllByRole('cell')[0]?.textContent)).toEqual(['Checkout service', 'Old backend']);
    expect(prodRows[1]?.textContent).toContain('revoked');
    expect(within(prodRows[1]!).queryByRole('button')).toBeNull();
    expect(within(prodRows[0]!).getByRole('button', { name: 'Revoke Checkout service' })).toBeTruthy();
  });

  it('shows when each key was last used, and a rotated key with when it stops or stopped', async () => {
    const used = { ...sdkKey('prodsrv', 'production', 'server', 'Checkout service'), lastUsedAt: '2026-11-30T08:15:00Z' };
    const expiring = { ...sdkKey('leaving', 'production', 'server', 'Leaving backend'), expiresAt: new Date(Date.now() + 3_600_000).toISOString() };
    const expired = { ...sdkKey('gone', 'production', 'server', 'Gone backend'), expiresAt: '2026-11-28T10:00:00Z' };
    renderKeys(keysApi([used, expiring, expired]));

    const prod = await screen.findByRole('table', { name: 'SDK keys in Production' });
    const rows = within(prod).getAllByRole('row');
    const headers = within(rows[0]!).getAllByRole('columnheader').map((h) => h.textContent);
    const lastUsed = headers.indexOf('Last used');
    expect(lastUsed).toBeGreaterThan(0);
    const cells = (name: string): string[] => within(within(prod).getByRole('cell', { name }).closest('tr')!).getAllByRole('cell').map((c) => c.textContent);
    expect(cells('Checkout service')[lastUsed]).toBe(new Date('2026-11-30T08:15:00Z').toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' }));
    expect(cells('Leaving backend')[lastUsed]).toBe('never');
    expect(cells('Leaving backend').join(' ')).toContain('rotated: works until');
    // An expired key works no more: listed after the working ones, without actions.
    expect(rows.slice(1).map((r) => within(r).getAllByRole('cell')[0]?.textContent)).toEqual(['Checkout service', 'Leaving backend', 'Gone backend']);
    expect(cells('Gone backend').join(' ')).toContain('expired');
    expect(within(within(prod).getByRole('cell', { name: 'Gone backend' }).closest('tr')!).queryByRole('button')).toBeNull();
    // Rotating it again says its expiry can only come closer.
    await userEvent.setup().click(within(prod).getByRole('button', { name: 'Rotate Leaving backend' }));
    expect(screen.getByRole('dialog', { name: 'Rotate Leaving backend?' }).textContent).toContain('rotated already and stops working at');
  });

  it('rotates a key: asks how long the old one keeps working (24 hours unless changed), then shows the new key once', async () => {
    const u = userEvent.setup();
    const api = keysApi(SEEDED);
    renderKeys(api);
    const prod = await screen.findByRole('table', { name: 'SDK keys in Production' });

    await u.click(within(prod).getByRole('button', { name: 'Rotate Checkout service' }));
    const dialog = screen.getByRole('dialog', { name: 'Rotate Checkout service?' });
    expect(dialog.textContent).toContain('xpk_srv_prodsrv…');
    const keep = within(dialog).getByRole('combobox', { name: 'Keep the old key working for' });
    expect((keep as HTMLSelectElement).value).toBe('24');
    await u.selectOptions(keep, '1');
    await u.click(within(dialog).getByRole('button', { name: 'Rotate key' }));

    const shown = await screen.findByRole('dialog', { name: 'SDK key rotated' });
    expect(api.sent.filter((r) => r.method === 'POST').map((r) => [r.path, r.body])).toEqual([[`${PATH}/prodsrv/rotate`, { keepPreviousHours: 1 }]]);
    expect(within(shown).getByText(SECRET)).toBeTruthy();
    expect(shown.textContent).toContain('The old key xpk_srv_prodsrv… keeps working until');
    await u.click(within(shown).getByRole('button', { name: 'Done' }));
    await waitFor(() => { expect(screen.queryByRole('dialog')).toBeNull(); });
    await waitFor(() => { expect(within(prod).getAllByRole('cell', { name: 'Checkout service' })).toHaveLength(2); });
    expect(prod.textContent).toContain('xpk_srv_rotated…');
    expect(prod.textContent).toContain('rotated: works until');
    expect(document.body.textContent).not.toContain(SECRET);
  });

  it('says so when the project has no keys, and when an environment has none', async () => {
    renderKeys(keysApi([]));
    expect((await screen.findByText(/No SDK keys in this project yet/)).textContent).toContain('Create one per environment');

    cleanup();
    renderKeys(keysApi([sdkKey('devsrv', 'development', 'server', 'Development server')]));
    await screen.findByRole('table', { name: 'SDK keys in Development' });
    expect(screen.getByText('No SDK keys for Production.')).toBeTruthy();
  });

  it('creates a key and shows its secret once, with a copy button; afterwards only its prefix', async () => {
    const u = userEvent.setup();
    const api = keysApi(SEEDED);
    renderKeys(api);
    await screen.findByRole('table', { name: 'SDK keys in Development' });

    await u.click(screen.getByRole('button', { name: 'New SDK key' }));
    const form = screen.getByRole('dialog', { name: 'New SDK key' });
    await u.selectOptions(within(form).getByRole('combobox', { name: 'Environment' }), 'production');
    await u.click(within(form).getByRole('radio', { name: /Client-side/ }));
    await u.type(within(form).getByRole('textbox', { name: 'Name' }), ' Web app ');
    await u.click(within(form).getByRole('button', { name: 'Create key' }));

    const shown = await screen.findByRole('dialog', { name: 'SDK key created' });
    expect(api.sent.find((r) => r.method === 'POST')?.body).toEqual({ environment: 'production', kind: 'client', name: 'Web app' });
    expect(within(shown).getByText(SECRET)).toBeTruthy();
    expect(shown.textContent).toContain("you won't see it again");
    expect(shown.textContent).toContain('It is public');

    await u.click(within(shown).getByRole('button', { name: 'Copy key' }));
    expect(await navigator.clipboard.readText()).toBe(SECRET);
    expect(within(shown).getByRole('status').textContent).toBe('Copied.');

    await u.click(within(shown).getByRole('button', { name: 'Done' }));
    await waitFor(() => { expect(screen.queryByRole('dialog')).toBeNull(); });
    const prod = screen.getByRole('table', { name: 'SDK keys in Production' });
    await within(prod).findByRole('cell', { name: 'Web app' });
    expect(prod.textContent).toContain('xpk_cli_new…');
    expect(document.body.textContent).not.toContain(SECRET);
  });

  it('shows the API\'s refusal of a new key at its field and keeps the form', async () => {
    const u = userEvent.setup();
    renderKeys(keysApi(SEEDED, { status: 400, body: { error: { code: 'VALIDATION_FAILED', message: 'body.name: Too big', details: { issues: [{ path: 'body.name', message: 'Too big: at most 100 characters' }] } } } }));
    await screen.findByRole('table', { name: 'SDK keys in Development' });

    await u.click(screen.getByRole('button', { name: 'New SDK key' }));
    const form = screen.getByRole('dialog', { name: 'New SDK key' });
    await u.type(within(form).getByRole('textbox', { name: 'Name' }), 'ci');
    await u.click(within(form).getByRole('button', { name: 'Create key' }));

    expect((await within(form).findByRole('alert')).textContent).toBe('Too big: at most 100 characters');
    expect(within(form).getByRole('textbox', { name: /^Name/ }).getAttribute('aria-invalid')).toBe('true');
    expect(screen.queryByRole('dialog', { name: 'SDK key created' })).toBeNull();
  });

  it('revokes a key after a confirmation; cancelling sends nothing', async () => {
    const u = userEvent.setup();
    const api = keysApi(SEEDED);
    renderKeys(api);
    const prod = await screen.findByRole('table', { name: 'SDK keys in Production' });

    await u.click(within(prod).getByRole('button', { name: 'Revoke Checkout service' }));
    expect(screen.getByRole('dialog', { name: 'Revoke Checkout service?' }).textContent).toContain('xpk_srv_prodsrv…');
    await u.click(within(screen.getByRole('dialog')).getByRole('button', { name: 'Cancel' }));
    expect(api.sent.some((r) => r.method === 'DELETE')).toBe(false);

    await u.click(within(prod).getByRole('button', { name: 'Revoke Checkout service' }));
    await u.click(within(screen.getByRole('dialog')).getByRole('button', { name: 'Revoke' }));
    await waitFor(() => { expect(within(prod).queryByRole('button', { name: 'Revoke Checkout service' })).toBeNull(); });
    expect(api.sent.filter((r) => r.method === 'DELETE').map((r) => r.path)).toEqual([`${PATH}/prodsrv`]);
    expect(within(prod).getByRole('cell', { name: 'Checkout service' }).closest('tr')?.textContent).toContain('revoked');
  });

  it('shows why a revoke failed', async () => {
    const u = userEvent.setup();
    renderKeys(keysApi(SEEDED, { status: 404, body: { error: { code: 'NOT_FOUND', message: 'SDK key not found' } } }));
    const prod = await screen.findByRole('table', { name: 'SDK keys in Production' });

    await u.click(within(prod).getByRole('button', { name: 'Revoke Checkout service' }));
    await u.click(within(screen.getByRole('dialog')).getByRole('button', { name: 'Revoke' }));
    expect((await screen.findByRole('alert')).textContent).toBe('Could not revoke Checkout service: SDK key not found');
  });

  it('shows roles without sdk-keys:manage the list read-only, with the reason and no button that would be refused', async () => {
    const api = keysApi(SEEDED);
    render(
      <WithSession client={api.client} me={user({ role: 'editor' })} environments={ENVIRONMENTS}>
        <Access />
      </WithSession>,
    );

    const prod = await screen.findByRole('table', { name: 'SDK keys in Production' });
    expect(within(prod).getByRole('cell', { name: 'Checkout service' })).toBeTruthy();
    expect(screen.getByText(/Editors cannot create or revoke SDK keys: owners and admins do/)).toBeTruthy();
    expect(screen.queryByRole('button', { name: 'New SDK key' })).toBeNull();
    expect(screen.queryByRole('button', { name: /^Revoke / })).toBeNull();
    expect(screen.queryByRole('button', { name: /^Rotate / })).toBeNull();
    expect(api.sent.every((r) => r.method === 'GET')).toBe(true);
  });
});
