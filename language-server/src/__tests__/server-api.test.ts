/**
 * The server against APIs that misbehave (hung, down, revoked tokens, slow), clients that refuse
 * progress, and settings that change or are wrong.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo, Server, Socket } from 'node:net';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Hover, MarkupContent } from 'vscode-languageserver-protocol/node';
import { DidChangeConfigurationNotification, ExecuteCommandRequest, HoverRequest } from 'vscode-languageserver-protocol/node';
import { flagSchema } from '@xp/shared';
import { readFlagsFile, writeCache } from '../flag-data.js';
import type { StatusParams, XpSettings } from '../protocol.js';
import { ExplainRequest, FlagsRequest, RefreshRequest, ServerCommand } from '../protocol.js';
import type { StartOptions } from '../testing/index.js';
import { FLAGS_YAML, LspTestClient } from '../testing/index.js';
import type { StandInApi } from './stand-in-api.js';
import { standInApi } from './stand-in-api.js';

const FILES: Readonly<Record<string, string>> = {
  'a.ts': "client.getVariant('checkout-v2', u);\n",
  'b.ts': "client.isFeatureEnabled('new-nav', u);\n",
};

/** A workspace with two files and a cache file of project shop (the flags file's data) at .xp-cache.json. */
function workspace(): string {
  const root = mkdtempSync(path.join(tmpdir(), 'xp-ls-resilience-'));
  for (const [rel, text] of Object.entries(FILES)) {
    writeFileSync(path.join(root, rel), text);
  }
  const flagsFile = path.join(root, 'cache-source.yaml');
  writeFileSync(flagsFile, FLAGS_YAML);
  writeCache(path.join(root, '.xp-cache.json'), { ...readFlagsFile(flagsFile), source: 'api', fetchedAt: '2026-01-01T00:00:00.000Z' });
  rmSync(flagsFile);
  return root;
}

/** A TCP server that accepts connections and never answers (a hung proxy, a firewall dropping packets). */
async function hungServer(): Promise<{ server: Server; port: number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: async () => {
      for (const s of sockets) {
        s.destroy();
      }
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('language server over stdio, with an API that misbehaves', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) {
      await c();
    }
  });

  const start = async (root: string, settings: XpSettings, options: StartOptions = {}): Promise<LspTestClient> => {
    const client = await LspTestClient.start(root, settings, undefined, options);
    cleanups.push(() => client.stop());
    return client;
  };
  const fresh = (): string => {
    const root = workspace();
    cleanups.push(() => {
      rmSync(root, { recursive: true, force: true });
    });
    return root;
  };
  const listening = async (): Promise<StandInApi> => {
    const api = standInApi();
    await new Promise<void>((resolve) => api.server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => api.close());
    return api;
  };
  const referencedFiles = async (client: LspTestClient): Promise<string[]> =>
    [...new Set((await client.connection.sendRequest(FlagsRequest)).flags.flatMap((f) => f.references.map((r) => path.basename(new URL(r.uri).pathname))))].sort();

  it('indexes the workspace while a hung API is still being asked', async () => {
    const hung = await hungServer();
    cleanups.push(() => hung.close());
    const root = fresh();
    const client = await start(root, { apiUrl: `http://127.0.0.1:${hung.port}`, token: 'xpp_x', project: 'shop', cacheFile: '.xp-cache.json', requestTimeoutSeconds: 60 });
    // Both files, none of them open: the cold index ran though the API has not answered.
    let files: string[] = [];
    for (let i = 0; i < 100 && files.length < 2; i++) {
      files = await referencedFiles(client);
      await sleep(100);
    }
    expect(files).toEqual(['a.ts', 'b.ts']);
  });

  it('gives up on a hung API after requestTimeoutSeconds and uses the cache, naming the host', async () => {
    const hung = await hungServer();
    cleanups.push(() => hung.close());
    const root = fresh();
    const started = Date.now();
    const client = await start(root, { apiUrl: `http://127.0.0.1:${hung.port}`, token: 'xpp_x', project: 'shop', cacheFile: '.xp-cache.json', requestTimeoutSeconds: 1 });
    const status = await client.until('a status from the cache', () => client.statuses.find((s) => s.source === 'cache' && !s.indexing && s.references > 0));
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(status).toMatchObject({ project: 'shop', flags: 5, live: false, references: 2 });
    expect(status.error).toBe(`127.0.0.1:${hung.port} timed out: no answer within 1 s`);
    expect(status.tokenRefused).toBeUndefined();
    expect(client.logs.some((l) => l.includes(`127.0.0.1:${hung.port} timed out`))).toBe(true);
  });

  it('names the host and the cause when the API refuses connections', async () => {
    const closed = await hungServer();
    const port = closed.port;
    await closed.close();
    const client = await start(fresh(), { apiUrl: `http://127.0.0.1:${port}`, token: 'xpp_x', project: 'shop', cacheFile: '.xp-cache.json' });
    const status = await client.until('a status from the cache', () => client.statuses.find((s) => s.source === 'cache'));
    expect(status.error).toBe(`cannot reach 127.0.0.1:${port} (fetch failed: ECONNREFUSED)`);
  });

  it('indexes without progress when the client answers window/workDoneProgress/create with an error', async () => {
    const client = await start(fresh(), {}, { progressCreate: 'error' });
    const status = await client.indexed();
    expect(status).toMatchObject({ indexing: false, references: 2 });
    expect(client.progress).toEqual([]);
    expect(client.logs.join('\n')).not.toContain('start-up failed');
  });

  it('indexes without progress when the client never answers window/workDoneProgress/create', async () => {
    const client = await start(fresh(), {}, { progressCreate: 'never' });
    expect(await client.indexed()).toMatchObject({ indexing: false, references: 2 });
    expect(client.progress).toEqual([]);
  });

  it('refuses an apiUrl with a user name or password, and never repeats the password', async () => {
    const client = await start(fresh(), { apiUrl: 'http://user:secretpw@127.0.0.1:1', token: 'xpp_x', project: 'shop' });
    const status = await client.until('a status', () => client.statuses.find((s) => s.error !== null));
    expect(status).toMatchObject({ source: 'none', error: 'the apiUrl setting must not hold a user name or password; the API authenticates with the token' });
    await client.indexed();
    expect(JSON.stringify([client.statuses, client.logs])).not.toContain('secretpw');
  });

  it('says which setting holds a malformed URL', async () => {
    const client = await start(fresh(), { apiUrl: 'localhost 8000', token: 'xpp_x', project: 'shop' });
    const status = await client.until('a status', () => client.statuses.find((s) => s.error !== null));
    expect(status.error).toBe('the apiUrl setting "localhost 8000" is not a URL (for example http://localhost:8000)');
  });

  it('shows a token revoked mid-session in the status, without claiming to be live, when periodic refresh is off', async () => {
    const api = await listening();
    const client = await start(fresh(), { apiUrl: api.url(), token: 'xpp_good', project: 'shop', refreshIntervalSeconds: 0 });
    await client.until('the change feed to be live', () => (client.statuses.at(-1)?.live === true ? true : undefined));
    const seen = client.statuses.length;
    api.revoke('xpp_good');
    const refused = await client.until('the refused token in the status', () => client.statuses.slice(seen).find((s) => s.tokenRefused === true));
    expect(refused.live).toBe(false);
    expect(refused.error).toMatch(/401/);
    const log = client.logs.find((l) => l.includes('not following changes'));
    expect(log).toContain('periodic refresh is off');
    expect(log).not.toContain('every 0 s');
    // No status ever says live and refused at once.
    expect(client.statuses.filter((s) => s.live && s.tokenRefused === true)).toEqual([]);
  });

  it('clears settings set to null or an empty string, and keeps those not named', async () => {
    const api = await listening();
    const client = await start(fresh(), { apiUrl: api.url(), token: 'xpp_good', project: 'shop', environment: 'staging', refreshIntervalSeconds: 0 });
    await client.until('the change feed to be live', () => (client.statuses.at(-1)?.live === true ? true : undefined));
    const configure = async (xp: Record<string, unknown>, done: (s: StatusParams) => boolean): Promise<StatusParams> => {
      const seen = client.statuses.length;
      await client.connection.sendNotification(DidChangeConfigurationNotification.type, { settings: { xp } });
      return client.until(`the status after ${JSON.stringify(xp)}`, () => client.statuses.slice(seen).find(done));
    };
    // The environment back to its default; the rest (the API, the project) kept.
    expect(await configure({ environment: '' }, (s) => s.environment === 'production')).toMatchObject({ source: 'api', project: 'shop' });
    expect(await configure({ environment: null }, () => true)).toMatchObject({ environment: 'production', source: 'api' });
    // No API: no data (no flags file, no cache of this folder), not live.
    expect(await configure({ apiUrl: null }, (s) => s.source !== 'api')).toMatchObject({ source: 'none', live: false });
    expect(await configure({ apiUrl: api.url() }, (s) => s.live)).toMatchObject({ source: 'api' });
    expect(await configure({ apiUrl: '' }, (s) => s.source !== 'api')).toMatchObject({ source: 'none', live: false });
    await configure({ apiUrl: api.url() }, (s) => s.live);
    // Signed out: the token gone.
    expect(await configure({ token: null }, (s) => s.source !== 'api')).toMatchObject({ source: 'none', live: false });
    expect(await configure({ token: 'xpp_good' }, (s) => s.live)).toMatchObject({ source: 'api', project: 'shop', environment: 'production' });
  });

  it('creates a flag from the code action in an off state in every environment of the project', async () => {
    const api = await listening();
    const client = await start(fresh(), { apiUrl: api.url(), token: 'xpp_good', project: 'shop', refreshIntervalSeconds: 0 });
    await client.until('API data', () => client.statuses.find((s) => s.source === 'api'));
    expect(await client.connection.sendRequest(ExecuteCommandRequest.type, { command: ServerCommand.CreateFlag, arguments: ['made-in-editor'] })).toEqual({ created: 'made-in-editor' });
    expect(api.created).toHaveLength(1);
    // What the real API validates a flag with: the state of each environment is complete and names existing variations.
    const flag = flagSchema.parse(api.created[0]);
    expect(Object.keys(flag.environments).sort()).toEqual(['production', 'staging']);
    expect(Object.values(flag.environments).map((e) => [e.enabled, e.offVariation])).toEqual([
      [false, 'off'],
      [false, 'off'],
    ]);
    // A key the API would refuse is not sent.
    expect(await client.connection.sendRequest(ExecuteCommandRequest.type, { command: ServerCommand.CreateFlag, arguments: ['Bad Key!'] })).toBeNull();
    expect(api.created).toHaveLength(1);
  });

  it('refreshes no more often than every 5 s, however small refreshIntervalSeconds is', async () => {
    const api = await listening();
    const client = await start(fresh(), { apiUrl: api.url(), token: 'xpp_good', project: 'shop', refreshIntervalSeconds: 0.01 });
    await client.until('the change feed to be live', () => (client.statuses.at(-1)?.live === true ? true : undefined));
    const flags = (): number => api.requests.filter((r) => r.endsWith('/flags')).length;
    // From a periodic refresh seen (the timer starts when loading ends, which a loaded machine delays)…
    const first = flags();
    await vi.waitFor(() => {
      expect(flags()).toBeGreaterThan(first);
    }, { timeout: 10_000, interval: 20 });
    const before = flags();
    // …no other one for the next 3 s, though 0.01 s was asked for.
    await sleep(3_000);
    expect(flags() - before).toBe(0);
  }, 30_000);

  it('skips a periodic refresh while the previous one still runs', async () => {
    const api = await listening();
    const client = await start(fresh(), { apiUrl: api.url(), token: 'xpp_good', project: 'shop', refreshIntervalSeconds: 5, requestTimeoutSeconds: 30 });
    await client.until('the change feed to be live', () => (client.statuses.at(-1)?.live === true ? true : undefined));
    // From now on each flag list takes 9 s: the next tick (5 s after the one that starts a slow load)
    // finds it running. Timed from the slow load's request, not from a moment the timer does not know.
    api.flagsDelayMs = 9_000;
    const flags = (): number => api.requests.filter((r) => r.endsWith('/flags')).length;
    const before = flags();
    await vi.waitFor(() => {
      expect(flags()).toBe(before + 1);
    }, { timeout: 10_000, interval: 20 });
    await sleep(7_000);
    expect(flags() - before).toBe(1);
  }, 40_000);

  it('links hovers to the console only where its address is known', async () => {
    const api = await listening();
    const hoverText = async (settings: XpSettings): Promise<string> => {
      const client = await start(fresh(), { apiUrl: api.url(), token: 'xpp_good', project: 'shop', refreshIntervalSeconds: 0, ...settings });
      await client.until('API data', () => client.statuses.find((s) => s.source === 'api'));
      const uri = await client.open('a.ts', FILES['a.ts']!, 'typescript');
      const h = (await client.connection.sendRequest(HoverRequest.type, { textDocument: { uri }, position: { line: 0, character: 22 } })) as Hover;
      return (h.contents as MarkupContent).value;
    };
    // The API on another port than the local stack's 8000: the console's address cannot be told.
    const guessed = await hoverText({});
    expect(guessed).toContain('**Checkout v2**');
    expect(guessed).not.toContain('Open in console');
    expect(await hoverText({ consoleUrl: 'http://console.test' })).toContain('[Open in console](http://console.test/?project=shop#/flags/checkout-v2)');
  });

  it('says in hovers how often SDKs evaluated a flag, and keeps the counts in the cache for offline use', async () => {
    const api = await listening();
    const lastEvaluatedAt = new Date(Date.now() - 5 * 60_000).toISOString();
    api.evaluations = {
      since: new Date(Date.now() - 30 * 86_400_000).toISOString(),
      flags: [
        {
          flag: 'checkout-v2',
          defined: true,
          total: 12_345,
          lastEvaluatedAt,
          environments: [
            { environment: 'production', count: 10_000, lastEvaluatedAt },
            { environment: 'staging', count: 2_345, lastEvaluatedAt },
          ],
          apps: [],
        },
      ],
      apps: [],
      dropped: 0,
      undefinedOmitted: 0,
      countingSince: [
        { environment: 'production', since: new Date(Date.now() - 40 * 86_400_000).toISOString() },
        { environment: 'staging', since: new Date(Date.now() - 40 * 86_400_000).toISOString() },
      ],
    };
    const root = fresh();
    const hoverAt = async (client: LspTestClient, file: string, character: number): Promise<string> => {
      const uri = await client.open(file, FILES[file]!, 'typescript');
      const h = (await client.connection.sendRequest(HoverRequest.type, { textDocument: { uri }, position: { line: 0, character } })) as Hover;
      return (h.contents as MarkupContent).value;
    };
    const live = await start(root, { apiUrl: api.url(), token: 'xpp_good', project: 'shop', refreshIntervalSeconds: 0, cacheFile: '.xp-cache.json' });
    await live.until('API data', () => live.statuses.find((s) => s.source === 'api'));
    expect(api.requests).toContain('/api/v1/projects/shop/flag-evaluations');
    expect(await hoverAt(live, 'a.ts', 22)).toContain('Evaluated 12,345 times in the last 30 days (production 10,000 · staging 2,345), last 5 min ago.');
    // The project reports counts and none is new-nav's: it was not evaluated.
    expect(await hoverAt(live, 'b.ts', 28)).toContain('_Not evaluated in the last 30 days by any SDK that reports evaluation counts');
    // Offline: the cache the live session wrote still holds them.
    api.tokens.clear();
    const offline = await start(root, { apiUrl: api.url(), token: 'xpp_good', project: 'shop', refreshIntervalSeconds: 0, cacheFile: '.xp-cache.json' });
    await offline.until('cached data', () => offline.statuses.find((s) => s.source === 'cache'));
    expect(await hoverAt(offline, 'a.ts', 22)).toContain('Evaluated 12,345 times in the last 30 days');
  });

  it('says in hovers which applications evaluated a flag (top 3, then how many more), from the cache too', async () => {
    const api = await listening();
    const lastEvaluatedAt = new Date(Date.now() - 5 * 60_000).toISOString();
    const app = (name: string | null, count: number): { app: string | null; count: number; lastEvaluatedAt: string } => ({ app: name, count, lastEvaluatedAt });
    const apps = [app('checkout-api', 10_000), app('web-shop', 2_345), app(null, 12), app('batch-jobs', 5), app('admin', 1)];
    const counted = (flagApps: typeof apps): NonNullable<StandInApi['evaluations']> => ({
      since: new Date(Date.now() - 30 * 86_400_000).toISOString(),
      flags: [{ flag: 'checkout-v2', defined: true, total: 12_363, lastEvaluatedAt, environments: [{ environment: 'production', count: 12_363, lastEvaluatedAt }], apps: flagApps }],
      apps: flagApps,
      dropped: 0,
      undefinedOmitted: 0,
      countingSince: [{ environment: 'production', since: new Date(Date.now() - 40 * 86_400_000).toISOString() }],
    });
    api.evaluations = counted(apps);
    const root = fresh();
    const hoverAt = async (client: LspTestClient): Promise<string> => {
      const uri = await client.open('a.ts', FILES['a.ts']!, 'typescript');
      return (((await client.connection.sendRequest(HoverRequest.type, { textDocument: { uri }, position: { line: 0, character: 22 } })) as Hover).contents as MarkupContent).value;
    };
    const live = await start(root, { apiUrl: api.url(), token: 'xpp_good', project: 'shop', refreshIntervalSeconds: 0, cacheFile: '.xp-cache.json' });
    await live.until('API data', () => live.statuses.find((s) => s.source === 'api'));
    const line = 'Evaluated 12,363 times in the last 30 days (production 12,363), last 5 min ago,\nby checkout-api 10,000 · web-shop 2,345 · no app named 12 · +2 more.';
    expect(await hoverAt(live)).toContain(line);
    api.tokens.clear();
    const offline = await start(root, { apiUrl: api.url(), token: 'xpp_good', project: 'shop', refreshIntervalSeconds: 0, cacheFile: '.xp-cache.json' });
    await offline.until('cached data', () => offline.statuses.find((s) => s.source === 'cache'));
    expect(await hoverAt(offline)).toContain(line);

    // No SDK of the project names its application: "by no app named 12,363" would say nothing.
    const unnamed = await listening();
    unnamed.evaluations = counted([app(null, 12_363)]);
    const client = await start(fresh(), { apiUrl: unnamed.url(), token: 'xpp_good', project: 'shop', refreshIntervalSeconds: 0 });
    await client.until('API data', () => client.statuses.find((s) => s.source === 'api'));
    const text = await hoverAt(client);
    expect(text).toContain('Evaluated 12,363 times in the last 30 days (production 12,363), last 5 min ago.');
    expect(text).not.toContain('no app named');
  });

  it('on the day SDKs begin to count, says a flag was not evaluated since counting began, not in 30 days; the same from the cache', async () => {
    const api = await listening();
    const lastEvaluatedAt = new Date(Date.now() - 60_000).toISOString();
    const began = new Date(Date.now() - 8 * 60_000);
    api.evaluations = {
      since: new Date(Date.now() - 30 * 86_400_000).toISOString(),
      flags: [{ flag: 'checkout-v2', defined: true, total: 7, lastEvaluatedAt, environments: [{ environment: 'production', count: 7, lastEvaluatedAt }], apps: [] }],
      apps: [],
      dropped: 0,
      undefinedOmitted: 0,
      countingSince: [{ environment: 'production', since: began.toISOString() }],
    };
    const root = fresh();
    const hoverAt = async (client: LspTestClient): Promise<string> => {
      const uri = await client.open('b.ts', FILES['b.ts']!, 'typescript');
      return (((await client.connection.sendRequest(HoverRequest.type, { textDocument: { uri }, position: { line: 0, character: 28 } })) as Hover).contents as MarkupContent).value;
    };
    const live = await start(root, { apiUrl: api.url(), token: 'xpp_good', project: 'shop', refreshIntervalSeconds: 0, cacheFile: '.xp-cache.json' });
    await live.until('API data', () => live.statuses.find((s) => s.source === 'api'));
    const text = await hoverAt(live);
    expect(text).toContain(`_Not evaluated since evaluation counting began on ${began.toISOString().slice(0, 10)}: too soon to tell whether deployed code still asks for it._`);
    expect(text).not.toContain('30 days');
    api.tokens.clear();
    const offline = await start(root, { apiUrl: api.url(), token: 'xpp_good', project: 'shop', refreshIntervalSeconds: 0, cacheFile: '.xp-cache.json' });
    await offline.until('cached data', () => offline.statuses.find((s) => s.source === 'cache'));
    expect(await hoverAt(offline)).toContain('_Not evaluated since evaluation counting began on');
  });

  it('says nothing of usage when the server has no evaluation counts', async () => {
    const api = await listening();
    const client = await start(fresh(), { apiUrl: api.url(), token: 'xpp_good', project: 'shop', refreshIntervalSeconds: 0 });
    await client.until('API data', () => client.statuses.find((s) => s.source === 'api'));
    const uri = await client.open('b.ts', FILES['b.ts']!, 'typescript');
    const text = ((await client.connection.sendRequest(HoverRequest.type, { textDocument: { uri }, position: { line: 0, character: 28 } })) as Hover).contents as MarkupContent;
    expect(text.value).toContain('new-nav');
    expect(text.value).not.toMatch(/[Ee]valuated/);
  });

  it('says whether explain used the published ruleset or compiled one, and from which data', async () => {
    const api = await listening();
    const client = await start(fresh(), { apiUrl: api.url(), token: 'xpp_good', project: 'shop', refreshIntervalSeconds: 0 });
    await client.until('API data', () => client.statuses.find((s) => s.source === 'api'));
    // The stand-in publishes no ruleset: compiled from the definitions fetched from the API.
    const result = await client.connection.sendRequest(ExplainRequest, { flagKey: 'checkout-v2', attributes: { id: 'u1' }, environment: 'staging' });
    expect([result.rulesetSource, result.rulesetPublished]).toEqual(['api', false]);
  });

  it('never lets an older fetch that finishes late overwrite newer data', async () => {
    const api = await listening();
    const client = await start(fresh(), { apiUrl: api.url(), token: 'xpp_good', project: 'shop', refreshIntervalSeconds: 0 });
    await client.until('API data', () => client.statuses.find((s) => s.source === 'api' && s.flags === 5));
    const flagRequests = (): number => api.requests.filter((r) => r.endsWith('/flags')).length;
    // An older refresh, slow to answer, asked while the project has 5 flags…
    api.flagsDelayMs = 8_000;
    const asked = flagRequests();
    const older = client.connection.sendRequest(RefreshRequest);
    // The stand-in has it (the server sends nothing meanwhile, so poll rather than wait for a message).
    for (const deadline = Date.now() + 10_000; flagRequests() === asked && Date.now() < deadline; ) {
      await sleep(10);
    }
    expect(flagRequests()).toBe(asked + 1);
    // …and a newer one, quick, after a flag was added.
    api.flagsDelayMs = 0;
    api.extraFlags.push(flagSchema.parse({ key: 'added-later', name: 'Added later', type: 'boolean', variations: [{ key: 'off', value: false }, { key: 'on', value: true }] }));
    expect((await client.connection.sendRequest(RefreshRequest)).flags).toBe(6);
    // The older one was still waiting for its answer.
    let olderDone = false;
    void older.then(() => (olderDone = true));
    await sleep(0);
    expect(olderDone).toBe(false);
    await older;
    expect(client.statuses.at(-1)?.flags).toBe(6);
    expect((await client.connection.sendRequest(FlagsRequest)).flags.map((f) => f.key)).toContain('added-later');
  }, 30_000);
});
