import '../../../test/dom.js';
import { cleanup, render, screen, waitFor, within } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { afterEach, describe, expect, it } from 'vitest';
import type { Flag, FlagCodeRefs, StoredEnvironment } from '@xp/shared';
import type { Responder } from '../../../test/fake-api.js';
import { WithSession, fakeApi, user } from '../../../test/fake-api.js';
import { booleanFlag, storedOf } from '../../../test/fixtures.js';
import FlagsList from '../flags-list.js';

afterEach(cleanup);

const DEVELOPMENT: StoredEnvironment = { key: 'development', name: 'Development', production: false, requireApproval: false, version: 1, position: 0 };
const OLD = '2026-01-05T00:00:00Z';
const off = { development: { enabled: false, defaultVariation: 'off', offVariation: 'off', prerequisites: [], rules: [] } };
const half = { development: { enabled: true, defaultVariation: 'off', offVariation: 'off', prerequisites: [], rules: [{ id: 'h', type: 'rollout' as const, variation: 'on', coverage: 0.5, hashAttribute: 'id', hashVersion: 2 as const }] } };

/** Stale (temporary, off everywhere since January), unreferenced: ready to archive. */
const deadA = storedOf(booleanFlag('dead-a', { temporary: true, environments: off }), { at: OLD, version: 4 });
const deadB = storedOf(booleanFlag('dead-b', { temporary: true, environments: off }), { at: '2026-02-01T00:00:00Z', version: 2 });
/** Stale, but code still references it. */
const deadUsed = storedOf(booleanFlag('dead-used', { temporary: true, environments: off }), { at: OLD });
/** Temporary, still rolling out: not stale. */
const rolling = { ...storedOf(booleanFlag('rolling', { temporary: true, environments: half }), { at: '2026-03-01T00:00:00Z' }), servingChangedAt: '2025-12-01T00:00:00Z' };
/** Permanent: never stale. */
const killSwitch = storedOf(booleanFlag('kill-switch', { temporary: false, environments: off }), { at: OLD });
const FLAGS = [deadA, deadB, deadUsed, killSwitch, rolling];
const REFS: FlagCodeRefs[] = [{ flagKey: 'dead-used', references: 3, branches: [{ repository: 'acme/shop', branch: 'main', references: 3 }] }];

function flagsApi(respond: Responder = () => undefined, refs: Responder = () => ({ status: 200, body: { flags: REFS } })): ReturnType<typeof fakeApi> {
  return fakeApi((req) => {
    if (req.method === 'GET' && req.path.startsWith('/api/v1/projects/web/code-refs/flags')) {
      return refs(req);
    }
    return respond(req) ?? (req.method === 'GET' ? { status: 200, body: { items: FLAGS } } : undefined);
  });
}

const keysShown = (): string[] => within(screen.getByRole('table', { name: 'Flags' })).getAllByRole('row').slice(1).map((r) => r.querySelector('td code')?.textContent ?? '');
const row = (key: string): HTMLElement => screen.getByText(key, { selector: 'code' }).closest('tr')!;
const columnOf = (name: string): number => within(screen.getByRole('table', { name: 'Flags' })).getAllByRole('columnheader').findIndex((h) => h.textContent === name);
const cell = (key: string, column: string): HTMLElement => within(row(key)).getAllByRole('cell')[columnOf(column)]!;

describe('flags list for a cleanup', () => {
  it('shows each flag\'s lifetime and references in code, filters by lifetime and sorts by last change', async () => {
    const u = userEvent.setup();
    const { client, sent } = flagsApi();
    render(
      <WithSession client={client} me={user()} environments={[DEVELOPMENT]}>
        <FlagsList />
      </WithSession>,
    );
    await waitFor(() => { expect(cell('dead-used', 'References in code').textContent).toBe('3'); });
    expect(within(cell('dead-used', 'References in code')).getByRole('link', { name: '3 references to dead-used in code' }).getAttribute('href')).toBe('#/code-refs?flag=dead-used');
    expect(cell('dead-a', 'References in code').textContent).toBe('—none');
    expect(cell('dead-a', 'Lifetime').textContent).toBe('Temporary');
    expect(cell('kill-switch', 'Lifetime').textContent).toBe('Permanent');
    expect(sent.filter((r) => r.path.includes('/code-refs/')).map((r) => r.path)).toEqual(['/api/v1/projects/web/code-refs/flags']);

    await u.selectOptions(screen.getByRole('combobox', { name: 'Lifetime' }), 'permanent');
    expect(keysShown()).toEqual(['kill-switch']);
    await u.selectOptions(screen.getByRole('combobox', { name: 'Lifetime' }), 'temporary');
    expect(keysShown()).toEqual(['dead-a', 'dead-b', 'dead-used', 'rolling']);
    await u.selectOptions(screen.getByRole('combobox', { name: 'Lifetime' }), 'all');

    const sortBy = screen.getByRole('combobox', { name: 'Sort by' });
    expect(keysShown()).toEqual(['dead-a', 'dead-b', 'dead-used', 'kill-switch', 'rolling']);
    await u.selectOptions(sortBy, 'updatedAt');
    expect(keysShown()).toEqual(['dead-a', 'dead-used', 'kill-switch', 'dead-b', 'rolling']);
    // The rollout's last serving change is the oldest of all (a tag edit moved only its last change).
    await u.selectOptions(sortBy, 'servingChangedAt');
    expect(keysShown()).toEqual(['rolling', 'dead-a', 'dead-used', 'kill-switch', 'dead-b']);
  });

  it('lists as ready to archive the stale flags no branch references', async () => {
    const u = userEvent.setup();
    const { client } = flagsApi();
    render(
      <WithSession client={client} me={user()} environments={[DEVELOPMENT]}>
        <FlagsList />
      </WithSession>,
    );
    await waitFor(() => { expect(cell('dead-used', 'References in code').textContent).toBe('3'); });
    await u.selectOptions(screen.getByRole('combobox', { name: 'State' }), 'stale');
    expect(keysShown()).toEqual(['dead-a', 'dead-b', 'dead-used']);
    await u.selectOptions(screen.getByRole('combobox', { name: 'State' }), 'ready');
    expect(keysShown()).toEqual(['dead-a', 'dead-b']);
  });

  it('says so when the code references cannot be loaded, and shows no flag as ready to archive', async () => {
    const u = userEvent.setup();
    const { client } = flagsApi(undefined, () => ({ status: 503, body: { error: { code: 'UNAVAILABLE', message: 'database unavailable' } } }));
    render(
      <WithSession client={client} me={user()} environments={[DEVELOPMENT]}>
        <FlagsList />
      </WithSession>,
    );
    expect((await screen.findByRole('alert')).textContent).toMatch(/^Could not load the code references \(database unavailable\)/);
    expect(cell('dead-a', 'References in code').textContent).toBe('?');
    await u.selectOptions(screen.getByRole('combobox', { name: 'State' }), 'ready');
    expect(screen.queryByRole('table', { name: 'Flags' })).toBeNull();
    expect(screen.getByText('No flag matches these filters.')).toBeTruthy();
  });

  it('archives the selected flags one by one, listing a refusal by the flag it concerns and archiving the rest', async () => {
    const u = userEvent.setup();
    const archived = new Set<string>();
    const { client, sent } = flagsApi((req) => {
      if (req.method === 'PUT' && req.path === '/api/v1/projects/web/flags/dead-b') {
        return { status: 409, body: { error: { code: 'INVALID_STATE', message: 'flag "dead-b" delivers the running experiment "exp-prod"', details: { experiments: ['exp-prod'] } } } };
      }
      if (req.method === 'PUT') {
        const key = req.path.split('/').at(-1)!;
        const before = FLAGS.find((f) => f.key === key)!;
        archived.add(key);
        return { status: 200, body: { ...before, version: before.version + 1, archived: true, definition: req.body as Flag } };
      }
      return req.method === 'GET' && req.path.startsWith('/api/v1/projects/web/flags?') ? { status: 200, body: { items: FLAGS.filter((f) => !archived.has(f.key)) } } : undefined;
    });
    render(
      <WithSession client={client} me={user({ role: 'editor' })} environments={[DEVELOPMENT]}>
        <FlagsList />
      </WithSession>,
    );
    await waitFor(() => { expect(cell('dead-used', 'References in code').textContent).toBe('3'); });
    const archiveButton = (n: number) => screen.getByRole('button', { name: `Archive ${n} flag${n === 1 ? '' : 's'}…` });
    expect(archiveButton(0)).toHaveProperty('disabled', true);

    // The ready ones, all at once; then one more from the keyboard.
    await u.selectOptions(screen.getByRole('combobox', { name: 'State' }), 'ready');
    await u.click(screen.getByRole('checkbox', { name: 'Select all shown flags' }));
    await u.selectOptions(screen.getByRole('combobox', { name: 'State' }), 'all');
    screen.getByRole('checkbox', { name: 'Select kill-switch' }).focus();
    await u.keyboard(' ');
    expect(screen.getByRole('checkbox', { name: 'Select all shown flags' })).toHaveProperty('indeterminate', true);
    await u.click(archiveButton(3));

    const dialog = screen.getByRole('dialog', { name: 'Archive 3 flags?' });
    expect(within(within(dialog).getByRole('list', { name: 'Flags to archive' })).getAllByRole('listitem').map((li) => li.textContent.trim())).toEqual(['dead-a', 'dead-b', 'kill-switch']);
    expect(sent.some((r) => r.method === 'PUT')).toBe(false);
    await u.click(within(dialog).getByRole('button', { name: 'Archive 3 flags' }));

    const done = await screen.findByRole('dialog', { name: 'Archived 2 flags of 3' });
    expect(within(done).getByRole('status').textContent).toBe('1 flag could not be archived; the others were.');
    expect(within(within(done).getByRole('list', { name: 'Archive results' })).getAllByRole('listitem').map((li) => li.textContent)).toEqual([
      'dead-a: archived (version 5)',
      'dead-b: not archived: flag "dead-b" delivers the running experiment "exp-prod"',
      'kill-switch: archived (version 2)',
    ]);
    const puts = sent.filter((r) => r.method === 'PUT');
    expect(puts.map((r) => [r.path, r.ifMatch, (r.body as Flag).archived])).toEqual([
      ['/api/v1/projects/web/flags/dead-a', '"4"', true],
      ['/api/v1/projects/web/flags/dead-b', '"2"', true],
      ['/api/v1/projects/web/flags/kill-switch', '"1"', true],
    ]);
    await u.click(within(done).getByRole('button', { name: 'Close' }));
    // The list reloads without the archived ones; the refused one stays selected, to try again.
    await waitFor(() => { expect(keysShown()).toEqual(['dead-b', 'dead-used', 'rolling']); });
    expect(screen.getByRole('checkbox', { name: 'Select dead-b' })).toHaveProperty('checked', true);
    expect(archiveButton(1)).toHaveProperty('disabled', false);
  });

  it('does not let a viewer archive', async () => {
    const u = userEvent.setup();
    const { client } = flagsApi();
    render(
      <WithSession client={client} me={user({ role: 'viewer' })} environments={[DEVELOPMENT]}>
        <FlagsList />
      </WithSession>,
    );
    await u.click(await screen.findByRole('checkbox', { name: 'Select dead-a' }));
    const button = screen.getByRole('button', { name: 'Archive 1 flag…' });
    expect(button).toHaveProperty('disabled', true);
    expect(button.getAttribute('title')).toBe('Viewers cannot change flags');
  });
});
