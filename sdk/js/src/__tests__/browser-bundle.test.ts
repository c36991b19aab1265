import http from 'node:http';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error -- a plain ES module script, without types
import { bundleBrowserSdk } from '../../scripts/bundle.mjs';
import { FakeServer } from './fake-server.js';
import { makeRuleset } from './fixtures.js';

const CHROMIUM = process.env.XP_CHROMIUM ?? '/usr/bin/chromium';
const KEY = 'xpk_srv_test-key';

/**
 * The single-file browser SDK that `npm run build` writes (scripts/bundle.mjs), in a page without a
 * bundler: a classic <script> defining `xp`, and the ES module imported by URL.
 */
describe('the browser SDK as single files, in Chromium', () => {
  let dir: string;
  let files: { script: string; module: string };
  let api: FakeServer;
  let site: http.Server;
  let siteUrl = '';
  let browser: Browser;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'xp-sdk-bundle-'));
    files = (await bundleBrowserSdk(dir)) as { script: string; module: string };
    const script = await readFile(files.script, 'utf8');
    const module = await readFile(files.module, 'utf8');
    api = await new FakeServer(makeRuleset(1, { color: 'blue' })).start();
    site = http.createServer((req, res) => {
      if (req.url === '/xp-sdk.browser.js' || req.url === '/xp-sdk.browser.mjs') {
        res.writeHead(200, { 'Content-Type': 'text/javascript' }).end(req.url.endsWith('.mjs') ? module : script);
      } else if (req.url === '/module.html') {
        res.writeHead(200, { 'Content-Type': 'text/html' }).end('<!doctype html><title>module</title><script type="module">import * as sdk from "/xp-sdk.browser.mjs"; window.sdk = sdk;</script>');
      } else {
        res.writeHead(200, { 'Content-Type': 'text/html' }).end('<!doctype html><title>script</title><script src="/xp-sdk.browser.js"></script>');
      }
    });
    await new Promise<void>((done) => site.listen(0, '127.0.0.1', done));
    siteUrl = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu'] });
  }, 60_000);

  afterAll(async () => {
    await browser.close();
    await api.close();
    site.closeAllConnections();
    await new Promise((done) => site.close(done));
    await rm(dir, { recursive: true, force: true });
  });

  it('a classic script defines `xp`, whose client reads the ruleset and evaluates in the page', async () => {
    const page = await browser.newPage();
    await page.goto(`${siteUrl}/`);
    const out = await page.evaluate(
      async ({ apiUrl, key }) => {
        const w = globalThis as unknown as { xp: { ExperimentationClient: new (key: string, options: object) => { ready(): Promise<{ status: string }>; getValue(k: string, u: string, d: string): string; close(): Promise<void> } } };
        const client = new w.xp.ExperimentationClient(key, { apiUrl, timeoutMs: 3_000 });
        const status = (await client.ready()).status;
        const color = client.getValue('color', 'u1', 'none');
        await client.close();
        return { status, color, exports: Object.keys(w.xp).sort() };
      },
      { apiUrl: api.url, key: KEY },
    );

    expect(out.status).toBe('READY');
    expect(out.color).toBe('blue');
    expect(out.exports).toContain('LocalStorageStickyBucketStore');
    await page.close();
  });

  it('the ES module imports by URL, with nothing else to resolve', async () => {
    const page = await browser.newPage();
    const failed: string[] = [];
    page.on('requestfailed', (r) => failed.push(r.url()));
    await page.goto(`${siteUrl}/module.html`);
    await page.waitForFunction(() => (globalThis as unknown as { sdk?: unknown }).sdk !== undefined);
    const status = await page.evaluate(
      async ({ apiUrl, key }) => {
        const { ExperimentationClient } = (globalThis as unknown as { sdk: { ExperimentationClient: new (key: string, options: object) => { ready(): Promise<{ status: string }>; close(): Promise<void> } } }).sdk;
        const client = new ExperimentationClient(key, { apiUrl, timeoutMs: 3_000 });
        const s = (await client.ready()).status;
        await client.close();
        return s;
      },
      { apiUrl: api.url, key: KEY },
    );

    expect(status).toBe('READY');
    expect(failed).toEqual([]);
    await page.close();
  });
});
