/**
 * `xp apply` in a CI pipeline (plan on a pull request, apply on merge), against the real API over
 * HTTP (PGlite): kill switches left out of the document, machine-readable plans and exit codes,
 * document text that cannot inject lines into a CI log, `--propose` with a request still open,
 * and the document read from standard input.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { OWNER, mustAs, startPlatform } from '../../http/__tests__/harness.js';
import type { Platform } from '../../http/__tests__/harness.js';
import { pgliteTarget } from '../../store/__tests__/test-databases.js';
import { main } from '../xp.js';
import { booleanFlagDoc, runXpText, serveApi, writeDocument } from './cli-over-http.js';

const DEMO = '/api/v1/projects/demo';
const EDITOR_PASSWORD = 'a much longer passphrase 42';

describe('xp apply in CI', () => {
  let p: Platform;
  let api: Awaited<ReturnType<typeof serveApi>>;
  let owner: string;
  let asOwner: NodeJS.ProcessEnv;
  let asEditor: NodeJS.ProcessEnv;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'xp-apply-ci-'));
    p = await startPlatform(pgliteTarget());
    api = await serveApi(p);
    owner = await p.login(OWNER.email, OWNER.password);
    await mustAs(p, owner, 'POST', '/api/v1/users', { email: 'editor@example.com', name: 'Editor', role: 'editor', password: EDITOR_PASSWORD });
    asOwner = { XP_API_URL: api.url, XP_TOKEN: owner };
    asEditor = { XP_API_URL: api.url, XP_TOKEN: await p.login('editor@example.com', EDITOR_PASSWORD) };
  }, 60_000);
  afterAll(async () => {
    await api.close();
    await p.close();
    await rm(dir, { recursive: true, force: true });
  });

  const write = (name: string, doc: unknown): Promise<string> => writeDocument(dir, name, doc);
  const run = (args: string[], env: NodeJS.ProcessEnv = asOwner): Promise<{ code: number; out: string; err: string }> => runXpText(args, env);
  const states = async (key: string): Promise<Record<string, { enabled: boolean }>> => ((await mustAs(p, owner, 'GET', `${DEMO}/flags/${key}`)) as { definition: { environments: Record<string, { enabled: boolean }> } }).definition.environments;

  it('leaves a kill switch the document leaves out as the console or xp flags set it, and starts a new state without it off', async () => {
    const first = await write('kill-1.yaml', { xp: 1, project: 'demo', flags: [booleanFlagDoc('ci-kill', { production: { enabled: true, defaultVariation: 'on', offVariation: 'off' }, development: { defaultVariation: 'on', offVariation: 'off' } })] });
    expect((await run(['apply', first])).code).toBe(0);
    expect(await states('ci-kill')).toMatchObject({ production: { enabled: true }, development: { enabled: false } });

    // Production is killed outside git; the file drops `enabled` there and changes the description.
    expect((await run(['flags', 'off', 'ci-kill', '--project', 'demo', '--env', 'production'])).code).toBe(0);
    const second = await write('kill-2.yaml', { xp: 1, project: 'demo', flags: [booleanFlagDoc('ci-kill', { production: { defaultVariation: 'on', offVariation: 'off' }, development: { defaultVariation: 'on', offVariation: 'off' } }, { description: 'Kill switch' })] });
    const plan = await run(['apply', second, '--dry-run']);
    expect(plan.code).toBe(0);
    expect(plan.out).toContain('~ flag ci-kill (update)\n    add /description "Kill switch"\n\nPlan: 0 to create, 1 to update, 0 to delete.');
    expect(plan.out).not.toContain('enabled');
    expect((await run(['apply', second])).code).toBe(0);
    expect(await states('ci-kill')).toMatchObject({ production: { enabled: false }, development: { enabled: false } });

    // Turned on outside git, it stays on: the file says nothing about it.
    expect((await run(['flags', 'on', 'ci-kill', '--project', 'demo', '--env', 'development'])).code).toBe(0);
    expect(await run(['apply', second])).toEqual({ code: 0, out: 'No changes: the project already matches the document.', err: '' });
    expect(await states('ci-kill')).toMatchObject({ production: { enabled: false }, development: { enabled: true } });

    // An export keeps `enabled` unless asked to leave it out; the latter applies as no change.
    const exported = await run(['export', '--project', 'demo', '--format', 'json']);
    expect(JSON.parse(exported.out).flags.find((f: { key: string }) => f.key === 'ci-kill').environments.development).toMatchObject({ enabled: true });
    const omitted = path.join(dir, 'omitted.yaml');
    expect((await run(['export', '--project', 'demo', '--omit-enabled', '--out', omitted])).code).toBe(0);
    expect(await run(['apply', omitted, '--dry-run'])).toEqual({ code: 0, out: 'No changes: the project already matches the document.', err: '' });
    expect(YAML.stringify(YAML.parse((await run(['export', '--project', 'demo', '--omit-enabled'])).out))).not.toContain('enabled:');
  });

  it('prints the plan as one JSON document and exits 2 when there are changes, 0 when none, 1 on an error (--json, --detailed-exitcode)', async () => {
    const doc = { xp: 1, project: 'demo', flags: [booleanFlagDoc('ci-json', { development: { enabled: true, defaultVariation: 'on', offVariation: 'off' } })] };
    const file = await write('json.yaml', doc);
    const planned = await run(['apply', file, '--dry-run', '--json', '--detailed-exitcode']);
    expect(planned.code).toBe(2);
    const plan = JSON.parse(planned.out);
    expect(plan).toMatchObject({ dryRun: true, changes: [{ kind: 'flags', key: 'ci-json', action: 'create' }], checkedByApi: 'accepted', applied: [], errors: [] });

    const applied = await run(['apply', file, '--json', '--detailed-exitcode']);
    expect(applied.code).toBe(2);
    expect(JSON.parse(applied.out)).toMatchObject({ dryRun: false, changes: [{ kind: 'flags', key: 'ci-json', action: 'create' }], applied: [{ kind: 'flags', key: 'ci-json', action: 'create', version: 1 }] });
    const none = await run(['apply', file, '--dry-run', '--json', '--detailed-exitcode']);
    expect(none.code).toBe(0);
    expect(JSON.parse(none.out)).toMatchObject({ changes: [], errors: [] });
    // Without --detailed-exitcode, changes exit 0 as before.
    expect((await run(['apply', file, '--dry-run'])).code).toBe(0);

    // An update lists what the text plan says, path, from and to.
    const renamed = await write('json-2.yaml', { ...doc, flags: [{ ...doc.flags[0], name: 'Renamed' }] });
    const update = await run(['apply', renamed, '--dry-run', '--json', '--detailed-exitcode']);
    expect(update.code).toBe(2);
    expect(JSON.parse(update.out).changes).toEqual([{ kind: 'flags', key: 'ci-json', action: 'update', diff: [{ op: 'replace', path: '/name', from: 'ci-json', to: 'Renamed' }] }]);

    // An error: JSON on stdout, the text on stderr, exit code 1.
    const broken = await write('json-3.yaml', { ...doc, flags: [{ ...doc.flags[0], environments: { development: { enabled: true, defaultVariation: 'on', offVariation: 'off', rules: [{ id: 'r', type: 'force', variation: 'on', segments: ['nowhere'] }] } } }] });
    const refused = await run(['apply', broken, '--dry-run', '--json', '--detailed-exitcode']);
    expect(refused.code).toBe(1);
    const error = JSON.parse(refused.out);
    expect(error.errors).toHaveLength(1);
    expect(error.errors[0].message).toContain('broken reference');
    // The reference's own line in the file.
    const line = (await readFile(broken, 'utf8')).split('\n').findIndex((l) => l.includes('nowhere')) + 1;
    expect(error.errors[0].issues).toEqual([{ path: `flags.ci-json.environments.development.rules[0].segments[0] (line ${line})`, message: 'unknown segment "nowhere"' }]);
    expect(refused.err).toContain('error: nothing was applied');

    // A usage error is an error (1), not "changes" (2), with --detailed-exitcode.
    expect((await run(['apply', file, '--detailed-exitcode', '--force'])).code).toBe(1);
    expect((await run(['apply', file, '--force'])).code).toBe(2);
  });

  it('escapes line breaks, bidi controls and other invisible characters of the document in errors and plans', async () => {
    const injected = await write('inject.yaml', `xp: 1\nproject: demo\nflags:\n  - key: ci-inject\n    name: x\n    type: boolean\n    "a\\n::warning::x": 1\n    description: "evil\u202Etxt.exe"\n    variations: [{ key: "off", value: false }]\n`);
    const refused = await run(['apply', injected, '--dry-run']);
    expect(refused.code).toBe(1);
    const lines = refused.err.split('\n');
    expect(lines.filter((l) => l.startsWith('::'))).toEqual([]);
    expect(refused.err).toContain('a\\u000a::warning::x');
    expect(refused.err).not.toMatch(/[\u202a-\u202e\u2066-\u2069]/);

    // A key twice in a list, written with a line break.
    const twice = await write('twice.yaml', `xp: 1\nproject: demo\nsegments:\n  - key: "a\\n::warning::x"\n  - key: "a\\n::warning::x"\n`);
    const twiceErr = (await run(['apply', twice, '--dry-run'])).err;
    expect(twiceErr.split('\n').filter((l) => l.startsWith('::'))).toEqual([]);

    // A number JSON cannot hold under such a key.
    const number = await write('number.yaml', `xp: 1\nproject: demo\nflags:\n  - key: f\n    "b\\n::error::y": 1e999\n`);
    const numberErr = (await run(['apply', number, '--dry-run'])).err;
    expect(numberErr).toContain('b\\u000a::error::y');
    expect(numberErr.split('\n').filter((l) => l.startsWith('::'))).toEqual([]);

    // A value of a plan: the description with U+202E and U+2066 is shown escaped.
    const plan = await write('bidi.yaml', { xp: 1, project: 'demo', flags: [booleanFlagDoc('ci-bidi', {}, { description: 'evil\u202Etxt.exe\u2066' })] });
    expect((await run(['apply', plan])).code).toBe(0);
    const changed = await write('bidi-2.yaml', { xp: 1, project: 'demo', flags: [booleanFlagDoc('ci-bidi', {}, { description: 'line\u2028two\u202E' })] });
    const planned = await run(['apply', changed, '--dry-run']);
    expect(planned.code).toBe(0);
    expect(planned.out).toContain('replace /description "evil\\u202etxt.exe\\u2066" → "line\\u2028two\\u202e"');
    expect(planned.out).not.toMatch(/[\u202a-\u202e\u2066-\u2069\u2028]/);
    // The JSON plan holds the same values, with those characters as JSON escapes: a log shows no reversed text.
    const json = await run(['apply', changed, '--dry-run', '--json']);
    expect(json.out).not.toMatch(/[\u202a-\u202e\u2066-\u2069\u2028]/);
    expect(json.out).toContain('\\u202e');
    expect((JSON.parse(json.out) as { changes: { diff: { to: unknown }[] }[] }).changes[0]!.diff[0]!.to).toBe('line\u2028two\u202E');
  });

  it('lists a file\'s problems in line order and says "is required" of a missing field', async () => {
    // The schema checks segments before flags, and numbers after both: the file has them the other way round.
    const file = await write('order.yaml', 'xp: 1\nproject: demo\nflags:\n  - key: late\n    type: boolean\n    variations: [{ key: "off", value: 1e999 }]\n    weird: 1\nsegments:\n  - key: s\n    name: S\n    type: ids\n    attribute: id\n    values: [a]\n    odd: 1\n');
    const { code, err } = await run(['apply', file, '--dry-run']);
    expect(code).toBe(1);
    const message = err.split('\n')[0]!;
    const name = message.indexOf('flags[0].name (line 4): name is required');
    const number = message.indexOf('flags[0].variations[0].value (line 6)');
    const weird = message.indexOf('flags[0] (line 7): Unrecognized key');
    const odd = message.indexOf('segments[0] (line 14)');
    expect([name, number, weird, odd].every((i) => i > 0)).toBe(true);
    expect(name < number && number < weird && weird < odd).toBe(true);
    expect(message).not.toContain('received undefined');
    // A missing field whose schema lists allowed values (a type) is said to be missing too.
    const untyped = await write('untyped.yaml', 'xp: 1\nproject: demo\nflags:\n  - key: x\n    name: X\n    variations: [{ key: "off", value: false }]\nsegments:\n  - key: s\n    name: S\n    values: [a]\n');
    const missingType = (await run(['apply', untyped, '--dry-run'])).err.split('\n')[0]!;
    expect(missingType).toContain('flags[0].type (line 4): type is required');
    expect(missingType).toContain('segments[0].type (line 8): type is required');
  });

  it('names the open change request that proposes a state production still differs in (--propose)', async () => {
    const production = (await mustAs(p, owner, 'GET', `${DEMO}/environments/production`)) as { version: number; definition?: unknown };
    await mustAs(p, owner, 'PUT', `${DEMO}/environments/production`, { key: 'production', name: 'Production', production: true, requireApproval: true }, production.version);
    const created = await write('propose-1.yaml', { xp: 1, project: 'demo', flags: [booleanFlagDoc('ci-propose', { production: { enabled: false, defaultVariation: 'on', offVariation: 'off' } })] });
    expect((await run(['apply', created])).code).toBe(0);
    const on = await write('propose-2.yaml', { xp: 1, project: 'demo', flags: [booleanFlagDoc('ci-propose', { production: { enabled: true, defaultVariation: 'on', offVariation: 'off' } })] });
    expect((await run(['apply', on, '--propose'], asEditor)).code).toBe(0);
    const requests = (await mustAs(p, owner, 'GET', `${DEMO}/change-requests?status=open&resourceKey=ci-propose`)) as { items: { id: string }[] };
    expect(requests.items).toHaveLength(1);
    const id = requests.items[0]!.id;

    const again = await run(['apply', on, '--propose', '--dry-run'], asEditor);
    expect(again.code).toBe(0);
    expect(again.out).not.toContain('already matches');
    expect(again.out).toContain('No changes to apply: the project differs from the document only in a flag state that needs an approved change request (listed below).');
    expect(again.out).toContain(`Already proposed by open change requests (1):\n  flag ci-propose in production (change request ${id})`);
    // Nothing is written or proposed: --detailed-exitcode says no changes.
    expect((await run(['apply', on, '--propose', '--dry-run', '--detailed-exitcode'], asEditor)).code).toBe(0);
  });

  it('reads the document from standard input (-), and names an unknown option in one line with the way to the usage', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const text = YAML.stringify({ xp: 1, project: 'demo', flags: [booleanFlagDoc('ci-stdin', {})] });
    const code = await main(['apply', '-', '--dry-run'], asOwner, (l) => out.push(l), (l) => err.push(l), Readable.from([Buffer.from(text)]));
    expect({ code, err }).toEqual({ code: 0, err: [] });
    expect(out[0]).toBe('+ flag ci-stdin (create)\n\nPlan: 1 to create, 0 to update, 0 to delete.');
    const invalid = await main(['apply', '-', '--dry-run'], asOwner, () => undefined, (l) => err.push(l), Readable.from([Buffer.from('xp: 1\nproject: demo\nflags: 3\n')]));
    expect(invalid).toBe(1);
    expect(err[0]).toMatch(/^error: \(stdin\): flags \(line 3\): /);

    const unknown = await run(['apply', '-', '--dryrun']);
    expect(unknown).toEqual({ code: 2, out: '', err: 'error: unknown option --dryrun\n\nRun xp --help for the usage.' });
    // No file is a command-line mistake too.
    expect(await run(['apply', '--dry-run'])).toEqual({ code: 2, out: '', err: 'error: apply needs a file (- reads it from standard input)\n\nRun xp --help for the usage.' });
  });
});
