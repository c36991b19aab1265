/**
 * Changes that would silently break a running experiment, refused on every path a change takes: a
 * holdout hashing by another attribute than its experiment, a namespace shared by experiments that
 * hash by other attributes, a catch-all rule put in front of a running experiment's rule, a start or
 * resume of an experiment whose every rule comes after a catch-all, a resume, create or environments
 * change that leaves a running experiment no traffic, and a winner released on a flag whose later
 * rules feed other running experiments.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgliteTarget } from '../../store/__tests__/test-databases.js';
import type { Platform } from './harness.js';
import { OWNER, booleanFlagBody, mustAs, requestAs, signedInAs, startPlatform } from './harness.js';

const PROJECT = 'integrity';
const BASE = `/api/v1/projects/${PROJECT}`;
const DAY = 86_400_000;

type Answer = { status: number; body: any };

describe('changes that would silently break a running experiment', () => {
  let p: Platform;
  let owner: string;
  let editor: string;
  let startedAt: string;

  const request = (method: string, path: string, body?: unknown, version?: number, as = owner): Promise<Answer> => requestAs(p, as, method, path, body, version);
  const must = (method: string, path: string, body?: unknown, version?: number, as = owner): Promise<any> => mustAs(p, as, method, path, body, version);
  const experiment = (key: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    key,
    name: key,
    variations: [{ key: 'control' }, { key: 'treatment' }],
    environments: ['production'],
    status: 'running',
    startedAt,
    ...extra,
  });
  const draft = (key: string, extra: Record<string, unknown> = {}): Record<string, unknown> => {
    const { startedAt: _startedAt, ...rest } = experiment(key, { status: 'draft', ...extra });
    return rest;
  };
  const expRule = (experimentKey: string): Record<string, unknown> => ({ id: experimentKey, type: 'experiment', experiment: experimentKey });
  const state = (rules: unknown[], enabled = true): Record<string, unknown> => ({ enabled, defaultVariation: 'off', offVariation: 'off', rules });
  const version = async (kind: string, key: string): Promise<number> => (await must('GET', `${BASE}/${kind}/${key}`)).version as number;
  const action = async (key: string, verb: 'start' | 'stop' | 'resume', body?: unknown): Promise<Answer> => request('POST', `${BASE}/experiments/${key}/${verb}`, body, await version('experiments', key));
  const replaceExperiment = async (key: string, change: (d: any) => any): Promise<Answer> => {
    const current = await must('GET', `${BASE}/experiments/${key}`);
    return request('PUT', `${BASE}/experiments/${key}`, change(current.definition), current.version);
  };
  const replaceFlag = async (key: string, change: (d: any) => any): Promise<Answer> => {
    const current = await must('GET', `${BASE}/flags/${key}`);
    return request('PUT', `${BASE}/flags/${key}`, change(current.definition), current.version);
  };
  const putState = async (key: string, env: string, next: unknown): Promise<Answer> => request('PUT', `${BASE}/flags/${key}/environments/${env}`, next, await version('flags', key));
  // `POST …/apply` prefixes the paths with the change's place in the batch.
  const issuePaths = (res: Answer): string[] => (res.body.error?.details?.issues ?? []).map((i: { path: string }) => i.path.replace(/^changes\[\d+\]\.definition\./, ''));

  beforeAll(async () => {
    p = await startPlatform(pgliteTarget());
    startedAt = new Date(p.now.value.getTime() - DAY).toISOString();
    owner = await p.login(OWNER.email, OWNER.password);
    editor = await signedInAs(p, owner, 'editor', 'integrity-editor@example.com');
    await must('POST', '/api/v1/projects', { key: PROJECT, name: 'Integrity' });
    await must('POST', `${BASE}/holdouts`, { key: 'by-id', name: 'By id', coverage: 0.1 });
    await must('POST', `${BASE}/holdouts`, { key: 'by-account', name: 'By account', hashAttribute: 'accountId', coverage: 0.1 });
  });
  afterAll(async () => {
    await p.close();
  });

  describe('a holdout hashing by another attribute than its experiment', () => {
    const refusedForHoldout = (res: Answer, holdout: string): void => {
      expect([res.status, res.body.error?.code]).toEqual([400, 'VALIDATION_FAILED']);
      expect(res.body.error.message).toContain(`its holdout "${holdout}" holds out units by`);
      expect(issuePaths(res)).toEqual(['holdout']);
    };

    it('is refused on create, PUT and apply, and an experiment on the holdout\'s attribute is accepted', async () => {
      const created = await request('POST', `${BASE}/experiments`, experiment('ho-acct', { hashAttribute: 'accountId', holdout: 'by-id' }));
      const createdDraft = await request('POST', `${BASE}/experiments`, draft('ho-acct-draft', { hashAttribute: 'accountId', holdout: 'by-id' }));
      const applied = await request('POST', `${BASE}/apply`, { changes: [{ kind: 'experiments', action: 'create', key: 'ho-apply', definition: draft('ho-apply', { hashAttribute: 'accountId', holdout: 'by-id' }) }] });
      await must('POST', `${BASE}/experiments`, draft('ho-id-draft', { holdout: 'by-id' }));
      const attributeChanged = await replaceExperiment('ho-id-draft', (d) => ({ ...d, hashAttribute: 'accountId' }));
      const holdoutChanged = await replaceExperiment('ho-id-draft', (d) => ({ ...d, holdout: 'by-account' }));
      const matching = await request('POST', `${BASE}/experiments`, experiment('ho-acct-ok', { hashAttribute: 'accountId', holdout: 'by-account' }));
      const matchingWithFallback = await request('POST', `${BASE}/experiments`, experiment('ho-acct-fallback', { hashAttribute: 'accountId', fallbackAttribute: 'id', holdout: 'by-account' }));

      for (const res of [created, createdDraft, attributeChanged, holdoutChanged]) {
        refusedForHoldout(res, res === holdoutChanged ? 'by-account' : 'by-id');
      }
      expect(created.body.error.message).toBe(
        'experiment "ho-acct" assigns units by "accountId" but its holdout "by-id" holds out units by "id", so units sharing one "accountId" would be split: some held out, others in the experiment; name a holdout whose hashAttribute is "accountId" (create one: POST …/holdouts), or leave "holdout" out',
      );
      expect([applied.status, applied.body.error?.code]).toEqual([400, 'VALIDATION_FAILED']);
      expect(applied.body.error.message).toContain('its holdout "by-id" holds out units by "id"');
      expect((await request('GET', `${BASE}/experiments/ho-apply`)).status).toBe(404);
      expect([matching.status, matchingWithFallback.status]).toEqual([201, 201]);
    });

    it('is refused at the start of a draft whose holdout was rehashed since', async () => {
      await must('POST', `${BASE}/holdouts`, { key: 'moving', name: 'Moving', coverage: 0.1 });
      await must('POST', `${BASE}/experiments`, draft('ho-start', { holdout: 'moving' }));
      // No started experiment names it yet, so its hashing may change.
      await must('PUT', `${BASE}/holdouts/moving`, { key: 'moving', name: 'Moving', hashAttribute: 'accountId', coverage: 0.1 }, await version('holdouts', 'moving'));

      const started = await action('ho-start', 'start');

      refusedForHoldout(started, 'moving');
      expect((await must('GET', `${BASE}/experiments/ho-start`)).definition.status).toBe('draft');
    });

    it('lets a stored experiment that already disagrees be edited, stopped, archived and deleted, but not resumed', async () => {
      await must('POST', `${BASE}/experiments`, experiment('ho-legacy', { hashAttribute: 'accountId', holdout: 'by-account' }));
      // Stored before the check existed.
      await p.db.query(`UPDATE experiments SET definition = jsonb_set(definition, '{holdout}', '"by-id"') WHERE key = 'ho-legacy'`);

      const renamed = await replaceExperiment('ho-legacy', (d) => ({ ...d, name: 'Legacy' }));
      const stopped = await action('ho-legacy', 'stop');
      const resumed = await action('ho-legacy', 'resume');
      const archived = await replaceExperiment('ho-legacy', (d) => ({ ...d, archived: true }));
      const deleted = await request('DELETE', `${BASE}/experiments/ho-legacy`, undefined, await version('experiments', 'ho-legacy'));

      expect([renamed.status, stopped.status, archived.status, deleted.status]).toEqual([200, 200, 200, 204]);
      refusedForHoldout(resumed, 'by-id');
    });
  });

  describe('a namespace shared by experiments hashing by other attributes', () => {
    const refusedForNamespace = (res: Answer, others: string[]): void => {
      expect([res.status, res.body.error?.code]).toEqual([400, 'VALIDATION_FAILED']);
      expect(res.body.error.message).toContain('namespace "onboarding" is used by running experiments that hash units by other attributes');
      for (const other of others) {
        expect(res.body.error.message).toContain(`"${other}" hashes by`);
      }
      expect(issuePaths(res)).toEqual(['namespace.id']);
    };

    it('is refused when created running, started, resumed or moved into a shared environment; the same attribute, or no shared environment, is accepted', async () => {
      await must('POST', `${BASE}/experiments`, experiment('ns-acct', { hashAttribute: 'accountId', namespace: { id: 'onboarding', range: [0, 0.25] } }));

      const created = await request('POST', `${BASE}/experiments`, experiment('ns-id', { namespace: { id: 'onboarding', range: [0.5, 1] } }));
      await must('POST', `${BASE}/experiments`, draft('ns-id-draft', { namespace: { id: 'onboarding', range: [0.5, 1] } }));
      const started = await action('ns-id-draft', 'start');
      const sameAttribute = await request('POST', `${BASE}/experiments`, experiment('ns-acct-2', { hashAttribute: 'accountId', namespace: { id: 'onboarding', range: [0.25, 0.5] } }));
      const elsewhere = await request('POST', `${BASE}/experiments`, experiment('ns-id-dev', { environments: ['development'], namespace: { id: 'onboarding', range: [0.5, 1] } }));
      const moved = await replaceExperiment('ns-id-dev', (d) => ({ ...d, environments: ['development', 'production'] }));

      refusedForNamespace(created, ['ns-acct']);
      expect(created.body.error.message).toBe(
        'namespace "onboarding" is used by running experiments that hash units by other attributes than this one\'s "id" ("ns-acct" hashes by "accountId" in "production"), so one unit would fall in unrelated places of the namespace and could be in both whatever the ranges; use one hash attribute per namespace: choose another namespace, or stop the others first',
      );
      refusedForNamespace(started, ['ns-acct']);
      refusedForNamespace(moved, ['ns-acct', 'ns-acct-2']);
      expect((await must('GET', `${BASE}/experiments/ns-id-draft`)).definition.status).toBe('draft');
      expect([sameAttribute.status, elsewhere.status]).toEqual([201, 201]);

      // Stopped, they hold nothing: the other attribute may run; resuming one of them is then refused.
      expect((await action('ns-acct', 'stop')).status).toBe(200);
      expect((await action('ns-acct-2', 'stop')).status).toBe(200);
      expect((await action('ns-id-draft', 'start')).status).toBe(200);
      refusedForNamespace(await action('ns-acct', 'resume'), ['ns-id-draft']);
    });

    it('compares fallback attributes where both experiments have one', async () => {
      await must('POST', `${BASE}/experiments`, experiment('fb-id', { hashAttribute: 'accountId', fallbackAttribute: 'id', namespace: { id: 'fallbacks', range: [0, 0.3] } }));

      const otherFallback = await request('POST', `${BASE}/experiments`, experiment('fb-device', { hashAttribute: 'accountId', fallbackAttribute: 'deviceId', namespace: { id: 'fallbacks', range: [0.3, 0.6] } }));
      const noFallback = await request('POST', `${BASE}/experiments`, experiment('fb-none', { hashAttribute: 'accountId', namespace: { id: 'fallbacks', range: [0.3, 0.6] } }));
      const sameFallback = await request('POST', `${BASE}/experiments`, experiment('fb-id-2', { hashAttribute: 'accountId', fallbackAttribute: 'id', namespace: { id: 'fallbacks', range: [0.6, 1] } }));

      expect([otherFallback.status, otherFallback.body.error?.code]).toEqual([400, 'VALIDATION_FAILED']);
      expect(otherFallback.body.error.message).toContain('"fb-id" hashes by "accountId" (fallback "id")');
      expect([noFallback.status, sameFallback.status]).toEqual([201, 201]);
    });
  });

  describe("a rule that serves every unit put before a running experiment's rule", () => {
    const hero = (key: string, rules: unknown[]): Record<string, unknown> => booleanFlagBody(key, { production: state(rules) });
    const everyone = { id: 'everyone', type: 'force', variation: 'off' };
    const withEveryoneBefore = (index: number, rule: Record<string, unknown> = everyone) => (d: any) => {
      const rules = [...d.environments.production.rules];
      rules.splice(index, 0, rule);
      return { ...d.environments.production, rules };
    };
    const refusedForShadow = (res: Answer, experiments: string[], at = 1): void => {
      expect([res.status, res.body.error?.code]).toEqual([409, 'INVALID_STATE']);
      expect(res.body.error.details.experiments).toEqual(experiments);
      expect(issuePaths(res)).toEqual(experiments.map(() => `environments.production.rules.${at}`));
      expect(res.body.error.message).toContain('put the rule that serves every unit after its rule');
    };

    beforeAll(async () => {
      for (const key of ['sh-a', 'sh-b', 'sh-c', 'sh-d']) {
        await must('POST', `${BASE}/experiments`, experiment(key));
      }
      await must('POST', `${BASE}/experiments`, experiment('sh-released', { status: 'stopped', stoppedAt: startedAt, decision: 'ship', winner: 'treatment', releaseWinner: true }));
    });

    it('is refused by state PUT, PUT, apply and change request, naming every experiment behind it', async () => {
      await must('POST', `${BASE}/flags`, hero('home-hero', ['sh-a', 'sh-b', 'sh-c', 'sh-d'].map(expRule)));
      const stored = await must('GET', `${BASE}/flags/home-hero`);
      const next = withEveryoneBefore(1)(stored.definition);

      const statePut = await putState('home-hero', 'production', next);
      const put = await replaceFlag('home-hero', (d) => ({ ...d, environments: { production: next } }));
      const applied = await request('POST', `${BASE}/apply`, { changes: [{ kind: 'flags', action: 'update', key: 'home-hero', version: stored.version, definition: { ...stored.definition, environments: { production: next } } }] });
      const proposed = await request('POST', `${BASE}/change-requests`, { resourceType: 'flag', resourceKey: 'home-hero', environment: 'production', baseVersion: stored.version, state: next }, undefined, editor);

      for (const res of [statePut, put, applied, proposed]) {
        refusedForShadow(res, ['sh-b', 'sh-c', 'sh-d']);
      }
      expect(statePut.body.error.message).toContain('in "production" rule "everyone" serves every unit before rule "sh-b" of the running experiment "sh-b" can');
      expect((await must('GET', `${BASE}/flags/home-hero`)).version).toBe(stored.version);
    });

    it('is refused when an approved change request is applied after the experiment behind it started', async () => {
      await must('POST', `${BASE}/experiments`, draft('sh-later'));
      const flag = await must('POST', `${BASE}/flags`, hero('hero-later', [expRule('sh-later')]));
      const open = await must('POST', `${BASE}/change-requests`, { resourceType: 'flag', resourceKey: 'hero-later', environment: 'production', baseVersion: flag.version, state: state([everyone, expRule('sh-later')]) }, undefined, editor);
      expect((await action('sh-later', 'start')).status).toBe(200);
      await must('POST', `${BASE}/change-requests/${open.id as string}/approve`);

      const applied = await request('POST', `${BASE}/change-requests/${open.id as string}/apply`, undefined, undefined, editor);

      refusedForShadow(applied, ['sh-later'], 0);
      expect((await must('GET', `${BASE}/flags/hero-later`)).definition.environments.production.rules).toEqual([expRule('sh-later')]);
    });

    it('counts an empty condition, a full rollout on the experiment\'s attribute and a released winner\'s rule as serving every unit', async () => {
      await must('POST', `${BASE}/flags`, hero('hero-kinds', [expRule('sh-a')]));

      const emptyCondition = await putState('hero-kinds', 'production', state([{ ...everyone, condition: {}, segments: [] }, expRule('sh-a')]));
      const fullRollout = await putState('hero-kinds', 'production', state([{ id: 'all', type: 'rollout', variation: 'on', coverage: 1 }, expRule('sh-a')]));
      const released = await putState('hero-kinds', 'production', state([expRule('sh-released'), expRule('sh-a')]));

      for (const res of [emptyCondition, fullRollout, released]) {
        refusedForShadow(res, ['sh-a'], 0);
      }
      expect((await must('GET', `${BASE}/flags/hero-kinds`)).definition.environments.production.rules).toEqual([expRule('sh-a')]);
    });

    it('lets a conditional, segmented, timed or partial rule go before it, a catch-all go after it, and the flag be turned off', async () => {
      await must('POST', `${BASE}/flags`, hero('hero-ok', [expRule('sh-a'), expRule('sh-b')]));
      await must('POST', `${BASE}/segments`, { key: 'staff', name: 'Staff', type: 'condition', condition: { email: { $regex: '@example\\.com$' } } });
      const allowed = [
        { ...everyone, id: 'nz', condition: { country: 'NZ' } },
        { ...everyone, id: 'staff', segments: ['staff'] },
        { ...everyone, id: 'not-staff', excludeSegments: ['staff'] },
        { ...everyone, id: 'until', activeUntil: '2999-01-01T00:00:00.000Z' },
        { ...everyone, id: 'disabled', enabled: false },
        { id: 'half', type: 'rollout', variation: 'on', coverage: 0.5 },
        { id: 'by-account', type: 'rollout', variation: 'on', coverage: 1, hashAttribute: 'accountId' },
        { id: 'split', type: 'split', distribution: [{ variation: 'off', weight: 0.5 }, { variation: 'on', weight: 0.5 }] },
      ];

      for (const rule of allowed) {
        const res = await putState('hero-ok', 'production', state([rule, expRule('sh-a'), expRule('sh-b')]));
        expect([rule.id, res.status]).toEqual([rule.id, 200]);
      }
      const after = await putState('hero-ok', 'production', state([expRule('sh-a'), expRule('sh-b'), everyone]));
      const off = await putState('hero-ok', 'production', state([expRule('sh-a'), expRule('sh-b'), everyone], false));

      expect([after.status, off.status]).toEqual([200, 200]);
    });

    it('does not hold a flag to a catch-all it already had in front of the rule', async () => {
      await must('POST', `${BASE}/flags`, hero('hero-old', [expRule('sh-a')]));
      // Stored before the check existed.
      await p.db.query(`UPDATE flags SET definition = jsonb_set(definition, '{environments,production,rules}', $1::jsonb) WHERE key = 'hero-old'`, [JSON.stringify([everyone, expRule('sh-a')])]);

      const renamed = await replaceFlag('hero-old', (d) => ({ ...d, name: 'Old hero' }));

      expect(renamed.status).toBe(200);
    });
  });

  describe('starting or resuming an experiment whose only rules come after a catch-all', () => {
    const everyone = { id: 'everyone', type: 'force', variation: 'off' };
    const status = async (key: string): Promise<string> => (await must('GET', `${BASE}/experiments/${key}`)).definition.status as string;

    it('refuses the start, naming the flag, the environment and the rule in front, and starts once the catch-all goes after it', async () => {
      await must('POST', `${BASE}/experiments`, draft('bh-start'));
      // The experiment is a draft: nothing holds the flag to it yet.
      await must('POST', `${BASE}/flags`, booleanFlagBody('bh-flag', { production: state([everyone, expRule('bh-start')]) }));

      const started = await action('bh-start', 'start');

      expect([started.status, started.body.error?.code]).toEqual([409, 'INVALID_STATE']);
      expect(started.body.error.message).toBe(
        'experiment "bh-start" cannot start: every rule for it comes after a rule that serves every unit first (flag "bh-flag" in "production": rule "everyone" serves every unit before rule "bh-start" of the experiment can), so it would run with no traffic: put the rule that serves every unit after the experiment\'s rule (or give it a condition, or disable it), or add an enabled rule for the experiment before it',
      );
      expect(started.body.error.details).toEqual({ flags: ['bh-flag'], issues: [{ path: 'flags.bh-flag.environments.production.rules.0', message: expect.stringContaining('rule "everyone"') }] });
      expect(await status('bh-start')).toBe('draft');

      expect((await putState('bh-flag', 'production', state([expRule('bh-start'), everyone]))).status).toBe(200);
      expect((await action('bh-start', 'start')).status).toBe(200);
    });

    it('names every flag and environment when all of them put a catch-all first', async () => {
      await must('POST', `${BASE}/experiments`, draft('bh-many', { environments: ['production', 'staging'] }));
      await must('POST', `${BASE}/flags`, booleanFlagBody('bh-many-a', { production: state([everyone, expRule('bh-many')]), staging: state([{ id: 'all', type: 'rollout', variation: 'on', coverage: 1 }, expRule('bh-many')]) }));
      await must('POST', `${BASE}/flags`, booleanFlagBody('bh-many-b', { production: state([{ ...everyone, id: 'first', condition: {} }, expRule('bh-many')]) }));

      const started = await action('bh-many', 'start');

      expect([started.status, started.body.error?.code]).toEqual([409, 'INVALID_STATE']);
      expect(started.body.error.details.flags).toEqual(['bh-many-a', 'bh-many-b']);
      expect(issuePaths(started)).toEqual(['flags.bh-many-a.environments.production.rules.0', 'flags.bh-many-a.environments.staging.rules.0', 'flags.bh-many-b.environments.production.rules.0']);
      expect(await status('bh-many')).toBe('draft');
    });

    it('starts when a conditional rule is in front, when another flag or environment delivers it, and when no flag names it', async () => {
      await must('POST', `${BASE}/experiments`, draft('bh-cond'));
      await must('POST', `${BASE}/flags`, booleanFlagBody('bh-cond-flag', { production: state([{ ...everyone, condition: { country: 'NZ' } }, expRule('bh-cond')]) }));
      await must('POST', `${BASE}/experiments`, draft('bh-other'));
      await must('POST', `${BASE}/flags`, booleanFlagBody('bh-other-a', { production: state([everyone, expRule('bh-other')]) }));
      await must('POST', `${BASE}/flags`, booleanFlagBody('bh-other-b', { production: state([expRule('bh-other')]) }));
      await must('POST', `${BASE}/experiments`, draft('bh-env', { environments: ['production', 'staging'] }));
      await must('POST', `${BASE}/flags`, booleanFlagBody('bh-env-flag', { production: state([everyone, expRule('bh-env')]), staging: state([expRule('bh-env')]) }));
      // Shadowed only where the experiment does not run: not its traffic.
      await must('POST', `${BASE}/experiments`, draft('bh-elsewhere'));
      await must('POST', `${BASE}/flags`, booleanFlagBody('bh-elsewhere-flag', { production: state([expRule('bh-elsewhere')]), staging: state([everyone, expRule('bh-elsewhere')]) }));
      await must('POST', `${BASE}/experiments`, draft('bh-standalone'));

      for (const key of ['bh-cond', 'bh-other', 'bh-env', 'bh-elsewhere', 'bh-standalone']) {
        const res = await action(key, 'start');
        expect([key, res.status]).toEqual([key, 200]);
      }
    });

    it('refuses the resume once a catch-all was put in front while it was stopped', async () => {
      await must('POST', `${BASE}/experiments`, experiment('bh-resume'));
      await must('POST', `${BASE}/flags`, booleanFlagBody('bh-resume-flag', { production: state([expRule('bh-resume')]) }));
      expect((await action('bh-resume', 'stop')).status).toBe(200);
      // Stopped, it holds nothing: the catch-all may go first.
      expect((await putState('bh-resume-flag', 'production', state([everyone, expRule('bh-resume')]))).status).toBe(200);

      const resumed = await action('bh-resume', 'resume');

      expect([resumed.status, resumed.body.error?.code]).toEqual([409, 'INVALID_STATE']);
      expect(resumed.body.error.message).toContain('experiment "bh-resume" cannot resume: every rule for it comes after a rule that serves every unit first (flag "bh-resume-flag" in "production": rule "everyone"');
      expect(await status('bh-resume')).toBe('stopped');

      expect((await putState('bh-resume-flag', 'production', state([{ ...everyone, condition: { country: 'NZ' } }, expRule('bh-resume')]))).status).toBe(200);
      expect((await action('bh-resume', 'resume')).status).toBe(200);
    });
  });

  describe('running an experiment with no traffic by resume, create or a change of its environments', () => {
    const everyone = { id: 'everyone', type: 'force', variation: 'off' };
    const refusedAsShadowed = (res: Answer, action: string, key: string, flag: string): void => {
      expect([res.status, res.body.error?.code]).toEqual([409, 'INVALID_STATE']);
      expect(res.body.error.message).toContain(`experiment "${key}" cannot ${action}: every rule for it comes after a rule that serves every unit first (flag "${flag}" in "production": rule "everyone"`);
      expect(res.body.error.details.flags).toEqual([flag]);
    };
    const refusedAsArchived = (res: Answer, key: string, flag: string): void => {
      expect([res.status, res.body.error?.code]).toEqual([409, 'INVALID_STATE']);
      // `POST …/apply` prefixes the message with the change's place in the batch.
      expect(res.body.error.message).toMatch(new RegExp(`(^|: )experiment "${key}" is delivered only by archived flag "${flag}", so it would run with no traffic: unarchive it first, or remove the rule$`));
      expect(res.body.error.details.flags).toEqual([flag]);
    };
    const found = async (key: string): Promise<number> => (await request('GET', `${BASE}/experiments/${key}`)).status;

    it('refuses the resume of an experiment whose only flag was archived while it was stopped, and resumes once it is unarchived', async () => {
      await must('POST', `${BASE}/experiments`, experiment('nt-resume'));
      await must('POST', `${BASE}/flags`, booleanFlagBody('nt-resume-flag', { production: state([expRule('nt-resume')]) }));
      expect((await action('nt-resume', 'stop')).status).toBe(200);
      // Stopped, it holds nothing: the flag may be archived.
      expect((await replaceFlag('nt-resume-flag', (d) => ({ ...d, archived: true }))).status).toBe(200);

      const resumed = await action('nt-resume', 'resume');

      refusedAsArchived(resumed, 'nt-resume', 'nt-resume-flag');
      expect((await must('GET', `${BASE}/experiments/nt-resume`)).definition.status).toBe('stopped');
      expect((await replaceFlag('nt-resume-flag', (d) => ({ ...d, archived: false }))).status).toBe(200);
      expect((await action('nt-resume', 'resume')).status).toBe(200);
    });

    it('refuses a create of a running experiment whose only rules come after a catch-all (apply, and created again after a delete), and accepts one with a rule that delivers', async () => {
      const flagFirst = await request('POST', `${BASE}/apply`, {
        changes: [
          { kind: 'flags', action: 'create', key: 'nt-new-flag', definition: booleanFlagBody('nt-new-flag', { production: state([everyone, expRule('nt-new')]) }) },
          { kind: 'experiments', action: 'create', key: 'nt-new', definition: experiment('nt-new') },
        ],
      });
      const delivering = await request('POST', `${BASE}/apply`, {
        changes: [
          { kind: 'flags', action: 'create', key: 'nt-new-ok-flag', definition: booleanFlagBody('nt-new-ok-flag', { production: state([expRule('nt-new-ok'), everyone]) }) },
          { kind: 'experiments', action: 'create', key: 'nt-new-ok', definition: experiment('nt-new-ok') },
        ],
      });
      await must('POST', `${BASE}/experiments`, draft('nt-again'));
      await must('POST', `${BASE}/flags`, booleanFlagBody('nt-again-flag', { production: state([everyone, expRule('nt-again')]) }));
      const recreated = await request('POST', `${BASE}/apply`, {
        changes: [
          { kind: 'experiments', action: 'delete', key: 'nt-again', version: await version('experiments', 'nt-again') },
          { kind: 'experiments', action: 'create', key: 'nt-again', definition: experiment('nt-again') },
        ],
      });
      const recreatedDraft = await request('POST', `${BASE}/apply`, {
        changes: [
          { kind: 'experiments', action: 'delete', key: 'nt-again', version: await version('experiments', 'nt-again') },
          { kind: 'experiments', action: 'create', key: 'nt-again', definition: draft('nt-again') },
        ],
      });

      refusedAsShadowed(flagFirst, 'be created running', 'nt-new', 'nt-new-flag');
      expect([await found('nt-new'), (await request('GET', `${BASE}/flags/nt-new-flag`)).status]).toEqual([404, 404]);
      refusedAsShadowed(recreated, 'be created running', 'nt-again', 'nt-again-flag');
      expect([delivering.status, recreatedDraft.status]).toEqual([200, 200]);
      expect((await must('GET', `${BASE}/experiments/nt-new-ok`)).definition.status).toBe('running');
    });

    it('refuses a create of a running experiment that only archived flags name, and accepts it once one is unarchived', async () => {
      const archivedFlag = { ...booleanFlagBody('nt-archived-flag', { production: state([expRule('nt-archived')]) }), archived: true };
      const applied = await request('POST', `${BASE}/apply`, {
        changes: [
          { kind: 'flags', action: 'create', key: 'nt-archived-flag', definition: archivedFlag },
          { kind: 'experiments', action: 'create', key: 'nt-archived', definition: experiment('nt-archived') },
        ],
      });
      await must('POST', `${BASE}/flags`, archivedFlag);
      const created = await request('POST', `${BASE}/experiments`, experiment('nt-archived'));

      refusedAsArchived(applied, 'nt-archived', 'nt-archived-flag');
      refusedAsArchived(created, 'nt-archived', 'nt-archived-flag');
      expect(await found('nt-archived')).toBe(404);
      // A draft may be created: the start is refused until the flag is unarchived.
      await must('POST', `${BASE}/experiments`, draft('nt-archived'));
      expect((await replaceFlag('nt-archived-flag', (d) => ({ ...d, archived: false }))).status).toBe(200);
      expect((await action('nt-archived', 'start')).status).toBe(200);
    });

    it('refuses taking a running experiment out of the only environment a rule delivers it in, and accepts a change that keeps one', async () => {
      await must('POST', `${BASE}/experiments`, draft('nt-envs', { environments: ['production', 'staging'] }));
      await must('POST', `${BASE}/flags`, booleanFlagBody('nt-envs-flag', { production: state([everyone, expRule('nt-envs')]), staging: state([expRule('nt-envs')]) }));
      expect((await action('nt-envs', 'start')).status).toBe(200);

      const productionOnly = await replaceExperiment('nt-envs', (d) => ({ ...d, environments: ['production'] }));
      const stagingOnly = await replaceExperiment('nt-envs', (d) => ({ ...d, environments: ['staging'] }));

      refusedAsShadowed(productionOnly, 'run in these environments', 'nt-envs', 'nt-envs-flag');
      expect(stagingOnly.status).toBe(200);
      expect((await must('GET', `${BASE}/experiments/nt-envs`)).definition.environments).toEqual(['staging']);
    });

    it('does not hold a running experiment that already had no delivery to it when its environments change', async () => {
      await must('POST', `${BASE}/experiments`, experiment('nt-old', { environments: ['production', 'staging'] }));
      await must('POST', `${BASE}/flags`, booleanFlagBody('nt-old-flag', { production: state([expRule('nt-old')]), staging: state([expRule('nt-old')]) }));
      // Stored before the check existed.
      for (const env of ['production', 'staging']) {
        await p.db.query(`UPDATE flags SET definition = jsonb_set(definition, $1::text[], $2::jsonb) WHERE key = 'nt-old-flag'`, [['environments', env, 'rules'], JSON.stringify([everyone, expRule('nt-old')])]);
      }

      const productionOnly = await replaceExperiment('nt-old', (d) => ({ ...d, environments: ['production'] }));

      expect(productionOnly.status).toBe(200);
    });
  });

  describe('releasing a winner on a flag shared with other running experiments', () => {
    const SHIP = { decision: 'ship', winner: 'treatment', releaseWinner: true };

    beforeAll(async () => {
      for (const key of ['layer-exp-a', 'layer-exp-b', 'layer-exp-c', 'solo', 'last']) {
        await must('POST', `${BASE}/experiments`, experiment(key));
      }
      await must('POST', `${BASE}/flags`, booleanFlagBody('layers', { production: state(['layer-exp-a', 'layer-exp-b', 'layer-exp-c'].map(expRule)), staging: state([expRule('layer-exp-a'), expRule('layer-exp-b')]) }));
      await must('POST', `${BASE}/flags`, booleanFlagBody('solo-flag', { production: state([expRule('solo')]) }));
      await must('POST', `${BASE}/flags`, booleanFlagBody('last-flag', { production: state([expRule('sh-c'), expRule('last')]) }));
    });

    it('is refused on stop, naming the experiments behind it; stopping without release, and releasing later once they stopped, are allowed', async () => {
      const released = await action('layer-exp-a', 'stop', SHIP);

      expect([released.status, released.body.error?.code]).toEqual([409, 'INVALID_STATE']);
      expect(released.body.error.message).toBe(
        'releasing the winner of experiment "layer-exp-a" would serve "treatment" to every unit that reaches its rules, so the running experiments "layer-exp-b", "layer-exp-c", whose rules come after them, would get no more traffic (flag "layers" in "production": rule "layer-exp-b" of the running experiment "layer-exp-b" comes after rule "layer-exp-a"; flag "layers" in "production": rule "layer-exp-c" of the running experiment "layer-exp-c" comes after rule "layer-exp-a"): stop them first, or stop "layer-exp-a" without releasing the winner and change the flag\'s rules to serve it',
      );
      expect(released.body.error.details).toEqual({
        experiments: ['layer-exp-b', 'layer-exp-c'],
        issues: [
          { path: 'flags.layers.environments.production.rules.1', message: expect.stringContaining('"layer-exp-b"') },
          { path: 'flags.layers.environments.production.rules.2', message: expect.stringContaining('"layer-exp-c"') },
        ],
      });
      expect((await must('GET', `${BASE}/experiments/layer-exp-a`)).definition.status).toBe('running');

      const stopped = await action('layer-exp-a', 'stop', { decision: 'ship', winner: 'treatment' });
      const revised = await replaceExperiment('layer-exp-a', (d) => ({ ...d, releaseWinner: true }));
      expect(stopped.status).toBe(200);
      expect([revised.status, revised.body.error?.details?.experiments]).toEqual([409, ['layer-exp-b', 'layer-exp-c']]);

      expect((await action('layer-exp-b', 'stop')).status).toBe(200);
      expect((await action('layer-exp-c', 'stop')).status).toBe(200);
      expect((await replaceExperiment('layer-exp-a', (d) => ({ ...d, releaseWinner: true }))).status).toBe(200);
    });

    it('is refused for an experiment created stopped with its winner released in front of a running one', async () => {
      await must('POST', `${BASE}/experiments`, draft('imported'));
      await must('POST', `${BASE}/flags`, booleanFlagBody('import-flag', { production: state([expRule('imported'), expRule('last')]) }));
      const applied = await request('POST', `${BASE}/apply`, {
        changes: [
          { kind: 'experiments', action: 'delete', key: 'imported', version: await version('experiments', 'imported') },
          { kind: 'experiments', action: 'create', key: 'imported', definition: experiment('imported', { status: 'stopped', stoppedAt: startedAt, decision: 'ship', winner: 'treatment', releaseWinner: true }) },
        ],
      });

      expect([applied.status, applied.body.error?.code]).toEqual([409, 'INVALID_STATE']);
      expect(applied.body.error.details.experiments).toEqual(['last']);
    });

    it('lets a winner be released when no running experiment comes after its rule', async () => {
      expect((await action('solo', 'stop', SHIP)).status).toBe(200);
      expect((await action('sh-c', 'stop', SHIP)).status).toBe(409);
      expect((await action('last', 'stop', SHIP)).status).toBe(200);
    });
  });
});
