/**
 * The preload script: exposes the contract's named capabilities as `window.xp`, never ipcRenderer
 * itself, and no call that returns a token. CommonJS because sandboxed preloads cannot be ES modules.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports -- sandboxed preloads are CommonJS; this is its only import
import electron = require('electron');
import type { DeepLink, EventChannel, EventContract, InvokeChannel, InvokeContract, MenuMessage, XpBridge } from '../ipc-contract.js';

type InvokeChannelType = InvokeChannel;

const { contextBridge, ipcRenderer } = electron;

// The channel names, repeated because a CommonJS preload cannot import the ES module contract at run time;
// `satisfies typeof` makes the compiler check every name and value against the contract.
const Invoke = {
  ListProfiles: 'xp:profiles:list',
  SaveProfile: 'xp:profiles:save',
  RemoveProfile: 'xp:profiles:remove',
  SelectProfile: 'xp:profiles:select',
  SetToken: 'xp:profiles:set-token',
  HasToken: 'xp:profiles:has-token',
  SsoStart: 'xp:sso:start',
  SsoWait: 'xp:sso:wait',
  SsoCancel: 'xp:sso:cancel',
  SsoDiscard: 'xp:sso:discard',
} as const satisfies typeof InvokeChannel;
const Events = { DeepLink: 'xp:deep-link', Menu: 'xp:menu' } as const satisfies typeof EventChannel;

function invoke<C extends InvokeChannelType>(channel: C, ...args: InvokeContract[C]['args']): Promise<InvokeContract[C]['result']> {
  return ipcRenderer.invoke(channel, ...args) as Promise<InvokeContract[C]['result']>;
}

function subscribe<E extends keyof EventContract>(channel: E, listener: (payload: EventContract[E]) => void): () => void {
  const wrapped = (_event: unknown, payload: EventContract[E]): void => {
    listener(payload);
  };
  ipcRenderer.on(channel, wrapped);
  return () => {
    ipcRenderer.removeListener(channel, wrapped);
  };
}

const bridge: XpBridge = {
  listProfiles: () => invoke(Invoke.ListProfiles),
  saveProfile: (profile) => invoke(Invoke.SaveProfile, profile),
  removeProfile: (id) => invoke(Invoke.RemoveProfile, id),
  selectProfile: (id) => invoke(Invoke.SelectProfile, id),
  // Write-only: the token stays in the main process, which adds it to the page's /api requests.
  setToken: (token) => invoke(Invoke.SetToken, token),
  hasToken: () => invoke(Invoke.HasToken),
  // No argument: main signs in at the active profile's API; the answers are a code to show, then a one-time code, not a token.
  ssoStart: () => invoke(Invoke.SsoStart),
  ssoWait: () => invoke(Invoke.SsoWait),
  ssoCancel: () => invoke(Invoke.SsoCancel),
  // The token only: main sends its logout to the active profile's API.
  ssoDiscard: (token: string) => invoke(Invoke.SsoDiscard, token),
  onDeepLink: (listener: (link: DeepLink) => void) => subscribe(Events.DeepLink, listener),
  onMenu: (listener: (message: MenuMessage) => void) => subscribe(Events.Menu, listener),
};

contextBridge.exposeInMainWorld('xp', bridge);
