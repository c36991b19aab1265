/**
 * `GET /sdk/v1/ruleset?include=serverOnly` lists what a client-side key's ruleset leaves out, not
 * what is marked `clientSide: false`: a marked flag that a client-side flag needs as a prerequisite,
 * and a marked experiment a client-side flag runs, go with it and are not listed. A third-party SDK
 * that removes the listed entries from the whole ruleset gets exactly the client-side key's view.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { booleanFlagBody } from '../../__tests__/harness.js';
import type { SdkPlatform } from './sdk-fixture.js';
import { startSdkPlatform } from './sdk-fixture.js';

const DEMO = '/api/v1/projects/demo';

type Section = 'flags' | 'experiments' | 'savedGroups' | 'holdouts';
type Document = Record<string, unknown> & Partial<Record<Section, Record<string, unknown>>>;
type Listing = Partial<Record<Section, string[]>>;

describe('?include=serverOnly lists what the client view leaves out', () => {
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
  const get = async (path: string, key: string): Promise<Document> => {
    const res = await s.p.app.request(path, { headers: { 'X-XP-SDK-Key': key } });
    expect(res.status).toBe(200);
    return (await res.json()) as Document;
  };
  const on = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ development: { enabled: true, defaultVariation: 'on', offVariation: 'off', ...extra } });
  const start = async (body: Record<string, unknown>): Promise<void> => {
    const created = await must('POST', `${DEMO}/experiments`, body);
    await must('POST', `${DEMO}/experiments/${String(body.key)}/start`, undefined, created.etag);
  };

  beforeAll(async () => {
    s = await startSdkPlatform();
    server = s.p.boot.sdkKeys!.development!.server;
    client = s.p.boot.sdkKeys!.development!.client;
    await must('POST', `${DEMO}/segments`, { key: 'secret-emails', name: 'Secret emails', type: 'ids', attribute: 'email', values: ['ceo@bigcustomer.example'] });
    // Server-side only, but the prerequisite of a client-side flag: the client view keeps it.
    await must('POST', `${DEMO}/flags`, { ...booleanFlagBody('vip-kill-switch', on()), clientSide: false });
    await must('POST', `${DEMO}/flags`, booleanFlagBody('cs-dep', on({ prerequisites: [{ flag: 'vip-kill-switch', variation: 'on' }] })));
    // Server-side only and needed by nothing client-side: left out, with the id list only it names.
    await must('POST', `${DEMO}/flags`, {
      ...booleanFlagBody('secret-targeting', on({ rules: [{ id: 'vip', type: 'force', variation: 'off', condition: { email: { $inGroup: 'secret-emails' } } }] })),
      clientSide: false,
    });
    // A server-side-only experiment a client-side flag runs goes with it; one nothing runs does not.
    await must('POST', `${DEMO}/holdouts`, { key: 'secret-holdout', name: 'Secret holdout', coverage: 0.1 });
    await start({ key: 'run-by-client-flag', name: 'Run by a client flag', clientSide: false, variations: [{ key: 'off' }, { key: 'on' }] });
    await start({ key: 'pricing-engine', name: 'Pricing engine', clientSide: false, holdout: 'secret-holdout', variations: [{ key: 'a' }, { key: 'b' }] });
    await must('POST', `${DEMO}/flags`, booleanFlagBody('cs-experiment', on({ rules: [{ id: 'exp', type: 'experiment', experiment: 'run-by-client-flag' }] })));
  });
  afterAll(async () => {
    await s.close();
  });

  it('leaves the prerequisite and the experiment a client-side flag needs off the list, and lists the id lists and holdouts left out', async () => {
    const annotated = await get('/sdk/v1/ruleset?include=serverOnly', server);
    const forClient = await get('/sdk/v1/ruleset', client);

    expect(forClient.flags).toHaveProperty('vip-kill-switch');
    expect(forClient.experiments).toHaveProperty('run-by-client-flag');
    expect(annotated.serverOnly).toEqual({ flags: ['secret-targeting'], experiments: ['pricing-engine'], savedGroups: ['secret-emails'], holdouts: ['secret-holdout'] });
  });

  it('gives the client-side key its ruleset exactly when the listed entries are removed from the whole ruleset', async () => {
    const { serverOnly, ...whole } = await get('/sdk/v1/ruleset?include=serverOnly', server);
    const forClient = await get('/sdk/v1/ruleset', client);
    const listing = serverOnly as Listing;

    const stripped: Document = { ...whole };
    for (const section of ['flags', 'experiments', 'savedGroups', 'holdouts'] as const) {
      const entries = whole[section];
      if (entries !== undefined) {
        stripped[section] = Object.fromEntries(Object.entries(entries).filter(([key]) => !(listing[section] ?? []).includes(key)));
      }
    }
    expect(stripped).toEqual(forClient);
    // Not vacuous: the whole ruleset holds what the client view lacks.
    expect(whole).not.toEqual(forClient);
  });
});
