import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { XpApiClient } from '@xp/shared';
import type { EvaluationsPipelineEvent } from '@xp/shared';
import { addEvaluationCounts } from '../../../store/flag-evaluations.js';
import { createPoller, kinesisShardReader } from '../../../pipeline/poller.js';
import type { Poller } from '../../../pipeline/poller.js';
import { quickSleep, until } from '../../../pipeline/__tests__/kinesis-helpers.js';
import type { SdkPlatform } from './sdk-fixture.js';
import { STREAM, readStreamRecords, startSdkPlatform } from './sdk-fixture.js';

/**
 * Flag evaluation counts end to end: `evaluations` records posted with an SDK key go to Kinesis
 * (kinesalite), the local poller aggregates them, and the API answers the counts; bad records get a
 * reason each while the good ones of the batch are kept.
 */
describe('evaluation counts: POST /sdk/v1/events → Kinesis → aggregator → GET …/evaluations', () => {
  let s: SdkPlatform;
  let server: string;
  let now: number;
  let poller: Poller;
  let api: XpApiClient;
  const HOUR = 3_600_000;

  beforeAll(async () => {
    s = await startSdkPlatform();
    server = s.p.boot.sdkKeys!.development!.server;
    now = s.p.now.value.getTime();
    poller = createPoller({ db: s.p.db, reader: kinesisShardReader(s.kinesis), streamName: STREAM, sleep: quickSleep });
    poller.start();
    // The shared client over the platform's in-process app.
    api = new XpApiClient({ apiUrl: 'http://platform.test', token: s.owner, fetch: (input, init) => Promise.resolve(s.p.app.request(input instanceof Request ? input : input.toString(), init)) });
  });
  afterAll(async () => {
    await poller.stop();
    await s.close();
  });

  const post = async (events: unknown[]): Promise<{ status: number; body: any }> => s.p.request('POST', '/sdk/v1/events', { body: { events }, headers: { 'X-XP-SDK-Key': server } });
  const record = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
    type: 'evaluations',
    id: `ev_${randomUUID().replaceAll('-', '')}`,
    start: now - 70_000,
    timestamp: now - 10_000,
    counts: [{ flag: 'checkout-v2', variation: 'on', count: 120 }],
    ...over,
  });
  const processed = async (n: number): Promise<void> => {
    await until(() => Promise.resolve(poller.stats().processed + poller.stats().duplicates >= n), `${n} records aggregated`);
  };

  it('accepts evaluations beside exposures, keys the Kinesis record by its id, counts it once however often it is sent, and answers the counts', async () => {
    const counts = record({
      counts: [
        { flag: 'checkout-v2', variation: 'on', count: 120 },
        { flag: 'checkout-v2', variation: 'off', count: 31 },
        { flag: 'no-such-flag', variation: null, count: 4 },
      ],
    });
    const earlier = record({ start: now - 2 * HOUR - 60_000, timestamp: now - 2 * HOUR, counts: [{ flag: 'checkout-v2', variation: 'on', count: 5 }] });
    const track = { type: 'track', id: `t-${randomUUID()}`, unitId: 'u-1', timestamp: now - 1_000, name: 'purchase' };
    const res = await post([counts, earlier, track]);
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ accepted: 3, rejected: [] });
    // An SDK retry after a lost answer: the same record again.
    expect((await post([counts])).body).toEqual({ accepted: 1, rejected: [] });
    const stream = await readStreamRecords(s.kinesis);
    expect(stream.filter((r) => r.event.event.id === counts.id).map((r) => r.key)).toEqual([counts.id, counts.id]);
    await processed(4);

    const flag = await api.flagEvaluations('demo', 'checkout-v2', { environment: 'development' });
    const hourOf = (t: number): string => new Date(Math.floor(t / HOUR) * HOUR).toISOString();
    expect(flag).toEqual({
      flag: 'checkout-v2',
      // Day buckets: from is rounded down to its UTC day.
      from: new Date(Math.floor((now - 7 * 24 * HOUR) / (24 * HOUR)) * 24 * HOUR).toISOString(),
      to: new Date(now).toISOString(),
      interval: 'day',
      series: [
        { at: new Date(Math.floor(now / (24 * HOUR)) * 24 * HOUR).toISOString(), environment: 'development', variation: 'off', count: 31 },
        { at: new Date(Math.floor(now / (24 * HOUR)) * 24 * HOUR).toISOString(), environment: 'development', variation: 'on', count: 125 },
      ],
      totals: [
        { environment: 'development', variation: 'on', count: 125 },
        { environment: 'development', variation: 'off', count: 31 },
      ],
      lastEvaluated: [{ environment: 'development', at: new Date(now - 10_000).toISOString() }],
      apps: [{ app: null, count: 156, lastEvaluatedAt: new Date(now - 10_000).toISOString() }],
      dropped: 0,
      // Project-wide: the earliest hour any key was counted in; production and staging have none.
      countingSince: [{ environment: 'development', since: hourOf(now - 2 * HOUR) }],
    });
    const hourly = await api.flagEvaluations('demo', 'checkout-v2', { from: new Date(now - 3 * HOUR).toISOString(), to: new Date(now).toISOString() });
    expect(hourly.interval).toBe('hour');
    // Only the hours with counts: the hour between them is absent, not zero.
    expect(hourly.series.map((b) => [b.at, b.variation, b.count])).toEqual([
      [hourOf(now - 2 * HOUR), 'on', 5],
      [hourOf(now - 10_000), 'off', 31],
      [hourOf(now - 10_000), 'on', 120],
    ]);
    // A key no flag has, still evaluated: its counts, with the default served (null).
    const undefinedFlag = await api.flagEvaluations('demo', 'no-such-flag');
    expect(undefinedFlag.totals).toEqual([{ environment: 'development', variation: null, count: 4 }]);

    const project = await api.projectFlagEvaluations('demo', { days: 30 });
    expect(project.flags.map((f) => [f.flag, f.defined, f.total])).toEqual([
      ['checkout-v2', false, 156],
      ['no-such-flag', false, 4],
    ]);
    expect(project.flags[0]!.environments).toEqual([{ environment: 'development', count: 156, lastEvaluatedAt: new Date(now - 10_000).toISOString() }]);
    expect([project.undefinedOmitted, project.countingSince]).toEqual([0, [{ environment: 'development', since: hourOf(now - 2 * HOUR) }]]);
    // Since when counts arrive is the environment's, not the key's: a key first counted later has the same.
    expect((await api.flagEvaluations('demo', 'no-such-flag')).countingSince).toEqual([{ environment: 'development', since: hourOf(now - 2 * HOUR) }]);
    // Asked for one environment: that one's only, absent where none arrived.
    expect((await api.projectFlagEvaluations('demo', { environment: 'production' })).countingSince).toEqual([]);
    expect((await api.flagEvaluations('demo', 'checkout-v2', { environment: 'development' })).countingSince).toHaveLength(1);
  });

  it('rejects each bad record with its reason and keeps the valid events of the batch', async () => {
    const good = record({ counts: [{ flag: 'kept-flag', variation: 'on', count: 2 }] });
    const bad: [Record<string, unknown>, string][] = [
      [record({ start: now - 5_000 }), 'start: must be at or before timestamp'],
      [record({ start: now - 10_000 - HOUR - 1 }), 'start: must be at most 1 hour before timestamp'],
      [record({ counts: [{ flag: 'a', variation: 'on', count: 1 }, { flag: 'a', variation: 'on', count: 2 }] }), 'counts.1: repeats the (flag, variation) pair of counts.0'],
      [record({ counts: [{ flag: 'a', variation: 'on', count: 0 }] }), 'counts.0.count: must be at least 1'],
      [record({ counts: [{ flag: 'a', variation: 'on', count: 1.5 }] }), 'counts.0.count: expected an integer'],
      [record({ counts: [{ flag: 'a', variation: 'on', count: 2e9 }] }), 'counts.0.count: must be at most 1000000000'],
      [record({ counts: Array.from({ length: 101 }, (_, i) => ({ flag: `f${i}`, variation: 'on', count: 1 })) }), 'counts: must have at most 100 entries'],
      [record({ unitId: 'u-1' }), 'event: unrecognized key "unitId"'],
      [record({ counts: [{ flag: 'a', variation: 'on', count: 1, reason: 'x' }] }), 'counts.0: unrecognized key "reason"'],
      [record({ counts: [{ flag: 'a', variation: 'not a key', count: 1 }] }), 'counts.0.variation: must start with an ASCII letter or digit'],
      [record({ timestamp: now + 25 * HOUR, start: now + 25 * HOUR }), 'timestamp is more than 24 hours in the future'],
      [record({ counts: [{ flag: 'a\u0000b', variation: 'on', count: 1 }] }), 'counts.0.flag:'],
    ];
    const res = await post([good, ...bad.map(([e]) => e)]);
    expect(res.status).toBe(202);
    expect(res.body.accepted).toBe(1);
    expect(res.body.rejected).toHaveLength(bad.length);
    bad.forEach(([event, reason], i) => {
      expect(res.body.rejected[i]).toEqual({ index: i + 1, id: event.id, code: i === 10 ? 'CLOCK_SKEW' : 'INVALID_EVENT', reason: expect.stringContaining(reason) });
    });
    const before = poller.stats().processed;
    await until(() => Promise.resolve(poller.stats().processed > before), 'the good record aggregated');
    expect((await api.flagEvaluations('demo', 'kept-flag')).totals).toEqual([{ environment: 'development', variation: 'on', count: 2 }]);
  });

  it('answers a clear 400 naming the parameter for bad queries, 404 for a key neither defined nor evaluated', async () => {
    const get = (path: string): Promise<{ status: number; body: any }> => s.p.request('GET', path, { token: s.owner });
    const base = '/api/v1/projects/demo/flags/checkout-v2/evaluations';
    const cases: [string, RegExp][] = [
      [`${base}?from=yesterday`, /from/],
      [`${base}?to=2026-13-01T00:00:00Z`, /to/],
      [`${base}?interval=week`, /interval: must be hour or day/],
      [`${base}?environment=nowhere`, /environment "nowhere" is not an environment of this project/],
      [`${base}?from=2026-11-25T00:00:00Z&to=2026-11-24T00:00:00Z`, /from must be before to/],
      [`${base}?from=2026-01-01T00:00:00Z&to=2026-11-01T00:00:00Z`, /longer than 90 days/],
      [`${base}?bogus=1`, /bogus/],
      ['/api/v1/projects/demo/flag-evaluations?days=0', /days: must be a whole number from 1 to 90/],
      ['/api/v1/projects/demo/flag-evaluations?days=91', /days/],
      ['/api/v1/projects/demo/flag-evaluations?environment=nowhere', /environment/],
      ['/api/v1/projects/demo/flag-evaluations?limit=0', /limit: must be a whole number from 1 to 5000/],
      ['/api/v1/projects/demo/flag-evaluations?limit=5001', /limit: must be a whole number from 1 to 5000/],
      ['/api/v1/projects/demo/flag-evaluations?limit=many', /limit/],
    ];
    for (const [path, message] of cases) {
      const res = await get(path);
      expect([path, res.status]).toEqual([path, 400]);
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
      expect(res.body.error.message).toMatch(message);
    }
    expect((await get('/api/v1/projects/demo/flags/never-heard-of/evaluations')).status).toBe(404);
    // A defined flag never evaluated: 200 with nothing in it.
    const created = await s.p.request('POST', '/api/v1/projects/demo/flags', { token: s.owner, body: { key: 'quiet-flag', name: 'Quiet', type: 'boolean', variations: [{ key: 'on', value: true }, { key: 'off', value: false }] } });
    expect(created.status).toBe(201);
    const quiet = await get('/api/v1/projects/demo/flags/quiet-flag/evaluations');
    expect(quiet.status).toBe(200);
    expect(quiet.body).toMatchObject({ flag: 'quiet-flag', series: [], totals: [], lastEvaluated: [] });
    // A key that is not a well-formed flag key, percent-encoded, can be asked for too.
    expect((await get(`/api/v1/projects/demo/flags/${encodeURIComponent('no such flag!')}/evaluations`)).status).toBe(404);
  });

  it('counts the remote evaluations it answers (POST /sdk/v1/evaluate with flags, OFREP single flags) in the write of their exposures, not explain requests nor bulk prefetches', async () => {
    const evaluate = (body: unknown): Promise<{ status: number; body: any }> => s.p.request('POST', '/sdk/v1/evaluate', { body, headers: { 'X-XP-SDK-Key': server } });
    const ofrep = (path: string): Promise<Response> =>
      Promise.resolve(s.p.app.request(path, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${server}` }, body: JSON.stringify({ context: { targetingKey: 'u-9' } }) }));
    const before = poller.stats().processed;
    // A minute on: the server's records are told apart from the SDK's by their time.
    const at = now + 60_000;
    s.p.now.value = new Date(at);
    const remote = await evaluate({ unit: { id: 'u-9' }, flags: ['new-checkout', 'remote-missing', 'new-checkout'] });
    expect(remote.status).toBe(200);
    expect((await evaluate({ unit: { id: 'u-9' }, flags: ['new-checkout'], explain: true })).status).toBe(200);
    expect((await evaluate({ unit: { id: 'u-9' } })).status).toBe(200);
    expect((await ofrep('/ofrep/v1/evaluate/flags/new-checkout')).status).toBe(200);
    expect((await ofrep('/ofrep/v1/evaluate/flags/ofrep-missing')).status).toBe(404);
    expect((await ofrep('/ofrep/v1/evaluate/flags')).status).toBe(200);
    // One record per counting request: /sdk/v1/evaluate, OFREP's flag and OFREP's missing flag.
    await until(() => Promise.resolve(poller.stats().processed >= before + 3), 'the remote evaluation counts aggregated');
    // The server's records: a window of an instant, at its clock.
    const counted = (await readStreamRecords(s.kinesis)).map((r) => r.event).filter((e) => e.event.type === 'evaluations' && e.event.start === at && e.event.timestamp === at);
    expect(counted).toHaveLength(3);
    // /sdk/v1/evaluate evaluates a key named twice once; OFREP's answer is the other.
    expect((await api.flagEvaluations('demo', 'new-checkout')).totals).toEqual([{ environment: 'development', variation: 'on', count: 2 }]);
    expect((await api.flagEvaluations('demo', 'remote-missing')).totals).toEqual([{ environment: 'development', variation: null, count: 1 }]);
    expect((await api.flagEvaluations('demo', 'ofrep-missing')).totals).toEqual([{ environment: 'development', variation: null, count: 1 }]);
    // The bulk answers counted nothing: button-color was answered only by them.
    expect((await s.p.request('GET', '/api/v1/projects/demo/flags/button-color/evaluations', { token: s.owner })).body.totals).toEqual([]);
  });

  it('lists every defined flag but only the most evaluated `limit` keys no flag has, and says how many more there are', async () => {
    const before = poller.stats().processed;
    // A client key asking for made-up keys: each less evaluated than the defined flag below.
    const junk = Array.from({ length: 40 }, (_, i) => ({ flag: `made-up-${String(i).padStart(2, '0')}`, variation: null, count: 1 + i }));
    expect((await post([record({ counts: [...junk, { flag: 'button-color', variation: 'blue', count: 1 }] })])).body).toEqual({ accepted: 1, rejected: [] });
    await until(() => Promise.resolve(poller.stats().processed > before), 'the record aggregated');
    const all = await api.projectFlagEvaluations('demo', { limit: 5000 });
    const undefinedKeys = all.flags.filter((f) => !f.defined).map((f) => f.flag);
    const definedKeys = all.flags.filter((f) => f.defined).map((f) => f.flag);
    expect(all.undefinedOmitted).toBe(0);
    expect(undefinedKeys).toEqual(expect.arrayContaining(junk.map((j) => j.flag)));
    expect(definedKeys).toContain('button-color');
    // Most evaluated first: the limit keeps the top of the undefined keys and every defined flag, however rarely evaluated.
    const two = await api.projectFlagEvaluations('demo', { limit: 2 });
    expect(two.flags.filter((f) => !f.defined).map((f) => f.flag)).toEqual(undefinedKeys.slice(0, 2));
    expect(two.flags.filter((f) => f.defined).map((f) => f.flag)).toEqual(definedKeys);
    expect(two.undefinedOmitted).toBe(undefinedKeys.length - 2);
    // The default: 1,000.
    const byDefault = await s.p.request('GET', '/api/v1/projects/demo/flag-evaluations', { token: s.owner });
    expect([byDefault.status, byDefault.body.flags.length, byDefault.body.undefinedOmitted]).toEqual([200, all.flags.length, 0]);
  });

  it('counts a record whose window ends in the future (clock skew) at the time it was received: last evaluated is never tomorrow', async () => {
    const before = poller.stats().processed;
    const received = s.p.now.value.getTime();
    const ahead = received + 23 * HOUR;
    expect((await post([record({ start: ahead - 60_000, timestamp: ahead, counts: [{ flag: 'skewed-clock', variation: 'on', count: 3 }] })])).body).toEqual({ accepted: 1, rejected: [] });
    await until(() => Promise.resolve(poller.stats().processed > before), 'the record aggregated');
    const flag = await api.flagEvaluations('demo', 'skewed-clock', { from: new Date(received - HOUR).toISOString(), to: new Date(received + 2 * 24 * HOUR).toISOString(), interval: 'hour' });
    expect(flag.lastEvaluated).toEqual([{ environment: 'development', at: new Date(received).toISOString() }]);
    expect(flag.series).toEqual([{ at: new Date(Math.floor(received / HOUR) * HOUR).toISOString(), environment: 'development', variation: 'on', count: 3 }]);
    expect((await api.projectFlagEvaluations('demo')).flags.find((f) => f.flag === 'skewed-clock')?.lastEvaluatedAt).toBe(new Date(received).toISOString());
  });

  it('keeps the counts of a deleted flag: it shows as still evaluated, not defined', async () => {
    const body = { key: 'doomed-flag', name: 'Doomed', type: 'boolean', variations: [{ key: 'on', value: true }, { key: 'off', value: false }] };
    expect((await s.p.request('POST', '/api/v1/projects/demo/flags', { token: s.owner, body })).status).toBe(201);
    const before = poller.stats().processed;
    expect((await post([record({ counts: [{ flag: 'doomed-flag', variation: 'off', count: 9 }] })])).status).toBe(202);
    await until(() => Promise.resolve(poller.stats().processed > before), 'the record aggregated');
    const listed = async (): Promise<unknown> => (await api.projectFlagEvaluations('demo')).flags.find((f) => f.flag === 'doomed-flag');
    expect(await listed()).toMatchObject({ defined: true, total: 9 });
    const deleted = await s.p.request('DELETE', '/api/v1/projects/demo/flags/doomed-flag', { token: s.owner, headers: { 'If-Match': '"1"' } });
    expect(deleted.status).toBe(204);
    expect((await api.flagEvaluations('demo', 'doomed-flag')).totals).toEqual([{ environment: 'development', variation: 'off', count: 9 }]);
    expect(await listed()).toMatchObject({ defined: false, total: 9 });
  });

  it('counts records and remote evaluations under their application (`app`, X-XP-App), filters by one, and refuses a malformed one naming it', async () => {
    const before = poller.stats().processed;
    expect((await post([record({ app: 'checkout-api', counts: [{ flag: 'by-app', variation: 'on', count: 10 }] }), record({ app: 'web-shop', counts: [{ flag: 'by-app', variation: 'on', count: 3 }] })])).body).toEqual({
      accepted: 2,
      rejected: [],
    });
    // A bad `app` rejects that record alone.
    const bad = await post([record({ app: '-nope', counts: [{ flag: 'by-app', variation: 'on', count: 99 }] }), record({ counts: [{ flag: 'by-app', variation: 'on', count: 1 }] })]);
    expect([bad.body.accepted, bad.body.rejected[0].reason]).toEqual([1, expect.stringMatching(/^app: must be 1 to 64 ASCII letters/)]);
    // The remote evaluations a minute on, inside the hour bucket the default window reads (the clock may stand on an hour's start).
    s.p.now.value = new Date(Math.max(s.p.now.value.getTime(), now + 60_000));
    const headers = (app?: string): Record<string, string> => ({ 'X-XP-SDK-Key': server, ...(app === undefined ? {} : { 'X-XP-App': app }) });
    const evaluate = (app?: string): Promise<{ status: number; body: any }> => s.p.request('POST', '/sdk/v1/evaluate', { body: { unit: { id: 'u-1' }, flags: ['by-app'] }, headers: headers(app) });
    const ofrep = (app?: string): Promise<Response> =>
      Promise.resolve(s.p.app.request('/ofrep/v1/evaluate/flags/by-app', { method: 'POST', headers: { 'content-type': 'application/json', ...headers(app) }, body: JSON.stringify({ context: { targetingKey: 'u-1' } }) }));
    expect((await evaluate('web-shop')).status).toBe(200);
    expect((await ofrep('web-shop')).status).toBe(404);
    expect((await evaluate()).status).toBe(200);
    // A malformed header: 400 naming it, nothing counted.
    for (const app of ['', 'a b', 'x'.repeat(65), '.dot-first']) {
      const refused = await evaluate(app);
      expect([refused.status, refused.body.error.details.issues[0].path, refused.body.error.message]).toEqual([400, 'header.X-XP-App', expect.stringContaining('X-XP-App header must be 1 to 64')]);
      const res = await ofrep(app);
      expect([res.status, await res.json()]).toEqual([400, { key: 'by-app', errorCode: 'GENERAL', errorDetails: expect.stringContaining('X-XP-App header must be 1 to 64') }]);
    }
    // The preflight lets a browser send it.
    const preflight = await s.p.app.request('/sdk/v1/evaluate', { method: 'OPTIONS', headers: { origin: 'https://shop.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-xp-app' } });
    expect(preflight.headers.get('access-control-allow-headers')).toContain('X-XP-App');
    // The SDK's 3 records and the 3 counting requests' (evaluate, OFREP's not-found, evaluate without a header).
    const counted = async (): Promise<number> => (await api.flagEvaluations('demo', 'by-app')).apps.reduce((n, a) => n + a.count, 0);
    await until(async () => poller.stats().processed >= before + 6 && (await counted()) === 17, 'the records aggregated');

    const all = await api.flagEvaluations('demo', 'by-app');
    expect(all.apps.map((a) => [a.app, a.count])).toEqual([
      ['checkout-api', 10],
      ['web-shop', 5],
      [null, 2],
    ]);
    const web = await api.flagEvaluations('demo', 'by-app', { app: 'web-shop' });
    // Its 3 from the SDK ('on') and the 2 remote evaluations (a key no flag has: the default served).
    expect([web.totals, web.apps.map((a) => a.app)]).toEqual([
      [
        { environment: 'development', variation: 'on', count: 3 },
        { environment: 'development', variation: null, count: 2 },
      ],
      ['web-shop'],
    ]);
    expect((await api.flagEvaluations('demo', 'by-app', { app: 'never-seen' })).totals).toEqual([]);
    const listed = await api.projectFlagEvaluations('demo', { app: 'checkout-api' });
    expect([listed.flags.map((f) => [f.flag, f.total]), listed.apps.map((a) => a.app), listed.dropped]).toEqual([[['by-app', 10]], ['checkout-api'], 0]);
    expect((await api.projectFlagEvaluations('demo')).apps.map((a) => a.app)).toEqual(expect.arrayContaining(['checkout-api', 'web-shop', null]));
    // A malformed filter: 400 naming query.app.
    for (const path of ['/api/v1/projects/demo/flags/by-app/evaluations?app=a%20b', '/api/v1/projects/demo/flag-evaluations?app=-x']) {
      const res = await s.p.request('GET', path, { token: s.owner });
      expect([res.status, res.body.error.details.issues[0].path]).toEqual([400, 'query.app']);
    }
  });

  it('says in a key\'s counts how many evaluations the caps dropped in the window and environments asked for, the same with or without `app`', async () => {
    // Drops made by the aggregator's rule with a cap of 1 named application (the real 50 take 51 services): in production, now and 10 days ago.
    const counted = (at: number, app: string, count: number): EvaluationsPipelineEvent => ({
      v: 1,
      projectId: s.projectId,
      environment: 'production',
      receivedAt: at,
      occurredAt: at,
      event: { id: `ev_${randomUUID().replaceAll('-', '')}`, type: 'evaluations', start: at - 60_000, timestamp: at, app, counts: [{ flag: 'capped-key', variation: 'on', count }] },
    });
    const at = s.p.now.value.getTime() - 1_000;
    for (const when of [at, at - 10 * 24 * HOUR]) {
      for (const [app, count] of [['first-app', 3], ['later-app', when === at ? 7 : 5]] as const) {
        await addEvaluationCounts(s.p.db, [counted(when, app, count)], { keys: 100, apps: 1 });
      }
    }
    const dropped = async (query: Parameters<XpApiClient['flagEvaluations']>[2], key = 'capped-key'): Promise<number | undefined> => (await api.flagEvaluations('demo', key, query)).dropped;
    // The default window (7 days), every environment; then one environment, another, one application (not per application), a window reaching the older drop, and one ending before the recent one.
    expect(await dropped({})).toBe(7);
    expect(await dropped({ environment: 'production' })).toBe(7);
    expect(await dropped({ environment: 'development' })).toBe(0);
    expect(await dropped({ app: 'first-app' })).toBe(7);
    expect(await dropped({ app: 'later-app' })).toBe(7);
    expect(await dropped({ from: new Date(at - 11 * 24 * HOUR).toISOString() })).toBe(12);
    expect(await dropped({ from: new Date(at - 11 * 24 * HOUR).toISOString(), to: new Date(at - 2 * HOUR).toISOString() })).toBe(5);
    // Not per key: another key's counts say the same.
    expect(await dropped({ environment: 'production' }, 'by-app')).toBe(7);
    expect((await api.flagEvaluations('demo', 'capped-key', { environment: 'production' })).totals).toEqual([{ environment: 'production', variation: 'on', count: 3 }]);
    // The listing's agrees.
    expect((await api.projectFlagEvaluations('demo', { environment: 'production', days: 30 })).dropped).toBe(12);
  });
});
