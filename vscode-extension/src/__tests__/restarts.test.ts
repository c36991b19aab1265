import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DidChangeConfigurationNotification } from 'vscode-languageserver-protocol/node';
import { FLAGS_YAML, LspTestClient, writeFixtureWorkspace } from '@xp/language-server/testing';
import { ApiError } from '@xp/shared';
import type { ExplainResult } from '@xp/language-server/protocol';
import { CommandId, createCommands } from '../commands.js';
import type { ExtensionSettings } from '../host.js';
import { TOKEN_SECRET } from '../host.js';
import { serverRestarts } from '../server-restarts.js';
import { configurationChange, initializationOptions, SETTING_CHANGES } from '../server-settings.js';
import { FakeFlagApi, FakeHost, FakeSecrets, FakeServer } from './fakes.js';

const EXPLANATION: ExplainResult = {
  flagKey: 'k',
  environment: 'production',
  value: null,
  variationKey: null,
  reason: 'FLAG_NOT_FOUND',
  ruleId: null,
  bucket: null,
  experiment: null,
  errorCode: null,
  trace: [],
  rulesetSource: 'none',
  rulesetPublished: false,
};

const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 20));

/**
 * The commands wired as extension.ts wires them: SecretStorage's onDidChange and the commands'
 * credentialsChanged both report a new token; the server's starts are recorded with their token.
 * `events`: whether VS Code delivers onDidChange while the secret is written or some time after.
 */
async function wired(events: 'at once' | 'later') {
  const host = new FakeHost();
  const secrets = new FakeSecrets();
  const api = new FakeFlagApi(new Map());
  const log: string[] = [];
  const restarts = serverRestarts({
    token: () => secrets.get(TOKEN_SECRET),
    stop: () => {
      log.push('stop');
      return Promise.resolve();
    },
    start: (token) => {
      log.push(`start ${token ?? '(signed out)'}`);
      return Promise.resolve();
    },
    configure: () => {
      log.push('configure');
      return Promise.resolve();
    },
  });
  secrets.onDidChange((e) => {
    if (e.key === TOKEN_SECRET) {
      if (events === 'at once') {
        void restarts.tokenChanged();
      } else {
        setTimeout(() => void restarts.tokenChanged(), 5);
      }
    }
  });
  const commands = createCommands({
    host,
    secrets,
    settings: () => ({ apiUrl: 'http://localhost:8000', project: 'shop', environment: 'production', wrapperFunctions: [], flagsFile: undefined, consoleUrl: undefined }),
    api: () => api,
    server: new FakeServer([], EXPLANATION),
    status: () => undefined,
    credentialsChanged: restarts.tokenChanged,
  });
  await restarts.restart();
  log.length = 0;
  return { host, secrets, api, commands, restarts, log };
}

describe('language server restarts', () => {
  for (const events of ['at once', 'later'] as const) {
    it(`restarts the server once per sign-in or sign-out (secret events delivered ${events})`, async () => {
      const t = await wired(events);

      t.host.inputs = ['xp_pat_good'];
      await t.commands[CommandId.SignIn]();
      await settle();
      expect(t.log).toEqual(['stop', 'start xp_pat_good']);

      t.log.length = 0;
      await t.commands[CommandId.SignOut]();
      await settle();
      expect(t.log).toEqual(['stop', 'start (signed out)']);
    });
  }

  it('never starts the server with a token the API refuses', async () => {
    const t = await wired('at once');
    t.api.whoami = new ApiError(401, 'UNAUTHENTICATED', 'invalid or expired token');
    t.host.inputs = ['xp_pat_bad'];

    await t.commands[CommandId.SignIn]();
    await settle();

    expect(t.log).toEqual([]);
    expect(t.secrets.log).toEqual([]);
  });

  it('follows a sign-in in another window (the secret changes alone), one restart after another', async () => {
    const t = await wired('later');
    await t.secrets.store(TOKEN_SECRET, 'xp_pat_elsewhere');
    await settle();
    expect(t.log).toEqual(['stop', 'start xp_pat_elsewhere']);

    t.log.length = 0;
    await Promise.all([t.restarts.restart(), t.restarts.restart()]);
    // One after another, never two servers at once.
    expect(t.log).toEqual(['stop', 'start xp_pat_elsewhere', 'stop', 'start xp_pat_elsewhere']);
  });

  it('sends the settings the server applies live to it instead of restarting it, and restarts for any other xp setting', async () => {
    const t = await wired('at once');

    await t.restarts.settingsChanged(changed('xp.environment'));
    await t.restarts.settingsChanged(changed('xp.apiUrl', 'xp.wrapperFunctions'));
    await t.restarts.settingsChanged(changed('xp.project', 'xp.flagsFile', 'xp.consoleUrl'));
    expect(t.log).toEqual(['configure', 'configure', 'configure']);

    // The protocol trace is vscode-languageclient's own; other extensions' settings are not ours.
    t.log.length = 0;
    await t.restarts.settingsChanged(changed('xp.trace.server'));
    await t.restarts.settingsChanged(changed('editor.fontSize'));
    expect(t.log).toEqual([]);

    // A setting the server is not known to apply live.
    await t.restarts.settingsChanged(changed('xp.somethingNew'));
    expect(t.log).toEqual(['stop', 'start (signed out)']);

    // Queued behind a restart: sent to the server that runs once it has started.
    t.log.length = 0;
    await Promise.all([t.restarts.restart(), t.restarts.settingsChanged(changed('xp.environment'))]);
    expect(t.log).toEqual(['stop', 'start (signed out)', 'configure']);
  });

  it('classifies every setting package.json contributes', () => {
    const manifest = JSON.parse(readFileSync(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../package.json'), 'utf8')) as { contributes: { configuration: { properties: Record<string, unknown> } } };
    // Each must say how it reaches the server: unlisted, it would restart the server at every change.
    expect(Object.keys(manifest.contributes.configuration.properties).filter((key) => !Object.hasOwn(SETTING_CHANGES, key))).toEqual([]);
  });

  it('applies a settings change to the running language server: the environment, and a setting cleared', { timeout: 60_000 }, async () => {
    const root = writeFixtureWorkspace({ 'flags.yaml': FLAGS_YAML });
    const settings: ExtensionSettings = { apiUrl: undefined, project: undefined, environment: 'production', wrapperFunctions: [], flagsFile: 'missing.yaml', consoleUrl: undefined };
    const client = await LspTestClient.start(root, initializationOptions(settings));
    try {
      await client.until('the first status', () => client.statuses.find((s) => s.source === 'none'));
      await client.connection.sendNotification(DidChangeConfigurationNotification.type, { settings: { xp: configurationChange({ ...settings, environment: 'staging', flagsFile: undefined }) } });
      // flagsFile cleared: back to the flags.yaml found in the workspace.
      const status = await client.until('the new settings', () => client.statuses.find((s) => s.source === 'flags-file'));
      expect(status.environment).toBe('staging');
      expect(client.logs.filter((l) => l.includes('settings'))).toEqual([]);
    } finally {
      await client.stop();
      rmSync(root, { recursive: true, force: true });
    }
  });
});

/** VS Code's `affectsConfiguration` for a change of these settings. */
function changed(...keys: string[]): (section: string) => boolean {
  return (section) => keys.some((key) => key === section || key.startsWith(`${section}.`));
}
