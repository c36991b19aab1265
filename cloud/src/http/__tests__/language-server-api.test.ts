import type { AddressInfo } from 'node:net';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { serve } from '@hono/node-server';
import type { ServerType } from '@hono/node-server';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CodeAction, CodeLens, Hover, MarkupContent } from 'vscode-languageserver-protocol/node';
import { CodeActionRequest, CodeLensRequest, ExecuteCommandRequest, HoverRequest } from 'vscode-languageserver-protocol/node';
import { XpApiClient } from '@xp/shared';
import { ExplainRequest } from '@xp/language-server';
import { FIXTURE_FILES, FLAGS_YAML, LspTestClient, writeFixtureWorkspace } from '@xp/language-server/testing';
import { main } from '../../cli/xp.js';
import { pgliteTarget } from '../../store/__tests__/test-databases.js';
import type { Platform } from './harness.js';
import { OWNER, startPlatform } from './harness.js';

const PROJECT = 'shop';

// The language server and `xp code-refs` against the real local API (PGlite, dynalite) over HTTP.
describe('language server and code references against the local API', () => {
  let p: Platform;
  let server: ServerType;
  let apiUrl: string;
  let token: string;
  let api: XpApiClient;
  let root: string;
  let client: LspTestClient;
  /** Closed in reverse order, whatever part of the set-up succeeded. */
  const closers: (() => Promise<void>)[] = [];
  const uris: Record<string, string> = {};

  beforeAll(async () => {
    p = await startPlatform(pgliteTarget());
    closers.push(() => p.close());
    token = await p.login(OWNER.email, OWNER.password);
    server = serve({ fetch: p.app.fetch, port: 0, hostname: '127.0.0.1' });
    await new Promise<void>((resolve) => {
      server.once('listening', () => {
        resolve();
      });
    });
    closers.push(
      () =>
        new Promise<void>((resolve) => {
          server.close(() => {
            resolve();
          });
        }),
    );
    apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    api = new XpApiClient({ apiUrl, token });

    const must = async (method: string, url: string, body?: unknown, ifMatch?: number): Promise<unknown> => {
      const res = await p.request(method, url, { token, ...(body === undefined ? {} : { body }), ...(ifMatch === undefined ? {} : { headers: { 'If-Match': `"${ifMatch}"` } }) });
      if (res.status >= 300) {
        throw new Error(`${method} ${url}: ${res.status} ${JSON.stringify(res.body)}`);
      }
      return res.body;
    };
    await must('POST', '/api/v1/projects', { key: PROJECT, name: 'Shop' });
    await must('POST', `/api/v1/projects/${PROJECT}/experiments`, { key: 'checkout-exp', name: 'Checkout experiment', variations: [{ key: 'control' }, { key: 'blue' }] });
    await must('POST', `/api/v1/projects/${PROJECT}/experiments/checkout-exp/start`, undefined, 1);
    const doc = YAML.parse(FLAGS_YAML) as { flags: Record<string, unknown>[] };
    for (const flag of doc.flags) {
      if (flag.key === 'checkout-v2') {
        const envs = flag.environments as { production: { rules: unknown[] } };
        envs.production.rules.push({ id: 'exp', type: 'experiment', experiment: 'checkout-exp' });
      }
      if (flag.key === 'new-nav') {
        // Rolled out everywhere (the flags file sets up production only): stale once old enough.
        const envs = flag.environments as Record<string, unknown>;
        envs.development = envs.staging = envs.production;
      }
      await must('POST', `/api/v1/projects/${PROJECT}/flags`, flag);
    }

    root = writeFixtureWorkspace();
    closers.push(() => {
      rmSync(root, { recursive: true, force: true });
      return Promise.resolve();
    });
    client = await LspTestClient.start(root, {
      apiUrl,
      token,
      project: PROJECT,
      environment: 'production',
      wrapperFunctions: ['useFlag'],
      cacheFile: '.xp-cache.json',
      consoleUrl: 'http://console.test',
      // Every fully rolled-out flag counts as stale, so the clean-up action shows.
      staleDays: 0,
      // No periodic refresh: changes made elsewhere must arrive on the change feed.
      refreshIntervalSeconds: 0,
    });
    closers.push(() => client.stop());
    await client.indexed();
    for (const rel of ['web/checkout.ts', 'svc/App.java']) {
      uris[rel] = await client.open(rel, FIXTURE_FILES[rel]!, rel.endsWith('.ts') ? 'typescript' : 'java');
    }
  }, 120_000);

  afterAll(async () => {
    for (const close of closers.reverse()) {
      await close();
    }
  });

  it('reads flag data from the API', () => {
    expect(client.stderr).toEqual([]);
    expect(client.statuses.at(-1)).toMatchObject({ source: 'api', project: PROJECT, flags: 5, error: null });
  });

  it('hovers with last change, running experiment and a console link', async () => {
    const h = (await client.connection.sendRequest(HoverRequest.type, { textDocument: { uri: uris['web/checkout.ts']! }, position: { line: 4, character: 46 } })) as Hover;
    const text = (h.contents as MarkupContent).value;
    expect(text).toContain('**Checkout v2** `checkout-v2`');
    expect(text).toContain('Experiment **Checkout experiment** (`checkout-exp`) running');
    expect(text).toMatch(/Last change \d{4}-\d\d-\d\d \d\d:\d\d by Owner · version 1/);
    expect(text).toContain('[Open in console](http://console.test/?project=shop#/flags/checkout-v2)');
  });

  it('shows the running experiment in the code lens', async () => {
    const uri = await client.open('web/value.ts', "client.getValue('checkout-v2', u, 'control');\n", 'typescript');
    const lenses = (await client.connection.sendRequest(CodeLensRequest.type, { textDocument: { uri } })) as CodeLens[];
    expect(lenses[0]?.command?.title).toBe('● checkout-v2 · production ON 25% · exp running');
    // The fixture's getVariant('checkout-v2') names the flag, not its experiment: the SDK returns null for it.
    const fixture = (await client.connection.sendRequest(CodeLensRequest.type, { textDocument: { uri: uris['web/checkout.ts']! } })) as CodeLens[];
    expect(fixture[0]?.command?.title).toBe('● checkout-v2 · a flag, not an experiment key');
  });

  it('reports a stale flag and replaces the call with its served value', async () => {
    const diags = await client.diagnosticsFor(uris['svc/App.java']!, (d) => d.some((x) => x.code === 'stale-flag'));
    const stale = diags.find((d) => d.code === 'stale-flag')!;
    expect(stale.message).toBe('Flag "new-nav" has served "on" to everyone in every environment and not changed for over 0 days; consider removing it.');
    const actions = (await client.connection.sendRequest(CodeActionRequest.type, { textDocument: { uri: uris['svc/App.java']! }, range: stale.range, context: { diagnostics: [stale] } })) as CodeAction[];
    const cleanup = actions.find((a) => a.title.startsWith('Replace stale flag'))!;
    expect(cleanup.title).toBe('Replace stale flag "new-nav" with true');
    expect(cleanup.edit?.changes?.[uris['svc/App.java']!]).toEqual([{ range: { start: { line: 5, character: 11 }, end: { line: 5, character: 45 } }, newText: 'true' }]);
  });

  it('offers the clean-up only where the served value can stand for the call, taking its await along', async () => {
    const cleanups = async (uri: string, line: number): Promise<CodeAction[]> => {
      const actions = (await client.connection.sendRequest(CodeActionRequest.type, {
        textDocument: { uri },
        range: { start: { line, character: 20 }, end: { line, character: 20 } },
        context: { diagnostics: [] },
      })) as CodeAction[];
      return actions.filter((a) => a.title.startsWith('Replace stale flag'));
    };
    const ts = await client.open(
      'web/stale.ts',
      ['export async function f(client: any, of: any, u: string) {', "  const on = await client.isFeatureEnabled('new-nav', u);", "  const d = await of.getBooleanDetails('new-nav', false);", '  return [on, d.value];', '}', ''].join('\n'),
      'typescript',
    );
    const go = await client.open('svc/stale.go', ['package svc', '', 'func g() {', '\tb, _ := of.BooleanValue(ctx, "new-nav", false, nil)', '\t_ = b', '}', ''].join('\n'), 'go');
    await client.diagnosticsFor(ts, (d) => d.some((x) => x.code === 'stale-flag'));
    await client.diagnosticsFor(go, (d) => d.some((x) => x.code === 'stale-flag'));
    // `const on = await client.isFeatureEnabled(…)` becomes `const on = true`, not `await true`.
    expect((await cleanups(ts, 1)).map((a) => a.edit?.changes?.[ts])).toEqual([[{ range: { start: { line: 1, character: 13 }, end: { line: 1, character: 56 } }, newText: 'true' }]]);
    // A …Details call returns an evaluation-details object; Go's returns (value, error).
    expect(await cleanups(ts, 2)).toEqual([]);
    expect(await cleanups(go, 3)).toEqual([]);
  });

  it('creates a missing flag through the API from a code action', async () => {
    const diags = await client.diagnosticsFor(uris['web/checkout.ts']!, (d) => d.some((x) => x.code === 'unknown-flag'));
    const unknown = diags.find((d) => d.code === 'unknown-flag')!;
    const actions = (await client.connection.sendRequest(CodeActionRequest.type, { textDocument: { uri: uris['web/checkout.ts']! }, range: unknown.range, context: { diagnostics: [unknown] } })) as CodeAction[];
    const create = actions.find((a) => a.title === 'Create flag "chekout-v2" in shop')!;
    await client.connection.sendRequest(ExecuteCommandRequest.type, { command: create.command!.command, arguments: create.command!.arguments! });
    expect((await api.get(PROJECT, 'flags', 'chekout-v2')).definition.type).toBe('boolean');
    await client.diagnosticsFor(uris['web/checkout.ts']!, (d) => !d.some((x) => x.code === 'unknown-flag'));
  });

  it('explains an evaluation on the published ruleset', async () => {
    const result = await client.connection.sendRequest(ExplainRequest, { flagKey: 'checkout-v2', attributes: { id: 'user-42' } });
    expect(result.rulesetSource).toBe('api');
    expect(result.bucket).not.toBeNull();
    expect(result.trace.length).toBeGreaterThan(0);
  });

  it('uploads code references with `xp code-refs` and lists them per flag', async () => {
    const lines: string[] = [];
    // --stale-days 3650: no flag of this run is stale, whatever the date the suite runs on.
    const code = await main(['code-refs', '--repo', 'acme/shop', '--branch', 'main', '--dir', root, '--project', PROJECT, '--wrapper', 'useFlag', '--stale-days', '3650'], { XP_API_URL: apiUrl, XP_TOKEN: token }, (l) => lines.push(l));
    expect(code).toBe(0);
    expect(lines[0]).toMatch(/^Found 15 references to 6 flags in 6 files under /);
    expect(lines[1]).toBe('Stored 15 references for acme/shop@main in shop (replaced 0).');
    const { references } = await api.listCodeRefs(PROJECT, { flag: 'checkout-v2' });
    expect(references.map((r) => `${r.path}:${r.line}:${r.column} ${r.language}`)).toEqual([
      'api/app.py:6:34 python',
      'svc/App.java:4:34 java',
      'svc/main.go:6:18 go',
      'web/checkout.ts:5:43 typescript',
    ]);
    expect(references[0]).toMatchObject({ repository: 'acme/shop', branch: 'main', snippet: 'variant = client.get_variant(CHECKOUT, user)' });
    // It says what the code should stop referencing: archived flags, and keys that are neither flags nor experiments.
    // (The typo chekout-v2 is a flag once the code action test has created it.)
    const created = (await api.listAll(PROJECT, 'flags')).some((f) => f.key === 'chekout-v2');
    const archivedAndUnknown = [
      "Archived flags still in the code (SDKs serve the code's default value):",
      '  search-v3 (3 references)',
      ...(created ? [] : ["Keys that are neither flags nor experiments of shop (a typo, or another project's):", '  chekout-v2 (1 reference)']),
    ];
    expect(lines.slice(2)).toEqual(archivedAndUnknown);

    // With every unchanged flag old enough, stale flags too.
    lines.length = 0;
    expect(await main(['code-refs', '--repo', 'acme/shop', '--branch', 'main', '--dir', root, '--project', PROJECT, '--wrapper', 'useFlag', '--stale-days', '0'], { XP_API_URL: apiUrl, XP_TOKEN: token }, (l) => lines.push(l))).toBe(0);
    // banner-text and dark-mode were never set up in any environment: off everywhere, serving their first variation.
    const staleKeys = ['banner-text', ...(created ? ['chekout-v2'] : []), 'dark-mode', 'new-nav'];
    expect(lines[2]).toBe('Stale flags still in the code (temporary, one variation to everyone in every environment, unchanged for 0+ days): replace their calls with the value, then archive them');
    expect(lines.slice(3, 3 + staleKeys.length).map((l) => l.split(' (')[0]!.trim())).toEqual(staleKeys);
    expect(lines[3]).toMatch(/^ {2}banner-text \(2 references\): serves "hello" \("hello"\) everywhere, unchanged since \d{4}-\d\d-\d\d$/);
    expect(lines[2 + staleKeys.length]).toMatch(/^ {2}new-nav \(3 references\): serves "on" \(true\) everywhere, unchanged since \d{4}-\d\d-\d\d$/);
    expect(lines.slice(3 + staleKeys.length)).toEqual(archivedAndUnknown);
    await expect(main(['code-refs', '--dry-run', '--dir', root, '--stale-days', '-1'], {}, (l) => lines.push(l))).resolves.toBe(2);
  });

  it('follows the change feed: a change made in the console reaches the hover without a refresh', async () => {
    await client.until('the change feed to connect', () => (client.statuses.at(-1)?.live === true ? true : undefined));
    const current = await api.get(PROJECT, 'flags', 'checkout-v2');
    await api.replace(PROJECT, 'flags', 'checkout-v2', { ...current.definition, description: 'Edited in the console just now' }, current.version);

    const hover = async (): Promise<string> => {
      const h = (await client.connection.sendRequest(HoverRequest.type, { textDocument: { uri: uris['web/checkout.ts']! }, position: { line: 4, character: 46 } })) as Hover;
      return (h.contents as MarkupContent).value;
    };
    let text = await hover();
    for (let i = 0; i < 100 && !text.includes('Edited in the console just now'); i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      text = await hover();
    }
    expect(text).toContain('Edited in the console just now');
    expect(text).toContain(`version ${current.version + 1}`);
  });

  it('keeps working from the cache file when the API is gone', async () => {
    const offline = await LspTestClient.start(root, { apiUrl: 'http://127.0.0.1:9', token, project: PROJECT, cacheFile: '.xp-cache.json', environment: 'production' });
    try {
      const status = await offline.until('a status from the cache', () => offline.statuses.find((s) => s.source === 'cache'));
      expect(status.error).toMatch(/fetch failed|ECONNREFUSED/);
      // An unreachable API is an outage, not a refused token.
      expect(status.tokenRefused).toBeUndefined();
      const uri = await offline.open('web/checkout.ts', FIXTURE_FILES['web/checkout.ts']!, 'typescript');
      const h = (await offline.connection.sendRequest(HoverRequest.type, { textDocument: { uri }, position: { line: 4, character: 46 } })) as Hover;
      expect((h.contents as MarkupContent).value).toContain('**Checkout v2**');
    } finally {
      await offline.stop();
    }
    expect(path.isAbsolute(root)).toBe(true);
  });

  it('says when the API refuses the token, so the editor can ask for a new sign-in', async () => {
    const refused = await LspTestClient.start(root, { apiUrl, token: 'xpp_revoked_or_mistyped', project: PROJECT, cacheFile: '.xp-cache.json', environment: 'production' });
    try {
      const status = await refused.until('a status after the refusal', () => refused.statuses.find((s) => s.error !== null));
      expect(status).toMatchObject({ tokenRefused: true });
      expect(status.error).toMatch(/^401 /);
    } finally {
      await refused.stop();
    }
  });
});
