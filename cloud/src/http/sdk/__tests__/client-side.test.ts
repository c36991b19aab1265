/**
 * Server-side-only flags and experiments (`clientSide: false`): client-side SDK keys, which anyone
 * can read out of a web page or an app, get the ruleset, the stream and remote evaluation without
 * them or the id lists only they use; server-side keys get everything.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { booleanFlagBody } from '../../__tests__/harness.js';
import type { SdkPlatform } from './sdk-fixture.js';
import { sseReader, startSdkPlatform } from './sdk-fixture.js';

const DEMO = '/api/v1/projects/demo';
const VIP_EMAILS = ['ceo@bigcustomer.example', 'cfo@bigcustomer.example'];

interface Document {
  readonly version: number;
  readonly flags: Record<string, unknown>;
  readonly experiments?: Record<string, unknown>;
  readonly savedGroups?: Record<string, unknown>;
}

describe('server-side-only flags and experiments', () => {
  let s: SdkPlatform;
  let server: string;
  let client: string;

  const must = async (method: string, path: string, body?: unknown, etag?: string): Promise<{ body: any; etag: string }> => {
    const res = await s.p.request(method, path, { token: s.owner, ...(body === undefined ? {} : { body }), ...(etag === undefined ? {} : { headers: { 'If-Match': etag } }) });
    if (res.status >= 300) {
      throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
    }
    return { body: res.body, etag: res.headers.get('etag')! };
  };
  const get = (path: string, key: string, headers: Record<string, string> = {}): Promise<Response> => Promise.resolve(s.p.app.request(path, { headers: { 'X-XP-SDK-Key': key, ...headers } }));
  const ruleset = async (key: string): Promise<{ etag: string; doc: Document }> => {
    const res = await get('/sdk/v1/ruleset', key);
    expect(res.status).toBe(200);
    return { etag: res.headers.get('etag')!, doc: (await res.json()) as Document };
  };
  const on = (rules: unknown[] = []): Record<string, unknown> => ({ development: { enabled: true, defaultVariation: 'on', offVariation: 'off', rules } });

  beforeAll(async () => {
    s = await startSdkPlatform();
    server = s.p.boot.sdkKeys!.development!.server;
    client = s.p.boot.sdkKeys!.development!.client;
    await must('POST', `${DEMO}/segments`, { key: 'vip-emails', name: 'VIP emails', type: 'ids', attribute: 'email', values: VIP_EMAILS });
    // A kill switch for named customers' accounts: their emails must not reach browsers.
    await must('POST', `${DEMO}/flags`, { ...booleanFlagBody('vip-kill-switch', on([{ id: 'vip', type: 'force', variation: 'off', condition: { email: { $inGroup: 'vip-emails' } } }])), clientSide: false });
    // Server-side only, but a client-side flag depends on it: it goes with that flag.
    await must('POST', `${DEMO}/flags`, { ...booleanFlagBody('billing-v2', on()), clientSide: false });
    await must('POST', `${DEMO}/flags`, booleanFlagBody('new-invoice-ui', { development: { enabled: true, defaultVariation: 'on', offVariation: 'off', prerequisites: [{ flag: 'billing-v2', variation: 'on' }] } }));
    const pricing = await must('POST', `${DEMO}/experiments`, { key: 'pricing-engine', name: 'Pricing engine', clientSide: false, variations: [{ key: 'a' }, { key: 'b' }] });
    await must('POST', `${DEMO}/experiments/pricing-engine/start`, undefined, pricing.etag);
  });
  afterAll(async () => {
    await s.close();
  });

  it("leaves them, and the id lists only they use, out of a client-side key's ruleset; server-side keys get everything", async () => {
    const whole = await ruleset(server);
    const forClient = await ruleset(client);

    expect(Object.keys(whole.doc.flags)).toEqual(expect.arrayContaining(['vip-kill-switch', 'billing-v2', 'new-invoice-ui']));
    expect(whole.doc.experiments).toHaveProperty('pricing-engine');
    expect(whole.doc.savedGroups).toEqual({ 'vip-emails': VIP_EMAILS });

    expect(forClient.doc.version).toBe(whole.doc.version);
    expect(Object.keys(forClient.doc.flags)).not.toContain('vip-kill-switch');
    expect(Object.keys(forClient.doc.flags)).toEqual(expect.arrayContaining(['billing-v2', 'new-invoice-ui', 'button-color']));
    expect(forClient.doc.experiments ?? {}).not.toHaveProperty('pricing-engine');
    expect(JSON.stringify(forClient.doc)).not.toContain('bigcustomer');
    // Different content, different ETags; each revalidates with its own.
    expect(forClient.etag).not.toBe(whole.etag);
    expect((await get('/sdk/v1/ruleset', client, { 'If-None-Match': forClient.etag })).status).toBe(304);
    expect((await get('/sdk/v1/ruleset', client, { 'If-None-Match': whole.etag })).status).toBe(200);
  });

  it('lists their keys beside the whole ruleset for server-side keys that ask (?include=serverOnly), with the same ETag', async () => {
    const whole = await ruleset(server);
    const forClient = await ruleset(client);
    const annotated = await get('/sdk/v1/ruleset?include=serverOnly', server);
    expect(annotated.status).toBe(200);
    const doc = (await annotated.json()) as Document & { serverOnly?: { flags: string[]; experiments: string[] } };
    // What the client view leaves out: not billing-v2, marked but new-invoice-ui's prerequisite (server-only-listing.test.ts).
    expect(doc.serverOnly).toEqual({ flags: ['vip-kill-switch'], experiments: ['pricing-engine'], savedGroups: ['vip-emails'], holdouts: [] });
    const { serverOnly: _listed, ...rest } = doc;
    expect(rest).toEqual(whole.doc);
    // The list is a function of the store's etag: the same tag revalidates it.
    expect(annotated.headers.get('etag')).toBe(whole.etag);
    expect((await get('/sdk/v1/ruleset?include=serverOnly', server, { 'If-None-Match': whole.etag })).status).toBe(304);
    // Without asking, the document is unchanged (older SDKs refuse unknown top-level fields).
    expect(whole.doc).not.toHaveProperty('serverOnly');
    // A client-side key has nothing server-side only to list: it gets its own view.
    const byClient = await get('/sdk/v1/ruleset?include=serverOnly', client);
    expect(byClient.headers.get('etag')).toBe(forClient.etag);
    expect(await byClient.json()).toEqual(forClient.doc);
    expect((await get('/sdk/v1/ruleset?include=everything', server)).status).toBe(400);
  });

  it('evaluates them remotely for server-side keys only', async () => {
    const evaluate = (key: string): Promise<Response> =>
      Promise.resolve(
        s.p.app.request('/sdk/v1/evaluate', {
          method: 'POST',
          headers: { 'X-XP-SDK-Key': key, 'Content-Type': 'application/json' },
          body: JSON.stringify({ unit: { id: 'u1', attributes: { email: VIP_EMAILS[0] } }, flags: ['vip-kill-switch', 'new-invoice-ui'] }),
        }),
      );

    const byServer = (await (await evaluate(server)).json()) as { flags: Record<string, { value: unknown; errorCode?: string }> };
    const byClient = (await (await evaluate(client)).json()) as { flags: Record<string, { value: unknown; errorCode?: string }> };

    expect(byServer.flags['vip-kill-switch']).toMatchObject({ value: false });
    expect(byServer.flags['vip-kill-switch']?.errorCode).toBeUndefined();
    expect(byClient.flags['vip-kill-switch']).toMatchObject({ errorCode: 'FLAG_NOT_FOUND' });
    expect(byClient.flags['new-invoice-ui']).toMatchObject({ value: true });
  });

  it('streams the client view to client-side keys, and a flag made client-side reaches them as a new version', async () => {
    const res = await get('/sdk/v1/stream?include=ruleset', client);
    const stream = sseReader(res.body!);
    const first = JSON.parse((await stream.next((m) => m.event === 'ruleset')).data!) as { version: number; etag: string; ruleset: Document };
    expect(Object.keys(first.ruleset.flags)).not.toContain('vip-kill-switch');
    expect(first.etag).toBe((await ruleset(client)).etag);

    const flag = await must('GET', `${DEMO}/flags/vip-kill-switch`);
    await must('PUT', `${DEMO}/flags/vip-kill-switch`, { ...flag.body.definition, clientSide: true }, flag.etag);
    const next = JSON.parse((await stream.next((m) => m.event === 'ruleset', 3_000)).data!) as { version: number; ruleset: Document };
    await stream.cancel();

    expect(next.version).toBe(first.version + 1);
    expect(Object.keys(next.ruleset.flags)).toContain('vip-kill-switch');
    expect(next.ruleset.savedGroups).toEqual({ 'vip-emails': VIP_EMAILS });
    // With nothing server-side only left among the flags, only the experiment differs.
    const whole = await ruleset(server);
    expect(Object.keys((await ruleset(client)).doc.flags).sort()).toEqual(Object.keys(whole.doc.flags).sort());
  });
});
