import '../../../test/dom.js';
import { act, cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import type { ReactNode } from 'react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiError, XpApiClient } from '@xp/shared';
import type { Flag, Stored, StoredEnvironment } from '@xp/shared';
import { SessionContext } from '../../../app/session.js';
import { WithSession, fakeApi, user } from '../../../test/fake-api.js';
import { abExperiment, booleanFlag, storedOf } from '../../../test/fixtures.js';
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

  it('judges experiment rules by their experiments\' status, prerequisite parents by their children, and the clock by what a flag serves', async () => {
    const old = '2026-01-05T00:00:00Z';
    const recent = new Date(Date.now() - 86_400_000).toISOString();
    const env = (state: Partial<Flag['environments'][string]>) => ({ development: { enabled: true, defaultVariation: 'off', offVariation: 'off', prerequisites: [], rules: [], ...state } });
    const expRule = (experiment: string): Flag['environments'][string]['rules'] => [{ id: 'x', type: 'experiment', experiment, variations: { control: 'off', treatment: 'on' } }];
    // Its experiment stopped long ago with the treatment released to everyone: "on" for all.
    const shipped = storedOf(booleanFlag('shipped', { temporary: true, environments: env({ rules: expRule('exp-shipped') }) }), { at: old });
    // Off everywhere, yet wired to a running experiment.
    const wired = storedOf(booleanFlag('exp-off', { temporary: true, environments: env({ enabled: false, rules: expRule('exp-prod') }) }), { at: old });
    // A tag added yesterday: what it serves has not changed since January.
    const tagged = { ...storedOf(booleanFlag('tagged', { temporary: true, tags: ['cleanup'], environments: env({ defaultVariation: 'on' }) }), { at: recent }), servingChangedAt: old };
    // Served the same since January, and a prerequisite of another flag.
    const parent = storedOf(booleanFlag('parent', { temporary: true, environments: env({ defaultVariation: 'on' }) }), { at: old });
    const child = storedOf(booleanFlag('child', { temporary: false, environments: env({ prerequisites: [{ flag: 'parent', variation: 'on' }] }) }), { at: recent });
    const experiments = [
      storedOf(abExperiment('exp-shipped', { status: 'stopped', startedAt: '2025-11-01T00:00:00Z', stoppedAt: old, winner: 'treatment', releaseWinner: true, archived: true }), { archived: true, at: old }),
      storedOf(abExperiment('exp-prod', { status: 'running', startedAt: recent })),
    ];
    const asked: string[] = [];
    const { client } = fakeApi((req) => {
      if (req.method !== 'GET') {
        return undefined;
      }
      asked.push(req.path);
      return { status: 200, body: { items: req.path.includes('/experiments') ? experiments : [shipped, wired, tagged, parent, child] } };
    });
    render(
      <WithSession client={client} me={user()} environments={[DEVELOPMENT]}>
        <FlagsList />
      </WithSession>,
    );

    const row = (key: string) => screen.getByText(key, { selector: 'code' }).closest('tr')!;
    await waitFor(() => { expect(within(row('shipped')).getByRole('button', { name: 'stale' })).toBeTruthy(); });
    expect(asked.some((path) => path.includes('/experiments') && path.includes('archived=true'))).toBe(true);
    expect(within(row('exp-off')).queryByText('stale')).toBeNull();
    expect(within(row('tagged')).getByRole('button', { name: 'stale' })).toBeTruthy();
    expect(within(row('parent')).getByRole('button', { name: 'stale', description: /^Serves on to everyone .*: remove it from the code, then remove the prerequisite on it from child and archive it\.$/ })).toBeTruthy();
    expect(within(row('child')).queryByText('stale')).toBeNull();
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

  it("lets an editor turn a flag off directly where the protected environment allows it in an emergency", async () => {
    const u = userEvent.setup();
    const production: StoredEnvironment = { key: 'production', name: 'Production', production: true, requireApproval: true, editorsMayTurnOff: true, version: 1, position: 0 };
    const on = storedOf(booleanFlag('checkout', { environments: { production: { enabled: true, defaultVariation: 'on', offVariation: 'off', prerequisites: [], rules: [] } } }), { version: 2 });
    const off = storedOf(booleanFlag('checkout', { environments: { production: { enabled: false, defaultVariation: 'on', offVariation: 'off', prerequisites: [], rules: [] } } }), { version: 3 });
    const { client, sent } = fakeApi((req) => {
      if (req.method === 'POST' && req.path.endsWith('/flags/checkout/environments/production/toggle')) {
        return { status: 200, body: off };
      }
      return req.method === 'GET' ? { status: 200, body: { items: [on] } } : undefined;
    });
    render(
      <WithSession client={client} me={user({ role: 'editor' })} environments={[production]}>
        <FlagsList />
      </WithSession>,
    );

    await u.click(await screen.findByRole('switch', { name: 'checkout in Production' }));
    const dialog = screen.getByRole('dialog');
    expect(dialog.textContent).toContain('lets editors turn flags off directly');
    await u.click(within(dialog).getByRole('button', { name: 'Turn off' }));

    await waitFor(() => {
      expect(screen.getAllByRole('status').map((s) => s.textContent)).toContain('Turned checkout off in Production (version 3).');
    });
    expect(sent.filter((r) => r.method !== 'GET').map((r) => r.path)).toEqual(['/api/v1/projects/web/flags/checkout/environments/production/toggle']);
  });

  it('keeps the focus on Create flag while it is sent, and ties a taken key to the Key field', async () => {
    const u = userEvent.setup();
    const { client } = fakeApi((req) => (req.method === 'GET' ? { status: 200, body: req.path.includes('/code-refs/') ? { flags: [] } : { items: [flag('checkout')] } } : undefined));
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

describe('flags list, network use and rendering in a large project', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  const many = (n: number): Stored<Flag>[] => Array.from({ length: n }, (_, i) => flag(`flag-${String(i).padStart(4, '0')}`));

  /** The flags endpoint answering pages of 200 (`cursor` is the offset), as the API does for a large project. */
  function pagedFlags(flags: readonly Stored<Flag>[]): ReturnType<typeof fakeApi> {
    return fakeApi((req) => {
      if (req.method !== 'GET') {
        return undefined;
      }
      if (req.path.includes('/code-refs/')) {
        return { status: 200, body: { flags: [] } };
      }
      const from = Number(new URLSearchParams(req.path.split('?')[1]).get('cursor') ?? '0');
      const next = from + 200;
      return { status: 200, body: { items: flags.slice(from, next), ...(next < flags.length ? { nextCursor: String(next) } : {}) } };
    });
  }

  /** A session on project "web" whose change feed has ticked `tick` times. */
  function session(client: XpApiClient, tick: number, children: ReactNode): ReactNode {
    return (
      <SessionContext.Provider value={{ client, user: user(), project: 'web', environments: [DEVELOPMENT], environment: 'development', setEnvironment: () => undefined, refreshTick: tick }}>
        {children}
      </SessionContext.Provider>
    );
  }

  it('stops fetching pages once the screen is left', async () => {
    // Each page waits until the test releases it.
    const sent: string[] = [];
    const waiting: (() => void)[] = [];
    const flags = many(1000);
    const fetchFn = (input: string | URL | Request): Promise<Response> => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      // The code references and the evaluation counts answer at once: only the flags' pages wait.
      if (url.pathname.endsWith('/code-refs/flags') || url.pathname.endsWith('/flag-evaluations')) {
        return Promise.resolve(new Response(JSON.stringify({ flags: [] }), { status: 200, headers: { 'content-type': 'application/json' } }));
      }
      sent.push(`${url.pathname}${url.search}`);
      const from = Number(url.searchParams.get('cursor') ?? '0');
      const next = from + 200;
      const body = { items: flags.slice(from, next), ...(next < flags.length ? { nextCursor: String(next) } : {}) };
      return new Promise((resolve) => {
        waiting.push(() => {
          resolve(new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } }));
        });
      });
    };
    const client = new XpApiClient({ apiUrl: 'http://localhost:3000', token: 'test-token', fetch: fetchFn });
    const { unmount } = render(session(client, 0, <FlagsList />));
    await waitFor(() => { expect(sent).toHaveLength(1); });
    waiting.shift()!();
    await waitFor(() => { expect(sent).toHaveLength(2); });

    // The user goes to another screen while page 2 is on its way.
    unmount();
    waiting.shift()!();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(sent).toHaveLength(2);
  });

  it('does not download the whole list again every few seconds; the change feed refreshes it', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const { client, sent: all } = pagedFlags(many(450));
    // The pages of the flags list; the code references and the evaluation counts are read apart.
    const sent = { get length(): number { return all.filter((r) => !r.path.includes('/code-refs/') && !r.path.includes('/flag-evaluations')).length; } };
    const { rerender } = render(session(client, 0, <FlagsList />));
    await screen.findByRole('switch', { name: 'flag-0000 in Development' });
    expect(sent).toHaveLength(3);

    await act(async () => {
      vi.advanceTimersByTime(30_000);
      await new Promise((resolve) => setTimeout(resolve, 50));
    });
    expect(sent).toHaveLength(3);

    // A change anywhere in the project (the change feed) refreshes it at once.
    rerender(session(client, 1, <FlagsList />));
    await waitFor(() => { expect(sent).toHaveLength(6); });

    // A slow poll remains for a feed that is down.
    await act(async () => {
      vi.advanceTimersByTime(60_000);
      await new Promise((resolve) => setTimeout(resolve, 50));
    });
    expect(sent).toHaveLength(9);
    expect(all.filter((r) => r.path.includes('/code-refs/')).map((r) => r.path)).toEqual(['/api/v1/projects/web/code-refs/flags']);
  });

  it('shows the first 200 matching flags with a count and "Show more", and searches all of them', async () => {
    const { client } = pagedFlags(many(450));
    render(session(client, 0, <FlagsList />));
    await screen.findByRole('switch', { name: 'flag-0000 in Development' });
    const rows = () => within(screen.getByRole('table', { name: 'Flags' })).getAllByRole('row').length - 1;
    expect(rows()).toBe(200);
    expect(screen.getByText(/^Showing 200 of 450 flags/)).toBeTruthy();
    expect(screen.queryByRole('switch', { name: 'flag-0300 in Development' })).toBeNull();

    fireEvent.click(screen.getByRole('button', { name: 'Show 200 more' }));
    expect(rows()).toBe(400);
    fireEvent.click(screen.getByRole('button', { name: 'Show 50 more' }));
    expect(rows()).toBe(450);
    expect(screen.queryByRole('button', { name: /^Show \d+ more$/ })).toBeNull();
    expect(screen.queryByText(/^Showing /)).toBeNull();

    // The search looks through every loaded flag, not only the rows shown; a new search starts at 200 again.
    fireEvent.change(screen.getByRole('searchbox', { name: 'Search flags' }), { target: { value: 'flag-04' } });
    expect(rows()).toBe(50);
    expect(screen.getByRole('switch', { name: 'flag-0449 in Development' })).toBeTruthy();
    fireEvent.change(screen.getByRole('searchbox', { name: 'Search flags' }), { target: { value: 'flag-0' } });
    expect(rows()).toBe(200);
    expect(screen.getByText('Showing 200 of 450 flags; search and filters look through all of them.')).toBeTruthy();
    fireEvent.change(screen.getByRole('searchbox', { name: 'Search flags' }), { target: { value: 'flag-00' } });
    expect(rows()).toBe(100);
  });

  it('searches as the API does, ignoring case and accents, and isolates each name\'s direction', async () => {
    const flags = [storedOf(booleanFlag('office', { name: 'İstanbul office' })), storedOf(booleanFlag('menu', { name: 'Caf\u00e9 menu' }))];
    const { client } = fakeApi(() => ({ status: 200, body: { items: flags } }));
    render(
      <WithSession client={client} me={user()} environments={[DEVELOPMENT]}>
        <FlagsList />
      </WithSession>,
    );
    const link = await screen.findByRole('link', { name: 'İstanbul office' });
    expect(link.getAttribute('dir')).toBe('auto');
    const search = screen.getByRole('searchbox', { name: 'Search flags' });
    const found = (): string[] => within(screen.getByRole('table', { name: 'Flags' })).getAllByRole('link').map((a) => a.textContent);

    for (const q of ['istanbul', 'İSTANBUL', 'İstanbul']) {
      fireEvent.change(search, { target: { value: q } });
      expect(found()).toEqual(['İstanbul office']);
    }
    for (const q of ['cafe', 'Cafe\u0301', 'CAFÉ']) {
      fireEvent.change(search, { target: { value: q } });
      expect(found()).toEqual(['Café menu']);
    }
  });
});
