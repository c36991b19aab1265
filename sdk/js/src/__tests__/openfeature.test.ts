import { OpenFeature, ProviderEvents, ProviderStatus } from '@openfeature/server-sdk';
import type { EventDetails } from '@openfeature/server-sdk';
import { OpenFeature as WebOpenFeature, ProviderEvents as WebProviderEvents, ProviderStatus as WebProviderStatus } from '@openfeature/web-sdk';
import { afterEach, describe, expect, it } from 'vitest';
import { ExperimentationClient } from '../client.js';
import { XpServerProvider } from '../openfeature.js';
import { XpWebProvider } from '../openfeature-web.js';
import { FakeServer } from './fake-server.js';
import { emptyRuleset, eventually, groupedRuleset, makeRuleset, recordingLogger, reversedKeys } from './fixtures.js';

const open: { close(): Promise<void> }[] = [];

afterEach(async () => {
  await OpenFeature.close();
  await WebOpenFeature.close();
  await Promise.all(open.splice(0).map((x) => x.close()));
});

async function server(ruleset = makeRuleset(1)): Promise<FakeServer> {
  const s = await new FakeServer(ruleset).start();
  open.push(s);
  return s;
}

function options(url: string): { sdkKey: string; apiUrl: string; timeoutMs: number; retryBaseMs: number; retryMaxMs: number; pollIntervalMs: number; logger: ReturnType<typeof recordingLogger> } {
  return { sdkKey: 'xpk_srv_test-key', apiUrl: url, timeoutMs: 300, retryBaseMs: 20, retryMaxMs: 100, pollIntervalMs: 50, logger: recordingLogger() };
}

describe('XpServerProvider through @openfeature/server-sdk', () => {
  it('resolves every type with variant, reason and metadata; targetingKey is the unit id', async () => {
    const s = await server();
    await OpenFeature.setProviderAndWait(new XpServerProvider(options(s.url)));
    const client = OpenFeature.getClient();

    const bool = await client.getBooleanDetails('checkout', true, { targetingKey: 'u1' });
    const str = await client.getStringDetails('color', 'red', { targetingKey: 'u1' });
    const obj = await client.getObjectDetails('limits', { max: 0 }, { targetingKey: 'u1' });
    const split = await client.getStringDetails('exp-flag', 'none', { targetingKey: 'user-0', signedUpAt: new Date(0) });

    expect(bool).toMatchObject({ value: false, variant: 'off', reason: 'DEFAULT' });
    expect(bool.errorCode).toBeUndefined();
    expect(str).toMatchObject({ value: 'blue', variant: 'c' });
    expect(obj.value).toEqual({ max: 3 });
    expect(split).toMatchObject({ reason: 'SPLIT', flagMetadata: { experimentKey: 'exp-ab', inExperiment: true, ruleId: 'r1' } });
    expect(OpenFeature.getProviderMetadata().name).toBe('xp');
    // A number as targetingKey (plain JavaScript) is the unit of its decimal string, not no unit.
    const numeric = await client.getStringDetails('exp-flag', 'none', { targetingKey: 42 as unknown as string });
    const decimal = await client.getStringDetails('exp-flag', 'none', { targetingKey: '42' });
    expect(numeric).toMatchObject({ reason: 'SPLIT', value: decimal.value, variant: decimal.variant });
  });

  it('returns defaults with OpenFeature error codes, never throwing', async () => {
    const s = await server();
    await OpenFeature.setProviderAndWait(new XpServerProvider(options(s.url)));
    const client = OpenFeature.getClient();

    const missing = await client.getBooleanDetails('nope', true, { targetingKey: 'u1' });
    const wrongType = await client.getNumberDetails('color', 5, { targetingKey: 'u1' });
    const badContext = await client.getStringDetails('exp-flag', 'none', { id: ['not', 'a', 'string'] });

    expect(missing).toMatchObject({ value: true, reason: 'ERROR', errorCode: 'FLAG_NOT_FOUND' });
    expect(wrongType).toMatchObject({ value: 5, reason: 'ERROR', errorCode: 'TYPE_MISMATCH' });
    expect(badContext).toMatchObject({ value: 'none', reason: 'ERROR', errorCode: 'INVALID_CONTEXT' });
  });

  it('reports PROVIDER_ERROR when the API is down at start, serves defaults, and becomes READY when it answers', async () => {
    const s = await server();
    s.rulesetMode = 'fail';
    s.streamMode = 'fail';
    const provider = new XpServerProvider(options(s.url));
    const errors: unknown[] = [];
    OpenFeature.addHandler(ProviderEvents.Error, (e) => errors.push(e));

    await expect(OpenFeature.setProviderAndWait(provider)).rejects.toBeDefined();
    const whileDown = await OpenFeature.getClient().getBooleanDetails('checkout', true, { targetingKey: 'u1' });
    s.rulesetMode = 'ok';
    await eventually(() => OpenFeature.getClient().providerStatus === ProviderStatus.READY);

    expect(errors).toHaveLength(1);
    expect(whileDown).toMatchObject({ value: true, reason: 'ERROR', errorCode: 'PROVIDER_NOT_READY' });
    expect(await OpenFeature.getClient().getBooleanValue('checkout', true, { targetingKey: 'u1' })).toBe(false);
  });

  it('is READY on an empty ruleset (an environment without flags yet) and serves flags added later through the stream', async () => {
    const s = await server(emptyRuleset(1));
    await OpenFeature.setProviderAndWait(new XpServerProvider({ ...options(s.url), pollIntervalMs: 60_000 }));
    const changes: (EventDetails | undefined)[] = [];
    OpenFeature.addHandler(ProviderEvents.ConfigurationChanged, (details) => changes.push(details));
    const before = await OpenFeature.getClient().getBooleanDetails('checkout', true, { targetingKey: 'u1' });

    s.publish(makeRuleset(2, { checkoutOn: true }));
    await eventually(() => changes.length === 1);

    expect(OpenFeature.getClient().providerStatus).toBe(ProviderStatus.READY);
    expect(before).toMatchObject({ value: true, reason: 'ERROR', errorCode: 'FLAG_NOT_FOUND' });
    expect(changes[0]?.flagsChanged).toEqual(expect.arrayContaining(['checkout', 'color', 'exp-flag']));
    expect(await OpenFeature.getClient().getBooleanValue('checkout', false, { targetingKey: 'u1' })).toBe(true);
  });

  it('recovers from ERROR to READY when the API, down at start, comes back with an empty ruleset; flags added later then evaluate', async () => {
    const s = await server(emptyRuleset(1));
    s.rulesetMode = 'fail';
    s.streamMode = 'fail';

    await expect(OpenFeature.setProviderAndWait(new XpServerProvider({ ...options(s.url), pollIntervalMs: 60_000 }))).rejects.toBeDefined();
    expect(OpenFeature.getClient().providerStatus).toBe(ProviderStatus.ERROR);
    // A handler added in the provider's current state runs at once: the ERROR comes first.
    const seen: string[] = [];
    for (const event of [ProviderEvents.Ready, ProviderEvents.Error, ProviderEvents.ConfigurationChanged]) {
      OpenFeature.addHandler(event, () => seen.push(event));
    }
    s.rulesetMode = 'ok';
    s.streamMode = 'ok';
    await eventually(() => OpenFeature.getClient().providerStatus === ProviderStatus.READY);
    const empty = await OpenFeature.getClient().getBooleanDetails('checkout', true, { targetingKey: 'u1' });
    s.publish(makeRuleset(2, { checkoutOn: true }));
    await eventually(() => seen.includes(ProviderEvents.ConfigurationChanged));

    expect(seen).toEqual([ProviderEvents.Error, ProviderEvents.Ready, ProviderEvents.ConfigurationChanged]);
    expect(empty).toMatchObject({ value: true, reason: 'ERROR', errorCode: 'FLAG_NOT_FOUND' });
    expect(await OpenFeature.getClient().getBooleanValue('checkout', false, { targetingKey: 'u1' })).toBe(true);
  });

  it('is READY on a shared client that got its ruleset after its own startup timed out', async () => {
    const s = await server();
    s.rulesetMode = 'fail';
    s.streamMode = 'fail';
    const shared = new ExperimentationClient('xpk_srv_test-key', options(s.url));
    open.push(shared);
    expect((await shared.ready()).status).toBe('DEFAULTS');
    s.rulesetMode = 'ok';
    await eventually(() => shared.status === 'READY');

    await OpenFeature.setProviderAndWait(new XpServerProvider(shared));

    expect(OpenFeature.getClient().providerStatus).toBe(ProviderStatus.READY);
    expect(await OpenFeature.getClient().getBooleanValue('checkout', true, { targetingKey: 'u1' })).toBe(false);
  });

  it('emits configuration-changed with the changed flag keys', async () => {
    const s = await server();
    await OpenFeature.setProviderAndWait(new XpServerProvider(options(s.url)));
    const changes: (EventDetails | undefined)[] = [];
    OpenFeature.addHandler(ProviderEvents.ConfigurationChanged, (details) => changes.push(details));

    s.publish(makeRuleset(2, { color: 'green' }));
    await eventually(() => changes.length === 1);

    expect(changes[0]?.flagsChanged).toEqual(['color']);
    expect(await OpenFeature.getClient().getStringValue('color', 'red', { targetingKey: 'u1' })).toBe('green');
  });

  it('emits nothing for a ruleset republished with its keys in another order, and only the flags using a changed saved group', async () => {
    const s = await server(groupedRuleset(1));
    const provider = new XpServerProvider(options(s.url));
    await OpenFeature.setProviderAndWait(provider);
    const changes: (EventDetails | undefined)[] = [];
    OpenFeature.addHandler(ProviderEvents.ConfigurationChanged, (details) => changes.push(details));

    // What a server restart publishes: the same ruleset, its object keys in another order.
    s.publish(reversedKeys(groupedRuleset(2)) as Record<string, unknown>);
    await eventually(() => provider.client.getStats().rulesetVersion === 2);
    s.publish(reversedKeys(groupedRuleset(3, { staffIds: ['u1', 'u9'] })) as Record<string, unknown>);
    await eventually(() => provider.client.getStats().rulesetVersion === 3);
    await eventually(() => changes.length > 0);

    expect(changes.map((c) => c?.flagsChanged)).toEqual([['staff']]);
    expect(await OpenFeature.getClient().getBooleanValue('staff', false, { targetingKey: 'u1' })).toBe(true);
  });

  it('tracks through the client and leaves a shared client open on shutdown', async () => {
    const s = await server();
    const shared = new ExperimentationClient('xpk_srv_test-key', { ...options(s.url), flushIntervalMs: 60_000 });
    open.push(shared);
    await OpenFeature.setProviderAndWait(new XpServerProvider(shared));

    OpenFeature.getClient().track('purchase', { targetingKey: 'u9' }, { value: 12.5, sku: 'a' });
    await OpenFeature.close();
    await shared.flush();

    expect(s.events).toEqual([expect.objectContaining({ type: 'track', name: 'purchase', unitId: 'u9', value: 12.5, properties: { sku: 'a' } })]);
    expect(shared.status).toBe('READY');
  });
});

describe('XpWebProvider through @openfeature/web-sdk', () => {
  it('evaluates synchronously against the static context and follows context changes', async () => {
    const s = await server();
    await WebOpenFeature.setProviderAndWait(new XpWebProvider(options(s.url)), { targetingKey: 'user-0' });
    const client = WebOpenFeature.getClient();

    const first = client.getStringDetails('exp-flag', 'none');
    await WebOpenFeature.setContext({ targetingKey: 'user-1' });
    const second = client.getStringDetails('exp-flag', 'none');
    const missing = client.getBooleanDetails('nope', false);

    expect(first).toMatchObject({ reason: 'SPLIT', flagMetadata: { experimentKey: 'exp-ab' } });
    expect(second.reason).toBe('SPLIT');
    expect(missing).toMatchObject({ value: false, errorCode: 'FLAG_NOT_FOUND' });
  });

  it('recovers from ERROR to READY on an empty first ruleset, then serves flags added through the stream', async () => {
    const s = await server(emptyRuleset(1));
    s.rulesetMode = 'fail';
    s.streamMode = 'fail';

    await expect(WebOpenFeature.setProviderAndWait(new XpWebProvider({ ...options(s.url), pollIntervalMs: 60_000 }), { targetingKey: 'u1' })).rejects.toBeDefined();
    const seen: string[] = [];
    for (const event of [WebProviderEvents.Ready, WebProviderEvents.Error, WebProviderEvents.ConfigurationChanged]) {
      WebOpenFeature.addHandler(event, () => seen.push(event));
    }
    s.rulesetMode = 'ok';
    s.streamMode = 'ok';
    await eventually(() => WebOpenFeature.getClient().providerStatus === WebProviderStatus.READY);
    s.publish(makeRuleset(2, { checkoutOn: true }));
    await eventually(() => seen.includes(WebProviderEvents.ConfigurationChanged));

    expect(seen).toEqual([WebProviderEvents.Error, WebProviderEvents.Ready, WebProviderEvents.ConfigurationChanged]);
    expect(WebOpenFeature.getClient().getBooleanValue('checkout', false)).toBe(true);
  });

  it('emits configuration-changed when a flag changes', async () => {
    const s = await server();
    await WebOpenFeature.setProviderAndWait(new XpWebProvider(options(s.url)), { targetingKey: 'u1' });
    const changed: string[][] = [];
    WebOpenFeature.addHandler(WebProviderEvents.ConfigurationChanged, (d) => changed.push((d?.flagsChanged as string[] | undefined) ?? []));

    s.publish(makeRuleset(2, { checkoutOn: true }));
    await eventually(() => changed.length === 1);

    expect(changed).toEqual([['checkout']]);
    expect(WebOpenFeature.getClient().getBooleanValue('checkout', false)).toBe(true);
  });
});
