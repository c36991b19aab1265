import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_INPUT_BYTES, formatSize, main } from '../xp.js';

// Bad input and an unreachable API get one clear line on stderr and exit code 1, never a stack trace.
describe('xp CLI errors', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    // A port nothing listens on.
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise((resolve) => server.close(resolve));
    env = { XP_API_URL: `http://127.0.0.1:${port}`, XP_TOKEN: 'xpp_test' };
    dir = mkdtempSync(path.join(tmpdir(), 'xp-cli-'));
    writeFileSync(path.join(dir, 'app.ts'), "client.getVariant('checkout-v2', user);\n");
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const run = async (argv: string[], environment?: NodeJS.ProcessEnv): Promise<{ code: number; out: string[]; err: string[] }> => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(argv, environment ?? env, (l) => out.push(l), (l) => err.push(l));
    return { code, out, err };
  };

  it('names the API address and the reason when the API cannot be reached', async () => {
    const { code, err } = await run(['export', '--project', 'demo']);
    expect(code).toBe(1);
    expect(err).toEqual([`error: cannot reach the API at ${env.XP_API_URL!} (ECONNREFUSED); is it running? XP_API_URL sets its address`]);
  });

  it('says when XP_API_URL is not a URL', async () => {
    const { code, err } = await run(['export', '--project', 'demo'], { ...env, XP_API_URL: 'localhost 8000' });
    expect(code).toBe(1);
    expect(err).toEqual(['error: XP_API_URL "localhost 8000" is not a URL (for example http://localhost:8000)']);
  });

  it('says XP_API_URL needs a scheme, and that the path /api/v1 is xp\'s to add, rather than asking whether the API runs', async () => {
    const noScheme = await run(['export', '--project', 'demo'], { ...env, XP_API_URL: 'localhost:8941' });
    const withPath = await run(['export', '--project', 'demo'], { ...env, XP_API_URL: 'http://localhost:8941/api/v1/' });
    const behindProxy = await run(['export', '--project', 'demo'], { ...env, XP_API_URL: 'https://tools.example.com/xp/api' });

    expect(noScheme).toEqual({ code: 1, out: [], err: ['error: XP_API_URL "localhost:8941" needs http:// or https:// in front (for example http://localhost:8000)'] });
    expect(withPath).toEqual({ code: 1, out: [], err: ['error: XP_API_URL "http://localhost:8941/api/v1/" ends in /api/v1, which xp adds itself: drop that path (for example http://localhost:8941)'] });
    expect(behindProxy.err).toEqual(['error: XP_API_URL "https://tools.example.com/xp/api" ends in /api, which xp adds itself: drop that path (for example https://tools.example.com/xp)']);
  });

  it('says a GrowthBook payload is missing rather than not valid JSON, and lists an invalid one once', async () => {
    const missing = await run(['import', 'growthbook', path.join(dir, 'missing.json'), '--project', 'demo', '--environment', 'production']);
    expect(missing.code).toBe(1);
    expect(missing.err.join('\n')).not.toContain('not valid JSON');
    expect(missing.err).toEqual([`error: cannot read ${path.join(dir, 'missing.json')}: ENOENT: no such file or directory, open '${path.join(dir, 'missing.json')}'`]);
    const file = path.join(dir, 'features.json');
    writeFileSync(file, JSON.stringify({ features: { f: { defaultValue: true, rules: 'none' } } }));
    const bad = await run(['import', 'growthbook', file, '--project', 'demo', '--environment', 'production', '--dry-run']);
    expect(bad.code).toBe(1);
    expect(bad.err).toEqual(['error: invalid GrowthBook payload: features.f.rules: Invalid input: expected array, received string']);
  });

  it('names each schema issue once, for a flags file and for the API', async () => {
    const file = path.join(dir, 'v2.yaml');
    writeFileSync(file, 'xp: 2\nproject: demo\nflags: []\n');
    const local = await run(['apply', file, '--dry-run']);
    expect(local.code).toBe(1);
    expect(local.err).toEqual([`error: ${file}: xp (line 1): Invalid input: expected 1`]);
    // The API's message names the first issue; the others are listed below it.
    const issues = [
      { path: 'body.flags[0].key', message: 'Required' },
      { path: 'body.key', message: 'Required' },
    ];
    let answer = { code: 'VALIDATION_FAILED', message: 'invalid body: body.flags[0].key: Required', details: { issues } };
    const api = createHttpServer((_req, res) => {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: answer }));
    });
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
    try {
      const remote = await run(['export', '--project', 'demo'], { ...env, XP_API_URL: `http://127.0.0.1:${(api.address() as AddressInfo).port}` });
      expect(remote.code).toBe(1);
      expect(remote.err).toEqual(['error: invalid body: body.flags[0].key: Required', '  body.key: Required']);
      // The API also words an issue as "path message" (a string holding a NUL): named once too.
      answer = { code: 'VALIDATION_FAILED', message: 'body.references[11].snippet contains a NUL character', details: { issues: [{ path: 'body.references[11].snippet', message: 'contains a NUL character' }] } };
      const nul = await run(['export', '--project', 'demo'], { ...env, XP_API_URL: `http://127.0.0.1:${(api.address() as AddressInfo).port}` });
      expect(nul.err).toEqual(['error: body.references[11].snippet contains a NUL character']);
      // A refused publish says what the change would break in details.problems: each on its own line.
      answer = {
        code: 'VALIDATION_FAILED',
        message: 'the change leaves environment "development" with broken references',
        details: { problems: ['flags.ops-flag.prerequisites: prerequisites form a cycle (ops-flag → search-v2 → ops-flag)'] },
      } as unknown as typeof answer;
      const refused = await run(['export', '--project', 'demo'], { ...env, XP_API_URL: `http://127.0.0.1:${(api.address() as AddressInfo).port}` });
      expect(refused.err).toEqual([
        'error: the change leaves environment "development" with broken references',
        '  flags.ops-flag.prerequisites: prerequisites form a cycle (ops-flag → search-v2 → ops-flag)',
      ]);
    } finally {
      await new Promise((resolve) => api.close(resolve));
    }
  });

  it('checks code-refs arguments and the token before indexing the code', async () => {
    const noBranch = await run(['code-refs', '--repo', 'shop', '--dir', dir, '--project', 'demo']);
    expect(noBranch).toEqual({ code: 1, out: [], err: ['error: code-refs needs --repo NAME and --branch BRANCH (or --dry-run)'] });
    // No XP_TOKEN, and no xp login in this (empty) configuration folder.
    const noToken = await run(['code-refs', '--repo', 'shop', '--branch', 'main', '--dir', dir, '--project', 'demo'], { ...env, XP_TOKEN: '', XP_CONFIG_DIR: path.join(dir, 'no-xp-config') });
    expect(noToken).toEqual({
      code: 1,
      out: [],
      err: [
        "error: not logged in: run xp login (it keeps a personal access token for this computer), or set XP_TOKEN to an access token: a service account's for CI and other automation (POST /api/v1/service-accounts/{id}/tokens), or your personal one (POST /api/v1/me/tokens)",
      ],
    });
    // A commit id too short for the API is refused before the scan, with the rule.
    const shortCommit = await run(['code-refs', '--repo', 'shop', '--branch', 'main', '--dir', dir, '--project', 'demo', '--commit', 'abc123']);
    expect(shortCommit).toEqual({ code: 1, out: [], err: ['error: --commit must be a commit id of 7 to 64 lower-case hexadecimal characters (as git rev-parse prints it), not "abc123"'] });
    const dryRun = await run(['code-refs', '--dir', dir, '--dry-run']);
    expect(dryRun.code).toBe(0);
    expect(dryRun.out[0]).toMatch(/^Found 1 reference to 1 flag in 1 file under /);
    // Control characters on a reference's line reach neither the terminal nor the API (which refuses a NUL).
    const controls = mkdtempSync(path.join(tmpdir(), 'xp-cli-controls-'));
    try {
      writeFileSync(path.join(controls, 'bell.ts'), `client.getVariant('bell', user); // \u0007${'x'.repeat(9000)}\u0000\n`);
      const found = await run(['code-refs', '--dir', controls, '--dry-run']);
      expect(found.out[1]).toBe(`  bell  bell.ts:1:19  ${`client.getVariant('bell', user); // \uFFFD${'x'.repeat(9000)}`.slice(0, 200)}`);
    } finally {
      rmSync(controls, { recursive: true, force: true });
    }
  });

  it('stops code-refs on a refused token before indexing, and names the upload limit instead of sending more', async () => {
    const uploads: string[] = [];
    const api = createHttpServer((req, res) => {
      if (req.url?.includes('/code-refs') === true) {
        uploads.push(req.url);
      }
      const token = req.headers.authorization?.replace('Bearer ', '');
      const answer = (status: number, body: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      // As /me answers: an editor; an analyst; a viewer who is an editor in demo; an owner's token limited to viewer.
      const me: Record<string, object> = {
        xpp_good: { role: 'editor', access: { role: 'editor', projects: null }, projectRoles: [] },
        xpp_analyst: { role: 'analyst' },
        xpp_demo_editor: { role: 'viewer', access: { role: 'viewer', projects: null }, projectRoles: [{ project: 'demo', role: 'editor' }] },
        xpp_limited: { role: 'owner', access: { role: 'viewer', projects: null }, projectRoles: [] },
      };
      if (token === undefined || me[token] === undefined) {
        answer(401, { error: { code: 'UNAUTHENTICATED', message: 'invalid or expired token' } });
      } else if (req.url === '/api/v1/me') {
        answer(200, { id: 'u1', email: 'ci@example.com', name: 'CI', ...me[token] });
      } else if (req.url === '/api/v1/roles') {
        answer(200, { roles: ['owner', 'admin', 'editor', 'analyst', 'viewer'], permissions: [{ permission: 'code-refs:write', description: '', roles: ['owner', 'admin', 'editor'] }] });
      } else if (req.url === '/api/v1/projects/demo/environments') {
        answer(200, { items: [] });
      } else {
        answer(404, { error: { code: 'NOT_FOUND', message: 'project not found' } });
      }
    });
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
    const many = mkdtempSync(path.join(tmpdir(), 'xp-cli-many-'));
    try {
      writeFileSync(path.join(many, 'calls.ts'), Array.from({ length: 20_001 }, (_, i) => `client.getVariant('flag-${i % 7}', user${i});`).join('\n'));
      const url = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
      const args = ['code-refs', '--repo', 'shop', '--branch', 'main', '--dir', many, '--project', 'demo'];
      const badToken = await run(args, { XP_API_URL: url, XP_TOKEN: 'xpp_revoked' });
      const tooMany = await run(args, { XP_API_URL: url, XP_TOKEN: 'xpp_good' });
      const analyst = await run(args, { XP_API_URL: url, XP_TOKEN: 'xpp_analyst' });
      const limited = await run(args, { XP_API_URL: url, XP_TOKEN: 'xpp_limited' });
      const demoEditor = await run(args, { XP_API_URL: url, XP_TOKEN: 'xpp_demo_editor' });
      const unknown = await run(args.map((a) => (a === 'demo' ? 'nope' : a)), { XP_API_URL: url, XP_TOKEN: 'xpp_good' });

      expect([badToken.code, badToken.out]).toEqual([1, []]);
      expect(badToken.err[0]).toContain('invalid or expired token');
      expect([analyst.code, analyst.out, analyst.err]).toEqual([1, [], ["error: your role in demo (analyst) does not allow code-refs:write: uploading code references needs an editor's token or higher"]]);
      // The token's role limit counts, not the owner's role; the project role counts, not the organisation's.
      expect([limited.code, limited.out, limited.err]).toEqual([1, [], ["error: your role in demo (viewer) does not allow code-refs:write: uploading code references needs an editor's token or higher"]]);
      expect([demoEditor.code, demoEditor.err[0]]).toEqual([1, expect.stringContaining('an upload takes at most 20,000 references')]);
      expect([unknown.code, unknown.out]).toEqual([1, []]);
      expect(unknown.err[0]).toContain('project not found');
      expect(tooMany.code).toBe(1);
      // Outside a git work tree (the temporary folder is not in one) parts uploaded with --dir would replace each other: git checkouts only.
      expect(tooMany.err).toEqual([
        `error: an upload takes at most 20,000 references and ${many} has 20,001: leave generated code out (.gitignore), or run code-refs in a git checkout once per part of the repository (--dir DIR: each upload then replaces only the references under its DIR); nothing was uploaded`,
      ]);
      // In a git work tree, once per part.
      mkdirSync(path.join(many, '.git'));
      const inRepository = await run(args, { XP_API_URL: url, XP_TOKEN: 'xpp_good' });
      expect(inRepository.err).toEqual([
        `error: an upload takes at most 20,000 references and ${many} has 20,001: run code-refs once per part of the repository (--dir DIR: each upload replaces only the references under its DIR) or leave generated code out (.gitignore); nothing was uploaded`,
      ]);
      expect(uploads).toEqual([]);
    } finally {
      rmSync(many, { recursive: true, force: true });
      await new Promise((resolve) => api.close(resolve));
    }
  });

  it('refuses a second file rather than ignoring it, and an unknown import source, with exit code 2', async () => {
    const a = path.join(dir, 'a.yaml');
    writeFileSync(a, 'xp: 1\nproject: demo\n');
    const two = await run(['apply', a, path.join(dir, 'b.yaml'), '--dry-run']);
    expect(two.code).toBe(2);
    expect(two.err[0]).toBe(`error: unexpected argument "${path.join(dir, 'b.yaml')}": xp apply takes one file (run it once per file)\n\nRun xp --help for the usage.`);
    const imports = await run(['import', 'growthbook', a, a, '--project', 'demo', '--environment', 'production']);
    expect(imports.code).toBe(2);
    const source = await run(['import', 'statsig', a]);
    expect([source.code, source.err[0]?.split('\n')[0]]).toEqual([2, 'error: unknown import source "statsig"; usage: xp import growthbook|launchdarkly|unleash FILE --project KEY --environment ENV']);
    const ldFiles = await run(['import', 'launchdarkly', a, a, '--project', 'demo', '--environment', 'production']);
    expect([ldFiles.code, ldFiles.err[0]?.split('\n')[0]]).toEqual([2, `error: unexpected argument "${a}": xp import launchdarkly takes one file (run it once per file)`]);
  });

  it('names an unknown option alone (the text of Node.js ends in unbalanced quotes)', async () => {
    const { code, err } = await run(['apply', path.join(dir, 'a.yaml'), '--dryrun']);
    expect(code).toBe(2);
    expect(err[0]?.split('\n')[0]).toBe('error: unknown option --dryrun');
    // An unknown command reads like every other usage error.
    const command = await run(['frobnicate']);
    expect([command.code, command.err[0]?.split('\n')[0]]).toEqual([2, 'error: unknown command "frobnicate"']);
  });

  it('prints the usage for --help after any command', async () => {
    for (const argv of [['apply', '--help'], ['export', '-h'], ['import', 'growthbook', '--help'], ['code-refs', '--help']]) {
      const { code, out } = await run(argv);
      expect([code, out[0]?.split('\n')[0]]).toEqual([0, 'xp — self-hosted experimentation platform']);
    }
  });

  it('keeps a password in XP_API_URL and a malformed XP_TOKEN off the screen', async () => {
    const url = await run(['export', '--project', 'demo'], { ...env, XP_API_URL: 'http://me:s3cret@127.0.0.1:1' });
    expect(url).toEqual({ code: 1, out: [], err: ['error: XP_API_URL must not hold a user name or password; the API authenticates with XP_TOKEN'] });
    const token = await run(['export', '--project', 'demo'], { ...env, XP_TOKEN: 'xpp_first\nxpp_second' });
    expect(token).toEqual({ code: 1, out: [], err: ['error: XP_TOKEN is not one token: it contains spaces, line breaks or other characters a token never has'] });
    // A token read from a file keeps its newline: that one is forgiven.
    const trailing = await run(['export', '--project', 'demo'], { ...env, XP_TOKEN: 'xpp_test\n' });
    expect(trailing.err[0]).toContain('cannot reach the API');
  });

  it('refuses a JSON key written twice, and reads a file saved with a byte order mark', async () => {
    const twice = path.join(dir, 'twice.json');
    writeFileSync(twice, '{"xp":1,"project":"staging",\n"project":"demo"}');
    expect(await run(['apply', twice, '--dry-run'])).toEqual({ code: 1, out: [], err: [`error: ${twice} is not valid JSON: a key is written twice at line 2, column 1`] });
    const gb = path.join(dir, 'gb-twice.json');
    writeFileSync(gb, '{"features":{"a":{"defaultValue":1},"a":{"defaultValue":2}}}');
    expect((await run(['import', 'growthbook', gb, '--project', 'demo', '--environment', 'production'])).err[0]).toMatch(/is not valid JSON: a key is written twice/);
    const bom = path.join(dir, 'bom.json');
    writeFileSync(bom, `\uFEFF${JSON.stringify({ xp: 1, project: 'demo' })}`);
    // Parsed: the next step is the API, which is not running here.
    expect((await run(['apply', bom, '--dry-run'])).err[0]).toContain('cannot reach the API');
  });

  it('refuses a file that is not UTF-8 text, and never sends a file\'s control characters to the terminal', async () => {
    const binary = path.join(dir, 'image.yaml');
    writeFileSync(binary, Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0xff, 0xfe]));
    const nul = path.join(dir, 'nul.yaml');
    writeFileSync(nul, 'xp: 1\nproject: demo\0\n');
    const escape = path.join(dir, 'escape.yaml');
    writeFileSync(escape, 'xp: 1\nproject: "\u001b[2Jdemo\n');

    expect(await run(['apply', binary, '--dry-run'])).toEqual({ code: 1, out: [], err: [`error: ${binary} is not a text file: it is not UTF-8`] });
    expect(await run(['apply', nul, '--dry-run'])).toEqual({ code: 1, out: [], err: [`error: ${nul} is not a text file: it holds a NUL byte (line 2)`] });
    const escaped = await run(['apply', escape, '--dry-run']);
    expect(escaped.code).toBe(1);
    expect(escaped.err.join('\n')).not.toContain('\u001b');
    expect(escaped.err[0]).toContain('project: "\\u001b[2Jdemo');
  });

  it('names the option a bad port was given with', async () => {
    expect(await run(['start', '--port', 'abc'])).toEqual({ code: 1, out: [], err: ['error: --port must be a port number (0-65535), got "abc"'] });
    expect((await run(['start', '--console-port', '70000'])).err).toEqual(['error: --console-port must be a port number (0-65535), got "70000"']);
  });

  it('refuses a file too large to be a flags document before reading it', async () => {
    const huge = path.join(dir, 'huge.yaml');
    writeFileSync(huge, Buffer.alloc(65 * 1_048_576, 0x20));

    expect(await run(['apply', huge, '--dry-run'])).toEqual({ code: 1, out: [], err: [`error: ${huge} is 65.00 MB (68,157,440 bytes); a flags or import file may be at most 64 MB (67,108,864 bytes)`] });
  });

  it('reads a flags file above the former 20 MB limit (a large project\'s export), and shows sizes just above the limit precisely', async () => {
    const big = path.join(dir, 'big.yaml');
    // 20,974,050 bytes: the export of a 3,000-flag project that apply used to refuse as "20.0 MB".
    writeFileSync(big, Buffer.concat([Buffer.from('# comment\n'), Buffer.alloc(20_974_050 - 10, 0x20)]));
    expect((await run(['apply', big, '--dry-run'])).err[0]).not.toMatch(/may be at most/);

    expect(formatSize(20_974_050, 20 * 1_048_576)).toBe('20.002 MB (20,974,050 bytes)');
    expect(formatSize(MAX_INPUT_BYTES + 1, MAX_INPUT_BYTES)).toBe('64.000001 MB (67,108,865 bytes)');
    expect(formatSize(1_500_000)).toBe('1.43 MB (1,500,000 bytes)');
  });

  it('names an empty document as such, and says when XP_API_URL answers like some other server', async () => {
    const empty = path.join(dir, 'empty.yaml');
    writeFileSync(empty, '');
    expect((await run(['apply', empty, '--dry-run'])).err[0]).toBe(`error: ${empty}: (document): Invalid input: expected object, received null`);
    const other = createHttpServer((_req, res) => {
      res.writeHead(404, { 'content-type': 'text/html' });
      res.end('<h1>Not found</h1>');
    });
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
      expect((await run(['export', '--project', 'demo'], { ...env, XP_API_URL: url })).err).toEqual([`error: HTTP 404 from ${url}; is XP_API_URL the address of the xp API?`]);
    } finally {
      await new Promise((resolve) => other.close(resolve));
    }
  });

  it('refuses to replay into a data folder that holds no platform database', async () => {
    const missing = path.join(dir, 'no-platform-here');
    const { code, err } = await run(['replay', '--from', '2026-01-01', '--to', '2026-01-02', '--data-dir', missing], { ...env, DATABASE_URL: '' });
    expect(code).toBe(1);
    expect(err).toEqual([`error: no platform database in ${missing}: pass the data folder \`xp start\` uses (--data-dir or XP_DATA_DIR), or set DATABASE_URL`]);
  });
});
