/**
 * Electron entry point (`npm run desktop`). Everything with logic lives in the tested modules next
 * to this file; this one only wires them to Electron, which is imported here and nowhere else
 * (the scheme must be registered before the app is ready, hence the static import).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BrowserWindow, Menu, app, ipcMain, net, protocol, safeStorage, session, shell } from 'electron';
import type { DeepLink, MenuMessage } from '../ipc-contract.js';
import { APP_ORIGIN, APP_SCHEME, DEEP_LINK_SCHEME, EventChannel } from '../ipc-contract.js';
import { createAppHandler } from './app-protocol.js';
import { deepLinkFromArgv, deepLinkRoute, parseDeepLink } from './deep-links.js';
import { profileHandlers, registerIpc } from './ipc.js';
import { menuTemplate } from './menu.js';
import { ProfileStore } from './profiles.js';
import { SsoSignInController } from './sso-loopback.js';
import { externalHref, guardContents, windowOptions } from './window-options.js';

const here = path.dirname(fileURLToPath(import.meta.url));

protocol.registerSchemesAsPrivileged([{ scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true } }]);

if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  let win: BrowserWindow | null = null;
  let pending: DeepLink | null = deepLinkFromArgv(process.argv);
  const profiles = new ProfileStore(app.getPath('userData'), safeStorage);

  let ready = false;
  const show = (w: BrowserWindow): void => {
    if (w.isMinimized()) {
      w.restore();
    }
    w.focus();
  };
  const deliver = (link: DeepLink): void => {
    if (win === null) {
      // macOS keeps the app running with no window: a link opens one, on that link's screen.
      pending = link;
      if (ready) {
        createWindow();
      }
      return;
    }
    if (win.webContents.isLoading()) {
      pending = link;
      return;
    }
    win.webContents.send(EventChannel.DeepLink, link);
    show(win);
  };
  const sendMenu = (message: MenuMessage): void => {
    win?.webContents.send(EventChannel.Menu, message);
  };
  const openExternal = (url: string): void => {
    // The normalised href that was checked, never the raw string.
    const href = externalHref(url);
    if (href !== null) {
      shell.openExternal(href).catch((e: unknown) => {
        console.error('opening an external link failed:', e instanceof Error ? e.message : String(e));
      });
    }
  };

  // Under `electron .` (npm run desktop) the executable is Electron's: register it with the app's
  // path, or xp:// links would open Electron's default app (Electron's deep-link guide).
  if (process.defaultApp && process.argv[1] !== undefined) {
    app.setAsDefaultProtocolClient(DEEP_LINK_SCHEME, process.execPath, [path.resolve(process.argv[1])]);
  } else {
    app.setAsDefaultProtocolClient(DEEP_LINK_SCHEME);
  }
  process.on('unhandledRejection', (reason) => {
    console.error('unhandled rejection in the main process:', reason instanceof Error ? reason.message : String(reason));
  });
  app.on('second-instance', (_event, argv) => {
    const link = deepLinkFromArgv(argv);
    if (link !== null) {
      deliver(link);
    } else if (win !== null) {
      show(win);
    } else if (ready) {
      createWindow();
    }
  });
  app.on('open-url', (event, url) => {
    event.preventDefault();
    const link = parseDeepLink(url);
    if (link !== null) {
      deliver(link);
    }
  });
  app.on('web-contents-created', (_event, contents) => {
    guardContents(contents, openExternal);
  });
  app.on('window-all-closed', () => {
    if (process.platform !== 'darwin') {
      app.quit();
    }
  });

  app.on('activate', () => {
    // macOS: the Dock icon reopens the window the user closed.
    if (win === null && ready) {
      createWindow();
    }
  });

  /** The console's window; a pending deep link is its first route, so no message can miss it. */
  function createWindow(): void {
    const w = new BrowserWindow(windowOptions(path.join(here, '..', 'preload', 'preload.cjs')));
    win = w;
    const first = pending;
    pending = null;
    w.once('ready-to-show', () => {
      w.show();
    });
    w.webContents.on('did-finish-load', () => {
      // A link that arrived while the page was loading.
      if (pending !== null) {
        const link = pending;
        pending = null;
        deliver(link);
      }
    });
    w.webContents.on('did-fail-load', () => {
      w.show();
    });
    w.webContents.on('render-process-gone', (_event, details) => {
      console.error(`the console's renderer ended (${details.reason}); reloading it`);
      if (details.reason !== 'clean-exit' && !w.isDestroyed()) {
        w.reload();
      }
    });
    w.on('closed', () => {
      if (win === w) {
        win = null;
      }
    });
    w.loadURL(`${APP_ORIGIN}/index.html${first === null ? '' : deepLinkRoute(first)}`).catch((e: unknown) => {
      console.error('loading the console failed:', e instanceof Error ? e.message : String(e));
      w.show();
    });
  }

  await app.whenReady();
  // The console needs no device or browser permission: refuse them all rather than grant them silently.
  session.defaultSession.setPermissionRequestHandler((_contents, _permission, callback) => {
    callback(false);
  });
  session.defaultSession.setPermissionCheckHandler(() => false);
  // The proxy adds the active profile's token to /api requests: the page never holds a stored token.
  const proxySession = async () => {
    const { profile, token } = await profiles.activeSession();
    return { apiUrl: profile.apiUrl, token };
  };
  protocol.handle(APP_SCHEME, createAppHandler({ rendererDir: path.join(here, '..', 'renderer'), session: proxySession, fetch: net.fetch.bind(net) as typeof fetch }));
  // SSO opens the system browser at the active profile's API (RFC 8252), never inside the app's window.
  const sso = new SsoSignInController({ openExternal: (url) => shell.openExternal(url) });
  registerIpc(ipcMain, profileHandlers(profiles, sso), {
    onError: (channel, error) => {
      console.error(`ipc ${channel} failed:`, error instanceof Error ? error.message : String(error));
    },
  });
  Menu.setApplicationMenu(Menu.buildFromTemplate(menuTemplate(sendMenu)));
  ready = true;
  createWindow();
}
