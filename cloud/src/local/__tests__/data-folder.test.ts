/**
 * `xp start` and `xp replay` on a data folder: the folder's lock (one process opens the embedded
 * database), a damaged or half-deleted embedded database refused with what to do instead of being
 * re-created, a port in use stopping the start before anything is created, and a new platform key
 * that cannot read the stored webhooks. Real PGlite folders (seeded from the migrated template),
 * real PostgreSQL databases, real ports.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, cp, mkdir, mkdtemp, readFile, readdir, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import type { AddressInfo, Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { XpApiClient } from '@xp/shared';
import { main } from '../../cli/xp.js';
import type { Logger } from '../../domain/context.js';
import { silentLogger } from '../../domain/context.js';
import { createPgliteDatabase } from '../../store/db.js';
import { migratedPgliteDump } from '../../store/__tests__/test-databases.js';
import { startDynalite } from '../aws-local.js';
import { LOCK_FILE } from '../data-lock.js';
import { checkEmbeddedDatabaseDir } from '../embedded-database.js';
import { configFromEnv, startLocalStack } from '../stack.js';
import type { LocalStack } from '../stack.js';

const ADMIN_URL = process.env.XP_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const PASSWORD = 'data folder test passphrase';
const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: ADMIN_URL });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** A new, empty database on the test server (xp_test_ops_*), dropped by `drop`. */
async function freshPostgres(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `xp_test_ops_${randomBytes(5).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined) };
}

/** A port taken by another server for the test's duration. */
async function takenPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, server };
}

const capture = (): { logger: Logger; lines: string[] } => {
  const lines: string[] = [];
  const at = (level: string) => (message: string, fields?: Record<string, unknown>) => lines.push(`${level} ${message} ${JSON.stringify(fields ?? {})}`);
  return { logger: { info: at('info'), warn: at('warn'), error: at('error') }, lines };
};

describe('the data folder: lock, damaged databases, ports, platform key', () => {
  let root: string;
  /** A data folder after a first start and a stop: a populated embedded database. */
  let populated: string;
  const cleanups: (() => Promise<unknown>)[] = [];

  const config = (dataDir: string, env: Record<string, string> = {}) =>
    configFromEnv({ XP_DATA_DIR: dataDir, XP_API_PORT: '0', XP_CONSOLE_PORT: '0', XP_ADMIN_EMAIL: 'me@example.com', XP_ADMIN_PASSWORD: PASSWORD, XP_DEMO: '0', XP_GUARDRAIL_INTERVAL_SECONDS: '0', ...env });
  const start = (dataDir: string, env: Record<string, string> = {}, options: { logger?: Logger; print?: (l: string) => void; printSecrets?: boolean | undefined } = {}): Promise<LocalStack> =>
    startLocalStack(config(dataDir, env), { logger: options.logger ?? silentLogger, print: options.print ?? (() => undefined), ...(options.printSecrets === undefined ? {} : { printSecrets: options.printSecrets }) });
  const replay = async (dataDir: string): Promise<{ code: number; out: string[]; err: string[] }> => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(['replay', '--from', '2026-01-01', '--to', '2026-01-01', '--data-dir', dataDir], { DATABASE_URL: '' }, (l) => out.push(l), (l) => err.push(l));
    return { code, out, err };
  };
  /** A copy of the populated folder. */
  const copy = async (name: string): Promise<string> => {
    const dir = path.join(root, name);
    await cp(populated, dir, { recursive: true });
    return dir;
  };

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'xp-data-folder-'));
    populated = path.join(root, 'populated');
    await mkdir(populated);
    // The migrated template as a folder on disk (skips initdb), then a first start and a stop.
    const seeded = await createPgliteDatabase(path.join(populated, 'postgres'), { loadDataDir: await migratedPgliteDump() });
    await seeded.close();
    const stack = await start(populated);
    await stack.close();
  });
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) {
      await cleanup().catch(() => undefined);
    }
    await rm(root, { recursive: true, force: true });
  });

  it('refuses xp replay and a second xp start while xp start runs on the folder; replay runs once it has stopped', async () => {
    const dir = await copy('locked');
    const stack = await start(dir);
    let closed = false;
    cleanups.push(() => (closed ? Promise.resolve() : stack.close()));

    const refused = await replay(dir);
    const second = start(dir);

    expect(refused.code).toBe(1);
    expect(refused.err).toEqual([`error: ${dir} is in use by xp start (pid ${process.pid}); stop it first`]);
    await expect(second).rejects.toThrow(`${dir} is in use by xp start (pid ${process.pid}); stop it first`);
    // The running platform is untouched.
    expect((await new XpApiClient({ apiUrl: stack.apiUrl }).login('me@example.com', PASSWORD)).token).not.toBe('');

    await stack.close();
    closed = true;
    expect(existsSync(path.join(dir, LOCK_FILE))).toBe(false);
    const after = await replay(dir);
    expect(after.code).toBe(0);
    expect(after.out).toEqual(['Replayed 0 events from 0 files; recomputed 0 experiment totals.']);
    // A mistyped archive folder is an error, not a replay of nothing.
    const typo = path.join(root, 'no-such-archive');
    const err: string[] = [];
    const wrong = await main(['replay', '--from', '2026-01-01', '--to', '2026-01-01', '--data-dir', dir, '--archive', typo], { DATABASE_URL: '' }, () => undefined, (l) => err.push(l));
    expect([wrong, err]).toEqual([1, [`error: no event archive at ${typo}: pass the folder the platform archives events to (by default <data dir>/archive/events) or s3://BUCKET/archive/events`]]);
    expect(existsSync(path.join(dir, LOCK_FILE))).toBe(false);
  });

  it('refuses an embedded database folder whose PG_VERSION is missing instead of creating a new database over it', async () => {
    const dir = await copy('no-pg-version');
    await rm(path.join(dir, 'postgres', 'PG_VERSION'));
    const printed: string[] = [];
    const message = `${path.join(dir, 'postgres')} holds files but is not a PostgreSQL data directory (its PG_VERSION file is missing), so xp will not open it nor create a new database over it: keep a copy first (cp -a ${path.join(dir, 'postgres')} ${path.join(dir, 'postgres')}.copy), then restore ${path.join(dir, 'postgres')} from a backup, or move it away (mv ${path.join(dir, 'postgres')} ${path.join(dir, 'postgres')}.damaged) to start with a new, empty database`;

    await expect(start(dir, {}, { print: (l) => printed.push(l) })).rejects.toThrow(message);
    const replayed = await replay(dir);

    expect(replayed).toMatchObject({ code: 1, err: [`error: ${message}`] });
    expect(printed.join('\n')).not.toContain('First start');
    expect(existsSync(path.join(dir, 'postgres', 'PG_VERSION'))).toBe(false);
    expect(existsSync(path.join(dir, LOCK_FILE))).toBe(false);
    // An empty postgres/ folder is still a first start's.
    const empty = path.join(root, 'empty-postgres');
    await mkdir(path.join(empty, 'postgres'), { recursive: true });
    await expect(checkEmbeddedDatabaseDir(empty)).resolves.toBeUndefined();
  });

  it("says which embedded database could not be opened, and what to do, when PGlite aborts on damaged files", async () => {
    const dir = await copy('damaged');
    await truncate(path.join(dir, 'postgres', 'global', 'pg_control'), 0);
    const postgres = path.join(dir, 'postgres');
    // The free space on the disk is told (it changes between runs: matched around it).
    const opening = `the embedded database in ${postgres} could not be opened (PGlite aborted: its files are damaged or incomplete, or its disk was full (`;
    const advice = ` MiB free now)): first check the free space on its disk; if that is not it, keep a copy first (cp -a ${postgres} ${postgres}.copy), then restore ${postgres} from a backup, or move it away (mv ${postgres} ${postgres}.damaged) to start with a new, empty database`;
    const message = new RegExp(`^${escape(opening)}[0-9.]+${escape(advice)}$`);

    await expect(start(dir)).rejects.toThrow(message);
    const replayed = await replay(dir);

    expect(replayed).toMatchObject({ code: 1, err: [expect.stringMatching(new RegExp(`^error: ${message.source.slice(1)}`))] });
    expect(existsSync(path.join(dir, LOCK_FILE))).toBe(false);
  });

  it('`xp start` exits with status 1 when the embedded database cannot be opened, so a service manager restarts it', async () => {
    const dir = await copy('no-base');
    await rm(path.join(dir, 'postgres', 'base'), { recursive: true });
    const bin = fileURLToPath(new URL('../../../bin/xp.js', import.meta.url));
    const env = { ...process.env, XP_DATA_DIR: dir, XP_API_PORT: '0', XP_CONSOLE_PORT: '0', XP_DEMO: '0', DATABASE_URL: '' };

    const child = spawn(process.execPath, [bin, 'start'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const code = await new Promise<number | null>((resolve) => {
      const killer = setTimeout(() => {
        child.kill('SIGKILL');
      }, 60_000);
      child.on('exit', (status) => {
        clearTimeout(killer);
        resolve(status);
      });
    });

    expect([code, stderr]).toEqual([1, expect.stringContaining(`the embedded database in ${path.join(dir, 'postgres')} could not be opened`)]);
  }, 90_000);

  it('does not let a DATABASE_URL that cannot be reached, or that is no PostgreSQL URL, claim a new folder', async () => {
    const dir = path.join(root, 'unreachable-postgres');
    const { port, server } = await takenPort();
    await new Promise((resolve) => server.close(resolve));

    await expect(start(dir, { DATABASE_URL: `postgres://xp:s3cret@127.0.0.1:${port}/xp` })).rejects.toThrow(`the PostgreSQL database of DATABASE_URL (127.0.0.1:${port}/xp) cannot be used: `);
    expect(existsSync(path.join(dir, 'database.json'))).toBe(false);
    expect(() => config(dir, { DATABASE_URL: 'notaurl' })).toThrow('DATABASE_URL must be a PostgreSQL URL such as postgres://user:password@host:5432/database');
    expect(() => config(dir, { DATABASE_URL: 'mysql://root:pw@localhost/xp' })).toThrow('DATABASE_URL must be a PostgreSQL URL such as postgres://user:password@host:5432/database, not mysql:');
    const file = path.join(root, 'a-file');
    await writeFile(file, 'not a folder');
    await expect(start(file)).rejects.toThrow(`the data folder ${file} cannot be created (a file is in the way): choose another with XP_DATA_DIR or --data-dir`);
    expect(() => config(dir, { XP_API_PORT: '8123', XP_CONSOLE_PORT: '8123' })).toThrow('the API and the console need ports of their own, not both 8123');
    // The first owner's settings are checked before anything is created.
    const early = path.join(root, 'weak-owner');
    await expect(start(early, { XP_ADMIN_PASSWORD: 'short' })).rejects.toThrow('XP_ADMIN_PASSWORD is too weak: ');
    await expect(start(early, { XP_ADMIN_EMAIL: 'not-an-email' })).rejects.toThrow('XP_ADMIN_EMAIL must be an email address, got "not-an-email"');
    expect(existsSync(early)).toBe(false);
    // The folder is still free for the embedded database.
    const stack = await start(dir);
    await stack.close();
    // A whole first start (PGlite, every migration) at the end: past 20 s on a loaded 2-core machine.
  }, 60_000);

  it('stops a first start whose API or console port is taken before anything is created (embedded database)', async () => {
    const dir = path.join(root, 'port-taken');
    const { port, server } = await takenPort();
    cleanups.push(() => new Promise((resolve) => server.close(resolve)));

    await expect(start(dir, { XP_API_PORT: String(port) })).rejects.toThrow(
      `the API cannot listen on 127.0.0.1:${port}: port ${port} is already in use; stop what uses it or choose another port (XP_API_PORT or --port). Nothing was started.`,
    );
    await expect(start(dir, { XP_CONSOLE_PORT: String(port) })).rejects.toThrow(`the console cannot listen on 127.0.0.1:${port}: port ${port} is already in use`);

    expect(existsSync(path.join(dir, 'postgres'))).toBe(false);
    expect(existsSync(path.join(dir, 'initial-credentials.txt'))).toBe(false);
    expect(existsSync(path.join(dir, LOCK_FILE))).toBe(false);
  });

  it('on a fresh DATABASE_URL database: a taken port creates nothing, and the next start is a first start with its credentials file', async () => {
    const fresh = await freshPostgres();
    cleanups.push(fresh.drop);
    const dir = path.join(root, 'port-taken-pg');
    const { port, server } = await takenPort();
    cleanups.push(() => new Promise((resolve) => server.close(resolve)));

    await expect(start(dir, { DATABASE_URL: fresh.url, XP_API_PORT: String(port) })).rejects.toThrow(`port ${port} is already in use`);
    const client = new pg.Client({ connectionString: fresh.url });
    await client.connect();
    const tables = (await client.query<{ t: string | null }>("SELECT to_regclass('public.organizations')::text AS t")).rows[0]!.t;
    await client.end();
    expect(tables).toBeNull();

    const printed: string[] = [];
    const stack = await start(dir, { DATABASE_URL: fresh.url }, { print: (l) => printed.push(l) });
    cleanups.push(() => stack.close());
    const credentials = await readFile(path.join(dir, 'initial-credentials.txt'), 'utf8');

    expect(printed).toContain('First start: created the owner account and a demo project with three environments.');
    expect(credentials).toMatch(/development server SDK key: xpk_srv_/);
    expect((await stat(path.join(dir, 'initial-credentials.txt'))).mode & 0o777).toBe(0o600);
    await stack.close();
  });

  it('keeps the first start credentials when the start fails after the owner and keys were created', async () => {
    const fresh = await freshPostgres();
    cleanups.push(fresh.drop);
    const dir = path.join(root, 'fails-after-bootstrap');
    // DynamoDB that refuses every Query: the table check and the first publish pass, the republish after bootstrap fails.
    const dynalite = await startDynalite();
    cleanups.push(() => dynalite.close());
    const proxy = createHttpServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (String(req.headers['x-amz-target']).endsWith('.Query')) {
          res.writeHead(400, { 'content-type': 'application/x-amz-json-1.0' }).end(JSON.stringify({ __type: 'com.amazon.coral.validate#ValidationException', message: 'Query refused by the test' }));
          return;
        }
        const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => !['host', 'content-length', 'connection'].includes(k)).map(([k, v]) => [k, String(v)]));
        void fetch(dynalite.endpoint, { method: req.method ?? 'POST', headers, body: Buffer.concat(chunks) }).then(async (r) => {
          res.writeHead(r.status, Object.fromEntries(r.headers)).end(Buffer.from(await r.arrayBuffer()));
        });
      });
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => proxy.close(resolve)));

    await expect(start(dir, { DATABASE_URL: fresh.url, DYNAMODB_ENDPOINT: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}` })).rejects.toThrow('DynamoDB');
    const credentials = await readFile(path.join(dir, 'initial-credentials.txt'), 'utf8');
    const serverKey = /development server SDK key: (\S+)/.exec(credentials)?.[1];

    expect(serverKey).toMatch(/^xpk_srv_/);
    // The next start creates nothing, and the keys from the file are the platform's.
    const printed: string[] = [];
    const stack = await start(dir, { DATABASE_URL: fresh.url }, { print: (l) => printed.push(l) });
    cleanups.push(() => stack.close());
    const ruleset = await fetch(`${stack.apiUrl}/sdk/v1/ruleset`, { headers: { 'X-XP-SDK-Key': serverKey! } });
    expect(printed.join('\n')).not.toContain('First start');
    expect(ruleset.status).toBe(200);
    expect((await new XpApiClient({ apiUrl: stack.apiUrl }).login('me@example.com', PASSWORD)).token).not.toBe('');
    await stack.close();
  });

  it('prints the first start credentials when initial-credentials.txt cannot be written', async () => {
    const fresh = await freshPostgres();
    cleanups.push(fresh.drop);
    const dir = path.join(root, 'unwritable-credentials');
    // A folder where the file should be: writing it fails.
    await mkdir(path.join(dir, 'initial-credentials.txt'), { recursive: true });
    const printed: string[] = [];

    const stack = await start(dir, { DATABASE_URL: fresh.url }, { print: (l) => printed.push(l) });
    cleanups.push(() => stack.close());

    const text = printed.join('\n');
    expect(text).toContain(`Could not write ${path.join(dir, 'initial-credentials.txt')}`);
    expect(text).toContain(`  development server SDK key: ${stack.boot.sdkKeys!.development!.server}`);
    expect(text).toContain('First start');
    expect(text).not.toContain('SDK keys  in');
    await stack.close();
  });

  it('never writes a first start\'s credentials over another platform\'s, and refuses the embedded database in a folder that served PostgreSQL', async () => {
    const first = await freshPostgres();
    cleanups.push(first.drop);
    const second = await freshPostgres();
    cleanups.push(second.drop);
    const dir = path.join(root, 'two-platforms');
    const original = await start(dir, { DATABASE_URL: first.url }, { print: () => undefined });
    await original.close();
    const kept = await readFile(path.join(dir, 'initial-credentials.txt'), 'utf8');
    const printed: string[] = [];

    // Another, empty database (a mistyped URL, say): its first start writes beside the file, not over it.
    const other = await start(dir, { DATABASE_URL: second.url }, { print: (l) => printed.push(l) });
    await other.close();
    const embedded = start(dir, {}, { print: () => undefined });

    expect(await readFile(path.join(dir, 'initial-credentials.txt'), 'utf8')).toBe(kept);
    const written = (await readdir(dir)).filter((f) => /^initial-credentials-.+\.txt$/.test(f));
    expect(written).toHaveLength(1);
    expect(printed.join('\n')).toContain(`SDK keys  in ${path.join(dir, written[0]!)}`);
    await expect(embedded).rejects.toThrow('holds a platform whose database is PostgreSQL');
    expect(existsSync(path.join(dir, 'postgres'))).toBe(false);
  });

  it('keeps the data folder to its owner (0700), closing one others could read, and prints a generated password only to a terminal', async () => {
    const printedTo = async (name: string, printSecrets: boolean | undefined, before?: number): Promise<{ text: string; password: string; mode: number }> => {
      const fresh = await freshPostgres();
      cleanups.push(fresh.drop);
      const dir = path.join(root, name);
      if (before !== undefined) {
        await mkdir(dir, { mode: before });
        await chmod(dir, before);
      }
      const printed: string[] = [];
      const stack = await start(dir, { DATABASE_URL: fresh.url, XP_ADMIN_PASSWORD: '' }, { print: (l) => printed.push(l), printSecrets });
      await stack.close();
      return { text: printed.join('\n'), password: stack.boot.generatedPassword!, mode: (await stat(dir)).mode & 0o777 };
    };

    const redirected = await printedTo('redirected', undefined, 0o755);
    const terminal = await printedTo('terminal', true);

    expect([redirected.mode, terminal.mode]).toEqual([0o700, 0o700]);
    expect(redirected.password).toMatch(/^\S{20,}$/);
    expect(redirected.text).not.toContain(redirected.password);
    expect(redirected.text).toContain(`password  in ${path.join(root, 'redirected', 'initial-credentials.txt')}`);
    expect(await readFile(path.join(root, 'redirected', 'initial-credentials.txt'), 'utf8')).toContain(`admin password: ${redirected.password}`);
    expect(terminal.text).toContain(`password  ${terminal.password}   (shown once`);
  });

  it('warns once at start when the platform key cannot decrypt the stored webhook URLs, and not with the old key', async () => {
    const fresh = await freshPostgres();
    cleanups.push(fresh.drop);
    const first = path.join(root, 'key-first');
    const stack = await start(first, { DATABASE_URL: fresh.url });
    cleanups.push(() => stack.close());
    const { token } = await new XpApiClient({ apiUrl: stack.apiUrl }).login('me@example.com', PASSWORD);
    for (const name of ['one', 'two']) {
      const res = await fetch(`${stack.apiUrl}/api/v1/projects/demo/webhooks`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name, url: 'https://example.com/hook', events: ['flag.*'] }),
      });
      expect(res.status).toBe(201);
    }
    await stack.close();

    // A new data folder (a new platform.key) on the same database.
    const other = path.join(root, 'key-other');
    const log = capture();
    const second = await start(other, { DATABASE_URL: fresh.url }, { logger: log.logger });
    await second.close();
    const warnings = log.lines.filter((l) => l.includes('cannot decrypt'));

    expect(warnings).toEqual([
      `warn 2 of 2 webhooks cannot be sent: the platform key in ${path.join(other, 'platform.key')} cannot decrypt their URLs (they were set under another key). Set XP_PLATFORM_KEY to the key they were made with, or put the old platform.key back in the data folder, and restart; or set their URLs again (their signing secrets change too) {"webhooks":2}`,
    ]);

    const oldKey = (await readFile(path.join(first, 'platform.key'), 'utf8')).trim();
    const withKey = capture();
    const third = await start(path.join(root, 'key-third'), { DATABASE_URL: fresh.url, XP_PLATFORM_KEY: oldKey }, { logger: withKey.logger });
    await third.close();
    expect(withKey.lines.filter((l) => l.includes('cannot decrypt'))).toEqual([]);
  });
});
