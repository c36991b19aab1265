import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeServer } from './fake-server.js';
import { eventually, makeRuleset } from './fixtures.js';

/**
 * Eight tabs of one site in a real Chromium against an HTTP/1.1 API (the fake API is Node's
 * http server, HTTP/1.1 only, like `xp start`): Chromium gives a host 6 connections, so with a
 * stream per tab the 7th tab got no ruleset. With the shared stream every tab is READY, one stream
 * is open, every tab follows a publish and sends its events, and closing the leader's tab hands
 * the stream over.
 */

const CHROMIUM = process.env.XP_CHROMIUM ?? '/usr/bin/chromium';
const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const KEY = 'xpk_srv_test-key';

interface TabState {
  readonly status: string;
  readonly streaming: boolean;
  readonly color: string;
}

describe('8 tabs in Chromium against an HTTP/1.1 API', () => {
  let api: FakeServer;
  let site: http.Server;
  let siteUrl = '';
  let browser: Browser;

  beforeAll(async () => {
    // The browser entry, bundled as a page would (no Node modules), exposed as window.XP.
    const bundle = await build({
      stdin: { contents: "import { ExperimentationClient } from './browser.ts'; (globalThis as any).XP = { ExperimentationClient };", resolveDir: SRC, loader: 'ts' },
      bundle: true,
      write: false,
      format: 'iife',
      platform: 'browser',
      conditions: ['xp-source'],
      logLevel: 'silent',
    });
    const script = bundle.outputFiles[0]!.text;
    site = http.createServer((req, res) => {
      if (req.url === '/sdk.js') {
        res.writeHead(200, { 'Content-Type': 'text/javascript' }).end(script);
      } else {
        res.writeHead(200, { 'Content-Type': 'text/html' }).end('<!doctype html><title>tab</title><script src="/sdk.js"></script>');
      }
    });
    await new Promise<void>((done) => site.listen(0, '127.0.0.1', done));
    siteUrl = `http://127.0.0.1:${(site.address() as AddressInfo).port}/`;
    api = await new FakeServer(makeRuleset(1, { color: 'blue' })).start();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'] });
  }, 60_000);

  afterAll(async () => {
    await browser.close();
    await api.close();
    site.closeAllConnections();
    await new Promise((done) => site.close(done));
  });

  async function openTab(context: Awaited<ReturnType<Browser['newContext']>>): Promise<{ page: Page; status: string }> {
    const page = await context.newPage();
    await page.goto(siteUrl);
    const status = await page.evaluate(
      async ({ apiUrl, key }) => {
        const w = globalThis as unknown as { XP: { ExperimentationClient: new (key: string, options: object) => { ready(): Promise<{ status: string }> } }; client: unknown };
        const client = new w.XP.ExperimentationClient(key, { apiUrl, timeoutMs: 3_000, retryBaseMs: 200, retryMaxMs: 1_000, pollIntervalMs: 60_000 });
        w.client = client;
        return (await client.ready()).status;
      },
      { apiUrl: api.url, key: KEY },
    );
    return { page, status };
  }

  function state(page: Page): Promise<TabState> {
    return page.evaluate(() => {
      const c = (globalThis as unknown as { client: { status: string; getStats(): { streaming: boolean }; getValue(k: string, u: string, d: string): string } }).client;
      return { status: c.status, streaming: c.getStats().streaming, color: c.getValue('color', 'u1', 'none') };
    });
  }

  async function allTabs(pages: Page[], check: (s: TabState) => boolean): Promise<boolean> {
    const states = await Promise.all(pages.map(state));
    return states.every(check);
  }

  async function until(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) {
        throw new Error(`condition not met within ${timeoutMs} ms`);
      }
      await new Promise((done) => setTimeout(done, 50));
    }
  }

  it('every tab is READY, one stream is open, all follow a publish and send events; the stream moves on when the leader tab closes', async () => {
    const context = await browser.newContext();
    const tabs: { page: Page; status: string }[] = [];
    for (let i = 0; i < 8; i++) {
      tabs.push(await openTab(context));
    }
    const pages = tabs.map((t) => t.page);

    expect(tabs.map((t) => t.status)).toEqual(Array(8).fill('READY'));
    await until(() => allTabs(pages, (s) => s.streaming));
    expect(api.openStreams).toBe(1);

    api.publish(makeRuleset(2, { color: 'green' }));
    await until(() => allTabs(pages, (s) => s.color === 'green'));

    await pages[7]!.evaluate(async () => {
      const c = (globalThis as unknown as { client: { trackEvent(n: string, u: string): void; flush(): Promise<void> } }).client;
      c.trackEvent('tab_test', 'tab-u');
      await c.flush();
    });
    expect(api.events.map((e) => e.name)).toContain('tab_test');

    // The first tab took the lock first: closing it hands the stream to another tab.
    const streamsBefore = api.count('/sdk/v1/stream');
    await pages[0]!.close();
    await eventually(() => api.count('/sdk/v1/stream') > streamsBefore && api.openStreams === 1, 10_000);
    api.publish(makeRuleset(3, { color: 'red' }));
    await until(() => allTabs(pages.slice(1), (s) => s.color === 'red' && s.status === 'READY'));
    expect(api.openStreams).toBe(1);

    await context.close();
  }, 60_000);
});
