/**
 * The page the React tests render into (jsdom): act() allowed, roots unmounted and clients closed
 * (before their fake APIs, so queued exposures still reach them) after each test.
 */
import { act } from 'react';
import type { ReactNode } from 'react';
import { createRoot } from 'react-dom/client';
import type { Root } from 'react-dom/client';
import { afterEach, beforeAll } from 'vitest';
import { ExperimentationClient } from '../client.js';
import type { ClientOptions } from '../types.js';
import { page } from './dom.js';
import type { TestElement } from './dom.js';
import { FakeServer } from './fake-server.js';
import { recordingLogger } from './fixtures.js';

export const CLIENT_KEY = 'xpk_cli_react-key';

export interface ReactPage {
  /** Roots unmounted after each test (a test that creates its own root pushes it here). */
  readonly roots: Root[];
  /** Clients closed after each test. */
  readonly clients: { close(): Promise<unknown> }[];
  /** A fake API serving `ruleset` to CLIENT_KEY, closed after each test. */
  readonly api: (ruleset: Record<string, unknown>) => Promise<FakeServer>;
  /** A client of CLIENT_KEY with the page's quiet options and a recording logger, closed after each test. */
  readonly client: (options: ClientOptions) => ExperimentationClient;
  /** Renders into a fresh container inside act(); `update` re-renders the same root. */
  readonly mount: (ui: ReactNode) => { container: TestElement; update: (next: ReactNode) => void };
  /** The text of the element with this test id. */
  readonly text: (container: TestElement, id: string) => string | null;
}

/** Registers the page's hooks for the calling test file; `quiet` are the clients' timing options. */
export function reactPage(quiet: ClientOptions = {}): ReactPage {
  const roots: Root[] = [];
  const clients: { close(): Promise<unknown> }[] = [];
  const servers: FakeServer[] = [];

  beforeAll(() => {
    // React checks this flag to allow act() in tests.
    (globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;
  });

  afterEach(async () => {
    for (const root of roots.splice(0)) {
      act(() => {
        root.unmount();
      });
    }
    page().body.innerHTML = '';
    // Clients first: each sends its queued exposures while the API is still up.
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  return {
    roots,
    clients,
    api: async (ruleset) => {
      const server = await new FakeServer(ruleset).start();
      server.acceptedKey = CLIENT_KEY;
      servers.push(server);
      return server;
    },
    client: (options) => {
      const c = new ExperimentationClient(CLIENT_KEY, { logger: recordingLogger(), ...quiet, ...options });
      clients.push(c);
      return c;
    },
    mount: (ui) => {
      const container = page().createElement('div');
      page().body.append(container);
      const root = createRoot(container);
      roots.push(root);
      act(() => {
        root.render(ui);
      });
      return {
        container,
        update: (next) => {
          act(() => {
            root.render(next);
          });
        },
      };
    },
    text: (container, id) => container.querySelector(`[data-testid="${id}"]`)?.textContent ?? null,
  };
}
