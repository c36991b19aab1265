/**
 * The one IPC contract between the Electron main process and the preload script. Main registers a
 * handler for every invoke channel; the preload exposes each as a named capability on `window.xp`.
 * Types only: the renderer imports it too, and nothing here touches Electron.
 */
import type { SsoSignInOutcome, SsoSignInStarted } from '@xp/shared';

/** A named API endpoint the console can connect to. */
export interface ConnectionProfile {
  readonly id: string;
  readonly name: string;
  /** Base URL of the management API, e.g. http://localhost:8000. */
  readonly apiUrl: string;
}

/** What the renderer sees of a profile: never the token itself, only whether it has a session. */
export interface ProfileView extends ConnectionProfile {
  readonly hasToken: boolean;
  readonly active: boolean;
}

/** A parsed `xp://` deep link. */
export type DeepLink = { readonly kind: 'flag'; readonly key: string } | { readonly kind: 'experiment'; readonly key: string };

/** Commands the native menu and its accelerators send to the renderer. */
export const MenuCommand = {
  /** Go to a screen by its route name. */
  Navigate: 'navigate',
  /** Focus the search box of the current list. */
  Search: 'search',
  /** Reload the current screen's data. */
  Refresh: 'refresh',
  /** Switch between the dark and light themes. */
  ToggleTheme: 'toggle-theme',
} as const;
export type MenuCommand = (typeof MenuCommand)[keyof typeof MenuCommand];

export interface MenuMessage {
  readonly command: MenuCommand;
  readonly screen?: string;
}

/** Renderer → main request channels (ipcRenderer.invoke / ipcMain.handle). */
export const InvokeChannel = {
  /** The saved connection profiles, the active one marked. */
  ListProfiles: 'xp:profiles:list',
  /** Create or update a profile (no token); refused while the active profile is signed in. */
  SaveProfile: 'xp:profiles:save',
  /** Delete a profile and its stored token; refused while the active profile is signed in. */
  RemoveProfile: 'xp:profiles:remove',
  /** Make a profile the one the console's /api requests go to; refused while the active profile is signed in. */
  SelectProfile: 'xp:profiles:select',
  /** Write-only: store (encrypted with safeStorage) or clear the active profile's session token; main adds it to proxied requests. */
  SetToken: 'xp:profiles:set-token',
  /** Whether the active profile has a session (the token itself never reaches the page). */
  HasToken: 'xp:profiles:has-token',
  /**
   * Single sign-on in the system browser (RFC 8252): main opens the active profile's SSO start with a
   * loopback redirect (replacing any sign-in that waits) and answers once the browser is open, with
   * the confirmation code the xp site will ask the person to check. No arguments: the URL is never
   * the renderer's to choose.
   */
  SsoStart: 'xp:sso:start',
  /** How the last started SSO sign-in ends: once the browser comes back, or the wait is cancelled or times out. */
  SsoWait: 'xp:sso:wait',
  /** Stops the waiting SSO sign-in (it answers `cancelled`); true when one was waiting. */
  SsoCancel: 'xp:sso:cancel',
  /**
   * Ends a session an SSO exchange made that the page will not use (the session-expired dialog's
   * sign-in came back as another person): main sends the logout with that token to the active
   * profile's API (the /api proxy would send the profile's own token instead). True when it ended.
   */
  SsoDiscard: 'xp:sso:discard',
} as const;
export type InvokeChannel = (typeof InvokeChannel)[keyof typeof InvokeChannel];

/** Arguments and results of each invoke channel. */
export interface InvokeContract {
  [InvokeChannel.ListProfiles]: { args: []; result: ProfileView[] };
  [InvokeChannel.SaveProfile]: { args: [profile: ConnectionProfile]; result: ProfileView[] };
  [InvokeChannel.RemoveProfile]: { args: [id: string]; result: ProfileView[] };
  [InvokeChannel.SelectProfile]: { args: [id: string]; result: ProfileView[] };
  [InvokeChannel.SetToken]: { args: [token: string | null]; result: boolean };
  [InvokeChannel.HasToken]: { args: []; result: boolean };
  [InvokeChannel.SsoStart]: { args: []; result: SsoSignInStarted };
  [InvokeChannel.SsoWait]: { args: []; result: SsoSignInOutcome };
  [InvokeChannel.SsoCancel]: { args: []; result: boolean };
  [InvokeChannel.SsoDiscard]: { args: [token: string]; result: boolean };
}

/** A desktop SSO sign-in under way, and how it ended (`@xp/shared`, shared with `xp login`). */
export type { SsoSignInOutcome, SsoSignInStarted };

/** Main → renderer event channels (webContents.send / ipcRenderer.on). */
export const EventChannel = {
  /** An `xp://` link opened the app or arrived at the running instance. */
  DeepLink: 'xp:deep-link',
  /** A native menu item or accelerator. */
  Menu: 'xp:menu',
} as const;
export type EventChannel = (typeof EventChannel)[keyof typeof EventChannel];

export interface EventContract {
  [EventChannel.DeepLink]: DeepLink;
  [EventChannel.Menu]: MenuMessage;
}

type Unsubscribe = () => void;

/**
 * The capabilities the preload exposes as `window.xp`; absent in the plain web console. No call
 * returns a token: the main process adds the active profile's token to the page's /api requests.
 */
export interface XpBridge {
  readonly listProfiles: () => Promise<ProfileView[]>;
  readonly saveProfile: (profile: ConnectionProfile) => Promise<ProfileView[]>;
  readonly removeProfile: (id: string) => Promise<ProfileView[]>;
  readonly selectProfile: (id: string) => Promise<ProfileView[]>;
  readonly setToken: (token: string | null) => Promise<boolean>;
  readonly hasToken: () => Promise<boolean>;
  /** Starts an SSO sign-in in the system browser; resolves once it is open, with the code to show. */
  readonly ssoStart: () => Promise<SsoSignInStarted>;
  /** How the started SSO sign-in ends: when the browser comes back, or on cancel/timeout. */
  readonly ssoWait: () => Promise<SsoSignInOutcome>;
  /** Cancels the waiting SSO sign-in; true when one was waiting. */
  readonly ssoCancel: () => Promise<boolean>;
  /** Ends the session of a token an SSO exchange gave that the page will not use; true when it ended. */
  readonly ssoDiscard: (token: string) => Promise<boolean>;
  readonly onDeepLink: (listener: (link: DeepLink) => void) => Unsubscribe;
  readonly onMenu: (listener: (message: MenuMessage) => void) => Unsubscribe;
}

/** The custom scheme and host the desktop app serves the renderer from (and proxies /api through). */
export const APP_SCHEME = 'xp-app';
export const APP_ORIGIN = `${APP_SCHEME}://console`;
/** The deep-link scheme registered with the operating system. */
export const DEEP_LINK_SCHEME = 'xp';
