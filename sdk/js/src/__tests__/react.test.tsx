// @vitest-environment jsdom
/**
 * @xp/sdk/react in a page (jsdom): the hooks' values, re-rendering on a ruleset the API pushes and on
 * a user change, defaults before the client is ready, and one exposure per assignment under StrictMode.
 */
import { StrictMode, act } from 'react';
import type { ReactNode } from 'react';
import { createRoot } from 'react-dom/client';
import { describe, expect, it } from 'vitest';
import type { ExperimentResult } from '@xp/shared/eval';
import type { ExperimentationClient } from '../client.js';
import type { JsonValue } from '../client.js';
import { XpProvider, useExperiment, useFeatureEnabled, useFlag, useFlagDetails, useVariant, useXpClient, useXpReady } from '../react.js';
import type { EvaluationDetails, User } from '../types.js';
import { page } from './dom.js';
import { reactPage } from './react-page.js';
import type { FakeServer } from './fake-server.js';
import { eventually, groupedRuleset, makeRuleset } from './fixtures.js';

const { roots, api, client, mount, text } = reactPage({ pollIntervalMs: 60_000, timeoutMs: 2_000, flushIntervalMs: 60_000, retryBaseMs: 50, streamRetryMaxMs: 100 });

function Flags(): ReactNode {
  const color = useFlag('color', 'none');
  const limits = useFlag('limits', { max: 0 });
  const details = useFlagDetails('color', 'none');
  const missing = useFlagDetails('no-such-flag', 'fallback');
  const variant = useVariant('exp-ab');
  return (
    <ul>
      <li data-testid="color">{color}</li>
      <li data-testid="checkout">{String(useFeatureEnabled('checkout'))}</li>
      <li data-testid="max">{limits.max}</li>
      <li data-testid="reason">{details.reason}</li>
      <li data-testid="missing">{`${missing.value} ${missing.errorCode ?? ''}`}</li>
      <li data-testid="variant">{variant ?? 'none'}</li>
    </ul>
  );
}

function Ready(): ReactNode {
  const { ready, status, error } = useXpReady();
  return <p data-testid="ready">{`${String(ready)} ${status} ${error?.code ?? '-'}`}</p>;
}

/** True only when A and B are assignable to each other (`false` is not `boolean`). */
type Equal<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

/** Limits as an app would type them: an interface, which has no index signature. */
interface Limits {
  readonly max: number;
}

/** Exposure events the API received (after a flush). */
function exposures(server: FakeServer): Record<string, unknown>[] {
  return server.events.filter((e) => e.type === 'exposure');
}

describe('hooks', () => {
  it('serve the bootstrap ruleset as the client methods do', () => {
    const c = client({ bootstrap: makeRuleset(1, { color: 'green', checkoutOn: true }) });
    const { container } = mount(
      <XpProvider client={c} user={{ id: 'u1' }}>
        <Flags />
      </XpProvider>,
    );

    expect(text(container, 'color')).toBe('green');
    expect(text(container, 'checkout')).toBe('true');
    expect(text(container, 'max')).toBe('3');
    expect(text(container, 'reason')).toBe(c.evaluate('color', 'u1', 'none').reason);
    expect(text(container, 'missing')).toBe('fallback FLAG_NOT_FOUND');
    expect(text(container, 'variant')).toBe(c.getVariant('exp-ab', 'u1', { exposure: false }));
  });

  it('re-render when the API pushes a new ruleset over the stream', async () => {
    const server = await api(makeRuleset(1));
    const c = client({ apiUrl: server.url });
    await c.ready();
    const { container } = mount(
      <XpProvider client={c} user={{ id: 'u1' }}>
        <Flags />
      </XpProvider>,
    );
    expect(text(container, 'color')).toBe('blue');
    expect(text(container, 'checkout')).toBe('false');
    await eventually(() => c.getStats().streaming);

    server.publish(makeRuleset(2, { color: 'green', checkoutOn: true }));
    await act(() => eventually(() => c.getValue('color', 'u1', '') === 'green'));

    expect(text(container, 'color')).toBe('green');
    expect(text(container, 'checkout')).toBe('true');
  });

  it('re-evaluate for another user, and not for an equal one passed anew', () => {
    const c = client({ bootstrap: groupedRuleset(1) });
    let renders = 0;
    function Beta(): ReactNode {
      renders++;
      return <p data-testid="beta">{String(useFlag('beta', false))}</p>;
    }
    // Memoised, as a real subtree below the provider often is: it re-renders only for the hooks.
    const beta = <Beta />;
    const page = (user: User): ReactNode => (
      <XpProvider client={c} user={user}>
        {beta}
      </XpProvider>
    );
    const { container, update } = mount(page({ id: 'u5', attributes: { country: 'FR' } }));
    expect(text(container, 'beta')).toBe('false');
    const before = renders;

    update(page({ id: 'u5', attributes: { country: 'FR' } }));
    expect(renders).toBe(before);

    update(page({ id: 'u5', attributes: { country: 'DE' } }));
    expect(text(container, 'beta')).toBe('true');
  });

  it('are typed as the client methods: the default widened, an interface kept, JSON for null', () => {
    const c = client({ bootstrap: makeRuleset(1) });
    const seen: unknown[] = [];
    function Typed(): ReactNode {
      const on = useFlag('checkout', false);
      const color = useFlag('color', 'red');
      const limits = useFlag<Limits>('limits', { max: 0 });
      const any = useFlag('color', null);
      const details = useFlagDetails('color', 'red');
      const json = useFlagDetails('color');
      const experiment = useExperiment('exp-ab');
      const variant = useVariant('exp-ab');
      const _on: Equal<typeof on, boolean> = true;
      const _color: Equal<typeof color, string> = true;
      const _limits: Equal<typeof limits, Limits> = true;
      const _any: Equal<typeof any, JsonValue> = true;
      const _details: Equal<typeof details, EvaluationDetails<string>> = true;
      const _json: Equal<typeof json, EvaluationDetails<JsonValue>> = true;
      const _experiment: Equal<typeof experiment, ExperimentResult> = true;
      const _variant: Equal<typeof variant, string | null> = true;
      const _client: Equal<ReturnType<typeof useXpClient>, ExperimentationClient> = true;
      // @ts-expect-error -- a function is no flag default, as with getValue
      useFlag('color', () => 'red');
      seen.push(on, color, limits.max, any, details.value, json.value, experiment.variationKey === variant);
      return null;
    }

    mount(
      <XpProvider client={c} user="u1">
        <Typed />
      </XpProvider>,
    );

    expect(seen).toEqual([false, 'blue', 3, 'blue', 'blue', 'blue', true]);
  });

  it('throw a clear error outside <XpProvider>', () => {
    function Orphan(): ReactNode {
      useXpClient();
      return null;
    }
    const container = page().createElement('div');
    const root = createRoot(container, { onUncaughtError: () => undefined });
    roots.push(root);
    expect(() => {
      act(() => {
        root.render(<Orphan />);
      });
    }).toThrow('useXpClient must be used inside <XpProvider');
  });
});

describe('before the client is ready', () => {
  it('serve defaults without throwing, then the first ruleset', async () => {
    const server = await api(makeRuleset(1, { color: 'green' }));
    server.rulesetMode = 'held';
    const c = client({ apiUrl: server.url, streaming: false });
    const { container } = mount(
      <XpProvider client={c} user="u1">
        <Flags />
        <Ready />
      </XpProvider>,
    );

    expect(text(container, 'color')).toBe('none');
    expect(text(container, 'max')).toBe('0');
    expect(text(container, 'reason')).toBe('ERROR');
    expect(text(container, 'missing')).toBe('fallback PROVIDER_NOT_READY');
    expect(text(container, 'variant')).toBe('none');
    expect(text(container, 'ready')).toBe('false STARTING -');

    await eventually(() => server.heldCount() === 1);
    server.releaseHeld();
    await act(() => c.ready());

    expect(text(container, 'color')).toBe('green');
    expect(text(container, 'ready')).toBe('true READY -');
  });

  it('report ready with the error when ready() gives up waiting', async () => {
    const server = await api(makeRuleset(1));
    server.rulesetMode = 'stall';
    const c = client({ apiUrl: server.url, streaming: false, timeoutMs: 150 });
    const { container } = mount(
      <XpProvider client={c} user="u1">
        <Ready />
      </XpProvider>,
    );
    expect(text(container, 'ready')).toBe('false STARTING -');

    // STARTING → DEFAULTS comes with no change notification (onChange): the bindings watch the status.
    await act(() => c.ready());

    expect(text(container, 'ready')).toBe('true DEFAULTS TIMEOUT');
  });
});

describe('exposures', () => {
  it('are logged once per committed assignment under StrictMode, from every hook reading it', async () => {
    const server = await api(makeRuleset(1));
    const c = client({ apiUrl: server.url, streaming: false });
    await c.ready();
    function Experiment(): ReactNode {
      const value = useFlag('exp-flag', '');
      const { variationKey } = useExperiment('exp-ab');
      return <p data-testid="exp">{`${value} ${variationKey ?? ''}`}</p>;
    }
    const page = (id: string): ReactNode => (
      <StrictMode>
        <XpProvider client={c} user={{ id, attributes: { plan: 'pro' } }}>
          <Experiment />
          <Experiment />
        </XpProvider>
      </StrictMode>
    );

    const { container, update } = mount(page('u1'));
    update(page('u1'));
    update(page('u1'));
    await c.flush();

    const first = c.getVariant('exp-ab', 'u1', { exposure: false });
    expect(text(container, 'exp')).toBe(`${first === 'control' ? 'A' : 'B'} ${first}`);
    expect(exposures(server)).toEqual([expect.objectContaining({ experiment: 'exp-ab', unitId: 'u1', variation: first, attributes: { plan: 'pro' } })]);

    update(page('u2'));
    update(page('u2'));
    await c.flush();

    expect(exposures(server).map((e) => e.unitId)).toEqual(['u1', 'u2']);
  });

  it('count a committed render\'s evaluation once in the evaluation counts, not the exposure logging that follows it', async () => {
    const server = await api(makeRuleset(1));
    const c = client({ apiUrl: server.url, streaming: false });
    await c.ready();
    function Experiment(): ReactNode {
      return <p data-testid="exp">{useFlag('exp-flag', '')}</p>;
    }

    mount(
      <XpProvider client={c} user={{ id: 'u1' }}>
        <Experiment />
      </XpProvider>,
    );
    await c.flush();

    const variation = c.evaluate('exp-flag', 'u1', '', { explain: true }).variationKey;
    expect(exposures(server)).toHaveLength(1);
    expect(server.events.filter((e) => e.type === 'evaluations').flatMap((e) => e.counts as unknown[])).toEqual([{ flag: 'exp-flag', variation, count: 1 }]);
  });

  it('are not logged by a render that never commits', async () => {
    const server = await api(makeRuleset(1));
    const c = client({ apiUrl: server.url, streaming: false });
    await c.ready();
    function Experiment(): ReactNode {
      return <p>{useVariant('exp-ab')}</p>;
    }
    function Boom(): ReactNode {
      throw new Error('render failed');
    }
    const container = page().createElement('div');
    const root = createRoot(container, { onUncaughtError: () => undefined });
    roots.push(root);

    expect(() => {
      act(() => {
        root.render(
          <XpProvider client={c} user="u1">
            <Experiment />
            <Boom />
          </XpProvider>,
        );
      });
    }).toThrow('render failed');
    await c.flush();

    expect(exposures(server)).toEqual([]);
  });
});
