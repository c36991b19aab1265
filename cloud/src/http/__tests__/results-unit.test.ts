import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MetricInput } from '@xp/shared';
import { unitLabel, unitNoun } from '../../domain/results-data-quality.js';
import { experimentResultsSchema, resultsBreakdownSchema } from '../../domain/results.js';
import type { ExperimentResults } from '../../domain/results.js';
import type { Services } from '../../domain/services.js';
import { TARGETS } from '../../store/__tests__/test-databases.js';
import { managementRoutes } from '../app.js';
import { openApiDocument } from '../openapi.js';
import type { Platform } from './harness.js';
import { OWNER, mustAs, startPlatform } from './harness.js';
import { csvRecords } from './csv.js';

// What a unit is, in the results: the experiment's hash attribute (an account experiment counts
// accounts, not users), in the JSON, the breakdown, both CSV tables and the warnings' wording.

const PROJECT = 'units';
const BASE = `/api/v1/projects/${PROJECT}`;
const START = Date.UTC(2026, 10, 1);

const METRICS: MetricInput[] = [{ key: 'sessions', name: 'Sessions', type: 'count', event: 'session' }];

interface Unit {
  readonly id: string;
  readonly variation: string;
  readonly sessions: number;
  readonly tier: string;
}

/** 150 units per arm, each with one session, a whale with 5,000 in the treatment and a junk "undefined" id in the control. */
function dataset(prefix: string): Unit[] {
  const units: Unit[] = [];
  for (const variation of ['control', 'treatment']) {
    for (let i = 0; i < 150; i++) {
      units.push({ id: `${prefix}-${variation}-${i}`, variation, sessions: 1, tier: i % 2 === 0 ? 'small' : 'large' });
    }
  }
  return [...units, { id: `${prefix}-whale`, variation: 'treatment', sessions: 5_000, tier: 'large' }, { id: 'undefined', variation: 'control', sessions: 0, tier: 'large' }];
}

async function insertUnits(p: Platform, projectId: string, experiment: string, units: readonly Unit[]): Promise<void> {
  await p.db.query(
    `INSERT INTO exposures (project_id, environment, experiment, unit_id, variation, exposed_at, first_event_id, excluded, attributes)
     SELECT $1, 'production', $2, u, v, $3::timestamptz, 'e-' || u, false, jsonb_build_object('tier', t)
     FROM unnest($4::text[], $5::text[], $6::text[]) AS r(u, v, t)`,
    [projectId, experiment, new Date(START + 3_600_000).toISOString(), units.map((u) => u.id), units.map((u) => u.variation), units.map((u) => u.tier)],
  );
  const active = units.filter((u) => u.sessions > 0);
  await p.db.query(
    `INSERT INTO unit_metric_totals (project_id, environment, experiment, unit_id, metric, conversion, value)
     SELECT $1, 'production', $2, u, 'sessions', false, v
     FROM unnest($3::text[], $4::numeric[]) AS r(u, v)`,
    [projectId, experiment, active.map((u) => u.id), active.map((u) => u.sessions)],
  );
}

describe('how warnings name a unit', () => {
  it('calls a unit by the attribute it hashes on, and by what the attribute names when it says so', () => {
    expect(unitLabel({ attribute: 'id', fallbackAttribute: null })).toBe('unit');
    expect(unitLabel({ attribute: 'accountId', fallbackAttribute: null })).toBe('accountId');
    expect(unitLabel({ attribute: 'accountId', fallbackAttribute: 'id' })).toBe('accountId/id');
    expect(unitNoun({ attribute: 'accountId', fallbackAttribute: null })).toBe('account');
    expect(unitNoun({ attribute: 'account_id', fallbackAttribute: null })).toBe('account');
    expect(unitNoun({ attribute: 'deviceID', fallbackAttribute: null })).toBe('device');
    expect(unitNoun({ attribute: 'billingAccountId', fallbackAttribute: null })).toBe('billing account');
    // Nothing to go on (id itself, a word ending in "id", an email), or two kinds of unit.
    expect(unitNoun({ attribute: 'id', fallbackAttribute: null })).toBeUndefined();
    expect(unitNoun({ attribute: 'paid', fallbackAttribute: null })).toBeUndefined();
    expect(unitNoun({ attribute: 'userid', fallbackAttribute: null })).toBeUndefined();
    expect(unitNoun({ attribute: 'email', fallbackAttribute: null })).toBeUndefined();
    expect(unitNoun({ attribute: 'accountId', fallbackAttribute: 'id' })).toBeUndefined();
  });
});

describe('the OpenAPI document', () => {
  const doc = openApiDocument(managementRoutes({} as Services), { title: 'xp', version: '0', description: 'test' }) as { components: { schemas: Record<string, any> } };
  const resolve = (schema: any): any => (typeof schema?.$ref === 'string' ? resolve(doc.components.schemas[(schema.$ref as string).replace('#/components/schemas/', '')]) : schema);

  it.each(['ExperimentResults', 'ResultsBreakdown'])('describes %s.unit: the hash attribute and the fallback (or null)', (name) => {
    const schema = doc.components.schemas[name];
    expect(schema.required).toContain('unit');
    const unit = resolve(schema.properties.unit);
    expect(unit.description).toMatch(/hash/);
    expect(unit.required).toEqual(['attribute', 'fallbackAttribute']);
    expect(unit.properties.attribute).toMatchObject({ type: 'string', description: expect.stringContaining('hashAttribute') });
    expect(JSON.stringify(unit.properties.fallbackAttribute)).toContain('"null"');
    expect(unit.properties.fallbackAttribute.description).toContain('fallbackAttribute');
  });

  it('says in the results operations what a unit is', () => {
    const paths = (doc as unknown as { paths: Record<string, { get: { description: string } }> }).paths;
    for (const path of ['/api/v1/projects/{project}/experiments/{key}/results', '/api/v1/projects/{project}/experiments/{key}/results.csv']) {
      expect(paths[path]!.get.description).toContain("unit names what a unit is (the experiment's hashAttribute and fallbackAttribute)");
    }
  });
});

describe.each(TARGETS.map((t) => [t().name, t] as const))('what a unit is, in the results on %s', (_name, makeTarget) => {
  let p: Platform;
  let owner: string;
  let projectId: string;

  const must = (method: string, path: string, body?: unknown): Promise<unknown> => mustAs(p, owner, method, path, body);
  const get = async (path: string): Promise<{ status: number; body: any }> => {
    const res = await p.request('GET', `${BASE}/experiments/${path}`, { token: owner });
    expect(res.status).toBe(200);
    return res;
  };
  const results = async (key: string): Promise<ExperimentResults> => experimentResultsSchema.parse((await get(`${key}/results`)).body);
  const csv = async (key: string, table = 'summary'): Promise<Record<string, string>[]> => csvRecords((await get(`${key}/results.csv?table=${table}`)).body as string);
  const experiment = async (key: string, hashing: Record<string, string>): Promise<void> => {
    await must('POST', `${BASE}/experiments`, {
      key,
      name: key,
      status: 'running',
      startedAt: new Date(START).toISOString(),
      variations: [{ key: 'control' }, { key: 'treatment' }],
      metrics: { primary: ['sessions'] },
      dimensions: ['tier'],
      ...hashing,
    });
    await insertUnits(p, projectId, key, dataset(key));
  };

  beforeAll(async () => {
    p = await startPlatform(makeTarget());
    owner = await p.login(OWNER.email, OWNER.password);
    await must('POST', '/api/v1/projects', { key: PROJECT, name: 'Units' });
    projectId = (await p.db.query<{ id: string }>('SELECT id FROM projects WHERE key = $1', [PROJECT])).rows[0]!.id;
    for (const m of METRICS) {
      await must('POST', `${BASE}/metrics`, m);
    }
    await experiment('accounts', { hashAttribute: 'accountId' });
    await experiment('mixed', { hashAttribute: 'accountId', fallbackAttribute: 'id' });
    // No hashAttribute: the evaluator's default, id.
    await experiment('users', {});
  });
  afterAll(async () => {
    await p.close();
  });

  it('names the hash attribute and the fallback in the results', async () => {
    expect((await results('accounts')).unit).toEqual({ attribute: 'accountId', fallbackAttribute: null });
    expect((await results('mixed')).unit).toEqual({ attribute: 'accountId', fallbackAttribute: 'id' });
    expect((await results('users')).unit).toEqual({ attribute: 'id', fallbackAttribute: null });
  });

  it('names them in the breakdown, and in each value’s results', async () => {
    const breakdown = resultsBreakdownSchema.parse((await get('accounts/results/breakdown?dimension=tier')).body);
    expect(breakdown.unit).toEqual({ attribute: 'accountId', fallbackAttribute: null });
    expect(breakdown.values.map((v) => [v.value, v.results.unit])).toEqual([
      ['large', { attribute: 'accountId', fallbackAttribute: null }],
      ['small', { attribute: 'accountId', fallbackAttribute: null }],
    ]);
    const mixed = resultsBreakdownSchema.parse((await get('mixed/results/breakdown?dimension=tier')).body);
    expect(mixed.unit).toEqual({ attribute: 'accountId', fallbackAttribute: 'id' });
  });

  it('names them in both CSV tables, in columns added after the others', async () => {
    const summary = await csv('accounts');
    expect(summary.map((r) => [r.variation, r.units, r.unit_attribute, r.unit_fallback_attribute])).toEqual([
      ['control', '151', 'accountId', ''],
      ['treatment', '151', 'accountId', ''],
    ]);
    expect(Object.keys(summary[0]!).slice(-3)).toEqual(['cuped_status', 'unit_attribute', 'unit_fallback_attribute']);
    expect((await csv('mixed')).map((r) => [r.unit_attribute, r.unit_fallback_attribute])).toEqual([
      ['accountId', 'id'],
      ['accountId', 'id'],
    ]);
    expect((await csv('users')).map((r) => [r.unit_attribute, r.unit_fallback_attribute])).toEqual([
      ['id', ''],
      ['id', ''],
    ]);
    const series = await csv('accounts', 'timeseries');
    expect(series.length).toBeGreaterThan(0);
    expect(Object.keys(series[0]!)).toEqual(['bucket', 'end', 'metric', 'variation', 'control_units', 'variation_units', 'effect', 'ci_lower', 'ci_upper', 'p_value', 'error', 'unit_attribute', 'unit_fallback_attribute']);
    expect(series.every((r) => r.unit_attribute === 'accountId' && r.unit_fallback_attribute === '')).toBe(true);
  });

  it('words the warnings of an account experiment for accounts, not users', async () => {
    const r = await results('accounts');
    const dominant = r.warnings.find((w) => w.code === 'DOMINANT_UNIT')!;
    expect(dominant).toMatchObject({ metric: 'sessions', variation: 'treatment', unitIds: ['accounts-whale'] });
    expect(dominant.message).toMatch(/^one accountId \("accounts-whale"\) holds 97% of "Sessions" in variation "treatment" \(5000 of 5150\): /);
    expect(dominant.message).toContain('Check that it is a real account (not a test account, a bot or an id shared by many), then cap the metric');
    const suspicious = r.warnings.find((w) => w.code === 'SUSPICIOUS_UNIT_IDS')!;
    expect(suspicious).toMatchObject({ variation: 'control', unitIds: ['undefined'] });
    expect(suspicious.message).toContain('all traffic whose accountId was missing is counted as that one unit. Fix the SDK call that passes accountId,');
    expect(r.warnings.map((w) => w.message).filter((m) => /\buser/.test(m))).toEqual([]);
  });

  it('names both attributes when a unit may be of either kind', async () => {
    const r = await results('mixed');
    const dominant = r.warnings.find((w) => w.code === 'DOMINANT_UNIT')!;
    expect(dominant.message).toMatch(/^one accountId\/id \("mixed-whale"\) holds 97% /);
    expect(dominant.message).toContain('Check that it is genuine (not a bot, a test account or an id shared by many)');
    expect(r.warnings.find((w) => w.code === 'SUSPICIOUS_UNIT_IDS')!.message).toContain('all traffic whose accountId or id was missing is counted as that one unit. Fix the SDK call that passes accountId or id,');
  });

  it('keeps "unit" for an experiment on id, without assuming a real user', async () => {
    const r = await results('users');
    const dominant = r.warnings.find((w) => w.code === 'DOMINANT_UNIT')!;
    expect(dominant.message).toMatch(/^one unit \("users-whale"\) holds 97% /);
    expect(dominant.message).toContain('Check that it is genuine (not a bot, a test account or an id shared by many)');
    expect(dominant.message).not.toContain('real user');
    expect(r.warnings.find((w) => w.code === 'SUSPICIOUS_UNIT_IDS')!.message).toContain('every user whose id was missing is counted as that one unit. Fix the SDK call that passes the id,');
  });
});
