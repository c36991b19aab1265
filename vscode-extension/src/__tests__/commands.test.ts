import { describe, expect, it } from 'vitest';
import { ApiError } from '@xp/shared';
import type { Flag } from '@xp/shared';
import type { ExplainResult, FlagSummary } from '@xp/language-server/protocol';
import { CommandId, createCommands, localConsoleUrl, parseAttributes } from '../commands.js';
import type { ExtensionSettings } from '../host.js';
import { TOKEN_SECRET } from '../host.js';
import { FakeFlagApi, FakeHost, FakeSecrets, FakeServer, storedFlag } from './fakes.js';

const CHECKOUT: Flag = {
  key: 'checkout-v2',
  name: 'Checkout v2',
  type: 'string',
  temporary: true,
  archived: false,
  tags: [],
  variations: [
    { key: 'control', value: 'control' },
    { key: 'blue', value: 'blue' },
  ],
  environments: {
    production: { enabled: true, defaultVariation: 'control', offVariation: 'control', prerequisites: [], rules: [{ id: 'ramp', type: 'rollout', variation: 'blue', coverage: 0.25, hashAttribute: 'id', hashVersion: 2 }] },
    staging: { enabled: false, defaultVariation: 'control', offVariation: 'control', prerequisites: [], rules: [] },
  },
};

const SUMMARY: FlagSummary = {
  key: 'checkout-v2',
  name: 'Checkout v2',
  type: 'string',
  state: 'active',
  summary: 'ON 25%',
  environments: [
    { key: 'staging', enabled: false, summary: 'OFF' },
    { key: 'production', enabled: true, summary: 'ON 25%' },
  ],
  variations: ['control', 'blue'],
  version: 3,
  referenceCount: 0,
  references: [],
};

const ARCHIVED_SUMMARY: FlagSummary = { ...SUMMARY, key: 'old-banner', name: 'Old banner', state: 'archived', summary: 'OFF', referenceCount: 1 };

const EXPLANATION: ExplainResult = {
  flagKey: 'checkout-v2',
  environment: 'production',
  value: 'blue',
  variationKey: 'blue',
  reason: 'SPLIT',
  ruleId: 'ramp',
  bucket: 0.1234,
  experiment: null,
  errorCode: null,
  trace: [{ ruleId: 'ramp', outcome: 'matched', detail: 'bucket 0.1234 < coverage 0.25' }],
  rulesetSource: 'api',
  rulesetPublished: true,
};

function setup(settings: Partial<ExtensionSettings> = {}, signedIn = true) {
  const host = new FakeHost();
  const secrets = new FakeSecrets();
  if (signedIn) {
    secrets.values.set(TOKEN_SECRET, 'xp_pat_stored');
  }
  const api = new FakeFlagApi(new Map([['checkout-v2', storedFlag(CHECKOUT)]]));
  const server = new FakeServer([SUMMARY], EXPLANATION);
  /** The tokens API clients were built with, in order. */
  const clientsFor: string[] = [];
  let restarts = 0;
  const current = (): ExtensionSettings => ({ apiUrl: 'http://localhost:8000', project: 'shop', environment: 'production', wrapperFunctions: [], flagsFile: undefined, consoleUrl: undefined, ...settings });
  const commands = createCommands({
    host,
    secrets,
    settings: current,
    api: (token) => {
      clientsFor.push(token);
      return current().apiUrl === undefined ? undefined : api;
    },
    server,
    status: () => undefined,
    credentialsChanged: () => {
      restarts++;
      return Promise.resolve();
    },
  });
  return { host, secrets, api, server, commands, clientsFor, restarts: () => restarts };
}

describe('extension commands', () => {
  it('signs in by storing the token in secret storage and restarting the server', async () => {
    const t = setup();
    t.host.inputs = ['  xp_pat_123  '];

    await t.commands[CommandId.SignIn]();

    expect(t.secrets.values.get(TOKEN_SECRET)).toBe('xp_pat_123');
    expect(t.restarts()).toBe(1);
    expect(t.host.infos).toEqual(['xp: signed in as ana@example.com (editor)']);
    await t.commands[CommandId.SignOut]();
    expect(t.secrets.values.has(TOKEN_SECRET)).toBe(false);
    expect(t.restarts()).toBe(2);
  });

  it('does not keep a token the API refuses, and says so', async () => {
    const t = setup({}, false);
    t.api.whoami = new ApiError(401, 'UNAUTHENTICATED', 'invalid or expired token');
    t.host.inputs = ['xp_pat_revoked'];

    await t.commands[CommandId.SignIn]();

    expect(t.secrets.values.has(TOKEN_SECRET)).toBe(false);
    // Never stored, not even for a moment: the server would start with it and call the API.
    expect(t.secrets.log).toEqual([]);
    expect(t.clientsFor).toEqual(['xp_pat_revoked']);
    expect(t.restarts()).toBe(0);
    expect(t.host.errors).toEqual(['xp: http://localhost:8000 refused that token (expired, revoked or mistyped); not signed in']);
  });

  it('checks a new token with a client of its own before storing it, and keeps the previous one when it is refused', async () => {
    const t = setup();
    const storedWhenChecked: (string | undefined)[] = [];
    const me = t.api.me.bind(t.api);
    t.api.me = () => {
      storedWhenChecked.push(t.secrets.values.get(TOKEN_SECRET));
      return me();
    };
    t.host.inputs = ['xp_pat_new'];
    await t.commands[CommandId.SignIn]();
    // Checked with the candidate while the stored token was still the previous one, then stored once.
    expect(t.clientsFor).toEqual(['xp_pat_new']);
    expect(storedWhenChecked).toEqual(['xp_pat_stored']);
    expect(t.secrets.log).toEqual(['store xp.token=xp_pat_new']);
    expect(t.restarts()).toBe(1);

    t.api.whoami = new ApiError(401, 'UNAUTHENTICATED', 'invalid or expired token');
    t.host.inputs = ['xp_pat_mistyped'];
    await t.commands[CommandId.SignIn]();
    expect(t.secrets.values.get(TOKEN_SECRET)).toBe('xp_pat_new');
    expect(t.secrets.log).toEqual(['store xp.token=xp_pat_new']);
    expect(t.restarts()).toBe(1);
  });

  it('keeps a token that could not be checked (API down) or without an API URL, saying so', async () => {
    const down = setup({}, false);
    down.api.whoami = new Error('fetch failed');
    down.host.inputs = ['xp_pat_1'];
    await down.commands[CommandId.SignIn]();
    expect(down.secrets.values.get(TOKEN_SECRET)).toBe('xp_pat_1');
    expect(down.restarts()).toBe(1);
    expect(down.host.infos).toEqual(['xp: signed in; the token could not be checked now (fetch failed)']);

    const noApi = setup({ apiUrl: undefined }, false);
    noApi.host.inputs = ['xp_pat_2'];
    await noApi.commands[CommandId.SignIn]();
    expect(noApi.secrets.values.get(TOKEN_SECRET)).toBe('xp_pat_2');
    expect(noApi.restarts()).toBe(1);
    expect(noApi.host.infos).toEqual(['xp: signed in']);
  });

  it('asks before replacing a scheduled ramp with a fixed rollout, and leaves it when told no', async () => {
    const t = setup();
    const production = t.api.flags.get('checkout-v2')!.definition.environments.production!;
    (production.rules[0] as { schedule?: unknown }).schedule = [{ at: '2026-01-01T00:00:00Z', coverage: 0.5 }];
    t.host.picks = ['production'];
    t.host.inputs = ['80'];
    t.host.answers = [false];

    await t.commands[CommandId.ChangeRollout]('checkout-v2');
    expect(t.api.calls).toEqual([]);

    t.host.picks = ['production'];
    t.host.inputs = ['80'];
    await t.commands[CommandId.ChangeRollout]('checkout-v2');
    expect(t.api.flags.get('checkout-v2')!.definition.environments.production!.rules).toEqual([{ id: 'ramp', type: 'rollout', variation: 'blue', coverage: 0.8, hashAttribute: 'id', hashVersion: 2 }]);
    expect(t.host.confirmations).toHaveLength(2);
  });

  it('toggles a flag in the picked environment with its current version, then refreshes the server', async () => {
    const t = setup();
    t.host.picks = ['staging'];

    await t.commands[CommandId.ToggleFlag]('checkout-v2');

    expect(t.api.calls).toEqual(['shop/checkout-v2/staging v3']);
    expect(t.api.flags.get('checkout-v2')!.definition.environments.staging!.enabled).toBe(true);
    expect(t.server.refreshes).toBe(1);
    expect(t.host.infos).toEqual(['xp: checkout-v2 is now ON in staging']);
    expect(t.host.confirmations).toEqual(['Turn checkout-v2 ON in staging? Every SDK reading staging serves it within seconds.']);
  });

  it('changes nothing when the toggle is not confirmed', async () => {
    const t = setup();
    t.host.picks = ['production'];
    t.host.answers = [false];

    await t.commands[CommandId.ToggleFlag]('checkout-v2');

    expect(t.api.calls).toEqual([]);
    expect(t.api.flags.get('checkout-v2')!.definition.environments.production!.enabled).toBe(true);
  });

  it('changes the coverage of an existing rollout rule', async () => {
    const t = setup();
    t.host.picks = ['production'];
    t.host.inputs = ['50'];

    await t.commands[CommandId.ChangeRollout]({ kind: 'flag', flag: SUMMARY });

    expect(t.host.prompts).toEqual(['Rollout of "blue" in production, in percent [25]']);
    const rules = t.api.flags.get('checkout-v2')!.definition.environments.production!.rules;
    expect(rules).toEqual([{ id: 'ramp', type: 'rollout', variation: 'blue', coverage: 0.5, hashAttribute: 'id', hashVersion: 2 }]);
  });

  it('adds a rollout rule where there is none, for the picked variation', async () => {
    const t = setup();
    t.host.picks = ['staging', 'blue'];
    t.host.inputs = ['10'];

    await t.commands[CommandId.ChangeRollout]('checkout-v2');

    expect(t.api.flags.get('checkout-v2')!.definition.environments.staging!.rules).toEqual([{ id: 'rollout', type: 'rollout', variation: 'blue', coverage: 0.1, hashAttribute: 'id', hashVersion: 2 }]);
  });

  it('adds a new rollout after the targeting rules, so it cannot override them', async () => {
    const t = setup();
    const staging = t.api.flags.get('checkout-v2')!.definition.environments.staging!;
    (staging.rules as unknown[]).push({ id: 'internal-off', type: 'force', variation: 'control', condition: { email: { $regex: '@example\\.com$' } } });
    t.host.picks = ['staging', 'blue'];
    t.host.inputs = ['10'];

    await t.commands[CommandId.ChangeRollout]('checkout-v2');

    expect(t.api.flags.get('checkout-v2')!.definition.environments.staging!.rules.map((r) => r.id)).toEqual(['internal-off', 'rollout']);
  });

  it('reports an API failure instead of throwing', async () => {
    const t = setup();
    t.api.flags.set('checkout-v2', { ...t.api.flags.get('checkout-v2')!, version: 9 });
    const stale = t.api.get.bind(t.api);
    t.api.get = async (p, k, key) => ({ ...(await stale(p, k, key)), version: 8 });
    t.host.picks = ['production'];

    await t.commands[CommandId.ToggleFlag]('checkout-v2');

    expect(t.host.errors).toEqual(['xp: cannot toggle checkout-v2: version conflict']);
  });

  it('asks to sign in before changing anything', async () => {
    const t = setup({}, false);

    await t.commands[CommandId.ToggleFlag]('checkout-v2');

    expect(t.host.errors).toEqual(['xp: sign in first ("xp: Sign in") and set xp.apiUrl']);
  });

  it('opens the desktop deep link, falling back to the web console', async () => {
    const withDesktop = setup();
    withDesktop.host.openable = ['xp://', 'http'];
    await withDesktop.commands[CommandId.OpenInDesktop]('checkout-v2');
    expect(withDesktop.host.opened).toEqual(['xp://flag/checkout-v2']);

    const withoutDesktop = setup();
    await withoutDesktop.commands[CommandId.OpenInDesktop]('checkout-v2');
    expect(withoutDesktop.host.opened).toEqual(['http://localhost:3000/?project=shop#/flags/checkout-v2']);
  });

  it('opens the web console at xp.consoleUrl, and guesses it only for the local stack (API on 8000)', async () => {
    const configured = setup({ apiUrl: 'https://api.example.com', consoleUrl: 'https://console.example.com' });
    await configured.commands[CommandId.OpenInWebConsole]('checkout-v2');
    expect(configured.host.opened).toEqual(['https://console.example.com/?project=shop#/flags/checkout-v2']);
    // `xp start --port 8911`: the console is not on the API's port, and its port cannot be told.
    // The local stack's console is served at the root of its port: a path in the API URL is not its.
    for (const apiUrl of ['http://localhost:8000/xp', 'http://localhost:8000/xp/', 'http://localhost:8000']) {
      const local = setup({ apiUrl });
      await local.commands[CommandId.OpenInWebConsole]('checkout-v2');
      expect(local.host.opened).toEqual(['http://localhost:3000/?project=shop#/flags/checkout-v2']);
    }
    expect(localConsoleUrl('https://xp.example.com:8000/api/')).toBe('https://xp.example.com:3000');
    // As the server does: no link from an API URL it would not use.
    for (const apiUrl of ['http://me:secret@localhost:8000', 'ftp://localhost:8000', 'localhost:8000', 'http://example.com/x:8000/', undefined]) {
      expect(localConsoleUrl(apiUrl)).toBeUndefined();
    }
    const otherPort = setup({ apiUrl: 'http://127.0.0.1:8911' });
    await otherPort.commands[CommandId.OpenInWebConsole]('checkout-v2');
    expect(otherPort.host.opened).toEqual([]);
    expect(otherPort.host.errors).toEqual(["xp: set xp.consoleUrl (only the local stack's console, API on port 8000, is known without it) and a project"]);
  });

  it('explains an evaluation for a user id or JSON attributes', async () => {
    const t = setup();
    t.host.inputs = ['{"id":"u1","country":"FR"}'];

    await t.commands[CommandId.Explain]('checkout-v2');

    expect(t.server.explained).toEqual([{ flagKey: 'checkout-v2', attributes: { id: 'u1', country: 'FR' } }]);
    const text = t.host.shown[0]!.text;
    expect(text).toContain('- reason: SPLIT (rule `ramp`)');
    expect(text).toContain('- bucket: 0.1234');
    expect(text).toContain('- ruleset: published (from the API)');
    expect(text).toContain('- `ramp`: matched — bucket 0.1234 < coverage 0.25');
    expect(parseAttributes('user-7')).toEqual({ id: 'user-7' });
    expect(parseAttributes('{"id":')).toBe('not valid JSON');
  });

  it('copies a key and dispatches code lens actions', async () => {
    const t = setup();
    t.host.picks = ['Copy key'];

    await t.commands[CommandId.ShowFlag]('checkout-v2');

    expect(t.host.clipboard).toEqual(['checkout-v2']);
  });

  it("offers an archived flag's code lens no toggle or rollout, and says it is archived", async () => {
    const t = setup();
    t.server.summaries.push(ARCHIVED_SUMMARY);
    t.host.picks = ['Copy key'];

    await t.commands[CommandId.ShowFlag]('old-banner');

    expect(t.host.offered).toEqual([{ placeholder: 'old-banner (archived: unarchive it in the console to change it)', labels: ['Explain for a user', 'Open in desktop console', 'Open in web console', 'Copy key'] }]);
    expect(t.host.clipboard).toEqual(['old-banner']);

    // An active flag keeps every action.
    t.host.offered.length = 0;
    await t.commands[CommandId.ShowFlag]('checkout-v2');
    expect(t.host.offered[0]?.labels).toEqual(['Toggle in an environment', 'Change rollout', 'Explain for a user', 'Open in desktop console', 'Open in web console', 'Copy key']);
  });

  it('neither toggles nor rolls out an archived flag: named, picked, or archived since the data was fetched', async () => {
    const t = setup();
    t.server.summaries.push(ARCHIVED_SUMMARY);
    t.api.flags.set('old-banner', { ...storedFlag({ ...CHECKOUT, key: 'old-banner', archived: true }), archived: true });

    // Named (a command run with its key): refused before any environment is asked for.
    await t.commands[CommandId.ToggleFlag]('old-banner');
    await t.commands[CommandId.ChangeRollout]('old-banner');
    expect(t.host.errors).toEqual(['xp: old-banner is archived: unarchive it in the console to change it', 'xp: old-banner is archived: unarchive it in the console to change it']);
    expect(t.host.offered).toEqual([]);

    // Picked from the palette: archived flags are not offered.
    t.host.picks = [undefined];
    await t.commands[CommandId.ToggleFlag]();
    expect(t.host.offered.map((o) => o.labels)).toEqual([['checkout-v2']]);

    // The server's data says active, the API says archived.
    t.host.errors.length = 0;
    t.api.flags.set('checkout-v2', { ...storedFlag(CHECKOUT), archived: true });
    t.host.picks = ['production'];
    await t.commands[CommandId.ToggleFlag]('checkout-v2');
    expect(t.host.errors).toEqual(['xp: checkout-v2 is archived: unarchive it in the console to change it']);
    expect(t.host.confirmations).toEqual([]);
    expect(t.api.calls).toEqual([]);
  });
});
