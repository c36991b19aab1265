/**
 * getSnapshot() and bootstrap: a snapshot taken on a server (server-side key) and embedded in a
 * page must not carry the flags and experiments marked server-side only, and must not be a handle
 * on the client's state.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ExperimentationClient as BrowserClient } from '../browser.js';
import { ExperimentationClient } from '../client.js';
import { ExperimentationClient as NodeClient, loadRulesetFile } from '../node.js';
import { FakeServer } from './fake-server.js';
import { groupedRuleset, makeRuleset, recordingLogger } from './fixtures.js';

const SERVER_KEY = 'xpk_srv_test-key';
const CLIENT_KEY = 'xpk_cli_browser-key';
const open: { close(): Promise<void> }[] = [];

afterEach(async () => {
  await Promise.all(open.splice(0).map((x) => x.close()));
});

/**
 * Server-side only: `staff` (naming id list `staff-ids`), `grouped-flag` and the experiment it runs,
 * `exp-grouped` (in holdout `global`), and `exp-ab`, which goes along all the same: client-side
 * `exp-flag` runs it. `beta` (naming `beta-ids`) is client-side.
 */
const SERVER_ONLY = { flags: ['grouped-flag', 'staff'], experiments: ['exp-ab', 'exp-grouped'] };

async function serverClient(): Promise<{ s: FakeServer; c: ExperimentationClient }> {
  const s = await new FakeServer(groupedRuleset(4, { betaIds: ['b1'], staffIds: ['ceo@bigcustomer.example'] })).start();
  s.serverOnly = SERVER_ONLY;
  const c = new ExperimentationClient(SERVER_KEY, { apiUrl: s.url, streaming: false, pollIntervalMs: 60_000, logger: recordingLogger() });
  open.push(c, s);
  await c.ready();
  return { s, c };
}

describe('SSR snapshots and server-side-only flags', () => {
  it("embeds a server-key client's snapshot in a page without the server-side-only flags, experiments and id lists", async () => {
    const { s, c } = await serverClient();
    // The server evaluates them: it downloaded the whole ruleset, with the list beside it.
    expect(s.requests.find((r) => r.url.startsWith('/sdk/v1/ruleset'))?.url).toBe('/sdk/v1/ruleset?include=serverOnly');
    expect(c.evaluate('staff', { id: 'x', attributes: {} }, false).reason).not.toBe('ERROR');

    // As docs/sdk-js.md says: the server embeds what getSnapshot() gives, the browser starts with it.
    const html = `<script>window.XP=${JSON.stringify(c.getSnapshot())}</script>`;
    const embedded = JSON.parse(html.slice('<script>window.XP='.length, -'</script>'.length)) as { flags: object; experiments: object; savedGroups: object; holdouts: object };
    const log = recordingLogger();
    const browser = new BrowserClient(CLIENT_KEY, { bootstrap: embedded, logger: log });

    expect(Object.keys(embedded.flags).sort()).toEqual(['beta', 'checkout', 'color', 'exp-flag', 'limits']);
    // exp-flag runs exp-ab, so it goes along (as in the API's client view).
    expect(Object.keys(embedded.experiments)).toEqual(['exp-ab']);
    expect(embedded.holdouts).toEqual({});
    expect(html).not.toContain('bigcustomer');
    expect(embedded.savedGroups).toEqual({ 'beta-ids': ['b1'] });
    expect(html).not.toContain('serverOnly');
    expect(browser.evaluate('staff', 'u1', false).errorCode).toBe('FLAG_NOT_FOUND');
    expect(browser.getValue('beta', { id: 'b1', attributes: {} }, false)).toBe(true);
    expect(log.lines.filter((l) => l.level === 'warn')).toEqual([]);
  });

  it('gives the whole ruleset, with its server-side-only keys listed, only when asked; a server bootstrapped with it keeps them', async () => {
    const { c } = await serverClient();

    const full = c.getSnapshot({ includeServerOnly: true }) as { flags: object; serverOnly: unknown };
    const copy = new ExperimentationClient('', { bootstrap: JSON.parse(JSON.stringify(full)), logger: recordingLogger() });

    expect(Object.keys(full.flags)).toContain('staff');
    expect(full.serverOnly).toEqual(SERVER_ONLY);
    expect(copy.evaluate('staff', 'u1', false).errorCode).toBeUndefined();
    expect(Object.keys((copy.getSnapshot() as { flags: object }).flags)).not.toContain('staff');
    expect(copy.getSnapshot({ includeServerOnly: true })).toEqual(full);
  });

  it('drops what a snapshot lists as server-side only when a client-side key is given it (defense in depth), with a warning', async () => {
    const { c } = await serverClient();
    const log = recordingLogger();

    const browser = new BrowserClient(CLIENT_KEY, { bootstrap: JSON.parse(JSON.stringify(c.getSnapshot({ includeServerOnly: true }))), logger: log });

    expect(browser.evaluate('staff', 'u1', false).errorCode).toBe('FLAG_NOT_FOUND');
    expect(JSON.stringify(browser.getSnapshot({ includeServerOnly: true }))).not.toContain('bigcustomer');
    expect(log.has('warn', 'server-side-only flags and experiments; dropped')).toBe(true);
  });

  it('keeps the list in a ruleset file saved for an offline start', () => {
    const dir = mkdtempSync(join(tmpdir(), 'xp-sdk-'));
    const file = join(dir, 'ruleset.json');
    writeFileSync(file, JSON.stringify({ ...groupedRuleset(4, { staffIds: ['ceo@bigcustomer.example'] }), serverOnly: SERVER_ONLY }));

    const server = new NodeClient('', { bootstrap: file, logger: recordingLogger() });
    const browser = new NodeClient(CLIENT_KEY, { bootstrap: file, logger: recordingLogger() });

    expect(loadRulesetFile(file)).toMatchObject({ serverOnly: SERVER_ONLY });
    expect(server.evaluate('staff', 'u1', false).errorCode).toBeUndefined();
    expect(browser.evaluate('staff', 'u1', false).errorCode).toBe('FLAG_NOT_FOUND');
  });

  it('says that bootstrap takes the document, not the path of a file holding it', () => {
    const log = recordingLogger();
    const c = new ExperimentationClient('', { bootstrap: './rulesets/production.json', logger: log });

    expect(c.getSnapshot()).toBeUndefined();
    expect(log.has('warn', 'bootstrap takes the ruleset document or its JSON text, not a file path')).toBe(true);
  });

  it('refuses a ruleset whose serverOnly list is malformed', () => {
    const log = recordingLogger();
    const c = new ExperimentationClient('', { bootstrap: { ...makeRuleset(1), serverOnly: { flags: 'checkout' } }, logger: log });

    expect(c.getSnapshot()).toBeUndefined();
    expect(log.has('warn', 'serverOnly must be')).toBe(true);
  });
});

describe('getSnapshot() is no handle on the client', () => {
  it('returns a frozen document: changing it throws and the client serves what it served', () => {
    const c = new ExperimentationClient('', { bootstrap: makeRuleset(1), logger: recordingLogger() });
    const snapshot = c.getSnapshot() as { flags: Record<string, { default: number }> };

    expect(Object.isFrozen(snapshot)).toBe(true);
    expect(() => {
      delete snapshot.flags.checkout;
    }).toThrow(TypeError);
    expect(() => {
      snapshot.flags.color!.default = 5;
    }).toThrow(TypeError);
    expect(c.getValue('checkout', 'u1', true)).toBe(false);
    // Cheap to call per request: the same object until the ruleset changes.
    expect(c.getSnapshot()).toBe(snapshot);
    // A copy is the caller's to change.
    const copy = structuredClone(snapshot);
    delete copy.flags.checkout;
    expect(Object.keys((c.getSnapshot() as { flags: object }).flags)).toContain('checkout');
  });

  it('does not follow later changes to the object given as bootstrap', () => {
    const bootstrap = makeRuleset(1) as { flags: Record<string, unknown> };
    const c = new ExperimentationClient('', { bootstrap, logger: recordingLogger() });

    delete bootstrap.flags.checkout;

    expect(Object.isFrozen(bootstrap)).toBe(false);
    expect(c.getValue('checkout', 'u1', true)).toBe(false);
    expect(Object.keys((c.getSnapshot() as { flags: object }).flags)).toContain('checkout');
  });
});
