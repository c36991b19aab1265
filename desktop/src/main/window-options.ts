import type { BrowserWindowConstructorOptions, Event as ElectronEvent, HandlerDetails, WebContents } from 'electron';
import { APP_ORIGIN } from '../ipc-contract.js';
import { isProxiedPath } from './app-protocol.js';

/** Options of every console window: isolated, sandboxed, no Node in the page. */
export function windowOptions(preloadPath: string): BrowserWindowConstructorOptions {
  return {
    width: 1280,
    height: 800,
    minWidth: 960,
    minHeight: 600,
    show: false,
    title: 'xp console',
    backgroundColor: '#111318',
    webPreferences: {
      preload: preloadPath,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      experimentalFeatures: false,
      webviewTag: false,
      navigateOnDragDrop: false,
      spellcheck: false,
    },
  };
}

/** True for URLs the app itself serves; everything else is foreign. */
export function isAppUrl(url: string, appOrigin: string = APP_ORIGIN): boolean {
  try {
    // Custom schemes have an opaque ("null") origin in WHATWG URLs, so compare scheme and host.
    const a = new URL(url);
    const b = new URL(appOrigin);
    return a.protocol === b.protocol && a.host === b.host && a.host !== '' && a.username === '' && a.password === '';
  } catch {
    return false;
  }
}

/** The console's own page (`/index.html` or `/`, any query or route): the one document that may call the main process. */
export function isAppIndex(url: string, appOrigin: string = APP_ORIGIN): boolean {
  if (!isAppUrl(url, appOrigin)) {
    return false;
  }
  const { pathname } = new URL(url);
  return pathname === '/' || pathname === '/index.html';
}

/** Only web pages go to the system browser; file:, javascript:, custom schemes never do. */
export function isExternalUrlAllowed(url: string): boolean {
  return externalHref(url) !== null;
}

/**
 * The URL to hand to the system browser: the normalised href that was checked (an http(s) URL), never
 * the raw string, whose tabs, newlines or control characters another parser may read differently.
 */
export function externalHref(url: string): string | null {
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'https:' || parsed.protocol === 'http:' ? parsed.href : null;
  } catch {
    return null;
  }
}

/** The parts of WebContents the guards use, so tests can pass a fake. */
export type GuardedContents = Pick<WebContents, 'on' | 'setWindowOpenHandler'>;

/** Whether a document may load this URL in the window: the app's own pages, not its API proxy. */
function isAppDocument(url: string, appOrigin: string): boolean {
  return isAppUrl(url, appOrigin) && !isProxiedPath(new URL(url).pathname);
}

/**
 * Denies new windows and navigation away from the app (and to its /api and /sdk proxy, whose
 * answers are not pages); http(s) links open in the system browser, as their normalised href.
 */
export function guardContents(contents: GuardedContents, openExternal: (url: string) => void, appOrigin: string = APP_ORIGIN): void {
  const external = (url: string): void => {
    const href = externalHref(url);
    if (href !== null) {
      openExternal(href);
    }
  };
  contents.setWindowOpenHandler((details: HandlerDetails) => {
    external(details.url);
    return { action: 'deny' };
  });
  const refuse = (event: ElectronEvent, url: string): void => {
    if (!isAppDocument(url, appOrigin)) {
      event.preventDefault();
      external(url);
    }
  };
  contents.on('will-navigate', refuse);
  contents.on('will-redirect', refuse);
  contents.on('will-attach-webview', (event) => {
    event.preventDefault();
  });
}
