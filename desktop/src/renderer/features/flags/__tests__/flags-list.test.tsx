import '../../../test/dom.js';
import { act, cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiError } from '@xp/shared';
import type { Flag, Stored, StoredEnvironment } from '@xp/shared';
import { WithSession, fakeApi, user } from '../../../test/fake-api.js';
import { booleanFlag, storedOf } from '../../../test/fixtures.js';
import FlagsList from '../flags-list.js';

afterEach(cleanup);

const DEVELOPMENT: StoredEnvironment = { key: 'development', name: 'Development', production: false, requireApproval: false, version: 1, position: 0 };

function flag(key: string, archived = false): Stored<Flag> {
  return storedOf(booleanFlag(key, { archived }), { version: 2, archived });
}

describe('flags list', () => {
  it('disables creating and toggling flags for a viewer, and says why', async () => {
    const { client, sent } = fakeApi((req) => (req.method === 'GET' ? { status: 200, body: { items: [flag('checkout')] } } : undefined));
    render(
      <WithSession client={client} me={user({ role: 'viewer' })} environments={[DEVELOPMENT]}>
        <FlagsList />
      </WithSession>,
    );

    const toggle = await screen.findByRole('switch', { name: 'checkout in Development' });
    expect(toggle).toHaveProperty('disabled', true);
    expect(toggle.getAttribute('aria-description')).toBe('Viewers cannot change flags');
    const create = screen.getByRole('button', { name: 'New flag' });
    expect(create).toHaveProperty('disabled', true);
    expect(create.getAttribute('title')).toBe('Viewers cannot change flags');
    expect(sent.every((r) => r.method === 'GET')).toBe(true);
  });

  it('offers creating and toggling flags to an editor', async () => {
    const { client } = fakeApi((req) => (req.method === 'GET' ? { status: 200, body: { items: [flag('checkout')] } } : undefined));
    render(
      <WithSession client={client} me={user({ role: 'editor' })} environments={[DEVELOPMENT]}>
        <FlagsList />
      </WithSession>,
    );

    const toggle = await screen.findByRole('switch', { name: 'checkout in Development' });
    expect(toggle).toHaveProperty('disabled', false);
    expect(toggle.hasAttribute('aria-description')).toBe(false);
    expect(screen.getByRole('button', { name: 'New flag' })).toHaveProperty('disabled', false);
    // The key's rule is said in words, beside the field and in the browser's mismatch message.
    fireEvent.click(screen.getByRole('button', { name: 'New flag' }));
    const keyInput = screen.getByRole('textbox', { name: /^Key/ });
    expect(keyInput.getAttribute('title')).toMatch(/^Letters, digits, "_", "." and "-", starting with a letter or digit/);
    expect(keyInput.getAttribute('aria-describedby')).toBe('new-flag-key-rule');
  });

  it('marks the flags that client-side SDK keys do not download', async () => {
    const serverOnly = storedOf(booleanFlag('pricing-rules', { clientSide: false }), { version: 2 });
    const explicit = storedOf(booleanFlag('banner', { clientSide: true }), { version: 2 });
    const { client } = fakeApi((req) => (req.method === 'GET' ? { status: 200, body: { items: [flag('checkout'), serverOnly, explicit] } } : undefined));
    render(
      <WithSession client={client} me={user()} environments={[DEVELOPMENT]}>
        <FlagsList />
      </WithSession>,
    );

    const row = (key: string) => screen.getByText(key, { selector: 'code' }).closest('tr')!;
    await screen.findByRole('switch', { name: 'pricing-rules in Development' });
    expect(within(row('pricing-rules')).getByText('server-side only')).toBeTruthy();
    expect(within(row('checkout')).queryByText('server-side only')).toBeNull();
    expect(within(row('banner')).queryByText('server-side only')).toBeNull();
  });

  it('marks as stale only temporary flags that serve one variation everywhere, unchanged for 30 days', async () => {
    const u = userEvent.setup();
    const old = '2026-01-05T00:00:00Z';
    const env = (rules: Flag['environments'][string]['rules']) => ({ development: { enabled: true, defaultVariation: 'off', offVariation: 'off', prerequisites: [], rules } });
    const launched = storedOf(booleanFlag('launched', { temporary: true, environments: env([{ id: 'all', type: 'force', variation: 'on' }]) }), { at: old });
    const split = storedOf(
      booleanFlag('half-half', { temporary: true, environments: env([{ id: 's', type: 'split', hashAttribute: 'id', hashVersion: 2, distribution: [{ variation: 'on', weight: 0.5 }, { variation: 'off', weight: 0.5 }] }]) }),
      { at: old },
    );
    const permanent = storedOf(booleanFlag('kill-switch', { environments: env([]) }), { at: old });
    const { client } = fakeApi((req) => (req.method === 'GET' ? { status: 200, body: { items: [launched, split, permanent] } } : undefined));
    render(
      <WithSession client={client} me={user()} environments={[DEVELOPMENT]}>
        <FlagsList />
      </WithSession>,
    );

    const row = (key: string) => screen.getByText(key, { selector: 'code' }).closest('tr')!;
    await screen.findByRole('switch', { name: 'launched in Development' });
    // Why it is stale, and since when: the badge's description, which pressing it shows (not a tooltip).
    const badge = within(row('launched')).getByRole('button', { name: 'stale' });
    const why = /^Serves on to everyone in every environment and unchanged since .*2026.*, over 30 days: remove it from the code, then archive it\.$/;
    expect(within(row('launched')).getByRole('button', { name: 'stale', description: why })).toBe(badge);
    expect(badge.getAttribute('aria-expanded')).toBe('false');
    await u.click(badge);
    expect(badge.getAttribute('aria-expanded')).toBe('true');
    expect(document.getElementById(badge.getAttribute('aria-describedby')!)!.className).toBe('badge-explanation');
    await u.keyboard('{Escape}');
    expect(badge.getAttribute('aria-expanded')).toBe('false');
    // A split still sends units different ways: removing it from the code would change what half of them get.
    expect(within(row('half-half')).queryByText('stale')).toBeNull();
    expect(within(row('kill-switch')).queryByText('stale')).toBeNull();
    await u.selectOptions(screen.getByRole('combobox', { name: /state/i }), 'stale');
    expect(screen.queryByText('half-half', { selector: 'code' })).toBeNull();
    expect(screen.getByText('launched', { selector: 'code' })).toBeTruthy();
  });

  it('lists archived flags on request and marks them', async () => {
    const u = userEvent.setup();
    const { client, sent } = fakeApi((req) => {
      if (req.method !== 'GET') {
        return undefined;
      }
      return { status: 200, body: { items: req.path.includes('archived=true') ? [flag('checkout'), flag('old-banner', true)] : [flag('checkout')] } };
    });
    render(
      <WithSession client={client} me={user()} environments={[DEVELOPMENT]}>
        <FlagsList />
      </WithSession>,
    );

    await screen.findByRole('switch', { name: 'checkout in Development' });
    expect(screen.queryByText('old-banner')).toBeNull();
    await u.click(screen.getByRole('checkbox', { name: 'Show archived' }));

    const row = (await screen.findByText('old-banner', { selector: 'code' })).closest('tr');
    expect(row).not.toBeNull();
    expect(within(row!).getByText('archived')).toBeTruthy();
    expect(within(row!).queryByRole('switch')).toBeNull();
    expect(screen.getByRole('switch', { name: 'checkout in Development' })).toHaveProperty('disabled', false);
    expect(sent.at(-1)?.path).toBe('/api/v1/projects/web/flags?limit=200&archived=true');
  });
});

describe('flags list, accessibility', () => {
  it('announces a toggle that took effect in the status region, and a filter that matches nothing', async () => {
    const u = userEvent.setup();
    const { client } = fakeApi((req) => {
      if (req.method === 'POST' && req.path.endsWith('/flags/checkout/environments/development/toggle')) {
        return { status: 200, body: storedOf(booleanFlag('checkout', { environments: { development: { enabled: true, defaultVariation: 'on', offVariation: 'off', prerequisites: [], rules: [] } } }), { version: 3 }) };
      }
      return req.method === 'GET' ? { status: 200, body: { items: [flag('checkout')] } } : undefined;
    });
    render(
      <WithSession client={client} me={user({ role: 'editor' })} environments={[DEVELOPMENT]}>
        <FlagsList />
      </WithSession>,
    );

    await u.click(await screen.findByRole('switch', { name: 'checkout in Development' }));
    await u.click(screen.getByRole('button', { name: 'Turn on' }));
    await waitFor(() => {
      expect(screen.getAllByRole('status').map((s) => s.textContent)).toContain('Turned checkout on in Development (version 3).');
    });

    // The region is on the screen before the message, so a screen reader notices the change.
    const regions = screen.getAllByRole('status');
    await u.type(screen.getByRole('searchbox', { name: 'Search flags' }), 'nothing like it');
    const empty = screen.getByText('No flag matches these filters.');
    expect(regions.some((r) => r.contains(empty))).toBe(true);
  });

  it('keeps the focus on Create flag while it is sent, and ties a taken key to the Key field', async () => {
    const u = userEvent.setup();
    const { client } = fakeApi((req) => (req.method === 'GET' ? { status: 200, body: { items: [flag('checkout')] } } : undefined));
    let creates = 0;
    let refuse: () => void = () => undefined;
    client.create = () => {
      creates++;
      return new Promise((_resolve, reject) => {
        refuse = () => { reject(new ApiError(409, 'ALREADY_EXISTS', 'flags "checkout" already exists')); };
      });
    };
    render(
      <WithSession client={client} me={user({ role: 'editor' })} environments={[DEVELOPMENT]}>
        <FlagsList />
      </WithSession>,
    );

    await u.click(await screen.findByRole('button', { name: 'New flag' }));
    const key = screen.getByRole('textbox', { name: /^Key/ });
    await u.type(key, 'checkout');
    const submit = screen.getByRole('button', { name: 'Create flag' });
    await u.click(submit);
    expect(submit).toHaveProperty('disabled', false);
    expect(submit.getAttribute('aria-disabled')).toBe('true');
    expect(document.activeElement).toBe(submit);
    await u.click(submit);
    expect(creates).toBe(1);

    await act(async () => { refuse(); await Promise.resolve(); });
    const error = await screen.findByRole('alert');
    expect(error.textContent).toBe('A flag with the key checkout already exists: choose another key.');
    expect(key.getAttribute('aria-invalid')).toBe('true');
    expect(key.getAttribute('aria-describedby')?.split(' ')).toContain(error.id);
    expect(document.activeElement).toBe(submit);
  });
});
