/**
 * What editors other than VS Code get: code lenses whose command the server runs, hovers in the
 * format the client takes, the real reason there is no flag data; and the change feed's retries in
 * the status.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ClientCapabilities, CodeLens, Hover, MarkupContent, ShowDocumentParams, ShowMessageParams } from 'vscode-languageserver-protocol/node';
import { CodeLensRequest, ExecuteCommandRequest, HoverRequest, ShowDocumentRequest, ShowMessageNotification } from 'vscode-languageserver-protocol/node';
import type { XpSettings } from '../protocol.js';
import { RefreshRequest, ServerCommand } from '../protocol.js';
import type { StartOptions } from '../testing/index.js';
import { DEFAULT_CAPABILITIES, FLAGS_YAML, LspTestClient } from '../testing/index.js';
import type { StandInApi } from './stand-in-api.js';
import { standInApi } from './stand-in-api.js';

const A_TS = "client.getValue('checkout-v2', u, 'control');\n";
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('language server over stdio, for every LSP client', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) {
      await c();
    }
  });

  /** A workspace with a.ts, and the flags file when `withFlags`. */
  const fresh = (withFlags: boolean): string => {
    const root = mkdtempSync(path.join(tmpdir(), 'xp-ls-clients-'));
    writeFileSync(path.join(root, 'a.ts'), A_TS);
    if (withFlags) {
      writeFileSync(path.join(root, 'xp.yaml'), FLAGS_YAML);
    }
    cleanups.push(() => {
      rmSync(root, { recursive: true, force: true });
    });
    return root;
  };
  const start = async (root: string, settings: XpSettings & { clientCommands?: string[] }, options: StartOptions = {}): Promise<LspTestClient> => {
    const client = await LspTestClient.start(root, settings, undefined, options);
    cleanups.push(() => client.stop());
    await client.until('the first status', () => client.statuses.find((s) => !s.indexing));
    return client;
  };
  const listening = async (): Promise<StandInApi> => {
    const api = standInApi();
    await new Promise<void>((resolve) => api.server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => api.close());
    return api;
  };
  const hoverOf = async (client: LspTestClient): Promise<MarkupContent> => {
    const uri = await client.open('a.ts', A_TS, 'typescript');
    const h = (await client.connection.sendRequest(HoverRequest.type, { textDocument: { uri }, position: { line: 0, character: 22 } })) as Hover;
    return h.contents as MarkupContent;
  };
  const lensesOf = async (client: LspTestClient): Promise<CodeLens[]> => {
    const uri = await client.open('a.ts', A_TS, 'typescript');
    return (await client.connection.sendRequest(CodeLensRequest.type, { textDocument: { uri } })) as CodeLens[];
  };
  const withCapabilities = (extra: ClientCapabilities): ClientCapabilities => ({ ...DEFAULT_CAPABILITIES, ...extra });

  it('gives a client without the extension lenses with a command the server advertises and runs', async () => {
    const client = await start(fresh(true), { consoleUrl: 'http://console.test' });
    const advertised = client.initializeResult?.capabilities.executeCommandProvider?.commands ?? [];
    expect(advertised).toEqual([ServerCommand.CreateFlag, ServerCommand.ShowFlag]);
    expect(advertised).not.toContain('xp.showFlag');
    const [lens] = await lensesOf(client);
    expect(lens?.command).toEqual({ title: '● checkout-v2 · production ON 25%', command: ServerCommand.ShowFlag, arguments: ['checkout-v2'] });
    // No window/showDocument: a one-line summary, with the console's link.
    const messages: ShowMessageParams[] = [];
    client.connection.onNotification(ShowMessageNotification.method, (p: ShowMessageParams) => {
      messages.push(p);
    });
    const result: unknown = await client.connection.sendRequest(ExecuteCommandRequest.type, { command: lens!.command!.command, arguments: lens!.command!.arguments! });
    expect(result).toEqual({ shown: 'checkout-v2', in: 'message' });
    await client.until('the summary', () => (messages.length > 0 ? true : undefined));
    expect(messages[0]?.message).toBe('xp: checkout-v2 · production ON 25% (Checkout v2) · http://console.test/?project=shop#/flags/checkout-v2');
    expect(messages[0]?.message).not.toContain('\n');
  });

  it('opens the flag in the console with window/showDocument when the client supports it', async () => {
    const client = await start(fresh(true), { consoleUrl: 'http://console.test' }, { capabilities: withCapabilities({ window: { workDoneProgress: true, showDocument: { support: true } } }) });
    const shown: ShowDocumentParams[] = [];
    client.connection.onRequest(ShowDocumentRequest.type, (p) => {
      shown.push(p);
      return { success: true };
    });
    const [lens] = await lensesOf(client);
    expect(lens?.command?.command).toBe(ServerCommand.ShowFlag);
    expect(await client.connection.sendRequest(ExecuteCommandRequest.type, { command: ServerCommand.ShowFlag, arguments: ['checkout-v2'] })).toEqual({ shown: 'checkout-v2', in: 'console' });
    expect(shown).toEqual([{ uri: 'http://console.test/?project=shop#/flags/checkout-v2', external: true }]);
  });

  it("gives the VS Code extension lenses with its own xp.showFlag, which the server never advertises", async () => {
    const client = await start(fresh(true), { clientCommands: ['xp.showFlag'] });
    expect(client.initializeResult?.capabilities.executeCommandProvider?.commands).not.toContain('xp.showFlag');
    const [lens] = await lensesOf(client);
    expect(lens?.command).toEqual({ title: '● checkout-v2 · production ON 25%', command: 'xp.showFlag', arguments: ['checkout-v2'] });
  });

  it('takes a refused workspace/codeLens/refresh quietly: one log-level line, no error, and no more asking', async () => {
    const client = await start(fresh(true), {}, { codeLensRefresh: 'error' });
    const refusal = await client.until('the refusal logged', () => client.logs.find((l) => l.includes('codeLens/refresh')));
    expect(refusal).toBe('xp: the editor refused workspace/codeLens/refresh (client does not support workspace/codeLens/refresh); not asking again');
    const asked = client.codeLensRefreshes;
    // Each refresh of the flag data refreshes the editors: the lenses are not asked for again.
    await client.connection.sendRequest(RefreshRequest);
    await client.connection.sendRequest(RefreshRequest);
    await sleep(100);
    expect(client.codeLensRefreshes).toBe(asked);
    expect(client.logs.filter((l) => l.includes('codeLens/refresh'))).toEqual([refusal]);
    expect(client.logs.filter((l) => l.includes('unhandled'))).toEqual([]);
  });

  it('hovers in plain text for a client that takes only plain text, or says nothing', async () => {
    for (const capabilities of [withCapabilities({ textDocument: { hover: { contentFormat: ['plaintext'] } } }), { window: { workDoneProgress: true } }, withCapabilities({ textDocument: { hover: { contentFormat: ['plaintext', 'markdown'] } } })]) {
      const client = await start(fresh(true), { consoleUrl: 'http://console.test' }, { capabilities });
      const contents = await hoverOf(client);
      expect(contents.kind).toBe('plaintext');
      expect(contents.value).toContain('Checkout v2 checkout-v2 · string');
      expect(contents.value).toContain('production: ON 25%, serves default control');
      expect(contents.value).toContain('Variations: control = "control"');
      expect(contents.value).toContain('Open in console: http://console.test/?project=shop#/flags/checkout-v2');
      for (const markup of ['**', '`', '|', '](', '_Not']) {
        expect(contents.value).not.toContain(markup);
      }
    }
    const markdown = await start(fresh(true), {}, { capabilities: withCapabilities({ textDocument: { hover: { contentFormat: ['markdown', 'plaintext'] } } }) });
    expect(await hoverOf(markdown)).toMatchObject({ kind: 'markdown', value: expect.stringContaining('**Checkout v2** `checkout-v2`') as unknown });
  });

  it('says why there is no flag data: a refused token, no token, an unreachable API', async () => {
    const api = await listening();
    const refused = await start(fresh(false), { apiUrl: api.url(), token: 'xpp_revoked', project: 'shop', refreshIntervalSeconds: 0 });
    const refusedText = (await hoverOf(refused)).value;
    expect(refusedText).toContain('the API refused the token (expired, revoked or mistyped): sign in again or use a new token');
    expect(refusedText).not.toContain('configure an API URL');

    const noToken = await start(fresh(false), { apiUrl: api.url(), project: 'shop', refreshIntervalSeconds: 0 });
    expect((await hoverOf(noToken)).value).toContain('an API URL is set but no token');

    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const down = await start(fresh(false), { apiUrl: `http://127.0.0.1:${port}`, token: 'xpp_good', project: 'shop', refreshIntervalSeconds: 0 });
    expect((await hoverOf(down)).value).toContain(`the API could not be used (cannot reach 127.0.0.1:${port} (fetch failed: ECONNREFUSED)) and there is no cache`);

    const nothing = await start(fresh(false), {});
    expect((await hoverOf(nothing)).value).toContain('No flag data: configure an API URL or a flags file.');
  });

  it('keeps the reason in the status while the change feed retries, and does not repeat an unchanged status', async () => {
    const api = await listening();
    api.feedStatus = 503;
    const client = await start(fresh(false), { apiUrl: api.url(), token: 'xpp_good', project: 'shop', refreshIntervalSeconds: 0 });
    const retrying = await client.until('a retrying status', () => client.statuses.find((s) => s.error?.startsWith('change feed retrying') === true));
    expect(retrying).toMatchObject({ source: 'api', live: false, error: 'change feed retrying: the change feed answered 503' });
    const seen = client.statuses.length;
    // Retries at about 1 s, 3 s, 7 s: each attempt would have sent the same status again.
    await vi.waitFor(() => {
      expect(api.requests.filter((r) => r.endsWith('/changes/stream')).length).toBeGreaterThanOrEqual(3);
    }, { timeout: 15_000, interval: 50 });
    expect(client.statuses.slice(seen)).toEqual([]);
    // Live again: the reason goes.
    api.feedStatus = undefined;
    const live = await client.until('a live status', () => client.statuses.find((s) => s.live));
    expect(live.error).toBeNull();
  }, 30_000);

  it('does not report a feed that polls (an API behind API Gateway answers each stream at once) as an error', async () => {
    const api = await listening();
    api.feedPolls = true;
    const client = await start(fresh(false), { apiUrl: api.url(), token: 'xpp_good', project: 'shop', refreshIntervalSeconds: 0 });
    await client.until('two polls of the feed', () => (api.requests.filter((r) => r.endsWith('/changes/stream')).length >= 2 ? true : undefined));
    await sleep(200);
    expect(client.statuses.filter((s) => s.error !== null)).toEqual([]);
  }, 30_000);
});
