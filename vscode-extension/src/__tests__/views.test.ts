import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { FlagSummary, StatusParams } from '@xp/language-server/protocol';
import { childNodes, itemView, referenceNodes, rootNodes } from '../flags-tree.js';
import { CommandId } from '../commands.js';
import { initializationOptions, LANGUAGES, languageClientOptions, serverProcessOptions } from '../server-settings.js';
import { statusView } from '../status.js';

const flag = (key: string, state: FlagSummary['state'], refs = 0): FlagSummary => ({
  key,
  name: key,
  type: 'boolean',
  state,
  summary: state === 'unknown' ? '' : 'ON',
  environments: state === 'unknown' ? [] : [{ key: 'production', enabled: true, summary: 'ON' }],
  variations: [],
  version: 1,
  referenceCount: refs,
  references: Array.from({ length: refs }, (_, i) => ({ uri: `file:///ws/src/app%20one.ts`, line: i, character: 4, snippet: `isFeatureEnabled('${key}')` })),
});

describe('Flags view', () => {
  it('groups flags by state, then lists their references', () => {
    const roots = rootNodes([flag('a', 'active', 2), flag('b', 'archived'), flag('c', 'unknown', 1), flag('d', 'active')]);

    expect(roots.map((r) => itemView(r).label)).toEqual(['Active (2)', 'Unknown (in code, not in the project) (1)', 'Archived (1)']);
    const active = childNodes(roots[0]!);
    expect(active.map((n) => [itemView(n).label, itemView(n).description, itemView(n).collapsible])).toEqual([
      ['a', 'ON · 2 refs', true],
      ['d', 'ON · 0 refs', false],
    ]);
    const refs = childNodes(active[0]!);
    expect(refs.map((n) => itemView(n).label)).toEqual(['app one.ts:1', 'app one.ts:2']);
    // Ids stay the same when a group's count changes, so VS Code keeps what was expanded.
    expect(rootNodes([flag('a', 'active', 2)]).map((r) => itemView(r).id)).toEqual([itemView(roots[0]!).id]);
    const ids = [...roots, ...active, ...refs].map((n) => itemView(n).id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(itemView(childNodes(roots[1]!)[0]!).contextValue).toBe('xp-unknown-flag');
  });

  it('shows reference counts from a list without references, and fetches a flag\'s references when expanded', () => {
    const full = flag('a', 'active', 2);
    const listed = { ...full, references: [] };
    const node = childNodes(rootNodes([listed])[0]!)[0]!;
    expect([itemView(node).description, itemView(node).collapsible]).toEqual(['ON · 2 refs', true]);
    expect(referenceNodes(listed, full.references).map((n) => itemView(n).label)).toEqual(['app one.ts:1', 'app one.ts:2']);
  });

  it('lists the keys in code as unchecked, not unknown, when there is no flag data', () => {
    const roots = rootNodes([flag('c', 'unknown', 1)], { flagData: false });
    expect(roots.map((r) => itemView(r).label)).toEqual(['In code (no flag data to check them against) (1)']);
    const view = itemView(childNodes(roots[0]!)[0]!);
    expect(view.tooltip).toBe('c: no flag data to check it against (sign in, or add a flags file)');
    expect(view.icon).not.toBe('warning');
    // With flag data, the same key is unknown to the project.
    expect(itemView(rootNodes([flag('c', 'unknown', 1)], { flagData: true })[0]!).label).toBe('Unknown (in code, not in the project) (1)');
  });
});

describe('Flags view with evaluation counts', () => {
  const NOW = Date.parse('2026-11-25T12:00:00Z');
  const counts = (total: number, minutesAgo?: number): Pick<FlagSummary, 'evaluations'> => ({
    evaluations: { days: 30, total, lastEvaluatedAt: minutesAgo === undefined ? null : new Date(NOW - minutesAgo * 60_000).toISOString() },
  });

  it('shows each flag\'s evaluations and groups the active flags none evaluated, when the project reports counts', () => {
    const flags = [
      { ...flag('a', 'active', 2), ...counts(12_345, 3) },
      { ...flag('d', 'active'), ...counts(0) },
      { ...flag('s', 'stale'), ...counts(0) },
      { ...flag('c', 'unknown', 1), ...counts(8, 150) },
    ];

    const roots = rootNodes(flags);
    const views = roots.flatMap((r) => [r, ...childNodes(r)]).map((n) => itemView(n, NOW));

    expect(views.map((v) => [v.label, v.description])).toEqual([
      ['Active (1)', undefined],
      ['a', 'ON · 2 refs · 12,345 evals · 3 min ago'],
      ['Not evaluated in 30 days (1)', undefined],
      ['d', 'ON · 0 refs · not evaluated in 30 days'],
      // Stale flags keep their group (its code action replaces the calls), saying so too.
      ['Stale (fully rolled out) (1)', undefined],
      ['s', 'ON · 0 refs · not evaluated in 30 days'],
      // A key no flag has that SDKs still evaluate: code running somewhere asks for it.
      ['Unknown (in code, not in the project) (1)', undefined],
      ['c', '1 ref · 8 evals · 2 h ago'],
    ]);
    expect(views[1]!.tooltip).toBe('a (boolean)\nproduction: ON\nEvaluated 12,345 times in the last 30 days, last 3 min ago');
    expect(views[3]!.tooltip).toBe('d (boolean)\nproduction: ON\nNot evaluated in the last 30 days by any SDK that reports evaluation counts');
    // A flag in the new group keeps its actions, and every id is still unique.
    expect(views[3]!.contextValue).toBe('xp-flag');
    expect(new Set(views.map((v) => v.id)).size).toBe(views.length);
  });

  it('names in the tooltip the applications that evaluated a flag, the top 3 then how many more', () => {
    const apps = [
      { app: 'checkout-api', count: 10_000 },
      { app: 'web-shop', count: 2_345 },
      { app: null, count: 12 },
      { app: 'batch-jobs', count: 5 },
      { app: 'admin', count: 1 },
    ];
    const many = { ...flag('a', 'active', 2), evaluations: { days: 30, total: 12_363, lastEvaluatedAt: new Date(NOW - 3 * 60_000).toISOString(), apps } };
    const one = { ...flag('b', 'active'), evaluations: { days: 30, total: 7, lastEvaluatedAt: new Date(NOW - 3 * 60_000).toISOString(), apps: [{ app: 'web-shop', count: 7 }] } };

    const [a, b] = childNodes(rootNodes([many, one])[0]!).map((n) => itemView(n, NOW));

    expect(a!.tooltip).toBe('a (boolean)\nproduction: ON\nEvaluated 12,363 times in the last 30 days, last 3 min ago\nby checkout-api 10,000 · web-shop 2,345 · no app named 12 · +2 more');
    expect(b!.tooltip).toBe('b (boolean)\nproduction: ON\nEvaluated 7 times in the last 30 days, last 3 min ago\nby web-shop 7');
    // The description stays short: the counts only.
    expect(a!.description).toBe('ON · 2 refs · 12,363 evals · 3 min ago');
  });

  it('keeps out of "Not evaluated in 30 days" the flags not evaluated only since counting began, within the window', () => {
    const began = '2026-11-25T11:00:00.000Z';
    const flags = [
      { ...flag('a', 'active', 2), ...counts(4, 3) },
      { ...flag('n', 'active', 1), evaluations: { days: 30, total: 0, lastEvaluatedAt: null, countingSince: began } },
    ];

    const views = rootNodes(flags).flatMap((r) => [r, ...childNodes(r)]).map((n) => itemView(n, NOW));

    expect(views.map((v) => [v.label, v.description])).toEqual([
      ['Active (2)', undefined],
      ['a', 'ON · 2 refs · 4 evals · 3 min ago'],
      ['n', 'ON · 1 ref · not evaluated since 2026-11-25'],
    ]);
    expect(views[2]!.tooltip).toBe('n (boolean)\nproduction: ON\nNot evaluated since evaluation counting began on 2026-11-25: too soon to tell whether deployed code still asks for it');
  });

  it('says nothing of evaluations when the project has no counts', () => {
    const roots = rootNodes([flag('a', 'active', 2), flag('d', 'active')]);
    const views = roots.flatMap((r) => [r, ...childNodes(r)]).map((n) => itemView(n, NOW));

    expect(views.map((v) => [v.label, v.description])).toEqual([
      ['Active (2)', undefined],
      ['a', 'ON · 2 refs'],
      ['d', 'ON · 0 refs'],
    ]);
    expect(views.some((v) => /evaluat/i.test(v.tooltip ?? ''))).toBe(false);
  });
});

describe('Flags view context menus', () => {
  interface MenuItem {
    readonly command: string;
    readonly when: string;
  }
  const manifest = JSON.parse(readFileSync(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../package.json'), 'utf8')) as { contributes: { menus: { 'view/item/context': MenuItem[] } } };

  /** Whether the `viewItem` clause of a `when` (`viewItem == x` or `viewItem =~ /re/`) holds for a contextValue, as VS Code evaluates it. */
  const viewItemMatches = (when: string, contextValue: string): boolean => {
    const equal = /\bviewItem == ([\w-]+)/.exec(when);
    if (equal !== null) {
      return equal[1] === contextValue;
    }
    const regex = /\bviewItem =~ \/(.+?)\/([a-z]*)(?:\s|$)/.exec(when);
    if (regex !== null) {
      return new RegExp(regex[1]!, regex[2]).test(contextValue);
    }
    throw new Error(`no viewItem clause in "${when}"`);
  };

  it('offers each action on the flags it applies to: no toggle or rollout for archived or unknown flags', () => {
    const nodes = [
      ...rootNodes([flag('a', 'active', 1), flag('s', 'stale'), flag('b', 'archived'), flag('c', 'unknown', 1)]),
      ...rootNodes([flag('u', 'unknown', 1)], { flagData: false }),
    ];
    const all = [...nodes, ...nodes.flatMap(childNodes), ...nodes.flatMap(childNodes).flatMap(childNodes)];
    const views = all.map((n) => ({ name: n.kind === 'group' ? `group ${n.state}` : n.kind === 'flag' ? `${n.flag.state} ${n.flag.key}` : `reference of ${n.flag.key}`, contextValue: itemView(n).contextValue }));
    expect(new Set(views.map((v) => v.contextValue))).toEqual(new Set(['xp-group', 'xp-flag', 'xp-archived-flag', 'xp-unknown-flag', 'xp-reference']));
    const offered = Object.fromEntries(manifest.contributes.menus['view/item/context'].map((m) => [m.command, views.filter((v) => viewItemMatches(m.when, v.contextValue)).map((v) => v.name)]));
    const known = ['active a', 'stale s'];
    expect(offered).toEqual({
      [CommandId.ToggleFlag]: known,
      [CommandId.ChangeRollout]: known,
      [CommandId.Explain]: [...known, 'archived b'],
      [CommandId.OpenInDesktop]: [...known, 'archived b'],
      [CommandId.OpenInWebConsole]: [...known, 'archived b'],
      [CommandId.CopyKey]: [...known, 'unknown c', 'archived b', 'unknown u'],
    });
    // Anchored: a contextValue that merely contains a matching one gets nothing.
    const items = manifest.contributes.menus['view/item/context'];
    expect(items.filter((m) => viewItemMatches(m.when, 'xp-flag-extra') || viewItemMatches(m.when, 'not-xp-flag')).map((m) => m.command)).toEqual([]);
  });
});

describe('status item', () => {
  const base: StatusParams = { source: 'api', project: 'shop', environment: 'production', flags: 4, fetchedAt: '2026-11-25T12:00:00Z', error: null, indexing: false, references: 9, live: true };

  it('shows the connection state', () => {
    expect(statusView(undefined).text).toBe('$(loading~spin) xp');
    expect(statusView(base)).toMatchObject({ text: '$(cloud) xp shop/production', warning: false });
    expect(statusView(base).tooltip).toContain('following changes live');
    expect(statusView({ ...base, source: 'cache', error: 'fetch failed' })).toMatchObject({ text: '$(cloud-offline) xp shop/production', warning: true });
    expect(statusView({ ...base, source: 'cache', error: 'fetch failed' }).tooltip).toContain('offline (fetch failed)');
    expect(statusView({ ...base, source: 'none', project: null, indexing: true }).text).toBe('$(circle-slash) xp $(sync~spin)');
    // A refused token asks for a new sign-in instead of looking like a network outage.
    const refused = statusView({ ...base, source: 'cache', error: '401 UNAUTHENTICATED: invalid or expired token', tokenRefused: true });
    expect(refused).toMatchObject({ text: '$(key) xp: sign in again', warning: true, command: 'xp.signIn' });
    expect(refused.tooltip).toContain('expired or was revoked');
    expect(statusView(base).command).toBeUndefined();
  });

  it('warns about what the server reports wrong while connected or reading the flags file', () => {
    // An environment the project does not have: the error in the tooltip, in the warning colour.
    const unknownEnv = statusView({ ...base, environment: 'prod', error: 'unknown environment "prod" (shop has development, production, staging)' });
    expect(unknownEnv).toMatchObject({ text: '$(warning) xp shop/prod', warning: true });
    expect(unknownEnv.tooltip).toContain('unknown environment "prod" (shop has development, production, staging)');
    expect(unknownEnv.tooltip).not.toContain('connected');
    // The change feed stopped: connected, but changes made elsewhere do not arrive.
    const stopped = statusView({ ...base, live: false });
    expect(stopped).toMatchObject({ text: '$(cloud) xp shop/production', warning: true });
    expect(stopped.tooltip).toContain('not following changes live');
    // A flags file that does not parse: the parse error is named.
    const broken = statusView({ ...base, source: 'flags-file', live: false, error: 'cannot read flags file flags.yaml: Nested mappings are not allowed in compact mappings at line 3, column 8' });
    expect(broken.warning).toBe(true);
    expect(broken.tooltip).toContain('cannot read flags file flags.yaml: Nested mappings are not allowed');
    expect(statusView({ ...base, source: 'flags-file', live: false })).toMatchObject({ warning: false, tooltip: 'xp: 4 flags from the flags file; sign in for live data' });
  });

  it('passes settings to the server, leaving out empty ones, and never the token (a protocol trace logs them)', () => {
    expect(initializationOptions({ apiUrl: 'http://x', project: undefined, environment: 'staging', wrapperFunctions: ['useFlag'], flagsFile: undefined, consoleUrl: undefined })).toEqual({
      // The extension runs the code lens's command itself (the server must not advertise it).
      clientCommands: [CommandId.ShowFlag],
      apiUrl: 'http://x',
      environment: 'staging',
      wrapperFunctions: ['useFlag'],
    });
  });

  it("starts the server with the signed-in token only, never an XP_TOKEN inherited from VS Code's shell", () => {
    const shell = { PATH: '/usr/bin', XP_TOKEN: 'xpp_from_shell' };
    /**
     * The server process's environment as vscode-languageclient builds it for a node module
     * (lib/node/main.js, getEnvironment(options.env, true)): VS Code's environment, then
     * options.env over it. A key left out of options.env keeps VS Code's value.
     */
    const childEnv = (options: { env: Record<string, string | undefined> }): Record<string, string | undefined> => ({ ...shell, ELECTRON_RUN_AS_NODE: '1', ELECTRON_NO_ASAR: '1', ...options.env });
    /** The token the server takes from its environment (language-server/src/server.ts: empty is none). */
    const serverToken = (env: Record<string, string | undefined>): string | undefined => {
      const token = env.XP_TOKEN?.trim();
      return token === undefined || token === '' ? undefined : token;
    };
    // Signed out: no token at all, so the server cannot keep showing API data.
    expect(serverToken(childEnv(serverProcessOptions(shell, undefined)))).toBeUndefined();
    expect(serverToken(childEnv(serverProcessOptions(shell, 'xpp_signed_in')))).toBe('xpp_signed_in');
    expect(childEnv(serverProcessOptions(shell, undefined)).PATH).toBe('/usr/bin');
    expect(serverProcessOptions(shell, undefined).execArgv).toEqual(['--no-liftoff']);
    expect(shell.XP_TOKEN).toBe('xpp_from_shell');
  });

  it('leaves file watching to the watchers the server registers, and reads the settings at every start', () => {
    let environment = 'production';
    const options = languageClientOptions(() => ({ apiUrl: undefined, project: undefined, environment, wrapperFunctions: [], flagsFile: undefined, consoleUrl: undefined }));
    // A watcher of the extension's own would send every event a second time.
    expect(options.synchronize).toBeUndefined();
    expect(options.documentSelector).toEqual(LANGUAGES.map((language) => ({ scheme: 'file', language })));
    const startOptions = (): unknown => (options.initializationOptions as () => unknown)();
    expect(startOptions()).toEqual({ clientCommands: ['xp.showFlag'], environment: 'production', wrapperFunctions: [] });
    // The client restarts a crashed server with these options: it gets the settings of that moment.
    environment = 'staging';
    expect(startOptions()).toEqual({ clientCommands: ['xp.showFlag'], environment: 'staging', wrapperFunctions: [] });
  });
});
