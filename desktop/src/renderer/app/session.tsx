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

/** What an SSO sign-in brought back in the URL fragment: a one-time code to exchange, or why it failed. */
export type SsoReturn = { readonly code: string } | { readonly error: string };

/**
 * Takes an SSO sign-in's answer out of the URL at once: the API's callback redirects to
 * `/#sso-code=<one-time code>` or `/#sso-error=<reason>`, and the fragment is replaced with `#/`
 * (history.replaceState: no hashchange, no history entry keeping the code) before anything reads the
 * hash as a route. Null when the URL holds neither.
 */
export function takeSsoReturn(): SsoReturn | null {
  const match = /^#sso-(code|error)=([^&]*)/.exec(window.location.hash);
  if (match === null) {
    return null;
  }
  window.history.replaceState(window.history.state, '', `${window.location.pathname}${window.location.search}#/`);
  const value = safeDecode(match[2] ?? '');
  return match[1] === 'code' ? { code: value } : { error: value };
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** One exchange per code: a code is single-use, and React's development mode runs an effect twice. */
const exchanges = new WeakMap<object, Promise<string>>();

/**
 * Trades an SSO sign-in's one-time code for a session and stores its token as a password sign-in
 * does; the same `arrival` gets the same promise.
 */
export function ssoSession(client: XpApiClient, arrival: { readonly code: string }): Promise<string> {
  let exchange = exchanges.get(arrival);
  if (exchange === undefined) {
    exchange = client.ssoExchange(arrival.code).then(async ({ token }) => {
      await tokenStore.save(token);
      return token;
    });
    exchanges.set(arrival, exchange);
  }
  return exchange;
}
