import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { XpApiClient } from '@xp/shared';
import { runXpText, useLocalPlatform } from './cli-over-http.js';

const PASSWORD = 'unleash import test passphrase';

const DATA = {
  version: 2,
  features: [
    {
      name: 'un-checkout',
      enabled: true,
      type: 'release',
      strategies: [
        { name: 'userWithId', parameters: { userIds: 'u1,u2' }, constraints: [] },
        { name: 'default', parameters: {}, constraints: [{ contextName: 'plan', operator: 'IN', values: ['pro'] }], segments: [7] },
      ],
      variants: [],
    },
    { name: 'un-host', enabled: true, strategies: [{ name: 'applicationHostname', parameters: { hostNames: 'web-1' } }] },
  ],
  segments: [{ id: 7, name: 'un-beta', constraints: [{ contextName: 'email', operator: 'STR_ENDS_WITH', values: ['@acme.com'] }] }],
};

describe('xp import unleash against a local platform', () => {
  const local = useLocalPlatform('xp-unleash-import-', PASSWORD);
  const run = runXpText;

  async function owner(): Promise<{ api: XpApiClient; env: NodeJS.ProcessEnv }> {
    const api = new XpApiClient({ apiUrl: local.stack.apiUrl });
    const token = (await api.login('owner@example.com', PASSWORD)).token;
    return { api: api.withToken(token), env: { XP_API_URL: local.stack.apiUrl, XP_TOKEN: token } };
  }

  it('shows the plan on a dry run, applies it, keeps other environments and changes nothing when imported again', async () => {
    const { api, env } = await owner();
    const file = path.join(local.dir, 'unleash.json');
    await writeFile(file, JSON.stringify(DATA));
    const args = ['import', 'unleash', file, '--project', 'demo', '--environment', 'production'];

    const dry = await run([...args, '--dry-run'], env);
    expect(dry.code).toBe(0);
    expect(dry.err).toContain('warning: toggle "un-host": skipped: strategy 1 (applicationHostname): it depends on the host name');
    expect(dry.out).toContain('un-checkout');
    expect(dry.out).toContain('un-beta');
    expect((await api.listAll('demo', 'flags', { archived: true })).map((f) => f.key)).not.toContain('un-checkout');

    const applied = await run(args, env);
    expect(applied.code).toBe(0);
    const flag = (await api.get('demo', 'flags', 'un-checkout')).definition;
    expect(flag.environments.production).toMatchObject({ enabled: true, defaultVariation: 'off', offVariation: 'off' });
    expect(flag.environments.production?.rules.map((r) => [r.id, r.segments])).toEqual([
      ['strategy-1', undefined],
      ['strategy-2', ['un-beta']],
    ]);
    expect((await api.get('demo', 'segments', 'un-beta')).definition).toMatchObject({ type: 'condition', description: 'Imported from Unleash segment 7 "un-beta".' });
    expect((await api.listAll('demo', 'flags', { archived: true })).map((f) => f.key)).not.toContain('un-host');

    expect((await run([...args.slice(0, -1), 'staging'], env)).code).toBe(0);
    const again = await run([...args.slice(0, -1), 'staging'], env);
    expect(again.code).toBe(0);
    expect(Object.keys((await api.get('demo', 'flags', 'un-checkout')).definition.environments).sort()).toEqual(['production', 'staging']);
    expect(again.out).toMatch(/no changes|nothing to/i);
  }, 60_000);

  it('keeps the segment key with its Unleash id when the segment is renamed in Unleash', async () => {
    const { api, env } = await owner();
    const file = path.join(local.dir, 'unleash-renamed.json');
    await writeFile(file, JSON.stringify({ ...DATA, segments: [{ ...DATA.segments[0], name: 'beta testers' }] }));
    const applied = await run(['import', 'unleash', file, '--project', 'demo', '--environment', 'production'], env);
    expect(applied.code).toBe(0);
    expect((await api.get('demo', 'flags', 'un-checkout')).definition.environments.production?.rules[1]?.segments).toEqual(['un-beta']);
    expect((await api.listAll('demo', 'segments', { archived: true })).map((s) => s.key)).not.toContain('beta-testers');
  }, 60_000);

  it('imports environments whose toggles have other variants (or none) in either order, keeping each environment, and re-imports each as no change', async () => {
    const { api, env } = await owner();
    const variant = (name: string, value: string): Record<string, unknown> => ({ name, weight: 1000, weightType: 'variable', stickiness: 'default', payload: { type: 'string', value } });
    const data = (prefix: string, colour: string, withBannerVariants: boolean): unknown => ({
      version: 2,
      features: [
        { name: `${prefix}-theme`, enabled: true, strategies: [{ name: 'default', parameters: {} }], variants: [variant(colour, colour)] },
        { name: `${prefix}-banner`, enabled: true, strategies: [{ name: 'userWithId', parameters: { userIds: 'u1' } }], variants: withBannerVariants ? [variant('big', 'big')] : [] },
      ],
    });
    for (const [prefix, order] of [
      ['un-a', ['staging', 'production']],
      ['un-b', ['production', 'staging']],
    ] as const) {
      const files: Record<string, string> = {};
      for (const [environment, colour, banner] of [
        ['staging', 'blue', true],
        ['production', 'red', false],
      ] as const) {
        files[environment] = path.join(local.dir, `${prefix}-${environment}.json`);
        await writeFile(files[environment], JSON.stringify(data(prefix, colour, banner)));
      }
      const imported = [];
      for (const environment of order) {
        imported.push(await run(['import', 'unleash', files[environment]!, '--project', 'demo', '--environment', environment], env));
      }
      expect(imported.map((r) => r.code)).toEqual([0, 0]);
      expect(imported.map((r) => r.err).join('\n')).not.toContain('the import replaces it');
      const theme = (await api.get('demo', 'flags', `${prefix}-theme`)).definition;
      expect(theme.variations.map((v) => v.value)).toEqual(order[0] === 'staging' ? [null, 'blue', 'red'] : [null, 'red', 'blue']);
      expect(Object.keys(theme.environments).sort()).toEqual(['production', 'staging']);
      const banner = (await api.get('demo', 'flags', `${prefix}-banner`)).definition;
      // With variants first, production serves the json flag's "enabled without a variant"; else staging's toggle is skipped.
      const variantsFirst = order[0] === 'staging';
      expect(banner.type).toBe(variantsFirst ? 'json' : 'boolean');
      expect(Object.keys(banner.environments).sort()).toEqual(variantsFirst ? ['production', 'staging'] : ['production']);
      expect(banner.environments.production?.rules[0]).toMatchObject({ variation: 'on' });
      expect(imported[1]!.err.includes(`warning: toggle "${prefix}-banner": skipped: xp flag "${prefix}-banner" is boolean`)).toBe(!variantsFirst);
      for (const environment of order) {
        const again = await run(['import', 'unleash', files[environment]!, '--project', 'demo', '--environment', environment], env);
        expect(again.code).toBe(0);
        expect(again.out).toMatch(/no changes/i);
      }
    }
    // Toggles an earlier import created that this file lacks are named on a dry run, and left alone.
    const dry = await run(['import', 'unleash', path.join(local.dir, 'un-a-staging.json'), '--project', 'demo', '--environment', 'staging', '--dry-run'], env);
    const gone = dry.err.split('\n').find((l) => l.startsWith('warning: flags imported from Unleash toggles that are not in the data'));
    expect(gone).toContain('"un-checkout"');
    expect(gone).toContain('"un-b-theme"');
    expect(gone).not.toContain('"un-a-theme"');
    expect(dry.out).toMatch(/no changes/i);
  }, 120_000);

  it('names a mistyped environment, refuses malformed JSON and data that is not Unleash\'s, and exits 2 without FILE', async () => {
    const { env } = await owner();
    const file = path.join(local.dir, 'unleash2.json');
    await writeFile(file, JSON.stringify(DATA));
    const wrongEnv = await run(['import', 'unleash', file, '--project', 'demo', '--environment', 'prod'], env);
    expect(wrongEnv.code).toBe(1);
    expect(wrongEnv.err).toContain('project "demo" has no environment "prod"');
    const notJson = path.join(local.dir, 'not-json.json');
    await writeFile(notJson, '{ "features": [');
    const broken = await run(['import', 'unleash', notJson, '--project', 'demo', '--environment', 'production'], env);
    expect(broken.code).toBe(1);
    expect(broken.err).toContain('not-json.json');
    const bad = path.join(local.dir, 'bad.json');
    await writeFile(bad, JSON.stringify({ version: 9, features: [] }));
    const refused = await run(['import', 'unleash', bad, '--project', 'demo', '--environment', 'production'], env);
    expect(refused.code).toBe(1);
    expect(refused.err).toContain('invalid Unleash data: version: 9');
    const noFile = await run(['import', 'unleash', '--project', 'demo', '--environment', 'production'], env);
    expect(noFile).toMatchObject({ code: 2, err: expect.stringContaining('xp import unleash needs FILE') });
  }, 60_000);
});
