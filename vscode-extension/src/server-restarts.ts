import { settingsChangeAction } from './server-settings.js';

/**
 * When the language server (re)starts. Every restart re-indexes the workspace, so a change of the
 * token restarts it once however many events report that change: signing in or out changes the
 * secret, which both the command (`credentialsChanged`) and SecretStorage's onDidChange (fired in
 * every window, this one included) report. A settings change restarts it only for a setting it cannot
 * apply live (see `settingsChangeAction`); the others are sent to the running server.
 */
export interface ServerLifecycle {
  /** The token in secret storage now (undefined: signed out). */
  readonly token: () => Promise<string | undefined>;
  /** Stops the running server, if any. */
  readonly stop: () => Promise<void>;
  /** Starts a server with this token. */
  readonly start: (token: string | undefined) => Promise<void>;
  /** Sends the current settings to the running server, if any (workspace/didChangeConfiguration). */
  readonly configure: () => Promise<void>;
}

export interface ServerRestarts {
  /** Stops the running server, if any, and starts one with the stored token (activation). */
  readonly restart: () => Promise<void>;
  /**
   * Settings changed (`affects`: VS Code's `affectsConfiguration`): the running server gets those it
   * applies live, and is restarted for any other `xp.*` setting.
   */
  readonly settingsChanged: (affects: (section: string) => boolean) => Promise<void>;
  /** Restarts unless the server was already started with the stored token (sign-in, sign-out). */
  readonly tokenChanged: () => Promise<void>;
}

export function serverRestarts(lifecycle: ServerLifecycle): ServerRestarts {
  // Restarts run one after another: settings events arriving together started a server each, and
  // all but the last kept running.
  let queue: Promise<void> = Promise.resolve();
  const enqueue = (step: () => Promise<void>): Promise<void> => {
    queue = queue.then(step, step);
    return queue;
  };
  /** The token the latest server was started with; undefined before the first start. */
  let started: { readonly token: string | undefined } | undefined;
  const restartWith = async (token: string | undefined): Promise<void> => {
    started = { token };
    await lifecycle.stop();
    await lifecycle.start(token);
  };
  return {
    restart: () => enqueue(async () => restartWith(await lifecycle.token())),
    // Queued too: a server starting now reads the settings when it starts, and one started after the
    // change gets them again, which changes nothing.
    settingsChanged: (affects) =>
      enqueue(async () => {
        const action = settingsChangeAction(affects);
        if (started === undefined || action === 'none') {
          return;
        }
        if (action === 'restart') {
          await restartWith(await lifecycle.token());
        } else {
          await lifecycle.configure();
        }
      }),
    tokenChanged: () =>
      enqueue(async () => {
        const token = await lifecycle.token();
        if (started === undefined || started.token !== token) {
          await restartWith(token);
        }
      }),
  };
}
