/**
 * OpenFeature's own OFREP provider (@openfeature/ofrep-provider, the server-side one) evaluating xp
 * flags over HTTP, as a team without an xp SDK would: the real provider, the real app on a socket.
 */
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { OFREPProvider } from '@openfeature/ofrep-provider';
import { ErrorCode, OpenFeature } from '@openfeature/server-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SdkPlatform } from './sdk-fixture.js';
import { readStream, startSdkPlatform } from './sdk-fixture.js';
import { OFREP_EXPERIMENT, OFREP_FLAGS, addOfrepFlags } from './ofrep-fixture.js';

describe('the OpenFeature OFREP provider against xp', () => {
  let s: SdkPlatform;
  let server: ReturnType<typeof serve>;
  let baseUrl: string;
  let serverKey: string;
  let clientKey: string;

  /** An OpenFeature client over a new OFREP provider sending `key` as a bearer token. */
  const clientWith = async (key: string, domain: string): Promise<ReturnType<typeof OpenFeature.getClient>> => {
    await OpenFeature.setProviderAndWait(domain, new OFREPProvider({ baseUrl, headers: [['Authorization', `Bearer ${key}`]] }));
    return OpenFeature.getClient(domain);
  };

  beforeAll(async () => {
    s = await startSdkPlatform();
    serverKey = s.p.boot.sdkKeys!.development!.server;
    clientKey = s.p.boot.sdkKeys!.development!.client;
    await addOfrepFlags(s);
    server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
      const started = serve({ fetch: s.p.app.fetch, hostname: '127.0.0.1', port: 0 }, () => {
        resolve(started);
      });
      started.once('error', reject);
    });
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await OpenFeature.close();
    await new Promise<void>((resolve) => {
      server.close(() => {
        resolve();
      });
      if ('closeAllConnections' in server) {
        server.closeAllConnections();
      }
    });
    await s.close();
  });

  it('resolves boolean, string, number and object flags with their reasons, variants and metadata', async () => {
    const flags = await clientWith(serverKey, 'server-key');
    const context = { targetingKey: 'provider-user-1', country: 'DE' };

    const bool = await flags.getBooleanDetails(OFREP_FLAGS.bool, false, context);
    const str = await flags.getStringDetails(OFREP_FLAGS.string, 'fallback', context);
    const num = await flags.getNumberDetails(OFREP_FLAGS.number, 0, context);
    const obj = await flags.getObjectDetails(OFREP_FLAGS.json, {}, context);

    expect(bool).toMatchObject({ value: true, reason: 'TARGETING_MATCH', variant: 'on', flagMetadata: { xpReason: 'TARGETING_MATCH', ruleId: 'de' } });
    expect(bool.errorCode).toBeUndefined();
    expect(str).toMatchObject({ value: 'blue', reason: 'STATIC', variant: 'blue' });
    expect(num).toMatchObject({ value: 10, reason: 'SPLIT', variant: 'ten' });
    expect(obj).toMatchObject({ value: { theme: 'dark' }, reason: 'DISABLED', variant: 'dark' });
    expect(await flags.getBooleanValue(OFREP_FLAGS.bool, true, { targetingKey: 'provider-user-1', country: 'FR' })).toBe(false);
  });

  it("gets the protocol's error codes as OpenFeature errors, and the caller's default", async () => {
    const flags = await clientWith(serverKey, 'errors');

    const notFound = await flags.getBooleanDetails('no-such-flag', true, { targetingKey: 'u' });
    const noTargetingKey = await flags.getNumberDetails(OFREP_FLAGS.number, 7, { country: 'DE' });
    const badContext = await flags.getBooleanDetails(OFREP_FLAGS.bool, true, { targetingKey: 'u', ['a'.repeat(201)]: 1 });
    const wrongType = await flags.getNumberDetails(OFREP_FLAGS.bool, 3, { targetingKey: 'u' });

    expect(notFound).toMatchObject({ value: true, reason: 'ERROR', errorCode: ErrorCode.FLAG_NOT_FOUND });
    expect(noTargetingKey).toMatchObject({ value: 7, reason: 'ERROR', errorCode: ErrorCode.TARGETING_KEY_MISSING, errorMessage: expect.stringContaining('targetingKey') });
    expect(badContext).toMatchObject({ value: true, reason: 'ERROR', errorCode: ErrorCode.INVALID_CONTEXT });
    expect(wrongType).toMatchObject({ value: 3, reason: 'ERROR', errorCode: ErrorCode.TYPE_MISMATCH });
  });

  it('fails closed with an unknown key (401), serving the default', async () => {
    const flags = await clientWith('xpk_srv_notarealkeynotarealkeynotarealkey', 'bad-key');

    const res = await flags.getBooleanDetails(OFREP_FLAGS.bool, false, { targetingKey: 'u', country: 'DE' });

    expect(res).toMatchObject({ value: false, reason: 'ERROR', errorCode: ErrorCode.GENERAL });
  });

  it('sees only the client-side flags with a client-side key', async () => {
    const asClient = await clientWith(clientKey, 'client-key');
    const asServer = await clientWith(serverKey, 'server-key-2');

    expect(await asServer.getBooleanDetails(OFREP_FLAGS.serverOnly, false, { targetingKey: 'u' })).toMatchObject({ value: true, reason: 'STATIC' });
    expect(await asClient.getBooleanDetails(OFREP_FLAGS.serverOnly, false, { targetingKey: 'u' })).toMatchObject({ value: false, errorCode: ErrorCode.FLAG_NOT_FOUND });
    expect(await asClient.getBooleanDetails(OFREP_FLAGS.bool, false, { targetingKey: 'u', country: 'DE' })).toMatchObject({ value: true, reason: 'TARGETING_MATCH' });
  });

  it('logs the exposure of an experiment flag it evaluates', async () => {
    const flags = await clientWith(serverKey, 'exposures');

    const details = await flags.getStringDetails(OFREP_FLAGS.experiment, 'none', { targetingKey: 'provider-unit-1', plan: 'pro' });

    expect(details).toMatchObject({ reason: 'SPLIT', flagMetadata: { experimentKey: OFREP_EXPERIMENT, inExperiment: true } });
    const exposures = (await readStream(s.kinesis)).filter((r) => r.event.event.type === 'exposure' && r.event.event.unitId === 'provider-unit-1');
    expect(exposures).toHaveLength(1);
    expect(exposures[0]!.event.event).toMatchObject({ experiment: OFREP_EXPERIMENT, flag: OFREP_FLAGS.experiment, variation: details.variant, hashAttribute: 'id', attributes: { plan: 'pro' } });
  });
});
