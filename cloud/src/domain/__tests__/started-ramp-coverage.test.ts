/**
 * Lowering a rollout's coverage while a step of its schedule has started (the step's coverage is
 * served, not the rule's): refused on every path that writes a flag, so a rollback cannot look done
 * while everyone stays exposed; accepted once the started steps change or go.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DefinitionKind } from '../../store/definitions.js';
import { pgliteTarget } from '../../store/__tests__/test-databases.js';
import type { Platform } from '../../http/__tests__/harness.js';
import { OWNER, booleanFlagBody, mustAs, requestAs, signedInAs, startPlatform } from '../../http/__tests__/harness.js';
import { refuseIneffectiveCoverage } from '../definitions.js';

const BASE = '/api/v1/projects/demo';
const DAY = 86_400_000;
const PATH = 'environments.production.rules.0.coverage';

describe('a rollout coverage change under a started ramp step', () => {
  let p: Platform;
  let owner: string;
  let editor: string;
  /** The platform's clock. */
  let T: number;
  const at = (offsetDays: number): string => new Date(T + offsetDays * DAY).toISOString();
  const rollout = (coverage: number, schedule?: { at: string; coverage: number }[]) => ({ id: 'r', type: 'rollout', variation: 'on', coverage, ...(schedule === undefined ? {} : { schedule }) });
  const state = (rule: unknown) => ({ enabled: true, defaultVariation: 'off', offVariation: 'off', rules: [rule] });
  /** Both steps past: the second (100%) is served. */
  const started = (): { at: string; coverage: number }[] => [
    { at: at(-2), coverage: 0.5 },
    { at: at(-1), coverage: 1 },
  ];
  const create = async (key: string, schedule = started()): Promise<any> => mustAs(p, owner, 'POST', `${BASE}/flags`, booleanFlagBody(key, { production: state(rollout(0.25, schedule)) }));
  const issues = (res: { body: any }): { path: string; message: string }[] => res.body.error?.details?.issues ?? [];

  beforeAll(async () => {
    p = await startPlatform(pgliteTarget());
    T = p.now.value.getTime();
    owner = await p.login(OWNER.email, OWNER.password);
    editor = await signedInAs(p, owner, 'editor', 'oncall@example.com');
  });
  afterAll(async () => {
    await p.close();
  });

  it('is refused by the flag PUT, the state PUT and apply (also a dry run), naming the rule coverage and how to roll back', async () => {
    const risky = await create('risky');
    const lowered = { ...risky.definition, environments: { production: state(rollout(0.05, started())) } };

    const put = await requestAs(p, owner, 'PUT', `${BASE}/flags/risky`, lowered, risky.version);
    const statePut = await requestAs(p, owner, 'PUT', `${BASE}/flags/risky/environments/production`, state(rollout(0.05, started())), risky.version);
    const dryRun = await requestAs(p, owner, 'POST', `${BASE}/apply`, { dryRun: true, changes: [{ kind: 'flags', action: 'update', key: 'risky', version: risky.version, definition: lowered }] });
    const applied = await requestAs(p, owner, 'POST', `${BASE}/apply`, { changes: [{ kind: 'flags', action: 'update', key: 'risky', version: risky.version, definition: lowered }] });

    for (const res of [put, statePut]) {
      expect(res.status).toBe(400);
      expect(issues(res)).toEqual([{ path: PATH, message: `rule "r" in "production": coverage 0.05 would not be served: its schedule step at ${at(-1)} has started, so that step's coverage (1) is served, not the rule's` }]);
      expect(res.body.error.message).toContain('send the rule without "schedule"');
    }
    for (const res of [dryRun, applied]) {
      expect(res.status).toBe(400);
      expect(issues(res).map((i) => i.path)).toEqual([`changes[0].definition.${PATH}`]);
    }
    expect((await mustAs(p, owner, 'GET', `${BASE}/flags/risky`)).version).toBe(risky.version);
  });

  it('is refused when a change request is proposed, and when one proposed before the step started is applied', async () => {
    await create('proposed');
    const refused = await requestAs(p, editor, 'POST', `${BASE}/change-requests`, { resourceType: 'flag', resourceKey: 'proposed', environment: 'production', baseVersion: 1, state: { rules: [rollout(0, started())] } });
    expect(refused.status).toBe(400);
    expect(issues(refused).map((i) => i.path)).toEqual([PATH]);

    // The step starts in an hour: lowering the coverage still counts when proposed.
    const soon = [{ at: at(1 / 24), coverage: 1 }];
    await create('later', soon);
    const early = await mustAs(p, editor, 'POST', `${BASE}/change-requests`, { resourceType: 'flag', resourceKey: 'later', environment: 'production', baseVersion: 1, state: { rules: [rollout(0, soon)] } });
    await mustAs(p, owner, 'POST', `${BASE}/change-requests/${early.id as string}/approve`);
    const saved = p.now.value;
    p.now.value = new Date(T + DAY / 12);
    try {
      const apply = await requestAs(p, editor, 'POST', `${BASE}/change-requests/${early.id as string}/apply`);
      expect(apply.status).toBe(400);
      expect(issues(apply).map((i) => i.path)).toEqual([PATH]);
    } finally {
      p.now.value = saved;
    }
  });

  it('accepts a rollback that changes or removes the started steps, and a coverage change before any step', async () => {
    const risky = await create('rollback');
    const withoutSchedule = await requestAs(p, owner, 'PUT', `${BASE}/flags/rollback/environments/production`, state(rollout(0.05)), risky.version);
    expect(withoutSchedule.status).toBe(200);
    const stepLowered = await requestAs(p, owner, 'PUT', `${BASE}/flags/rollback/environments/production`, state(rollout(0.05, [{ at: at(-1), coverage: 0 }])), withoutSchedule.body.version);
    expect(stepLowered.status).toBe(200);
    // Lowered with the step: the rule's coverage may change along with it.
    const both = await requestAs(p, owner, 'PUT', `${BASE}/flags/rollback/environments/production`, state(rollout(0.01, [{ at: at(-1), coverage: 0.01 }])), stepLowered.body.version);
    expect(both.status).toBe(200);

    const future = await create('future', [{ at: at(3), coverage: 1 }]);
    const beforeStep = await requestAs(p, owner, 'PUT', `${BASE}/flags/future/environments/production`, state(rollout(0.05, [{ at: at(3), coverage: 1 }])), future.version);
    expect(beforeStep.status).toBe(200);
  });

  it('compares rules by id, only rollouts whose coverage changed with the same schedule', () => {
    const now = new Date(T);
    const flag = (rules: unknown[]) => ({ ...booleanFlagBody('f'), environments: { production: { ...state(undefined), prerequisites: [], rules } } });
    const before = flag([rollout(0.25, started())]);
    const refuse = (after: unknown, current: unknown = before, kind: DefinitionKind = DefinitionKind.Flag) => () => {
      refuseIneffectiveCoverage(kind, after, current, now);
    };
    expect(refuse(flag([rollout(0.05, started())]))).toThrow(/coverage 0\.05 would not be served/);
    // Same coverage, a rule of another id, a create, another kind: nothing to refuse.
    expect(refuse(flag([rollout(0.25, started())]))).not.toThrow();
    expect(refuse(flag([{ ...rollout(0.05, started()), id: 'other' }]))).not.toThrow();
    expect(() => {
      refuseIneffectiveCoverage(DefinitionKind.Flag, flag([rollout(0.05, started())]), undefined, now);
    }).not.toThrow();
    expect(refuse(flag([rollout(0.05, started())]), before, DefinitionKind.Segment)).not.toThrow();
  });
});
