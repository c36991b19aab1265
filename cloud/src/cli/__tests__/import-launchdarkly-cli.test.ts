import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { XpApiClient } from '@xp/shared';
import { runXpText, useLocalPlatform } from './cli-over-http.js';

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
  const local = useLocalPlatform('xp-ld-import-', PASSWORD);
  const run = runXpText;

  it('shows the plan on a dry run, applies it, keeps other environments and changes nothing when imported again', async () => {
    const api = new XpApiClient({ apiUrl: local.stack.apiUrl });
    const owner = api.withToken((await api.login('owner@example.com', PASSWORD)).token);
    const env = { XP_API_URL: local.stack.apiUrl, XP_TOKEN: (await api.login('owner@example.com', PASSWORD)).token };
    const file = path.join(local.dir, 'ld.json');
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
    const api = new XpApiClient({ apiUrl: local.stack.apiUrl });
    const env = { XP_API_URL: local.stack.apiUrl, XP_TOKEN: (await api.login('owner@example.com', PASSWORD)).token };
    const file = path.join(local.dir, 'ld2.json');
    await writeFile(file, JSON.stringify(DATA));
    const wrongEnv = await run(['import', 'launchdarkly', file, '--project', 'demo', '--environment', 'prod'], env);
    expect(wrongEnv.code).toBe(1);
    expect(wrongEnv.err).toContain('project "demo" has no environment "prod"');
    const bad = path.join(local.dir, 'bad.json');
    await writeFile(bad, JSON.stringify({ features: {} }));
    const refused = await run(['import', 'launchdarkly', bad, '--project', 'demo', '--environment', 'production'], env);
    expect(refused.code).toBe(1);
    expect(refused.err).toContain('invalid LaunchDarkly data');
  }, 60_000);

  it('exits 2 for a missing FILE, --project or --environment, and 1 when every flag of the data is skipped', async () => {
    const api = new XpApiClient({ apiUrl: local.stack.apiUrl });
    const env = { XP_API_URL: local.stack.apiUrl, XP_TOKEN: (await api.login('owner@example.com', PASSWORD)).token };
    const file = path.join(local.dir, 'ld-skipped.json');
    await writeFile(file, JSON.stringify({ flags: { a: { on: 'yes' }, b: DATA.flags['ld-promo'] } }));
    const noFile = await run(['import', 'launchdarkly', '--project', 'demo', '--environment', 'production'], env);
    expect(noFile).toMatchObject({ code: 2, err: expect.stringContaining('xp import launchdarkly needs FILE') });
    const noProject = await run(['import', 'launchdarkly', file, '--environment', 'production'], env);
    expect(noProject).toMatchObject({ code: 2, err: expect.stringContaining('needs --project') });
    const skipped = await run(['import', 'launchdarkly', file, '--project', 'demo', '--environment', 'production', '--dry-run'], env);
    expect(skipped.code).toBe(1);
    expect(skipped.err).toContain('error: nothing to import: every flag of the data (2) was skipped');
  }, 60_000);

  it('keeps an imported key with its LaunchDarkly flag on a later import, and warns before replacing a project segment', async () => {
    const api = new XpApiClient({ apiUrl: local.stack.apiUrl });
    const token = (await api.login('owner@example.com', PASSWORD)).token;
    const owner = api.withToken(token);
    const env = { XP_API_URL: local.stack.apiUrl, XP_TOKEN: token };
    const bool = (served: number): Record<string, unknown> => ({ on: true, variations: [false, true], offVariation: 0, fallthrough: { variation: served } });
    const file = path.join(local.dir, 'ld-keys.json');
    const args = ['import', 'launchdarkly', file, '--project', 'demo', '--environment', 'production'];
    await writeFile(file, JSON.stringify({ flags: { 'My Flag': bool(1) } }));
    expect((await run(args, env)).code).toBe(0);
    await owner.create('demo', 'segments', { key: 'staff', name: 'internal staff', type: 'ids', attribute: 'id', values: ['staff-1'] });
    const uses = { ...bool(0), rules: [{ id: 'r', clauses: [{ attribute: '', op: 'segmentMatch', values: ['staff'] }], variation: 1 }] };
    await writeFile(file, JSON.stringify({ flags: { 'My Flag': bool(1), 'My-Flag': bool(0), 'uses-staff': uses }, segments: { staff: { key: 'staff', included: ['u-1'] } } }));
    const again = await run([...args, '--dry-run'], env);
    expect(again.code).toBe(0);
    expect(again.err).toContain('warning: flag "My-Flag": skipped: xp flag "My-Flag" holds LaunchDarkly flag "My Flag"');
    expect(again.err).toContain('warning: segment "staff" exists and was not imported from this LaunchDarkly segment; the import replaces it');
    expect(again.out).not.toContain('flag My-Flag');
  }, 60_000);

  it('imports more changes than one apply takes in parts, segments first and each flag after its prerequisites', async () => {
    const api = new XpApiClient({ apiUrl: local.stack.apiUrl });
    const token = (await api.login('owner@example.com', PASSWORD)).token;
    const owner = api.withToken(token);
    const env = { XP_API_URL: local.stack.apiUrl, XP_TOKEN: token };
    const flags: Record<string, unknown> = {};
    for (let i = 0; i < 2100; i++) {
      // The last flags are the prerequisites of the first ones and use the one segment.
      flags[`bulk-${i}`] = {
        on: true,
        variations: [false, true],
        offVariation: 0,
        fallthrough: { variation: 1 },
        ...(i < 50 ? { prerequisites: [{ key: `bulk-${2099 - i}`, variation: 1 }] } : {}),
        ...(i >= 2050 ? { rules: [{ id: 'r', clauses: [{ attribute: '', op: 'segmentMatch', values: ['bulk-seg'] }], variation: 0 }] } : {}),
      };
    }
    const file = path.join(local.dir, 'ld-bulk.json');
    await writeFile(file, JSON.stringify({ flags, segments: { 'bulk-seg': { key: 'bulk-seg', included: ['u-1'] } } }));
    const args = ['import', 'launchdarkly', file, '--project', 'demo', '--environment', 'production'];
    const dry = await run([...args, '--dry-run'], env);
    expect(dry.err).toBe('');
    expect(dry.code).toBe(0);
    expect(dry.out).toContain('these 2,101 are applied in 2 parts');
    expect(dry.out).toContain('Checked by the API: part 1 of 2 would be accepted');
    const applied = await run(args, env);
    expect(applied.code).toBe(0);
    expect(applied.out).toContain('Part 2 of 2 (101 changes):');
    const keys = new Set((await owner.listAll('demo', 'flags', { archived: true })).map((f) => f.key));
    expect(Object.keys(flags).filter((k) => !keys.has(k))).toEqual([]);
    expect((await owner.get('demo', 'flags', 'bulk-0')).definition.environments.production?.prerequisites).toEqual([{ flag: 'bulk-2099', variation: 'true' }]);
    expect((await run(args, env)).out).toMatch(/no changes/i);
  }, 240_000);
});
