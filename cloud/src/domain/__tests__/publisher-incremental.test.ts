/**
 * The publisher compiles only the environments a change can reach: an environment whose inputs are
 * those it was last compiled from (and whose stored content is that compile's) is skipped. What it
 * publishes must still be what a full compile of the current definitions gives, everywhere.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import * as shared from '@xp/shared';
import type { Experiment, Flag, Holdout, Ruleset, Segment } from '@xp/shared';
import { pgliteTarget } from '../../store/__tests__/test-databases.js';
import { environments } from '../../store/projects.js';
import type { Platform } from '../../http/__tests__/harness.js';
import { OWNER, mustAs, startPlatform } from '../../http/__tests__/harness.js';
import { DefinitionKind, DefinitionRepository } from '../../store/definitions.js';
import { forgetPublisherCaches } from '../publisher.js';

/** Counts compiles by environment, compiling as before. */
const compiled: string[] = [];
vi.mock('@xp/shared', async (importOriginal) => {
  const actual = await importOriginal<typeof shared>();
  return {
    ...actual,
    compileRuleset: (source: shared.RulesetSource): Ruleset => {
      compiled.push(source.environment);
      return actual.compileRuleset(source);
    },
  };
});

const PROJECT = 'demo';
const BASE = `/api/v1/projects/${PROJECT}`;
const ENVS = ['development', 'staging', 'production'];

describe('publishing only what a change reaches', () => {
  let p: Platform;
  let owner: string;
  let projectId: string;
  const must = (method: string, path: string, body?: unknown, version?: number): Promise<any> => mustAs(p, owner, method, path, body, version);

  const latest = async (): Promise<Record<string, number>> =>
    Object.fromEntries(await Promise.all(ENVS.map(async (env) => [env, (await p.rulesets.latest(projectId, env))?.version ?? 0] as const)));
  const stored = async (): Promise<Record<string, number>> =>
    Object.fromEntries(await Promise.all(ENVS.map(async (env) => [env, await environments.currentRulesetVersion(p.db, projectId, env)] as const)));

  /** A full compile of the current definitions, without version and timestamp. */
  const fullCompile = async (environment: string): Promise<unknown> => {
    const all = async <T extends { key: string; name: string }>(kind: DefinitionKind): Promise<T[]> =>
      (await new DefinitionRepository<T>(kind).all(p.db, projectId, true)).map((d) => d.definition);
    const { version: _v, generatedAt: _g, ...content } = shared.compileRuleset({
      environment,
      version: 0,
      flags: (await all<Flag>(DefinitionKind.Flag)).filter((f) => !f.archived),
      segments: await all<Segment>(DefinitionKind.Segment),
      experiments: await all<Experiment>(DefinitionKind.Experiment),
      holdouts: await all<Holdout>(DefinitionKind.Holdout),
    });
    return content;
  };
  const published = async (environment: string): Promise<unknown> => {
    const { version: _v, generatedAt: _g, ...content } = (await p.rulesets.latest(projectId, environment))!.ruleset;
    return content;
  };
  const expectAllFullyCompiled = async (): Promise<void> => {
    for (const env of ENVS) {
      expect({ env, content: await published(env) }).toEqual({ env, content: await fullCompile(env) });
    }
  };

  beforeAll(async () => {
    p = await startPlatform(pgliteTarget());
    owner = await p.login(OWNER.email, OWNER.password);
    projectId = (await p.db.query<{ id: string }>('SELECT id FROM projects WHERE key = $1', [PROJECT])).rows[0]!.id;
    await must('POST', `${BASE}/segments`, { key: 'beta', name: 'Beta', type: 'ids', values: ['u1'] });
    const flag = {
      key: 'uses-beta',
      name: 'Uses beta',
      type: 'boolean',
      variations: [
        { key: 'off', value: false },
        { key: 'on', value: true },
      ],
      environments: Object.fromEntries(ENVS.map((env) => [env, { enabled: true, defaultVariation: 'off', offVariation: 'off', rules: [{ id: 'beta', type: 'force', variation: 'on', segments: ['beta'] }] }])),
    };
    await must('POST', `${BASE}/flags`, flag);
  });
  afterAll(async () => {
    await p.close();
  });
  beforeEach(() => {
    compiled.length = 0;
  });

  it('compiles and republishes only the environment a toggle changes; the others keep their version', async () => {
    await expectAllFullyCompiled();
    const before = await latest();
    const flag = await must('GET', `${BASE}/flags/uses-beta`);
    compiled.length = 0;

    await must('POST', `${BASE}/flags/uses-beta/environments/staging/toggle`, { enabled: false }, flag.version);

    expect(compiled).toEqual(['staging']);
    expect(await latest()).toEqual({ ...before, staging: before.staging! + 1 });
    expect(await stored()).toEqual(await latest());
    expect((await p.rulesets.latest(projectId, 'staging'))!.ruleset.flags['uses-beta']!.on).toBe(false);
    await expectAllFullyCompiled();
  });

  it('recompiles and republishes every environment that uses a changed segment', async () => {
    const before = await latest();
    const segment = await must('GET', `${BASE}/segments/beta`);

    await must('PUT', `${BASE}/segments/beta`, { ...segment.definition, values: ['u1', 'u2'] }, segment.version);

    expect([...compiled].sort()).toEqual([...ENVS].sort());
    expect(await latest()).toEqual(Object.fromEntries(ENVS.map((env) => [env, before[env]! + 1])));
    for (const env of ENVS) {
      expect((await p.rulesets.latest(projectId, env))!.ruleset.savedGroups?.beta).toEqual(['u1', 'u2']);
    }
    await expectAllFullyCompiled();
  });

  it('picks up a change another process made without publishing, and a content hash that is not the one it remembers', async () => {
    // A definition changed behind the publisher's back (another process, or a restore): the next change compiles it in.
    const flags = new DefinitionRepository<Flag>(DefinitionKind.Flag);
    const current = await flags.get(p.db, projectId, 'uses-beta');
    const userId = (await p.db.query<{ id: string }>('SELECT id FROM users LIMIT 1')).rows[0]!.id;
    await flags.update(p.db, projectId, { ...current.definition, environments: { ...current.definition.environments, production: { ...current.definition.environments.production!, defaultVariation: 'on' } } }, current.version, userId);
    // Another process published this content for development: its stored hash is not the one remembered here.
    await p.db.query(`UPDATE ruleset_versions SET content_hash = 'elsewhere' WHERE project_id = $1 AND environment_key = 'development'`, [projectId]);
    const before = await latest();
    const flag = await must('GET', `${BASE}/flags/uses-beta`);

    await must('POST', `${BASE}/flags/uses-beta/environments/staging/toggle`, { enabled: true }, flag.version);

    expect([...compiled].sort()).toEqual([...ENVS].sort());
    expect(await latest()).toEqual({ development: before.development! + 1, staging: before.staging! + 1, production: before.production! + 1 });
    await expectAllFullyCompiled();
  });

  it("compiles everything again once the publisher's caches are gone, republishing nothing unchanged", async () => {
    forgetPublisherCaches();
    const before = await latest();
    const flag = await must('GET', `${BASE}/flags/uses-beta`);

    await must('POST', `${BASE}/flags/uses-beta/environments/development/toggle`, { enabled: false }, flag.version);

    expect([...compiled].sort()).toEqual([...ENVS].sort());
    expect(await latest()).toEqual({ ...before, development: before.development! + 1 });
    await expectAllFullyCompiled();
  });
});
