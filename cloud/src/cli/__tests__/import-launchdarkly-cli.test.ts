import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { XpApiClient } from '@xp/shared';
import { silentLogger } from '../../domain/context.js';
import { configFromEnv, startLocalStack } from '../../local/stack.js';
import type { LocalStack } from '../../local/stack.js';
import { main } from '../xp.js';

const PASSWORD = 'launchdarkly import test passphrase';

const DATA = {
  flags: {
    'ld-checkout': {
      key: 'ld-checkout',
      on: true,
      variations: [false, true],
      offVariation: 0,
      fallthrough: { variation: 0 },
      targets: [{ values: ['u-1'], variation: 1 }],
      rules: [{ id: 'beta', clauses: [{ attribute: '', op: 'segmentMatch', values: ['ld-beta'], negate: false }], variation: 1 }],
    },
    'ld-promo': { key: 'ld-promo', on: true, variations: [false, true], offVariation: 0, fallthrough: { variation: 0 }, rules: [{ id: 'a', clauses: [{ attribute: 'signup', op: 'after', values: [0] }], variation: 1 }] },
  },
  segments: { 'ld-beta': { key: 'ld-beta', included: ['u-2'], rules: [{ clauses: [{ attribute: 'email', op: 'endsWith', values: ['@acme.com'] }] }] } },
};

describe('xp import launchdarkly against a local platform', () => {
  let dir: string;
  let stack: LocalStack;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'xp-ld-import-'));
    stack = await startLocalStack(configFromEnv({ XP_DATA_DIR: dir, XP_API_PORT: '0', XP_CONSOLE_PORT: '0', XP_ADMIN_EMAIL: 'owner@example.com', XP_ADMIN_PASSWORD: PASSWORD, XP_DEMO: '0' }), {
      logger: silentLogger,
      print: () => undefined,
    });
  }, 60_000);
  afterAll(async () => {
    await stack.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function run(argv: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string; err: string }> {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(argv, env, (l) => out.push(l), (l) => err.push(l));
    return { code, out: out.join('\n'), err: err.join('\n') };
  }

  it('shows the plan on a dry run, applies it, keeps other environments and changes nothing when imported again', async () => {
    const api = new XpApiClient({ apiUrl: stack.apiUrl });
    const owner = api.withToken((await api.login('owner@example.com', PASSWORD)).token);
    const env = { XP_API_URL: stack.apiUrl, XP_TOKEN: (await api.login('owner@example.com', PASSWORD)).token };
    const file = path.join(dir, 'ld.json');
    await writeFile(file, JSON.stringify(DATA));
    const args = ['import', 'launchdarkly', file, '--project', 'demo', '--environment', 'production'];

    const dry = await run([...args, '--dry-run'], env);
    expect(dry.code).toBe(0);
    expect(dry.err).toContain('warning: flag "ld-promo": skipped: a date clause');
    expect(dry.out).toContain('ld-checkout');
    expect(dry.out).toContain('ld-beta');
    expect((await owner.listAll('demo', 'flags', { archived: true })).map((f) => f.key)).not.toContain('ld-checkout');

    const applied = await run(args, env);
    expect(applied.code).toBe(0);
    const flag = (await owner.get('demo', 'flags', 'ld-checkout')).definition;
    expect(flag.environments.production).toMatchObject({ enabled: true, defaultVariation: 'false', offVariation: 'false' });
    expect(flag.environments.production?.rules.map((r) => r.id)).toEqual(['targets-user-1', 'beta']);
    expect((await owner.get('demo', 'segments', 'ld-beta')).definition).toMatchObject({ type: 'condition' });
    expect((await owner.listAll('demo', 'flags', { archived: true })).map((f) => f.key)).not.toContain('ld-promo');

    // The same data into staging keeps production; once more changes nothing.
    expect((await run([...args.slice(0, -1), 'staging'], env)).code).toBe(0);
    const again = await run([...args.slice(0, -1), 'staging'], env);
    expect(again.code).toBe(0);
    const both = (await owner.get('demo', 'flags', 'ld-checkout')).definition;
    expect(Object.keys(both.environments).sort()).toEqual(['production', 'staging']);
    expect(again.out).toMatch(/no changes|nothing to/i);
  }, 60_000);

  it('names a mistyped environment and refuses data that is not LaunchDarkly\'s', async () => {
    const api = new XpApiClient({ apiUrl: stack.apiUrl });
    const env = { XP_API_URL: stack.apiUrl, XP_TOKEN: (await api.login('owner@example.com', PASSWORD)).token };
    const file = path.join(dir, 'ld2.json');
    await writeFile(file, JSON.stringify(DATA));
    const wrongEnv = await run(['import', 'launchdarkly', file, '--project', 'demo', '--environment', 'prod'], env);
    expect(wrongEnv.code).toBe(1);
    expect(wrongEnv.err).toContain('project "demo" has no environment "prod"');
    const bad = path.join(dir, 'bad.json');
    await writeFile(bad, JSON.stringify({ features: {} }));
    const refused = await run(['import', 'launchdarkly', bad, '--project', 'demo', '--environment', 'production'], env);
    expect(refused.code).toBe(1);
    expect(refused.err).toContain('invalid LaunchDarkly data');
  }, 60_000);
});
