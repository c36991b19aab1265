// @vitest-environment jsdom
/**
 * @xp/sdk/react following the client's state: useXpReady's error and status (an API down at start,
 * slower than timeoutMs, a client closed while mounted), re-renders only when what a hook shows may
 * change (an API ruleset equal to the bootstrap, a user with its keys in another order, a user changed
 * in place), timed rules taking effect while no hook listens (a hidden Activity), exposures dropped
 * unsent logged again, and the hooks bound to the provider's user (useXpUser, useTrackEvent).
 */
import { Activity, act, memo } from 'react';
import type { ReactNode } from 'react';
import { createRoot } from 'react-dom/client';
import { describe, expect, it, vi } from 'vitest';
import type { ExperimentationClient } from '../client.js';
import { XpProvider, useFlag, useTrackEvent, useVariant, useXpReady, useXpUser } from '../react.js';
import type { User } from '../types.js';
import { page } from './dom.js';
import { reactPage } from './react-page.js';
import type { FakeServer } from './fake-server.js';
import { eventually, groupedRuleset, makeRuleset } from './fixtures.js';

const { roots, api, client, mount, text } = reactPage({ pollIntervalMs: 60_000, timeoutMs: 2_000, flushIntervalMs: 60_000, retryBaseMs: 50, retryMaxMs: 100, streamRetryMaxMs: 100 });

function Ready(): ReactNode {
  const { ready, status, error } = useXpReady();
  return <p data-testid="ready">{`${String(ready)} ${status} ${error?.code ?? '-'}`}</p>;
}

function exposures(server: FakeServer): Record<string, unknown>[] {
  return server.events.filter((e) => e.type === 'exposure');
}

describe('useXpReady', () => {
  it('clears the error once the API that was down at start serves its ruleset', async () => {
    const server = await api(makeRuleset(1, { color: 'green' }));
    server.rulesetMode = 'fail';
    const c = client({ apiUrl: server.url, streaming: false });
    const { container } = mount(
      <XpProvider client={c} user="u1">
        <Ready />
      </XpProvider>,
    );
    await act(() => c.ready());
    expect(text(container, 'ready')).toMatch(/^true DEFAULTS \w+$/);
    expect(text(container, 'ready')).not.toContain(' -');

    server.rulesetMode = 'ok';
    await act(() => eventually(() => c.status === 'READY'));

    expect(text(container, 'ready')).toBe('true READY -');
  });

  it('clears TIMEOUT once an API slower than timeoutMs answers', async () => {
    const server = await api(makeRuleset(1));
    server.rulesetMode = 'held';
    const c = client({ apiUrl: server.url, streaming: false, timeoutMs: 150 });
    const { container } = mount(
      <XpProvider client={c} user="u1">
        <Ready />
      </XpProvider>,
    );
    await act(() => c.ready());
    expect(text(container, 'ready')).toBe('true DEFAULTS TIMEOUT');

    await eventually(() => server.heldCount() > 0);
    server.rulesetMode = 'ok';
    server.releaseHeld();
    await act(() => eventually(() => c.status === 'READY'));

    expect(text(container, 'ready')).toBe('true READY -');
  });

  it('says CLOSED once the client is closed while mounted', async () => {
    const c = client({ bootstrap: makeRuleset(1) });
    const { container } = mount(
      <XpProvider client={c} user="u1">
        <Ready />
      </XpProvider>,
    );
    // Startup settled (offline: at once) and seen: nothing left to re-render the hooks but the close.
    await act(() => c.ready());
    expect(text(container, 'ready')).toBe('true BOOTSTRAPPED -');

    await act(() => c.close());

    expect(text(container, 'ready')).toBe('true CLOSED -');
    expect(c.status).toBe('CLOSED');
  });
});

describe('re-rendering', () => {
  it('re-renders only useXpReady when the API serves a ruleset equal to the bootstrap', async () => {
    const server = await api(makeRuleset(1));
    const c = client({ apiUrl: server.url, streaming: false, bootstrap: makeRuleset(1) });
    const changes: unknown[] = [];
    c.onChange((flags) => {
      changes.push(flags);
    });
    let renders = 0;
    const Color = memo(function Color(): ReactNode {
      renders++;
      return <p data-testid="color">{`${useFlag('color', 'none')} ${useVariant('exp-ab') ?? 'none'}`}</p>;
    });
    const { container } = mount(
      <XpProvider client={c} user="u1">
        <Color />
        <Ready />
      </XpProvider>,
    );
    expect(text(container, 'ready')).toBe('true BOOTSTRAPPED -');

    await act(() => c.ready());

    expect(text(container, 'ready')).toBe('true READY -');
    expect(changes).toEqual([]);
    expect(renders).toBe(1);
  });

  it('treats a user with its keys in another order as the same user', () => {
    const c = client({ bootstrap: makeRuleset(1) });
    let renders = 0;
    function Color(): ReactNode {
      renders++;
      return <p data-testid="color">{useFlag('color', 'none')}</p>;
    }
    const color = <Color />;
    const { update } = mount(
      <XpProvider client={c} user={{ id: 'u1', attributes: { plan: 'pro', country: 'FR' } }}>
        {color}
      </XpProvider>,
    );
    const before = renders;

    update(
      <XpProvider client={c} user={{ attributes: { country: 'FR', plan: 'pro' }, id: 'u1' }}>
        {color}
      </XpProvider>,
    );

    expect(renders).toBe(before);
  });

  it('re-evaluates for a user changed in place and rendered again', () => {
    const c = client({ bootstrap: groupedRuleset(1) });
    function Beta(): ReactNode {
      return <p data-testid="beta">{String(useFlag('beta', false))}</p>;
    }
    const user = { id: 'u5', attributes: { country: 'FR' } };
    const ui = (u: User): ReactNode => (
      <XpProvider client={c} user={u}>
        <Beta />
      </XpProvider>
    );
    const { container, update } = mount(ui(user));
    expect(text(container, 'beta')).toBe('false');

    user.attributes.country = 'DE';
    update(ui(user));

    expect(text(container, 'beta')).toBe('true');
  });

  it('sees a timed rule that took effect while the tree was hidden (no hook listening)', () => {
    vi.useFakeTimers({ now: Date.parse('2026-12-01T00:00:00Z'), toFake: ['Date', 'setTimeout', 'clearTimeout'] });
    try {
      const from = Date.now() + 10_000;
      const c = client({
        bootstrap: {
          schemaVersion: 1,
          environment: 'production',
          version: 1,
          flags: { sale: { variations: [{ key: 'off', value: false }, { key: 'on', value: true }], default: 0, off: 0, rules: [{ id: 'w', type: 'force', variation: 1, from }] } },
        },
      });
      function Sale(): ReactNode {
        return <p data-testid="sale">{String(useFlag('sale', false))}</p>;
      }
      const ui = (mode: 'visible' | 'hidden'): ReactNode => (
        <XpProvider client={c} user="u1">
          <Activity mode={mode}>
            <Sale />
          </Activity>
        </XpProvider>
      );
      const { container, update } = mount(ui('visible'));
      expect(text(container, 'sale')).toBe('false');
      update(ui('hidden'));

      act(() => {
        vi.advanceTimersByTime(10_000);
      });
      expect(c.getValue('sale', 'u1', false)).toBe(true);
      update(ui('visible'));

      expect(text(container, 'sale')).toBe('true');
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('exposures', () => {
  it('logs an exposure dropped unsent again when the client serves another ruleset, even one that re-renders nothing', async () => {
    const three = (version: number): Record<string, unknown> => ({
      ...makeRuleset(version),
      experiments: Object.fromEntries(
        ['e1', 'e2', 'e3'].map((k) => [k, { hashAttribute: 'id', seed: k, hashVersion: 2, coverage: 1, weights: [0.5, 0.5], variations: [{ key: 'control' }, { key: 'treatment' }] }]),
      ),
    });
    const server = await api(three(1));
    const c = client({ apiUrl: server.url, bootstrap: three(1), maxQueueSize: 2 });
    await c.ready();
    await eventually(() => c.getStats().streaming);
    let renders = 0;
    function Variant({ k }: { k: string }): ReactNode {
      renders++;
      return <i>{`${k}=${useVariant(k) ?? 'none'} `}</i>;
    }
    mount(
      <XpProvider client={c} user="u1">
        <Variant k="e1" />
        <Variant k="e2" />
        <Variant k="e3" />
      </XpProvider>,
    );
    // Three exposures into a queue of two: the oldest is dropped unsent.
    expect(c.getStats().droppedEvents).toBe(1);
    await c.flush();
    expect(new Set(exposures(server).map((e) => e.experiment)).size).toBe(2);
    const before = renders;

    // The same flags and experiments under a new version: nothing to re-render, but a new ruleset served.
    server.publish(three(2));
    await act(() => eventually(() => c.getStats().rulesetVersion === 2));
    await c.flush();

    expect(exposures(server).map((e) => e.experiment).sort()).toEqual(['e1', 'e2', 'e3']);
    expect(renders).toBe(before);
  });
});

describe('hooks bound to the provider', () => {
  it('useXpUser gives the provider user, useTrackEvent tracks events for it', async () => {
    const server = await api(makeRuleset(1));
    const c = client({ apiUrl: server.url, streaming: false });
    const user = { id: 'u7', attributes: { plan: 'pro' } };
    let track: ReturnType<typeof useTrackEvent> | undefined;
    let seen: User | undefined;
    function Buy(): ReactNode {
      track = useTrackEvent();
      seen = useXpUser();
      return null;
    }
    mount(
      <XpProvider client={c} user={user}>
        <Buy />
      </XpProvider>,
    );
    expect(seen).toBe(user);

    track?.('purchase', { value: 9.5 });
    await c.flush();

    expect(server.events).toEqual([expect.objectContaining({ type: 'track', name: 'purchase', unitId: 'u7', value: 9.5 })]);
  });

  it('say clearly that the provider was given no client', () => {
    function Color(): ReactNode {
      return <p>{useFlag('color', 'none')}</p>;
    }
    const root = createRoot(page().createElement('div'), { onUncaughtError: () => undefined });
    roots.push(root);
    expect(() => {
      act(() => {
        root.render(
          <XpProvider client={undefined as unknown as ExperimentationClient} user="u1">
            <Color />
          </XpProvider>,
        );
      });
    }).toThrow('<XpProvider client={…}> needs an ExperimentationClient from @xp/sdk, got undefined');
  });

  it('name the hook called outside <XpProvider> in the error', () => {
    for (const [name, use] of [
      ['useVariant', () => useVariant('exp-ab')],
      ['useXpUser', () => useXpUser()],
      ['useTrackEvent', () => useTrackEvent()],
    ] as const) {
      function Orphan(): ReactNode {
        use();
        return null;
      }
      const root = createRoot(page().createElement('div'), { onUncaughtError: () => undefined });
      roots.push(root);
      expect(() => {
        act(() => {
          root.render(<Orphan />);
        });
      }).toThrow(`${name} must be used inside <XpProvider`);
    }
  });
});
