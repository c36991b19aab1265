import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PipelineEvent } from '@xp/shared';
import { XpApiClient } from '@xp/shared';
import { experimentResultsSchema } from '../../domain/results.js';
import type { ExperimentResults } from '../../domain/results.js';
import { withExplorer } from '../../pipeline/explorer-hook.js';
import type { StreamRecord } from '../../pipeline/aggregate.js';
import { exposure, toRecord, track } from '../../pipeline/__tests__/fixtures.js';
import { TARGETS } from '../../store/__tests__/test-databases.js';
import { exportUnit } from '../../store/unit-export.js';
import type { Platform } from './harness.js';
import { OWNER, markPasswordChosen, mustAs, requestAs, startPlatform } from './harness.js';

const KEY = 'subject';
const BASE = `/api/v1/projects/${KEY}`;
const OTHER = 'other-subject';
const HOUR = 3_600_000;
const AT = Date.UTC(2026, 10, 1);
const PASSWORD = 'purple monkey dishwasher 7';
const ALICE = 'alice';
/** What bob's event naming alice holds of bob's alone: the export of alice must not show it. */
const BOB_DEVICE = 'bob-device-7f3a';
const BOB_PLAN = 'bob-secret-plan-91c2';
const sha256 = (id: string): string => createHash('sha256').update(id, 'utf8').digest('hex');
/** The erasure's counts, named as the export's sections. */
const TABLE_SECTIONS = ['exposures', 'unitMetricTotals', 'unitEvents', 'explorerEvents', 'stickyAssignments', 'deadLetters'] as const;

/** An exposure carrying targeting attributes (what results break down by). */
function exposed(unit: string, variation: string, at: number, attributes: Record<string, string>, projectId: string): PipelineEvent {
  const e = exposure(unit, 'exp', variation, at, undefined, projectId);
  return { ...e, event: { ...e.event, type: 'exposure', experiment: 'exp', variation, attributes } };
}

describe.each(TARGETS.map((t) => [t().name, t] as const))('exporting a unit (subject access), then erasing it, on %s', (_name, makeTarget) => {
  let p: Platform;
  let owner: string;
  const tokens: Record<string, string> = {};
  let projectId: string;
  let otherId: string;
  const must = (method: string, path: string, body?: unknown): Promise<any> => mustAs(p, owner, method, path, body);
  const send = async (events: readonly (PipelineEvent | StreamRecord)[]): Promise<void> => {
    const out = await withExplorer()(p.db, events.map((e) => ('data' in e ? e : toRecord(e))), { logger: p.services.deps.logger });
    if (out.batchItemFailures.length !== 0) {
      throw new Error(`the events were not aggregated: ${JSON.stringify(out)}`);
    }
  };
  const exported = async (unit: string, token = owner, query = ''): Promise<{ status: number; body: any }> =>
    requestAs(p, token, 'GET', `${BASE}/unit-export?unitId=${encodeURIComponent(unit)}${query}`);
  const totals = (body: any): Record<string, number> => Object.fromEntries(Object.entries(body.sections as Record<string, { total: number }>).map(([k, s]) => [k, s.total]));
  /** Results filtered on one attribute value, from the dimension rollups (`from` on the hour). */
  const filtered = async (attribute: string, value: string, scan = false): Promise<ExperimentResults> =>
    experimentResultsSchema.parse(await must('GET', `${BASE}/experiments/exp/results?attr.${attribute}=${encodeURIComponent(value)}&from=${new Date(AT - HOUR - (scan ? 1 : 0)).toISOString()}`));
  const numbers = (r: ExperimentResults) => ({
    units: r.units,
    variations: r.variations.map((v) => v.units),
    metrics: r.metrics.map((m) => [m.key, m.variations.map((v) => [v.units, v.total, v.comparison?.effect ?? null, v.comparison?.pValue ?? null])]),
  });
  /** Every row of the result dimension tables that mentions `text`. */
  const dimensionRowsWith = async (text: string): Promise<number> => {
    let n = 0;
    for (const table of ['results_dimension_rollups', 'results_dimension_values']) {
      n += (await p.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE project_id = $1 AND dimension_value::text LIKE $2`, [projectId, `%${text}%`])).rows[0]!.n;
    }
    return n;
  };

  beforeAll(async () => {
    p = await startPlatform(makeTarget(), { deps: (d) => ({ ...d, events: { put: () => Promise.resolve() } }) });
    owner = await p.login(OWNER.email, OWNER.password);
    for (const role of ['admin', 'editor', 'analyst', 'viewer']) {
      const email = `${role}-subject@example.com`;
      await must('POST', '/api/v1/users', { email, name: role, role, password: PASSWORD });
      await markPasswordChosen(p.db, email);
      tokens[role] = await p.login(email, PASSWORD);
    }
    for (const key of [KEY, OTHER]) {
      await must('POST', '/api/v1/projects', { key, name: key });
      await must('POST', `/api/v1/projects/${key}/metrics`, { key: 'purchases', name: 'Purchases', type: 'count', event: 'purchase' });
      await must('POST', `/api/v1/projects/${key}/metrics`, { key: 'revenue', name: 'Revenue', type: 'sum', event: 'purchase', property: 'amount' });
      await must('POST', `/api/v1/projects/${key}/experiments`, {
        key: 'exp',
        name: 'Exp',
        variations: [{ key: 'control' }, { key: 'treatment' }],
        metrics: { primary: ['purchases'], secondary: ['revenue'] },
        status: 'running',
        startedAt: new Date(AT - HOUR).toISOString(),
        dimensions: ['email', 'country'],
      });
    }
    projectId = (await p.db.query<{ id: string }>('SELECT id FROM projects WHERE key = $1', [KEY])).rows[0]!.id;
    otherId = (await p.db.query<{ id: string }>('SELECT id FROM projects WHERE key = $1', [OTHER])).rows[0]!.id;
    // The results register the dimensions (empty rollups): what follows is rolled up by the triggers, as deltas.
    for (const key of [KEY, OTHER]) {
      await must('GET', `/api/v1/projects/${key}/experiments/exp/results`);
    }

    // Alice's first batch says another e-mail; a second brings her earlier exposure, whose attributes win.
    await send([exposed(ALICE, 'treatment', AT + 10 * 60_000, { email: 'alice.old@example.org', country: 'DE' }, projectId)]);
    const page = track('bob', 'page_view', AT + 2 * HOUR, undefined, undefined, projectId);
    await send([
      exposed(ALICE, 'treatment', AT, { email: 'alice@example.org', country: 'DE' }, projectId),
      exposed('bob', 'control', AT + 60_000, { email: 'bob@example.org', country: 'DE' }, projectId),
      exposed('bob-2', 'treatment', AT + 2 * 60_000, { email: 'bob2@example.org', country: 'FR' }, projectId),
      track(ALICE, 'purchase', AT + HOUR, 10, undefined, projectId),
      track(ALICE, 'purchase', AT + HOUR + 1, 20, undefined, projectId),
      track('bob', 'purchase', AT + HOUR, 5, undefined, projectId),
      track('bob-2', 'purchase', AT + HOUR, 7, undefined, projectId),
      // Bob's page view names alice as another identifier (and bob's device): the explorer's row holds her id.
      { ...page, event: { ...page.event, type: 'track', name: 'page_view', units: { userId: ALICE, deviceId: BOB_DEVICE }, properties: { plan: BOB_PLAN } } },
      // Alice in another project.
      exposed(ALICE, 'control', AT, { email: 'alice@example.org', country: 'DE' }, otherId),
      // A record the pipeline cannot read, naming the project and alice.
      {
        data: Buffer.from(JSON.stringify({ v: 1, projectId, environment: 'Not A Key!', receivedAt: AT, occurredAt: AT, event: { id: 'poison-1', type: 'track', unitId: ALICE, timestamp: AT, name: 'purchase' } })),
        sequenceNumber: '90000000000000000001',
        shardId: 'shardId-000000000009',
        partitionKey: ALICE,
      },
      // One of bob's (his partition key) naming alice: the erasure of alice deletes it, her export redacts it.
      {
        data: Buffer.from(
          JSON.stringify({
            v: 1,
            projectId,
            environment: 'Not A Key!',
            receivedAt: AT,
            occurredAt: AT,
            event: { id: 'poison-2', type: 'track', unitId: 'bob', units: { userId: ALICE, deviceId: BOB_DEVICE }, timestamp: AT, name: 'purchase', properties: { plan: BOB_PLAN } },
          }),
        ),
        sequenceNumber: '90000000000000000002',
        shardId: 'shardId-000000000009',
        partitionKey: 'bob',
      },
    ]);
    for (const [id, unit] of [[projectId, ALICE], [projectId, 'bob'], [otherId, ALICE]] as const) {
      await p.db.query('INSERT INTO sticky_assignments (project_id, unit_key, assignments) VALUES ($1, $2, $3)', [id, `id||${unit}`, JSON.stringify({ exp__1: 'treatment' })]);
    }
  });
  afterAll(async () => {
    await p.close();
  });

  it("exports everything the project holds about the unit, by section, with the unit id in the query only", async () => {
    const res = await exported(ALICE, tokens.admin);

    expect(res.status).toBe(200);
    expect(res.body.unitId).toBe(ALICE);
    expect(totals(res.body)).toEqual({
      exposures: 1,
      unitMetricTotals: 2,
      // Her purchases, and bob's page view naming her (stored for each unit it names).
      unitEvents: 3,
      // Her exposure twice (two batches), two purchases, and bob's page view naming her.
      explorerEvents: 5,
      stickyAssignments: 1,
      // Hers, and bob's naming her.
      deadLetters: 2,
      // Both her e-mails (the one her attributes held before, from the explorer's copy of that exposure) and her country.
      resultsDimensionValues: 3,
    });
    const s = res.body.sections;
    expect(s.exposures.items).toEqual([
      expect.objectContaining({ environment: 'production', experiment: 'exp', variation: 'treatment', exposedAt: new Date(AT).toISOString(), excluded: false, attributes: { email: 'alice@example.org', country: 'DE' } }),
    ]);
    expect(s.unitMetricTotals.items.map((t: any) => [t.metric, t.value])).toEqual([
      ['purchases', 2],
      ['revenue', 30],
    ]);
    expect(s.unitEvents.items.map((e: any) => [e.name, e.properties])).toEqual([
      ['purchase', { amount: 10 }],
      ['purchase', { amount: 20 }],
      // Stored for each unit it names: her copy of it, as the pipeline counts it for her.
      ['page_view', { plan: BOB_PLAN }],
    ]);
    expect(s.explorerEvents.items.map((e: any) => `${e.type} ${e.name} ${e.unitId}`)).toEqual(['exposure exp alice', 'exposure exp alice', 'track purchase alice', 'track purchase alice', 'track page_view null']);
    expect(s.explorerEvents.items.map((e: any) => e.redacted ?? false)).toEqual([false, false, false, false, true]);
    expect(s.stickyAssignments.items).toEqual([expect.objectContaining({ unitKey: `id||${ALICE}`, assignments: { exp__1: 'treatment' } })]);
    expect(s.deadLetters.items).toEqual([
      expect.objectContaining({ partitionKey: ALICE, encoding: 'utf8', data: expect.stringContaining('"poison-1"') }),
      expect.objectContaining({ redacted: true, sequenceNumber: '90000000000000000002' }),
    ]);
    expect(s.resultsDimensionValues.items).toEqual([
      { experiment: 'exp', dimension: 'country', value: 'DE' },
      { experiment: 'exp', dimension: 'email', value: 'alice.old@example.org' },
      { experiment: 'exp', dimension: 'email', value: 'alice@example.org' },
    ]);
    for (const name of Object.keys(s)) {
      expect([name, s[name].offset, s[name].truncated, s[name].nextOffset]).toEqual([name, 0, false, undefined]);
    }
    expect(res.body.sections.exposures.items[0].attributes).not.toHaveProperty('projectId');
    // The request line holds the path, not the query: no unit id in the logs.
    const lines = p.logs.filter((l) => l.startsWith('request ') && l.includes('/unit-export'));
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.join('\n')).not.toContain(ALICE);
    expect(p.logs.filter((l) => l.startsWith('unit exported')).join('\n')).not.toContain(ALICE);
  });

  it("redacts the rows of other units that name the unit: never the other unit's id, identifiers, properties or raw record", async () => {
    const res = await exported(ALICE, tokens.admin);

    expect(res.status).toBe(200);
    const page = res.body.sections.explorerEvents.items[4];
    expect(page).toEqual({
      environment: 'production',
      eventId: expect.any(String),
      type: 'track',
      unitId: null,
      // Her identifier in it, not bob's device.
      units: { userId: ALICE },
      name: 'page_view',
      experiment: null,
      variation: null,
      flag: null,
      value: null,
      properties: null,
      occurredAt: new Date(AT + 2 * HOUR).toISOString(),
      receivedAt: new Date(AT + 2 * HOUR).toISOString(),
      redacted: true,
    });
    expect(res.body.sections.deadLetters.items[1]).toEqual({
      id: expect.any(Number),
      shardId: 'shardId-000000000009',
      sequenceNumber: '90000000000000000002',
      reason: expect.any(String),
      createdAt: expect.any(String),
      redacted: true,
    });
    // Her own rows are whole.
    expect(res.body.sections.explorerEvents.items.slice(0, 4).every((e: any) => e.unitId === ALICE && !('redacted' in e))).toBe(true);
    expect(res.body.sections.deadLetters.items[0]).not.toHaveProperty('redacted');
    // Nothing of bob's anywhere: his id, his other identifier, his event's properties (but in her
    // unit events: the pipeline stores the event for each unit it names, so that copy is hers).
    const text = JSON.stringify(res.body);
    expect(text).not.toContain('"bob"');
    expect(text).not.toContain(BOB_DEVICE);
    expect(JSON.stringify({ ...res.body, sections: { ...res.body.sections, unitEvents: undefined } })).not.toContain(BOB_PLAN);
    // Bob's own export gives his page view whole.
    const bob = (await exported('bob')).body.sections.explorerEvents.items.find((e: any) => e.name === 'page_view');
    expect(bob).toMatchObject({ unitId: 'bob', units: { userId: ALICE, deviceId: BOB_DEVICE }, properties: { plan: BOB_PLAN } });
    expect(bob).not.toHaveProperty('redacted');
  });

  it('gives one section from an offset, and bounds each answer (truncated, nextOffset)', async () => {
    const rest = await exported(ALICE, owner, '&section=explorerEvents&offset=3');
    const first = await exportUnit(p.db, projectId, ALICE, { only: 'explorerEvents', limit: 2 });
    const second = await exportUnit(p.db, projectId, ALICE, { only: 'explorerEvents', offset: first.explorerEvents!.nextOffset!, limit: 2 });
    const last = await exportUnit(p.db, projectId, ALICE, { only: 'explorerEvents', offset: second.explorerEvents!.nextOffset!, limit: 2 });

    expect(rest.status).toBe(200);
    expect(Object.keys(rest.body.sections)).toEqual(['explorerEvents']);
    expect(rest.body.sections.explorerEvents).toMatchObject({ total: 5, offset: 3, truncated: false });
    expect(rest.body.sections.explorerEvents.items.map((e: any) => e.name)).toEqual(['purchase', 'page_view']);
    expect([first, second, last].map((x) => [x.explorerEvents!.offset, x.explorerEvents!.items.length, x.explorerEvents!.truncated, x.explorerEvents!.nextOffset])).toEqual([
      [0, 2, true, 2],
      [2, 2, true, 4],
      [4, 1, false, undefined],
    ]);
    const all = (await exported(ALICE)).body.sections.explorerEvents.items;
    expect([...first.explorerEvents!.items, ...second.explorerEvents!.items, ...last.explorerEvents!.items]).toEqual(all);
  });

  it('refuses roles below admin (403) and bad unit ids (400); an unknown unit has empty sections', async () => {
    for (const role of ['editor', 'analyst', 'viewer']) {
      const res = await exported(ALICE, tokens[role]);
      expect([role, res.status, res.body.error.code, res.body.error.details]).toEqual([role, 403, 'FORBIDDEN', { permission: 'units:erase' }]);
    }
    const bad = [
      `${BASE}/unit-export`,
      `${BASE}/unit-export?unitId=`,
      `${BASE}/unit-export?unitId=${'x'.repeat(257)}`,
      `${BASE}/unit-export?unitId=nul%00id`,
      `${BASE}/unit-export?unitId=a&unitId=b`,
      `${BASE}/unit-export?unitId=${ALICE}&section=everything`,
      `${BASE}/unit-export?unitId=${ALICE}&offset=2`,
      `${BASE}/unit-export?unitId=${ALICE}&section=unitEvents&offset=-1`,
      `${BASE}/unit-export?unitId=${ALICE}&environment=production`,
    ];
    for (const path of bad) {
      const res = await requestAs(p, owner, 'GET', path);
      expect([path.slice(BASE.length, BASE.length + 60), res.status, res.body.error.code]).toEqual([path.slice(BASE.length, BASE.length + 60), 400, 'VALIDATION_FAILED']);
    }
    expect((await requestAs(p, owner, 'GET', `/api/v1/projects/no-such-project/unit-export?unitId=${ALICE}`)).status).toBe(404);
    const longest = await exported('y'.repeat(256));
    const unknown = await exported('never-seen');
    expect(longest.status).toBe(200);
    expect(unknown.status).toBe(200);
    expect(totals(unknown.body)).toEqual({ exposures: 0, unitMetricTotals: 0, unitEvents: 0, explorerEvents: 0, stickyAssignments: 0, deadLetters: 0, resultsDimensionValues: 0 });
    expect(Object.values(unknown.body.sections).every((s: any) => s.items.length === 0 && s.truncated === false)).toBe(true);
  });

  it('audits each export as unit.exported with the hash of the id, never the id', async () => {
    const audit = (await must('GET', `/api/v1/audit?action=unit.exported&project=${KEY}`)) as { items: { resourceKey: string; actorEmail: string; diff: unknown }[] };
    const forAlice = audit.items.filter((e) => JSON.stringify(e.diff).includes(sha256(ALICE)));

    // The full export, the redaction check, the explorerEvents page and the export of her explorer events for comparison.
    expect(forAlice).toHaveLength(4);
    expect(audit.items.map((e) => e.actorEmail)).toContain('admin-subject@example.com');
    expect(forAlice.every((e) => e.resourceKey === KEY)).toBe(true);
    const text = JSON.stringify(audit.items);
    expect(text).not.toContain(`"${ALICE}"`);
    expect(text).toContain('"explorerEvents":5');
    // Refused and invalid requests wrote nothing.
    expect(audit.items).toHaveLength(7);
  });

  it('erases exactly what the export listed, and the dimension values only the unit had; the other units keep their results', async () => {
    const listed = totals((await exported(ALICE)).body);
    const bob = numbers(await filtered('email', 'bob@example.org'));
    const bob2 = numbers(await filtered('email', 'bob2@example.org'));
    const aliceBefore = await filtered('email', 'alice@example.org');
    const before = await dimensionRowsWith('alice');

    const res = await requestAs(p, tokens.admin!, 'POST', `${BASE}/units/erase`, { unitIds: [ALICE] });

    expect(res.status).toBe(200);
    expect(Object.fromEntries(TABLE_SECTIONS.map((s) => [s, res.body.erased[s]]))).toEqual(Object.fromEntries(TABLE_SECTIONS.map((s) => [s, listed[s]])));
    // Her two e-mails; DE stays, bob has it.
    expect(res.body.erased.dimensionValues).toBe(2);
    expect(aliceBefore.units.analysed).toBe(1);
    expect(before).toBeGreaterThan(0);
    expect(await dimensionRowsWith('alice')).toBe(0);
    // Bob's rows naming her, which her export redacted, are gone too: they held her id.
    const pageViews = await p.db.query<{ n: number }>("SELECT count(*)::int AS n FROM explorer_events WHERE project_id = $1 AND unit_id = 'bob' AND name = 'page_view'", [projectId]);
    const bobLetters = await p.db.query<{ n: number }>("SELECT count(*)::int AS n FROM dead_letters WHERE partition_key = 'bob'");
    expect([pageViews.rows[0]!.n, bobLetters.rows[0]!.n]).toEqual([0, 0]);
    expect(totals((await exported(ALICE)).body)).toEqual({ exposures: 0, unitMetricTotals: 0, unitEvents: 0, explorerEvents: 0, stickyAssignments: 0, deadLetters: 0, resultsDimensionValues: 0 });
    // The others' values answer as before, from the rollups; DE (shared) without her, as a scan counts it.
    const bobAfter = await filtered('email', 'bob@example.org');
    expect(bobAfter.metrics.map((m) => m.source)).toEqual(['rollup', 'rollup']);
    expect(numbers(bobAfter)).toEqual(bob);
    expect(numbers(await filtered('email', 'bob2@example.org'))).toEqual(bob2);
    const de = await filtered('country', 'DE');
    expect(de.metrics.map((m) => m.source)).toEqual(['rollup', 'rollup']);
    expect(de.units.analysed).toBe(1);
    expect(numbers(de)).toEqual(numbers(await filtered('country', 'DE', true)));
    const values = await p.db.query<{ dimension: string; value: string }>(
      "SELECT dimension, dimension_value #>> '{}' AS value FROM results_dimension_values WHERE project_id = $1 ORDER BY 1, 2",
      [projectId],
    );
    expect(values.rows.map((r) => `${r.dimension}=${r.value}`)).toEqual(['country=DE', 'country=FR', 'email=bob2@example.org', 'email=bob@example.org']);
    // The shared value's rows are compacted to net rows: no group of DE sums to zero.
    const zero = await p.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM (
         SELECT 1 FROM results_dimension_rollups WHERE project_id = $1 AND dimension = 'country' AND dimension_value = '"DE"'
         GROUP BY environment, variation, bucket, metric, cap HAVING sum(units) = 0 AND sum(excluded) = 0 AND sum(v) = 0 AND sum(vv) = 0) z`,
      [projectId],
    );
    expect(zero.rows[0]!.n).toBe(0);
    // The other project's alice keeps everything, her dimension values included.
    const other = await p.db.query<{ n: number }>("SELECT count(*)::int AS n FROM results_dimension_values WHERE project_id = $1 AND dimension_value = '\"alice@example.org\"'", [otherId]);
    const otherExposures = await p.db.query<{ n: number }>('SELECT count(*)::int AS n FROM exposures WHERE project_id = $1 AND unit_id = $2', [otherId, ALICE]);
    expect([other.rows[0]!.n, otherExposures.rows[0]!.n]).toEqual([1, 1]);
  });

  it('XpApiClient.exportUnit sends the unit id in the query', async () => {
    const paths: string[] = [];
    const client = new XpApiClient({
      apiUrl: 'http://platform.test',
      token: owner,
      fetch: (input, init) => {
        paths.push(new URL(input instanceof Request ? input.url : input.toString()).pathname);
        return Promise.resolve(p.app.request(input instanceof Request ? input : input.toString(), init));
      },
    });

    const bob = await client.exportUnit(KEY, 'bob', { section: 'exposures' });

    expect(bob.sections.exposures!.total).toBe(1);
    expect(paths).toEqual([`${BASE}/unit-export`]);
  });
});
