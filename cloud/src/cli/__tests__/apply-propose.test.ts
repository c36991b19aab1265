import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { XpApiClient } from '@xp/shared';
import { runXpText, useLocalPlatform } from './cli-over-http.js';

const PASSWORD = 'apply propose test passphrase';

describe('xp apply --propose and xp import against a local platform', () => {
  const local = useLocalPlatform('xp-propose-', PASSWORD);
  const run = runXpText;

  /** The owner's client, and a new editor's token (the user created and its first password changed). */
  async function ownerAndEditor(email: string): Promise<{ api: XpApiClient; owner: XpApiClient; ownerToken: string; editorToken: string }> {
    const api = new XpApiClient({ apiUrl: local.stack.apiUrl });
    const ownerToken = (await api.login('owner@example.com', PASSWORD)).token;
    const res = await fetch(`${local.stack.apiUrl}/api/v1/users`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ownerToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ email, name: 'Editor', role: 'editor' }),
    });
    expect(res.status).toBe(201);
    const { initialPassword } = (await res.json()) as { initialPassword: string };
    await api.login(email, initialPassword, PASSWORD);
    return { api, owner: api.withToken(ownerToken), ownerToken, editorToken: (await api.login(email, PASSWORD)).token };
  }

  it('cancels the caller\'s request a revised file no longer proposes (a dry run says it would), and names anyone else\'s', async () => {
    const { api, owner, editorToken } = await ownerAndEditor('editor@example.com');
    const editor = api.withToken(editorToken);
    const asEditor = { XP_API_URL: local.stack.apiUrl, XP_TOKEN: editorToken };

    // p2: the project as it is; p1: the branch's first version, which turns new-checkout around in production.
    const p2 = path.join(local.dir, 'p2.yaml');
    const p1 = path.join(local.dir, 'p1.yaml');
    expect((await run(['export', '--project', 'demo', '--out', p2], asEditor)).code).toBe(0);
    const doc = YAML.parse(await readFile(p2, 'utf8'));
    const flag = doc.flags.find((f: { key: string }) => f.key === 'new-checkout');
    flag.environments.production.enabled = !flag.environments.production.enabled;
    await writeFile(p1, YAML.stringify(doc));
    expect(await run(['apply', p1, '--propose'], asEditor)).toMatchObject({ code: 0, err: '' });
    const [request] = (await editor.changeRequests('demo', { status: 'open', resourceKey: 'new-checkout' })).items;
    expect(request).toBeDefined();
    const id = request!.id;

    // The branch is revised back: the request now proposes what the document does not.
    const dryRun = await run(['apply', p2, '--propose', '--dry-run'], asEditor);
    expect(dryRun).toMatchObject({ code: 0, err: '' });
    expect(dryRun.out).toContain(`Your open change requests the document no longer proposes, which the apply would cancel (1):\n  flag new-checkout in production (change request ${id})`);
    expect((await editor.changeRequests('demo', { status: 'open', resourceKey: 'new-checkout' })).items.map((r) => r.id)).toEqual([id]);

    const applied = await run(['apply', p2, '--propose'], asEditor);
    expect(applied).toMatchObject({ code: 0, err: '' });
    expect(applied.out).toContain(`  cancelled change request ${id} (flag new-checkout in production): the document no longer proposes it`);
    expect((await editor.changeRequests('demo', { status: 'open', resourceKey: 'new-checkout' })).items).toEqual([]);
    expect((await editor.changeRequests('demo', { status: 'cancelled', resourceKey: 'new-checkout' })).items.map((r) => r.id)).toEqual([id]);

    // Someone else's request is not the caller's to cancel: it is named, with its proposer, and left open.
    const current = await owner.get('demo', 'flags', 'new-checkout');
    const production = current.definition.environments.production!;
    const theirs = await owner.proposeChange('demo', { resourceKey: 'new-checkout', environment: 'production', state: { ...production, enabled: !production.enabled }, baseVersion: current.version });
    const again = await run(['apply', p2, '--propose'], asEditor);
    expect(again.code).toBe(0);
    expect(again.err).toMatch(new RegExp(`^warning: change request ${theirs.id} by (owner@example\\.com|user \\S+) proposes another state for flag new-checkout in production than the document`));
    expect(again.out).not.toContain('cancelled');
    expect((await owner.changeRequests('demo', { status: 'open', resourceKey: 'new-checkout' })).items.map((r) => r.id)).toEqual([theirs.id]);
  }, 60_000);

  it('cancels its own request made before a kill switch was flipped when the file leaves enabled out, instead of proposing a second one beside it', async () => {
    const { owner, ownerToken, editorToken } = await ownerAndEditor('kill-switch-editor@example.com');
    const asEditor = { XP_API_URL: local.stack.apiUrl, XP_TOKEN: editorToken };
    const asOwner = { XP_API_URL: local.stack.apiUrl, XP_TOKEN: ownerToken };

    // A branch that changes a flag's default in production, leaving its on/off to the console.
    const file = path.join(local.dir, 'kill-switch.yaml');
    expect((await run(['export', '--project', 'demo', '--out', file, '--omit-enabled'], asEditor)).code).toBe(0);
    const doc = YAML.parse(await readFile(file, 'utf8'));
    // A flag no open change request is about (an earlier test leaves one open on new-checkout).
    const requested = new Set((await owner.changeRequests('demo', { status: 'open' })).items.map((r) => r.resourceKey));
    const flag = doc.flags.find(
      (f: { key: string; variations: unknown[]; environments: Record<string, unknown> }) => !requested.has(f.key) && f.variations.length > 1 && f.environments.production !== undefined && !('enabled' in (f.environments.production as object)),
    );
    const production = flag.environments.production as { defaultVariation: string };
    production.defaultVariation = flag.variations.map((v: { key: string }) => v.key).find((k: string) => k !== production.defaultVariation);
    await writeFile(file, YAML.stringify(doc));
    // (The earlier test's request on new-checkout may be warned about: it is not this flag's.)
    const proposed = await run(['apply', file, '--propose'], asEditor);
    expect([proposed.code, proposed.err.includes(`flag ${flag.key as string} `)]).toEqual([0, false]);
    const open = async (): Promise<string[]> => (await owner.changeRequests('demo', { status: 'open', resourceKey: flag.key })).items.map((r) => r.id);
    const [first] = await open();

    // The kill switch is flipped in production after the request was made: the request would flip it back.
    const stored = await owner.get('demo', 'flags', flag.key);
    const on = stored.definition.environments.production!.enabled;
    expect((await run(['flags', on ? 'off' : 'on', flag.key, '--project', 'demo', '--env', 'production'], asOwner)).code).toBe(0);

    const again = await run(['apply', file, '--propose'], asEditor);
    expect([again.code, again.err.includes(`flag ${flag.key as string} `)]).toEqual([0, false]);
    expect(again.out).toContain(`  cancelled change request ${first} (flag ${flag.key} in production): the document no longer proposes it`);
    const [second, ...more] = await open();
    expect([second === first, more]).toEqual([false, []]);
    expect((await owner.changeRequests('demo', { status: 'open', resourceKey: flag.key })).items[0]!.proposed).toMatchObject({ enabled: !on, defaultVariation: production.defaultVariation });
  }, 60_000);

  it('names a file\'s schema issues and the broken references of its valid rest in one run', async () => {
    const api = new XpApiClient({ apiUrl: local.stack.apiUrl });
    const env = { XP_API_URL: local.stack.apiUrl, XP_TOKEN: (await api.login('owner@example.com', PASSWORD)).token };
    const file = path.join(local.dir, 'bad.yaml');
    const variations = [{ key: 'off', value: false }, { key: 'on', value: true }];
    await writeFile(
      file,
      YAML.stringify({
        xp: 1,
        project: 'demo',
        flags: [
          { key: 'broken', name: 'Broken', type: 'boolean', variations, environments: { development: { enabled: true, defaultVariation: 'off', offVariation: 'off', rules: [{ id: 'r', type: 'rollout', coverage: 1.5, variation: 'on' }] } } },
          { key: 'typo', name: 'Typo', type: 'boolean', variations, environments: { prodution: { enabled: true, defaultVariation: 'off', offVariation: 'off' } } },
        ],
      }),
    );

    const result = await run(['apply', file, '--dry-run'], env);

    expect(result.code).toBe(1);
    // The broken reference is named with its own line in the file.
    const line = (await readFile(file, 'utf8')).split('\n').findIndex((l) => l.includes('prodution:')) + 1;
    expect(result.err.split('\n')).toEqual([
      `error: ${file}: flags[0].environments.development.rules[0].coverage (line 20): must be between 0 and 1; and the valid rest would leave a broken reference (listed below)`,
      `  flags.typo.environments.prodution (line ${line}): unknown environment "prodution"; the project has "development", "staging", "production"`,
    ]);
  }, 60_000);

  it('keeps the other environments of a flag an earlier import made, though variations are now named without JSON quotes', async () => {
    const api = new XpApiClient({ apiUrl: local.stack.apiUrl });
    const token = (await api.login('owner@example.com', PASSWORD)).token;
    const owner = api.withToken(token);
    const env = { XP_API_URL: local.stack.apiUrl, XP_TOKEN: token };
    // As an import before names lost their quotes left it, in staging.
    const earlier = path.join(local.dir, 'earlier.yaml');
    const variations = [{ key: 'a', name: '"a"', value: 'a' }, { key: 'b', name: '"b"', value: 'b' }];
    await writeFile(earlier, YAML.stringify({ xp: 1, project: 'demo', flags: [{ key: 'mode', name: 'mode', type: 'string', variations, environments: { staging: { enabled: true, defaultVariation: 'b', offVariation: 'b' } } }] }));
    expect((await run(['apply', earlier], env)).code).toBe(0);
    const payload = path.join(local.dir, 'features.json');
    await writeFile(payload, JSON.stringify({ features: { mode: { defaultValue: 'a', rules: [{ force: 'b', condition: { plan: 'pro' } }] } } }));

    const imported = await run(['import', 'growthbook', payload, '--project', 'demo', '--environment', 'production'], env);

    expect(imported).toMatchObject({ code: 0, err: '' });
    const flag = (await owner.get('demo', 'flags', 'mode')).definition;
    expect(flag.variations.map((v) => v.name)).toEqual(['a', 'b']);
    expect(Object.keys(flag.environments).sort()).toEqual(['production', 'staging']);
    expect(flag.environments.staging?.defaultVariation).toBe('b');
  }, 60_000);

  it('warns that an import unarchives an archived flag or experiment of the same key (a GrowthBook payload serves it)', async () => {
    const api = new XpApiClient({ apiUrl: local.stack.apiUrl });
    const token = (await api.login('owner@example.com', PASSWORD)).token;
    const env = { XP_API_URL: local.stack.apiUrl, XP_TOKEN: token };
    const archived = path.join(local.dir, 'archived.yaml');
    const variations = [{ key: 'a', value: 'a' }, { key: 'b', value: 'b' }];
    await writeFile(
      archived,
      YAML.stringify({
        xp: 1,
        project: 'demo',
        experiments: [{ key: 'old-test', name: 'Old test', archived: true, variations: [{ key: 'a' }, { key: 'b' }] }],
        flags: [{ key: 'retired', name: 'retired', type: 'string', archived: true, variations, environments: { staging: { enabled: false, defaultVariation: 'b', offVariation: 'b' } } }],
      }),
    );
    expect((await run(['apply', archived], env)).code).toBe(0);
    const payload = path.join(local.dir, 'retired.json');
    const experimentRule = { id: 'e1', key: 'old-test', variations: ['x', 'y'], weights: [0.5, 0.5], coverage: 1, hashAttribute: 'id', hashVersion: 2, meta: [{ key: 'a' }, { key: 'b' }] };
    await writeFile(payload, JSON.stringify({ features: { retired: { defaultValue: 'a', rules: [] }, 'old-test-flag': { defaultValue: 'x', rules: [experimentRule] } } }));

    const imported = await run(['import', 'growthbook', payload, '--project', 'demo', '--environment', 'development', '--dry-run'], env);

    expect(imported.code).toBe(0);
    expect(imported.err).toContain('warning: flag "retired" is archived here; the import unarchives it (a GrowthBook payload serves it)');
    expect(imported.err).toContain('warning: experiment "old-test" is archived here; the import unarchives it (a GrowthBook payload runs it)');
  }, 60_000);
});
