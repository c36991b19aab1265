import type { BrowserWindowConstructorOptions, Event as ElectronEvent, HandlerDetails, WebContents } from 'electron';
import { APP_ORIGIN } from '../ipc-contract.js';

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

/** Only web pages go to the system browser; file:, javascript:, custom schemes never do. */
export function isExternalUrlAllowed(url: string): boolean {
  try {
    const { protocol } = new URL(url);
    return protocol === 'https:' || protocol === 'http:';
  } catch {
    return false;
  }
}

/** The parts of WebContents the guards use, so tests can pass a fake. */
export type GuardedContents = Pick<WebContents, 'on' | 'setWindowOpenHandler'>;

/** Denies new windows and navigation away from the app; http(s) links open in the system browser. */
export function guardContents(contents: GuardedContents, openExternal: (url: string) => void, appOrigin: string = APP_ORIGIN): void {
  contents.setWindowOpenHandler((details: HandlerDetails) => {
    if (isExternalUrlAllowed(details.url)) {
      openExternal(details.url);
    }
    return { action: 'deny' };
  });
  const refuse = (event: ElectronEvent, url: string): void => {
    if (!isAppUrl(url, appOrigin)) {
      event.preventDefault();
      if (isExternalUrlAllowed(url)) {
        openExternal(url);
      }
    }
  };
  contents.on('will-navigate', refuse);
  contents.on('will-redirect', refuse);
  contents.on('will-attach-webview', (event) => {
    event.preventDefault();
  });
}
