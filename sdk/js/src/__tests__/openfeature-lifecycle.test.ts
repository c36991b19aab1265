import { ErrorCode, OpenFeature, ProviderEvents, ProviderStatus } from '@openfeature/server-sdk';
import type { EventDetails } from '@openfeature/server-sdk';
import { OpenFeature as WebOpenFeature, ProviderEvents as WebProviderEvents, ProviderStatus as WebProviderStatus } from '@openfeature/web-sdk';
import { afterEach, describe, expect, it } from 'vitest';
import { ExperimentationClient } from '../client.js';
import { XpServerProvider } from '../openfeature.js';
import { XpWebProvider } from '../openfeature-web.js';
import { RedisStickyBucketStore } from '../stores/redis-store.js';
import { FakeServer } from './fake-server.js';
import { eventually, makeRuleset, recordingLogger } from './fixtures.js';

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

function changes(provider: { events: { addHandler(event: ProviderEvents, handler: (d?: EventDetails) => void): void } }): string[][] {
  const seen: string[][] = [];
  provider.events.addHandler(ProviderEvents.ConfigurationChanged, (d) => seen.push([...((d?.flagsChanged as string[] | undefined) ?? [])]));
  return seen;
}

describe('OpenFeature providers reused after onClose', () => {
  it('an owned provider set again after another replaced it is READY on a live client and follows ruleset changes', async () => {
    const s = await server();
    const p = new XpServerProvider({ ...options(s.url), pollIntervalMs: 60_000 });
    await OpenFeature.setProviderAndWait(p);
    const first = p.client;
    await OpenFeature.setProviderAndWait(new XpServerProvider({ ...options(s.url), pollIntervalMs: 60_000 })); // p.onClose
    await OpenFeature.setProviderAndWait(p);
    const seen = changes(p);

    s.publish(makeRuleset(2, { color: 'green' }));
    await eventually(() => seen.length > 0);

    expect(OpenFeature.getClient().providerStatus).toBe(ProviderStatus.READY);
    expect(first.status).toBe('CLOSED');
    expect(p.client.status).toBe('READY');
    expect(seen).toEqual([['color']]);
    expect(await OpenFeature.getClient().getStringValue('color', 'red', { targetingKey: 'u1' })).toBe('green');
  });

  it('an owned provider set again after OpenFeature.clearProviders() serves again', async () => {
    const s = await server();
    const p = new XpServerProvider(options(s.url));
    await OpenFeature.setProviderAndWait(p);
    await OpenFeature.clearProviders();
    s.publish(makeRuleset(2, { color: 'green' }));

    await OpenFeature.setProviderAndWait(p);

    expect(p.client.status).toBe('READY');
    expect(await OpenFeature.getClient().getStringValue('color', 'red', { targetingKey: 'u1' })).toBe('green');
  });

  it('a provider over a shared client emits configuration changes again when set again after onClose', async () => {
    const s = await server();
    const shared = new ExperimentationClient('xpk_srv_test-key', { ...options(s.url), pollIntervalMs: 60_000 });
    open.push(shared);
    const pb = new XpServerProvider(shared);
    await OpenFeature.setProviderAndWait('dom-b', pb);
    await OpenFeature.setProviderAndWait('dom-b', new XpServerProvider(shared)); // pb.onClose
    await OpenFeature.setProviderAndWait('dom-b', pb);
    // Handlers on the provider's own emitter go at onClose (OpenFeature's would pile up): added after the set.
    const seen = changes(pb);

    s.publish(makeRuleset(2, { color: 'green' }));
    await eventually(() => seen.length > 0);

    expect(shared.status).toBe('READY');
    expect(seen).toEqual([['color']]);
  });

  it('delivers each change once to an API handler however often the provider was cleared and set again (server and web)', async () => {
    const s = await server();
    const p = new XpServerProvider({ ...options(s.url), pollIntervalMs: 60_000 });
    const w = new XpWebProvider({ ...options(s.url), pollIntervalMs: 60_000 });
    const serverSeen: string[][] = [];
    const webSeen: string[][] = [];
    OpenFeature.addHandler(ProviderEvents.ConfigurationChanged, (d) => serverSeen.push([...((d?.flagsChanged as string[] | undefined) ?? [])]));
    WebOpenFeature.addHandler(WebProviderEvents.ConfigurationChanged, (d) => webSeen.push([...((d?.flagsChanged as string[] | undefined) ?? [])]));
    for (let round = 1; round <= 3; round++) {
      await OpenFeature.setProviderAndWait(p);
      await WebOpenFeature.setProviderAndWait(w);
      serverSeen.length = 0;
      webSeen.length = 0;
      s.publish(makeRuleset(round + 1, { color: `c${round}` }));
      await eventually(() => serverSeen.length > 0 && webSeen.length > 0);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect([round, serverSeen, webSeen]).toEqual([round, [['color']], [['color']]]);
      await OpenFeature.clearProviders();
      await WebOpenFeature.clearProviders();
    }
  });

  it('a provider over a shared client its owner closed fails with PROVIDER_FATAL instead of READY on a frozen ruleset', async () => {
    const s = await server();
    const shared = new ExperimentationClient('xpk_srv_test-key', options(s.url));
    await shared.ready();
    await shared.close();

    const rejected = await OpenFeature.setProviderAndWait(new XpServerProvider(shared)).then(
      () => undefined,
      (e: unknown) => e as { code?: string; message: string },
    );

    expect(rejected).toMatchObject({ code: ErrorCode.PROVIDER_FATAL, message: expect.stringContaining('cannot recover') as string });
    expect(OpenFeature.getClient().providerStatus).toBe(ProviderStatus.FATAL);
  });
});

describe('OpenFeature provider configuration, object flags and tracking', () => {
  it('rejects with PROVIDER_FATAL when the SDK key can never reach the API (and with a recoverable error when the API is only down)', async () => {
    const s = await server();
    const rejected = await OpenFeature.setProviderAndWait(new XpServerProvider({ ...options(s.url), sdkKey: 'sk_live_not-xp' })).then(
      () => undefined,
      (e: unknown) => e as { code?: string; message: string },
    );
    const fatalStatus = OpenFeature.getClient().providerStatus;
    // Offline (no apiUrl) and no bootstrap: nothing will ever be served either.
    const offline = await OpenFeature.setProviderAndWait('offline', new XpServerProvider({ sdkKey: 'xpk_srv_test-key', logger: recordingLogger() })).then(
      () => undefined,
      (e: unknown) => e as { code?: string },
    );
    s.rulesetMode = 'fail';
    s.streamMode = 'fail';
    const down = await OpenFeature.setProviderAndWait('down', new XpServerProvider(options(s.url))).then(
      () => undefined,
      (e: unknown) => e as { code?: string },
    );

    expect(rejected).toMatchObject({ code: ErrorCode.PROVIDER_FATAL, message: expect.stringContaining('cannot recover') as string });
    expect(fatalStatus).toBe(ProviderStatus.FATAL);
    expect(offline?.code).toBe(ErrorCode.PROVIDER_FATAL);
    expect(s.requests.filter((r) => r.headers.authorization?.includes('sk_live') === true)).toHaveLength(0);
    expect(down).toBeDefined();
    expect(down?.code).not.toBe(ErrorCode.PROVIDER_FATAL);
    expect(OpenFeature.getClient('down').providerStatus).toBe(ProviderStatus.ERROR);
  });

  it('accepts any JSON structure for getObjectValue: an array flag with an object default and the reverse; a string flag is still TYPE_MISMATCH', async () => {
    const r = makeRuleset(1) as { flags: Record<string, unknown> };
    r.flags.list = { variations: [{ key: 'l', value: [1, 2] }], default: 0, off: 0 };
    const s = await server(r);
    await OpenFeature.setProviderAndWait(new XpServerProvider(options(s.url)));
    const client = OpenFeature.getClient();

    const arrayForObject = await client.getObjectDetails('list', { none: true }, { targetingKey: 'u1' });
    const objectForArray = await client.getObjectDetails('limits', [], { targetingKey: 'u1' });
    const same = await client.getObjectDetails('limits', {}, { targetingKey: 'u1' });
    const stringFlag = await client.getObjectDetails('color', {}, { targetingKey: 'u1' });

    expect(arrayForObject).toMatchObject({ value: [1, 2], variant: 'l', reason: 'DEFAULT' });
    expect(arrayForObject.errorCode).toBeUndefined();
    expect(objectForArray).toMatchObject({ value: { max: 3 }, variant: 'l' });
    expect(objectForArray.errorCode).toBeUndefined();
    expect(same.value).toEqual({ max: 3 });
    expect(stringFlag).toMatchObject({ value: {}, reason: 'ERROR', errorCode: 'TYPE_MISMATCH' });
  });

  it('warns once when track gets a context it cannot read (cyclic), and still tracks good ones', async () => {
    const s = await server();
    const o = options(s.url);
    const p = new XpServerProvider({ ...o, flushIntervalMs: 60_000 });
    await OpenFeature.setProviderAndWait(p);
    const cyclic: Record<string, unknown> = { targetingKey: 'u1' };
    cyclic.self = cyclic;

    OpenFeature.getClient().track('purchase', cyclic as never, { value: 1 });
    OpenFeature.getClient().track('purchase', cyclic as never, { value: 2 });
    OpenFeature.getClient().track('purchase', { targetingKey: 'u2' }, { value: 3 });
    await p.client.flush();

    expect(o.logger.lines.filter((l) => l.level === 'warn' && l.message.includes('track("purchase") dropped'))).toHaveLength(1);
    expect(s.events).toEqual([expect.objectContaining({ type: 'track', name: 'purchase', unitId: 'u2', value: 3 })]);
  });
});

function stickyRuleset(version: number): Record<string, unknown> {
  const r = makeRuleset(version) as { experiments: Record<string, Record<string, unknown>> };
  r.experiments['exp-ab']!.sticky = { bucketVersion: 1, minBucketVersion: 0 };
  return r;
}

/** A Redis-like map whose reads wait for `release()` while `hold` is set. */
function slowRedis(): { data: Map<string, string>; hold: boolean; release(): void; get(key: string): Promise<string | null>; set(key: string, value: string): Promise<unknown> } {
  const waiting: (() => void)[] = [];
  const redis = {
    data: new Map<string, string>(),
    hold: false,
    release() {
      redis.hold = false;
      for (const go of waiting.splice(0)) {
        go();
      }
    },
    async get(key: string) {
      if (redis.hold) {
        await new Promise<void>((resolve) => waiting.push(resolve));
      }
      return redis.data.get(key) ?? null;
    },
    set(key: string, value: string) {
      redis.data.set(key, value);
      return Promise.resolve('OK');
    },
  };
  return redis;
}

/** The variation exp-ab gives the unit without a store, and the other one (what the test stores as its sticky assignment). */
function naturalAndOther(unit: string): { natural: string; other: string } {
  const probe = new ExperimentationClient('', { bootstrap: stickyRuleset(1), logger: recordingLogger() });
  const natural = probe.getVariant('exp-ab', unit, { exposure: false })!;
  void probe.close();
  return { natural, other: natural === 'control' ? 'treatment' : 'control' };
}

describe('XpWebProvider with an async sticky-bucket store', () => {
  it('preloads the unit before PROVIDER_READY when the API, down at start, answers; serves nothing meanwhile; keeps the stored assignment', async () => {
    const s = await server(stickyRuleset(1));
    s.rulesetMode = 'fail';
    s.streamMode = 'fail';
    const { other } = naturalAndOther('sticky-user');
    const redis = slowRedis();
    const stored = JSON.stringify({ 'exp-ab__1': other });
    redis.data.set('xp:sticky:id||sticky-user', stored);
    const p = new XpWebProvider({ ...options(s.url), stickyBucketStore: new RedisStickyBucketStore(redis) });

    await expect(WebOpenFeature.setProviderAndWait(p, { targetingKey: 'sticky-user' })).rejects.toBeDefined();
    redis.hold = true;
    s.rulesetMode = 'ok';
    s.streamMode = 'ok';
    await eventually(() => p.client.status === 'READY');
    const whileLoading = WebOpenFeature.getClient().getStringDetails('exp-flag', 'none');
    const statusWhileLoading = WebOpenFeature.getClient().providerStatus;
    redis.release();
    await eventually(() => WebOpenFeature.getClient().providerStatus === WebProviderStatus.READY);
    const served = WebOpenFeature.getClient().getStringDetails('exp-flag', 'none');
    await Promise.resolve();

    expect(statusWhileLoading).not.toBe(WebProviderStatus.READY);
    expect(whileLoading).toMatchObject({ value: 'none', errorCode: 'PROVIDER_NOT_READY' });
    expect(served.flagMetadata.experimentVariation).toBe(other);
    expect(redis.data.get('xp:sticky:id||sticky-user')).toBe(stored);
  });

  it('preloads before PROVIDER_CONFIGURATION_CHANGED when a ruleset brings a sticky experiment the unit was not loaded for', async () => {
    const s = await server(makeRuleset(1));
    const { other } = naturalAndOther('sticky-user');
    const redis = slowRedis();
    const stored = JSON.stringify({ 'exp-ab__1': other });
    redis.data.set('xp:sticky:id||sticky-user', stored);
    const p = new XpWebProvider({ ...options(s.url), pollIntervalMs: 60_000, stickyBucketStore: new RedisStickyBucketStore(redis) });
    await WebOpenFeature.setProviderAndWait(p, { targetingKey: 'sticky-user' });
    let onChange: string | undefined;
    WebOpenFeature.addHandler(WebProviderEvents.ConfigurationChanged, () => {
      onChange ??= WebOpenFeature.getClient().getStringDetails('exp-flag', 'none').flagMetadata.experimentVariation as string | undefined;
    });

    s.publish(stickyRuleset(2));
    await eventually(() => onChange !== undefined);
    await Promise.resolve();

    expect(onChange).toBe(other);
    expect(redis.data.get('xp:sticky:id||sticky-user')).toBe(stored);
  });
});
