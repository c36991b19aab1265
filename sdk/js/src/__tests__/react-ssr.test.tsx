/**
 * @xp/sdk/react on a server and in the page that hydrates its HTML: renderToString with a client
 * given `bootstrap` (no network, no DOM: this file runs in Node), then hydrateRoot in a DOM with a
 * browser client bootstrapped from the server's snapshot, without a mismatch, the one exposure
 * logged by the browser.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { act } from 'react';
import type { ReactNode } from 'react';
import { renderToString } from 'react-dom/server';
import { JSDOM } from 'jsdom';
import { describe, expect, it, vi } from 'vitest';
import { populateGlobal } from 'vitest/runtime';
import { ExperimentationClient as BrowserClient } from '../browser.js';
import { ExperimentationClient } from '../client.js';
import { XpProvider, useFlag, useVariant, useXpReady } from '../react.js';
import { page } from './dom.js';
import type { TestElement } from './dom.js';
import { FakeServer } from './fake-server.js';
import { eventually, makeRuleset, recordingLogger } from './fixtures.js';

function Page(): ReactNode {
  const color = useFlag('color', 'none');
  const hero = useFlag('exp-flag', '');
  const variant = useVariant('exp-ab');
  const { ready } = useXpReady();
  return (
    <main>
      <p>{`color ${color}`}</p>
      <p>{`hero ${hero} ${variant ?? 'none'}`}</p>
      <p>{ready ? 'ready' : 'loading'}</p>
    </main>
  );
}

const user = { id: 'u1', attributes: { plan: 'pro' } };

/** Puts `body` in a DOM that becomes the globals (jsdom), with act() allowed: the page a server's HTML reaches. */
function openPage(body: string): void {
  const dom = new JSDOM(`<!DOCTYPE html><html><body>${body}</body></html>`, { url: 'https://shop.example/' });
  populateGlobal(globalThis, dom.window, { bindFunctions: true });
  (globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;
}

/** Hydrates `container` with `ui` under a provider of `browser`; returns the mismatches React reported (recoverable errors and console errors). */
async function hydrateWith(container: TestElement, browser: ExperimentationClient, ui: ReactNode): Promise<unknown[]> {
  const { hydrateRoot } = await import('react-dom/client');
  const mismatches: unknown[] = [];
  const consoleError = vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => {
    mismatches.push(args);
  });
  try {
    act(() => {
      hydrateRoot(
        container,
        <XpProvider client={browser} user={user}>
          {ui}
        </XpProvider>,
        {
          onRecoverableError: (error) => {
            mismatches.push(error);
          },
        },
      );
    });
  } finally {
    consoleError.mockRestore();
  }
  return mismatches;
}

/** Hydrates `container` with a page client bootstrapped from `snapshot`; returns it and the mismatches React reported. */
async function hydrate(container: TestElement, snapshot: string): Promise<{ browser: BrowserClient; mismatches: unknown[] }> {
  const browser = new BrowserClient('xpk_cli_page-key', { bootstrap: JSON.parse(snapshot) as unknown, logger: recordingLogger() });
  return { browser, mismatches: await hydrateWith(container, browser, <Page />) };
}

describe('@xp/sdk/react', () => {
  it('is the only source file that loads react: the other entries and the browser bundle never do', () => {
    const dir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
    const files = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => /\.tsx?$/.test(f) && !f.includes('__tests__') && !f.endsWith('.d.ts'));
    const loading = files.filter((f) => /from '(react|react-dom)(\/[^']*)?'/.test(readFileSync(join(dir, f), 'utf8')));

    expect(files.length).toBeGreaterThan(10);
    expect(loading).toEqual(['react.tsx']);
  });
});

describe('server rendering and hydration', () => {
  it('renders on the server without a DOM or exposures, and hydrates in the page without a mismatch', async () => {
    // Imported above with no window: nothing in @xp/sdk/react (or the client) touches one at import time.
    expect('window' in globalThis).toBe(false);
    const server = new ExperimentationClient('xpk_srv_server-key', { bootstrap: makeRuleset(3, { color: 'green' }), logger: recordingLogger() });

    const html = renderToString(
      <XpProvider client={server} user={user}>
        <Page />
      </XpProvider>,
    );

    const variant = server.getVariant('exp-ab', user, { exposure: false });
    expect(variant).not.toBeNull();
    expect(html).toContain('color green');
    expect(html).toContain(`hero ${variant === 'control' ? 'A' : 'B'} ${variant}`);
    expect(html).toContain('ready');
    // Effects do not run on a server: the page's client logs the exposure.
    expect(server.getStats().queuedEvents).toBe(0);

    // docs/sdk-js.md, "Bootstrap: SSR and offline start".
    const snapshot = JSON.stringify(server.getSnapshot() ?? null).replace(/</g, '\\u003c');
    openPage(`<div id="root">${html}</div><div id="other">${html}</div>`);
    const root = page().getElementById('root')!;

    const { browser, mismatches } = await hydrate(root, snapshot);

    expect(mismatches).toEqual([]);
    expect(root.innerHTML).toBe(html);
    expect(browser.getStats().queuedEvents).toBe(1);

    // The check above can see a mismatch: a page bootstrapped from another ruleset makes one.
    const other = await hydrate(page().getElementById('other')!, JSON.stringify(makeRuleset(3, { color: 'red' })));
    expect(other.mismatches).not.toEqual([]);
    // In act(): the mounted hooks see the clients close.
    await act(() => Promise.all([server.close(), browser.close(), other.browser.close()]));
  });

  // docs/sdk-js.md, "Server rendering and Next.js": a server without a ruleset embeds null.
  function Checkout(): ReactNode {
    const { ready } = useXpReady();
    const color = useFlag('color', 'none');
    return ready ? <p>{`checkout ${color}`}</p> : <p>spinner</p>;
  }

  it.each([
    ['an offline client from a null snapshot (Next.js serverPassClient)', 'offline'],
    ['a long-lived client whose API is down since start', 'down'],
  ] as const)('renders the loading state, as the page does, with %s', async (_, kind) => {
    const down = await new FakeServer(makeRuleset(1)).start();
    down.rulesetMode = 'fail';
    const server =
      kind === 'offline'
        ? new ExperimentationClient('xpk_cli_page-key', { bootstrap: null, logger: recordingLogger() })
        : new ExperimentationClient('xpk_srv_test-key', { apiUrl: down.url, streaming: false, retryBaseMs: 60_000, logger: recordingLogger() });
    await server.ready();
    expect(server.status).toBe('DEFAULTS');

    const html = renderToString(
      <XpProvider client={server} user={user}>
        <Checkout />
      </XpProvider>,
    );
    const snapshot = JSON.stringify(server.getSnapshot() ?? null);
    expect(html).toBe('<p>spinner</p>');
    expect(snapshot).toBe('null');

    // The page's API answers after hydration: its client is STARTING while React hydrates.
    const pageApi = await new FakeServer(makeRuleset(1, { color: 'green' })).start();
    pageApi.acceptedKey = 'xpk_cli_page-key';
    pageApi.rulesetMode = 'held';
    openPage(`<div id="root">${html}</div>`);
    const root = page().getElementById('root')!;
    const browser = new BrowserClient('xpk_cli_page-key', { apiUrl: pageApi.url, streaming: false, bootstrap: JSON.parse(snapshot) as unknown, logger: recordingLogger() });
    const mismatches = await hydrateWith(root, browser, <Checkout />);
    try {
      expect(mismatches).toEqual([]);
      expect(root.innerHTML).toBe('<p>spinner</p>');

      await eventually(() => pageApi.heldCount() > 0);
      pageApi.releaseHeld();
      await act(() => browser.ready());
      expect(root.innerHTML).toBe('<p>checkout green</p>');
    } finally {
      await act(() => Promise.all([server.close(), browser.close()]));
      await Promise.all([down.close(), pageApi.close()]);
    }
  });

  it("hydrates the server's loading state even when the page's API has already answered (a late hydrateRoot or Suspense boundary)", async () => {
    const server = new ExperimentationClient('xpk_cli_page-key', { bootstrap: null, logger: recordingLogger() });
    const html = renderToString(
      <XpProvider client={server} user={user}>
        <Checkout />
      </XpProvider>,
    );
    expect(html).toBe('<p>spinner</p>');
    const pageApi = await new FakeServer(makeRuleset(1, { color: 'green' })).start();
    pageApi.acceptedKey = 'xpk_cli_page-key';
    openPage(`<div id="root">${html}</div>`);
    const root = page().getElementById('root')!;
    const browser = new BrowserClient('xpk_cli_page-key', { apiUrl: pageApi.url, streaming: false, bootstrap: null, logger: recordingLogger() });
    // The API answers before React hydrates: the client is READY at hydrateRoot.
    await browser.ready();
    expect(browser.status).toBe('READY');
    const mismatches = await hydrateWith(root, browser, <Checkout />);
    try {

      expect(mismatches).toEqual([]);
      // Right after hydration the page's client takes over with what it serves.
      expect(root.innerHTML).toBe('<p>checkout green</p>');
    } finally {
      await act(() => Promise.all([server.close(), browser.close()]));
      await pageApi.close();
    }
  });

  it('renders the content after hydration once the page has given up waiting (defaults), as a page without a server does', async () => {
    const server = new ExperimentationClient('xpk_cli_page-key', { bootstrap: null, logger: recordingLogger() });
    const html = renderToString(
      <XpProvider client={server} user={user}>
        <Checkout />
      </XpProvider>,
    );
    openPage(`<div id="root">${html}</div>`);
    const root = page().getElementById('root')!;
    // Offline: DEFAULTS from the start, so ready() has settled before hydration.
    const browser = new BrowserClient('xpk_cli_page-key', { bootstrap: null, logger: recordingLogger() });
    const mismatches = await hydrateWith(root, browser, <Checkout />);

    expect(mismatches).toEqual([]);
    expect(root.innerHTML).toBe('<p>checkout none</p>');
    await act(() => Promise.all([server.close(), browser.close()]));
  });
});
