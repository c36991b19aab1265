import { createContext, useContext } from 'react';
import type { RolesView, StoredEnvironment, User, XpApiClient } from '@xp/shared';

/** Everything a signed-in screen needs: the API client, the project and the chosen environment. */
export interface Session {
  readonly client: XpApiClient;
  readonly user: User;
  /**
   * The permissions of the user's role in the current project (their project role there, else their
   * organisation role: `roleInProject`), from the API's permission matrix: the console disables what
   * the role may not do. Undefined while unknown (nothing is disabled; the API still decides).
   */
  readonly permissions?: ReadonlySet<string>;
  /** The API's permission matrix, for checks outside the current project (creating projects, another project's row). */
  readonly matrix?: RolesView;
  readonly project: string;
  readonly environments: readonly StoredEnvironment[];
  readonly environment: string;
  readonly setEnvironment: (key: string) => void;
  /** Bumped by the Refresh command (menu, keyboard) so screens reload. */
  readonly refreshTick: number;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const s = useContext(SessionContext);
  if (s === null) {
    throw new Error('useSession outside a signed-in console');
  }
  return s;
}

/** The API base of the page: the console is always served from the API's origin (or a proxy of it). */
export function pageApiUrl(): string {
  const { origin, protocol, host } = window.location;
  return origin === 'null' ? `${protocol}//${host}` : origin;
}

const SESSION_KEY = 'xp.session';

/**
 * What the desktop page sends as its bearer token: the app's proxy replaces it with the active
 * profile's token, which stays in the main process (the page can store a token, never read one).
 */
export const DESKTOP_SESSION_TOKEN = 'desktop-session';

/** Where the session token lives: the OS keychain in the desktop app (behind its proxy), sessionStorage on the web. */
export const tokenStore = {
  async load(): Promise<string | null> {
    const bridge = window.xp;
    if (bridge !== undefined) {
      return (await bridge.hasToken()) ? DESKTOP_SESSION_TOKEN : null;
    }
    return window.sessionStorage.getItem(SESSION_KEY);
  },
  async save(token: string | null): Promise<void> {
    const bridge = window.xp;
    if (bridge !== undefined) {
      await bridge.setToken(token).catch(() => false);
      return;
    }
    if (token === null) {
      window.sessionStorage.removeItem(SESSION_KEY);
    } else {
      window.sessionStorage.setItem(SESSION_KEY, token);
    }
  },
};
