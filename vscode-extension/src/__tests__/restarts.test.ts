import { describe, expect, it } from 'vitest';
import { ApiError } from '@xp/shared';
import type { ExplainResult } from '@xp/language-server/protocol';
import { CommandId, createCommands } from '../commands.js';
import { TOKEN_SECRET } from '../host.js';
import { serverRestarts } from '../server-restarts.js';
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

  it('follows a sign-in in another window (the secret changes alone), and restarts on every settings change', async () => {
    const t = await wired('later');
    await t.secrets.store(TOKEN_SECRET, 'xp_pat_elsewhere');
    await settle();
    expect(t.log).toEqual(['stop', 'start xp_pat_elsewhere']);

    t.log.length = 0;
    await Promise.all([t.restarts.restart(), t.restarts.restart()]);
    // One after another, never two servers at once.
    expect(t.log).toEqual(['stop', 'start xp_pat_elsewhere', 'stop', 'start xp_pat_elsewhere']);
  });
});
