import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { ApiError, XpApiClient } from '@xp/shared';
import { main } from '../../cli/xp.js';
import { verifyWebhookSignature } from '../../auth/platform-key.js';
import { silentLogger } from '../../domain/context.js';
import { configFromEnv, startLocalStack } from '../stack.js';
import type { LocalStack } from '../stack.js';

const PASSWORD = 'local stack test passphrase';

describe('local stack (xp start) and the xp CLI against it', () => {
  let dir: string;
  let stack: LocalStack;
  const printed: string[] = [];
  /** What the webhook receiver got: signature header and body. */
  const hooks: { signature: string; body: string }[] = [];
  const receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      hooks.push({ signature: String(req.headers['x-xp-signature']), body: Buffer.concat(chunks).toString('utf8') });
      res.end('ok');
    });
  });
  let webhook: { id: string; secret: string } | undefined;

  const start = (): Promise<LocalStack> =>
    startLocalStack(configFromEnv({ XP_DATA_DIR: dir, XP_API_PORT: '0', XP_CONSOLE_PORT: '0', XP_ADMIN_EMAIL: 'me@example.com', XP_ADMIN_PASSWORD: PASSWORD, XP_DEMO: '0' }), {
      logger: silentLogger,
      print: (l) => printed.push(l),
    });

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'xp-stack-'));
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    stack = await start();
  });
  afterAll(async () => {
    receiver.close();
    await stack.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('creates the owner and demo project on first start and writes credentials with mode 0600', async () => {
    const file = path.join(dir, 'initial-credentials.txt');
    const mode = (await stat(file)).mode & 0o777;
    const text = await readFile(file, 'utf8');

    expect(mode).toBe(0o600);
    expect(text).toMatch(/production server SDK key: xpk_srv_/);
    expect(printed.join('\n')).toContain('First start');
    expect(printed.join('\n')).toContain(stack.apiUrl);
  });

  it('serves the API over HTTP and the console placeholder', async () => {
    const api = new XpApiClient({ apiUrl: stack.apiUrl });
    const { token } = await api.login('me@example.com', PASSWORD);
    const flags = await api.withToken(token).listAll('demo', 'flags');
    const consolePage = await fetch(stack.consoleUrl);

    expect(flags.map((f) => f.key)).toEqual(['button-color', 'new-checkout']);
    expect(consolePage.status).toBe(200);
    expect(await consolePage.text()).toContain('/docs');
  });

  it("answers a request Node's parser refuses (headers over 16 KB) in the API's error shape", async () => {
    const res = await fetch(`${stack.apiUrl}/api/v1/me`, { headers: { Authorization: `Bearer ${'x'.repeat(20_000)}` } });

    expect(res.status).toBe(431);
    expect(await res.json()).toEqual({ error: { code: 'HEADERS_TOO_LARGE', message: 'the request headers are larger than 16 KB' } });
  });

  it('exports, edits and applies flags as code with a dry-run diff first', async () => {
    const api = new XpApiClient({ apiUrl: stack.apiUrl });
    const { token } = await api.login('me@example.com', PASSWORD);
    const env = { XP_API_URL: stack.apiUrl, XP_TOKEN: token };
    const file = path.join(dir, 'flags.yaml');
    const out: string[] = [];
    const err: string[] = [];

    expect(await main(['export', '--project', 'demo', '--out', file], env, (l) => out.push(l), (l) => err.push(l))).toBe(0);
    const doc = YAML.parse(await readFile(file, 'utf8'));
    doc.flags[0].name = 'Button colour (renamed in git)';
    doc.flags.push({ key: 'from-git', name: 'From git', type: 'boolean', variations: [{ key: 'off', value: false }, { key: 'on', value: true }] });
    await writeFile(file, YAML.stringify(doc));

    out.length = 0;
    expect(await main(['apply', file, '--dry-run'], env, (l) => out.push(l), (l) => err.push(l))).toBe(0);
    const dryRun = out.join('\n');
    const unchanged = await api.withToken(token).get('demo', 'flags', 'button-color');

    expect(dryRun).toContain('~ flag button-color (update)');
    expect(dryRun).toContain('replace /name "Button colour" → "Button colour (renamed in git)"');
    expect(dryRun).toContain('+ flag from-git (create)');
    expect(dryRun).toContain('Plan: 1 to create, 1 to update, 0 to delete.');
    expect(dryRun).toContain('Checked by the API: every change would be accepted.');
    expect(unchanged.definition.name).toBe('Button colour');

    out.length = 0;
    expect(await main(['apply', file], env, (l) => out.push(l), (l) => err.push(l))).toBe(0);
    const after = await api.withToken(token).get('demo', 'flags', 'button-color');
    const created = await api.withToken(token).get('demo', 'flags', 'from-git');

    expect(after.definition.name).toBe('Button colour (renamed in git)');
    expect(created.definition.type).toBe('boolean');
    out.length = 0;
    expect(await main(['apply', file], env, (l) => out.push(l), (l) => err.push(l))).toBe(0);
    expect(out.join('\n')).toContain('No changes');
  });

  it("applies an editor's file whole or not at all: a change that needs approval in production stops it before anything, dry run included", async () => {
    const api = new XpApiClient({ apiUrl: stack.apiUrl });
    const owner = api.withToken((await api.login('me@example.com', PASSWORD)).token);
    for (const [email, role] of [['editor@example.com', 'editor'], ['viewer@example.com', 'viewer']]) {
      const res = await fetch(`${stack.apiUrl}/api/v1/users`, {
        method: 'POST',
        headers: { authorization: `Bearer ${(await api.login('me@example.com', PASSWORD)).token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ email, name: role, role }),
      });
      expect(res.status).toBe(201);
      // The generated password is replaced at the first login: PASSWORD becomes the user's own.
      const { initialPassword } = (await res.json()) as { initialPassword: string };
      await api.login(String(email), initialPassword, PASSWORD);
    }
    const asEditor = { XP_API_URL: stack.apiUrl, XP_TOKEN: (await api.login('editor@example.com', PASSWORD)).token };
    const asViewer = { XP_API_URL: stack.apiUrl, XP_TOKEN: (await api.login('viewer@example.com', PASSWORD)).token };
    const file = path.join(dir, 'editor.yaml');
    expect(await main(['export', '--project', 'demo', '--out', file], asEditor, () => undefined, () => undefined)).toBe(0);
    const doc = YAML.parse(await readFile(file, 'utf8'));
    doc.segments.push({ key: 'editor-seg', name: 'Editor segment', type: 'ids', attribute: 'id', values: ['u1'] });
    const flag = doc.flags.find((f: { key: string }) => f.key === 'new-checkout');
    flag.environments.production.enabled = !flag.environments.production.enabled;
    await writeFile(file, YAML.stringify(doc));
    const out: string[] = [];
    const err: string[] = [];

    const dryRun = await main(['apply', file, '--dry-run'], asEditor, (l) => out.push(l), (l) => err.push(l));
    const dryErr = err.splice(0);
    const applied = await main(['apply', file], asEditor, (l) => out.push(l), (l) => err.push(l));
    const viewerOut: string[] = [];
    const viewerDryRun = await main(['apply', file, '--dry-run'], asViewer, (l) => viewerOut.push(l), (l) => err.push(l));

    expect([dryRun, applied, viewerDryRun]).toEqual([1, 1, 0]);
    expect(dryErr[0]).toBe('error: the API would refuse the plan: update flag new-checkout (change 2 of 2): changes to "production" need an approved change request');
    expect(err[0]).toBe('error: nothing was applied: update flag new-checkout (change 2 of 2): changes to "production" need an approved change request');
    // The segment listed before the refused change was created in the same transaction and rolled back.
    await expect(owner.get('demo', 'segments', 'editor-seg')).rejects.toMatchObject({ status: 404 });
    expect(out.join('\n')).not.toContain('created segment');
    expect(viewerOut.join('\n')).toContain('+ segment editor-seg (create)');
    expect(viewerOut.at(-1)).toBe('\nNot checked by the API: this token cannot make these changes (your role (viewer) does not allow metrics:write).');
  });

  it("with --propose applies an editor's file and proposes its protected flag states as change requests, once", async () => {
    const api = new XpApiClient({ apiUrl: stack.apiUrl });
    const owner = api.withToken((await api.login('me@example.com', PASSWORD)).token);
    const editor = api.withToken((await api.login('editor@example.com', PASSWORD)).token);
    const asEditor = { XP_API_URL: stack.apiUrl, XP_TOKEN: (await api.login('editor@example.com', PASSWORD)).token };
    const file = path.join(dir, 'propose.yaml');
    expect(await main(['export', '--project', 'demo', '--out', file], asEditor, () => undefined, () => undefined)).toBe(0);
    const doc = YAML.parse(await readFile(file, 'utf8'));
    const flag = doc.flags.find((f: { key: string }) => f.key === 'new-checkout');
    const production = { ...flag.environments.production, enabled: !flag.environments.production.enabled };
    flag.environments.production = production;
    flag.description = 'Edited in git';
    doc.flags.push({ key: 'propose-new', name: 'Proposed', type: 'boolean', variations: [{ key: 'off', value: false }, { key: 'on', value: true }], environments: { production: { enabled: true, defaultVariation: 'on', offVariation: 'off' } } });
    await writeFile(file, YAML.stringify(doc));
    const before = await owner.get('demo', 'flags', 'new-checkout');
    const out: string[] = [];
    const err: string[] = [];

    const dryRun = await main(['apply', file, '--propose', '--dry-run'], asEditor, (l) => out.push(l), (l) => err.push(l));
    const dryOut = out.splice(0).join('\n');
    const applied = await main(['apply', file, '--propose', '--comment', 'From git'], asEditor, (l) => out.push(l), (l) => err.push(l));
    const appliedOut = out.splice(0).join('\n');
    const again = await main(['apply', file, '--propose'], asEditor, (l) => out.push(l), (l) => err.push(l));

    expect([dryRun, applied, again, err]).toEqual([0, 0, 0, []]);
    expect(dryOut).toContain('Change requests to propose (2):\n  flag new-checkout in production\n  flag propose-new in production');
    expect(dryOut).toContain('Checked by the API: every change would be accepted.');
    expect(dryOut).not.toContain('/environments/production');
    const after = await owner.get('demo', 'flags', 'new-checkout');
    expect(after.definition.description).toBe('Edited in git');
    expect(after.definition.environments.production).toEqual(before.definition.environments.production);
    expect((await owner.get('demo', 'flags', 'propose-new')).definition.environments.production?.enabled).toBe(false);
    const open = (await editor.changeRequests('demo', { status: 'open' })).items.filter((r) => ['new-checkout', 'propose-new'].includes(r.resourceKey));
    expect(open.map((r) => [r.resourceKey, r.environment, r.baseVersion, r.comment]).sort()).toEqual([
      ['new-checkout', 'production', after.version, 'From git'],
      ['propose-new', 'production', 1, 'From git'],
    ]);
    expect(open.find((r) => r.resourceKey === 'new-checkout')?.proposed).toMatchObject({ enabled: production.enabled });
    const id = open.find((r) => r.resourceKey === 'new-checkout')!.id;
    expect(appliedOut).toContain(`  proposed flag new-checkout in production: change request ${id}`);
    // Run again (CI on every push), nothing is applied twice and nothing proposed twice.
    const againOut = out.join('\n');
    const newId = open.find((r) => r.resourceKey === 'propose-new')!.id;
    expect(againOut).toContain(`Already proposed by open change requests (2):\n  flag new-checkout in production (change request ${id})\n  flag propose-new in production (change request ${newId})`);
    expect(againOut).not.toContain('Change requests to propose');
    expect(againOut).not.toContain('Applying…');
    expect((await editor.changeRequests('demo', { status: 'open' })).items.filter((r) => ['new-checkout', 'propose-new'].includes(r.resourceKey))).toHaveLength(2);

    // Once approved and applied, the file and the project agree.
    await owner.reviewChange('demo', id, 'approve');
    await editor.reviewChange('demo', id, 'apply');
    out.length = 0;
    expect(await main(['apply', file, '--propose', '--dry-run'], asEditor, (l) => out.push(l), (l) => err.push(l))).toBe(0);
    expect(out.join('\n')).toContain(`Already proposed by open change requests (1):\n  flag propose-new in production (change request ${newId})`);
    expect(out.join('\n')).not.toContain('new-checkout');
    expect(out.join('\n')).not.toContain('Change requests to propose');
  });

  it('leaves experiments\' lifecycle to start / stop / resume: an older export neither restarts nor un-decides them', async () => {
    const api = new XpApiClient({ apiUrl: stack.apiUrl });
    const { token } = await api.login('me@example.com', PASSWORD);
    const client = api.withToken(token);
    const env = { XP_API_URL: stack.apiUrl, XP_TOKEN: token };
    const file = path.join(dir, 'experiments.yaml');
    const out: string[] = [];
    expect(await main(['export', '--project', 'demo', '--out', file], env, (l) => out.push(l), (l) => out.push(l))).toBe(0);
    const doc = YAML.parse(await readFile(file, 'utf8'));
    const exported = doc.experiments.find((e: { status: string }) => e.status === 'running');
    const running = await client.get('demo', 'experiments', exported.key);
    await client.stopExperiment('demo', exported.key, running.version, { decision: 'ship', winner: exported.variations[1].key });
    exported.hypothesis = 'Edited in git';
    await writeFile(file, YAML.stringify(doc));

    out.length = 0;
    expect(await main(['apply', file], env, (l) => out.push(l), (l) => out.push(l))).toBe(0);
    const after = await client.get('demo', 'experiments', exported.key);

    expect(out.join('\n')).toContain('replace /hypothesis');
    expect(out.join('\n')).not.toContain('/status');
    expect(after.definition).toMatchObject({ hypothesis: 'Edited in git', status: 'stopped', decision: 'ship' });
  });

  it('creates a flag before the flags that name it as a prerequisite, and prunes them the other way round', async () => {
    const api = new XpApiClient({ apiUrl: stack.apiUrl });
    const { token } = await api.login('me@example.com', PASSWORD);
    const env = { XP_API_URL: stack.apiUrl, XP_TOKEN: token };
    const file = path.join(dir, 'prerequisites.yaml');
    const out: string[] = [];
    expect(await main(['export', '--project', 'demo', '--out', file], env, (l) => out.push(l), (l) => out.push(l))).toBe(0);
    const doc = YAML.parse(await readFile(file, 'utf8'));
    const flag = (key: string, parents: string[]) => ({
      key,
      name: key,
      type: 'boolean',
      variations: [{ key: 'off', value: false }, { key: 'on', value: true }],
      environments: { development: { enabled: true, defaultVariation: 'on', offVariation: 'off', prerequisites: parents.map((p) => ({ flag: p, variation: 'on' })) } },
    });
    // Listed children first, as an export sorted by key would list them.
    const added = [flag('aa-grandchild', ['mm-child']), flag('mm-child', ['zz-parent']), flag('zz-parent', [])];
    doc.flags.push(...added);
    await writeFile(file, YAML.stringify(doc));

    out.length = 0;
    const applied = await main(['apply', file], env, (l) => out.push(l), (l) => out.push(l));
    const created = out.filter((l) => l.includes('created flag'));
    doc.flags = doc.flags.filter((f: { key: string }) => !added.some((a) => a.key === f.key));
    await writeFile(file, YAML.stringify(doc));
    out.length = 0;
    const pruned = await main(['apply', file, '--prune'], env, (l) => out.push(l), (l) => out.push(l));

    expect(applied).toBe(0);
    expect(created).toEqual(['  created flag zz-parent', '  created flag mm-child', '  created flag aa-grandchild']);
    expect(pruned).toBe(0);
    expect(out.filter((l) => l.includes('deleted flag'))).toEqual(['  deleted flag aa-grandchild', '  deleted flag mm-child', '  deleted flag zz-parent']);
  });

  it('creates a segment after the id lists its condition names, and prunes them the other way round', async () => {
    const api = new XpApiClient({ apiUrl: stack.apiUrl });
    const { token } = await api.login('me@example.com', PASSWORD);
    const env = { XP_API_URL: stack.apiUrl, XP_TOKEN: token };
    const file = path.join(dir, 'nested-segments.yaml');
    const out: string[] = [];
    expect(await main(['export', '--project', 'demo', '--out', file], env, (l) => out.push(l), (l) => out.push(l))).toBe(0);
    const doc = YAML.parse(await readFile(file, 'utf8'));
    // Listed by key, as an export lists them: the condition before the list it names.
    const added = [
      { key: 'aa-nested', name: 'Nested', type: 'condition', condition: { id: { $inGroup: 'zz-list' } } },
      { key: 'zz-list', name: 'List', type: 'ids', attribute: 'id', values: ['u1'] },
    ];
    doc.segments.push(...added);
    await writeFile(file, YAML.stringify(doc));

    out.length = 0;
    const applied = await main(['apply', file], env, (l) => out.push(l), (l) => out.push(l));
    const created = out.filter((l) => l.includes('created segment'));
    doc.segments = doc.segments.filter((s: { key: string }) => !added.some((a) => a.key === s.key));
    await writeFile(file, YAML.stringify(doc));
    out.length = 0;
    const pruned = await main(['apply', file, '--prune'], env, (l) => out.push(l), (l) => out.push(l));

    expect([applied, created]).toEqual([0, ['  created segment zz-list', '  created segment aa-nested']]);
    expect([pruned, out.filter((l) => l.includes('deleted segment'))]).toEqual([0, ['  deleted segment aa-nested', '  deleted segment zz-list']]);
  });

  it('checks every reference before sending anything, dry run included: a typo changes nothing instead of stopping half-applied', async () => {
    const api = new XpApiClient({ apiUrl: stack.apiUrl });
    const { token } = await api.login('me@example.com', PASSWORD);
    const client = api.withToken(token);
    const env = { XP_API_URL: stack.apiUrl, XP_TOKEN: token };
    const file = path.join(dir, 'references.yaml');
    const out: string[] = [];
    expect(await main(['export', '--project', 'demo', '--out', file], env, (l) => out.push(l), (l) => out.push(l))).toBe(0);
    const exported = YAML.parse(await readFile(file, 'utf8'));
    const doc = structuredClone(exported);
    doc.segments.push({ key: 'refs-new-segment', name: 'New', type: 'ids', attribute: 'id', values: ['u1'] });
    doc.experiments.push({ key: 'refs-exp', name: 'Refs', variations: [{ key: 'a' }, { key: 'b' }], metrics: { primary: ['demo-purchse'] }, holdout: 'no-such-holdout', segments: ['refs-new-segment'] });
    doc.flags.push({
      key: 'refs-flag',
      name: 'Refs',
      type: 'boolean',
      variations: [{ key: 'off', value: false }, { key: 'on', value: true }],
      environments: {
        prodution: { enabled: false, defaultVariation: 'off', offVariation: 'off' },
        development: { enabled: true, defaultVariation: 'off', offVariation: 'off', rules: [{ id: 'r', type: 'force', variation: 'on', segments: ['no-such-segment'], condition: { id: { $notInGroup: 'no-such-group' } } }], prerequisites: [{ flag: 'button-color', variation: 'nope' }] },
      },
    });
    await writeFile(file, YAML.stringify(doc));
    const err: string[] = [];

    out.length = 0;
    const dryRun = await main(['apply', file, '--dry-run'], env, (l) => out.push(l), (l) => err.push(l));
    const applied = await main(['apply', file], env, (l) => out.push(l), (l) => err.push(l));

    expect([dryRun, applied]).toEqual([1, 1]);
    expect(out.join('\n')).not.toContain('Applying');
    expect(err[0]).toBe('error: nothing was applied: the result would have 6 broken references; fix the document (or the project) first');
    // Each names the line of the reference in the file (where the export put it), then the problem.
    expect(err.slice(1, 7).filter((line) => !/^ {2}\S+ \(line \d+\): /.test(line))).toEqual([]);
    expect(err.slice(1, 7).map((line) => line.replace(/ \(line \d+\):/, ':')).sort()).toEqual(
      [
        '  experiments.refs-exp.holdout: unknown holdout "no-such-holdout"',
        '  experiments.refs-exp.metrics.primary[0]: unknown metric "demo-purchse"',
        '  flags.refs-flag.environments.development.prerequisites[0]: flag "button-color" has no variation "nope"',
        '  flags.refs-flag.environments.development.rules[0].condition: unknown segment "no-such-group" in $inGroup / $notInGroup',
        '  flags.refs-flag.environments.development.rules[0].segments[0]: unknown segment "no-such-segment"',
        `  flags.refs-flag.environments.prodution: unknown environment "prodution"; the project has ${(await client.environments('demo')).map((e) => `"${e.key}"`).join(', ')}`,
      ].sort(),
    );
    expect((await client.listAll('demo', 'segments')).map((x) => x.key)).not.toContain('refs-new-segment');

    // Pruning a segment that a kept flag still uses is caught the same way.
    const segment = { key: 'refs-seg', name: 'Refs', type: 'ids', attribute: 'id', values: ['u1'] };
    const user = { key: 'refs-user', name: 'Refs user', type: 'boolean', variations: [{ key: 'off', value: false }, { key: 'on', value: true }], environments: { development: { enabled: true, defaultVariation: 'off', offVariation: 'off', rules: [{ id: 'r', type: 'force', variation: 'on', segments: ['refs-seg'] }] } } };
    await writeFile(file, YAML.stringify({ ...exported, segments: [...exported.segments, segment], flags: [...exported.flags, user] }));
    expect(await main(['apply', file], env, () => undefined, (l) => err.push(l))).toBe(0);
    await writeFile(file, YAML.stringify({ ...exported, flags: [...exported.flags, user] }));
    err.length = 0;
    expect(await main(['apply', file, '--prune', '--dry-run'], env, () => undefined, (l) => err.push(l))).toBe(1);
    expect(err.slice(1).map((l) => l.replace(/ \(line \d+\):/, ':'))).toEqual(['  flags.refs-user.environments.development.rules[0].segments[0]: unknown segment "refs-seg"']);
    await writeFile(file, YAML.stringify(exported));
    expect(await main(['apply', file, '--prune'], env, () => undefined, (l) => err.push(l))).toBe(0);

    // Prerequisites that lead back to their flag (the publisher refuses such a ruleset) are caught
    // the same way, before the new segment listed first is created.
    const gated = (key: string, parent: string) => ({
      key,
      name: key,
      type: 'boolean',
      variations: [{ key: 'off', value: false }, { key: 'on', value: true }],
      environments: { development: { enabled: true, defaultVariation: 'on', offVariation: 'off', prerequisites: [{ flag: parent, variation: 'on' }] } },
    });
    await writeFile(file, YAML.stringify({ ...exported, segments: [...exported.segments, segment], flags: [...exported.flags, gated('refs-cycle-a', 'refs-cycle-b'), gated('refs-cycle-b', 'refs-cycle-a')] }));
    err.length = 0;
    expect(await main(['apply', file, '--dry-run'], env, () => undefined, (l) => err.push(l))).toBe(1);
    expect(await main(['apply', file], env, () => undefined, (l) => err.push(l))).toBe(1);
    expect(err.filter((l) => l.includes('cycle')).map((l) => l.replace(/ \(line \d+\):/, ':'))).toEqual([
      '  flags.refs-cycle-a.environments.development.prerequisites: prerequisites form a cycle (refs-cycle-a → refs-cycle-b → refs-cycle-a)',
      '  flags.refs-cycle-a.environments.development.prerequisites: prerequisites form a cycle (refs-cycle-a → refs-cycle-b → refs-cycle-a)',
    ]);
    expect((await client.listAll('demo', 'segments')).map((x) => x.key)).not.toContain('refs-seg');
    // The export itself applies cleanly (nothing to change, nothing broken).
    await writeFile(file, YAML.stringify(exported));
    out.length = 0;
    expect(await main(['apply', file, '--dry-run'], env, (l) => out.push(l), (l) => out.push(l))).toBe(0);
  });

  it('rejects a broken document with the field named, and a missing token', async () => {
    const file = path.join(dir, 'broken.yaml');
    await writeFile(file, YAML.stringify({ xp: 1, project: 'demo', flags: [{ key: 'x', name: 'X', type: 'boolean', variations: [{ key: 'on', value: 'yes' }] }] }));
    const err: string[] = [];

    const code = await main(['apply', file], { XP_API_URL: stack.apiUrl, XP_TOKEN: 'xpp_whatever' }, () => undefined, (l) => err.push(l));
    const noToken = await main(['export', '--project', 'demo'], {}, () => undefined, (l) => err.push(l));

    expect(code).toBe(1);
    expect(err.join('\n')).toContain('flags[0].variations[0].value (line 9): must be a boolean for a boolean flag');
    expect(noToken).toBe(1);
    expect(err.join('\n')).toContain('set XP_TOKEN');
  });

  it('imports a GrowthBook payload through the CLI', async () => {
    const api = new XpApiClient({ apiUrl: stack.apiUrl });
    const { token } = await api.login('me@example.com', PASSWORD);
    const file = path.join(dir, 'gb.json');
    await writeFile(file, JSON.stringify({ features: { 'gb-banner': { defaultValue: false, rules: [{ force: true, coverage: 0.3, hashAttribute: 'id' }] } } }));
    const out: string[] = [];

    const code = await main(['import', 'growthbook', file, '--project', 'demo', '--environment', 'development'], { XP_API_URL: stack.apiUrl, XP_TOKEN: token }, (l) => out.push(l), () => undefined);
    const flag = await api.withToken(token).get('demo', 'flags', 'gb-banner');

    expect(code).toBe(0);
    expect(flag.definition.environments.development?.rules[0]).toMatchObject({ type: 'rollout', coverage: 0.3, seed: 'gb-banner', hashVersion: 1 });

    const second = await main(['import', 'growthbook', file, '--project', 'demo', '--environment', 'staging'], { XP_API_URL: stack.apiUrl, XP_TOKEN: token }, () => undefined, () => undefined);
    const both = await api.withToken(token).get('demo', 'flags', 'gb-banner');

    expect(second).toBe(0);
    expect(Object.keys(both.definition.environments).sort()).toEqual(['development', 'staging']);

    // A mistyped environment is caught before anything is written, segments included.
    await writeFile(file, JSON.stringify({ features: { 'gb-typo': { defaultValue: false, rules: [{ force: true, condition: { id: { $inGroup: 'grp_staff' } } }] } }, savedGroups: { grp_staff: ['u1'] } }));
    const err: string[] = [];
    const typo = await main(['import', 'growthbook', file, '--project', 'demo', '--environment', 'prod'], { XP_API_URL: stack.apiUrl, XP_TOKEN: token }, () => undefined, (l) => err.push(l));
    expect(typo).toBe(1);
    expect(err).toEqual(['error: project "demo" has no environment "prod"; its environments: development, staging, production']);
    expect((await api.withToken(token).listAll('demo', 'segments')).map((x) => x.key)).not.toContain('grp_staff');
  });

  it('serves SDKs with the printed keys and aggregates their events', async () => {
    const text = await readFile(path.join(dir, 'initial-credentials.txt'), 'utf8');
    const serverKey = /development server SDK key: (\S+)/.exec(text)![1]!;

    const ruleset = await fetch(`${stack.apiUrl}/sdk/v1/ruleset`, { headers: { 'X-XP-SDK-Key': serverKey } });
    const body = (await ruleset.json()) as { flags: Record<string, unknown> };
    const events = await fetch(`${stack.apiUrl}/sdk/v1/events`, {
      method: 'POST',
      headers: { 'X-XP-SDK-Key': serverKey, 'content-type': 'application/json' },
      body: JSON.stringify({ events: [{ id: 'evt-stack-0001', type: 'track', unitId: 'u1', timestamp: Date.now(), name: 'purchase', value: 5 }] }),
    });

    expect(ruleset.status).toBe(200);
    expect(Object.keys(body.flags)).toContain('new-checkout');
    expect(events.status).toBe(202);
    let seen = 0;
    // The shard poller backs off to a second when idle; a loaded machine is slower still.
    for (const deadline = Date.now() + 30_000; seen === 0 && Date.now() < deadline; ) {
      const rows = await stack.deps.db.query<{ n: number }>("SELECT count(*)::int AS n FROM processed_events WHERE event_id = 'evt-stack-0001'");
      seen = rows.rows[0]?.n ?? 0;
      if (seen === 0) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    expect(seen).toBe(1);
  });

  it('sends webhooks from its in-process dispatcher, signed with a key kept in the data folder (mode 0600)', async () => {
    expect((await stat(path.join(dir, 'platform.key'))).mode & 0o777).toBe(0o600);
    const api = new XpApiClient({ apiUrl: stack.apiUrl });
    const { token } = await api.login('me@example.com', PASSWORD);
    const call = async (method: string, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<any> => {
      const res = await fetch(`${stack.apiUrl}${url}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
      expect(res.status).toBeLessThan(300);
      return res.json();
    };
    const created = await call('POST', '/api/v1/projects/demo/webhooks', { name: 'local', url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`, events: ['flag.*'] });
    webhook = { id: created.webhook.id, secret: created.secret };
    const flag = await call('GET', '/api/v1/projects/demo/flags/new-checkout');
    await call('POST', '/api/v1/projects/demo/flags/new-checkout/environments/development/toggle', { enabled: !flag.definition.environments.development.enabled }, { 'if-match': `"${flag.version}"` });

    const deadline = Date.now() + 10_000;
    while (hooks.length === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(hooks).toHaveLength(1);
    expect(JSON.parse(hooks[0]!.body)).toMatchObject({ event: expect.stringMatching(/^flag\.(enabled|disabled)$/), change: { resourceKey: 'new-checkout', environment: 'development', actor: 'me@example.com' } });
    expect(verifyWebhookSignature(webhook.secret, hooks[0]!.body, hooks[0]!.signature)).toBe(true);
  });

  it('keeps all data across a restart and does not bootstrap twice', async () => {
    await stack.close();
    printed.length = 0;

    stack = await start();
    const api = new XpApiClient({ apiUrl: stack.apiUrl });
    const { token } = await api.login('me@example.com', PASSWORD);
    const flag = await api.withToken(token).get('demo', 'flags', 'from-git');
    const published = await api.withToken(token).publishedRuleset('demo', 'development');

    expect(printed.join('\n')).not.toContain('First start');
    expect(flag.key).toBe('from-git');
    expect(published.published?.ruleset.flags['from-git']).toBeDefined();
    await expect(api.withToken('xpp_not-a-real-token-at-all-0000000000000000000').me()).rejects.toBeInstanceOf(ApiError);

    // The same platform key after the restart: the webhook's secret still signs.
    const sent = await fetch(`${stack.apiUrl}/api/v1/projects/demo/webhooks/${webhook!.id}/test`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    expect(((await sent.json()) as { status: string }).status).toBe('succeeded');
    const last = hooks[hooks.length - 1]!;
    expect(JSON.parse(last.body).event).toBe('webhook.test');
    expect(verifyWebhookSignature(webhook!.secret, last.body, last.signature)).toBe(true);
  });
});
