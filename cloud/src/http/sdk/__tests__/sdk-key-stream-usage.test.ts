/**
 * A server SDK can hold one stream open for weeks: its key's `lastUsedAt` must keep moving while
 * it does (the heartbeat looks the key up again after the cache's TTL, which records the use), or
 * "unused for weeks, safe to revoke" would be wrong. And a rotated-out key loses its open streams
 * at its expiry, as a revoked key does.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SdkPlatform } from './sdk-fixture.js';
import { eventually, sseReader, startSdkPlatform } from './sdk-fixture.js';

const DEMO = '/api/v1/projects/demo';

describe('SDK key usage seen through an open stream', () => {
  let s: SdkPlatform;

  beforeAll(async () => {
    s = await startSdkPlatform({ pollMs: 50, heartbeatMs: 100 });
  }, 120_000);
  afterAll(async () => {
    await s.close();
  });

  const lastUsedAt = async (id: string): Promise<string | null> => {
    const list = await s.p.request('GET', `${DEMO}/sdk-keys?environment=development`, { token: s.owner });
    return (list.body.items as { id: string; lastUsedAt: string | null }[]).find((k) => k.id === id)!.lastUsedAt;
  };

  it('keeps lastUsedAt current while a stream stays open, and ends the stream at the key’s expiry', async () => {
    const created = await s.p.request('POST', `${DEMO}/sdk-keys`, { token: s.owner, body: { environment: 'development', kind: 'server', name: 'long-lived stream' } });
    const { key } = created.body as { key: string };
    const id = created.body.sdkKey.id as string;
    const opened = s.p.now.value.toISOString();
    const res = await s.p.app.request('/sdk/v1/stream', { headers: { 'X-XP-SDK-Key': key } });
    const stream = sseReader(res.body!);
    await stream.next((m) => m.event === 'ruleset');
    await eventually(async () => ((await lastUsedAt(id)) === opened ? true : undefined));

    // Two minutes later, with no other request than the stream's heartbeats.
    s.p.now.value = new Date(s.p.now.value.getTime() + 120_000);
    const later = s.p.now.value.toISOString();
    await stream.next((m) => m.comment === 'heartbeat', 2_000);
    await eventually(async () => ((await lastUsedAt(id)) === later ? true : undefined), 3_000);

    // Rotated with an hour's overlap: the stream lives on until the expiry, then ends.
    const rotated = await s.p.request('POST', `${DEMO}/sdk-keys/${id}/rotate`, { token: s.owner, body: { keepPreviousHours: 1 } });
    expect(rotated.status).toBe(201);
    await stream.next((m) => m.comment === 'heartbeat', 2_000);
    await stream.next((m) => m.comment === 'heartbeat', 2_000);
    s.p.now.value = new Date(s.p.now.value.getTime() + 3_600_000 + 1_000);
    const ended = await stream.next(() => false, 2_000).then(
      () => 'open',
      (e: unknown) => (e instanceof Error ? e.message : String(e)),
    );
    expect(ended).toBe('stream ended');
  });
});
