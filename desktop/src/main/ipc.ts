import type { InvokeChannel, InvokeContract } from '../ipc-contract.js';
import { APP_ORIGIN, InvokeChannel as Channels } from '../ipc-contract.js';
import { isAppIndex } from './window-options.js';
import { ProfileError } from './profiles.js';
import type { ProfileStore } from './profiles.js';
import { SsoSignInError } from './sso-loopback.js';
import type { SsoSignInController } from './sso-loopback.js';

/** What a handler learns about the sender: the frame that sent the message, its URL and its parent (null for a window's main frame). */
export interface IpcSender {
  readonly senderFrame: { readonly url: string; readonly parent: object | null } | null;
}

/** The part of `ipcMain` used here, so tests can pass a fake. */
export interface IpcMainLike {
  handle(channel: string, listener: (event: IpcSender, ...args: unknown[]) => unknown): void;
}

/** One handler per channel; arguments arrive unchecked from the renderer and are validated inside. */
export type IpcHandlers = {
  readonly [C in InvokeChannel]: (...args: unknown[]) => Promise<InvokeContract[C]['result']>;
};

/** Raised to the renderer when a message comes from a frame that is not the app's own page. */
export class UntrustedSenderError extends Error {
  constructor() {
    super('IPC refused: the sender is not the console');
    this.name = 'UntrustedSenderError';
  }
}

/** Only the console's own page, in a window's main frame, may call the main process (no iframe, no proxied /api document). */
export function isTrustedSender(event: IpcSender, appOrigin: string = APP_ORIGIN): boolean {
  const frame = event.senderFrame;
  return frame !== null && frame.parent === null && isAppIndex(frame.url, appOrigin);
}

/**
 * What each channel does with the profile store. None returns a token: the page may write one, never
 * read it. SSO sign-in takes no argument: it goes to the active profile's API, never to a URL the page
 * names (whatever the page sends is ignored), and answers with the code to show, then a one-time code
 * the page exchanges. A discarded SSO session's logout goes to the active profile's API too.
 */
export function profileHandlers(profiles: ProfileStore, sso: SsoSignInController): IpcHandlers {
  return {
    [Channels.ListProfiles]: () => profiles.list(),
    [Channels.SaveProfile]: (p) => profiles.upsert(p),
    [Channels.RemoveProfile]: (id) => profiles.remove(id),
    [Channels.SelectProfile]: (id) => profiles.select(id),
    [Channels.SetToken]: (token) => profiles.setToken(token),
    [Channels.HasToken]: () => profiles.hasToken(),
    [Channels.SsoStart]: async () => sso.start((await profiles.active()).apiUrl),
    [Channels.SsoWait]: () => sso.wait(),
    [Channels.SsoCancel]: () => Promise.resolve(sso.cancel()),
    [Channels.SsoDiscard]: async (token) => sso.discard((await profiles.active()).apiUrl, token),
  };
}

/**
 * Registers every channel of the contract. Each message's sender frame is checked first; errors
 * reach the renderer as short messages (ProfileError and SsoSignInError texts) or a generic one, never a stack.
 */
export function registerIpc(ipcMain: IpcMainLike, handlers: IpcHandlers, options: { appOrigin?: string; onError?: (channel: string, error: unknown) => void } = {}): void {
  for (const channel of Object.values(Channels)) {
    const handler = handlers[channel];
    ipcMain.handle(channel, async (event, ...args) => {
      if (!isTrustedSender(event, options.appOrigin)) {
        throw new UntrustedSenderError();
      }
      try {
        return await handler(...args);
      } catch (e) {
        options.onError?.(channel, e);
        throw new Error(e instanceof ProfileError || e instanceof SsoSignInError ? e.message : 'the request failed');
      }
    });
  }
}
