/**
 * Electron entry point (`npm run desktop`). Everything with logic lives in the tested modules next
 * to this file; this one only wires them to Electron, which is imported here and nowhere else
 * (the scheme must be registered before the app is ready, hence the static import).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BrowserWindow, Menu, app, ipcMain, net, protocol, safeStorage, shell } from 'electron';
import type { DeepLink, MenuMessage } from '../ipc-contract.js';
import { APP_ORIGIN, APP_SCHEME, DEEP_LINK_SCHEME, EventChannel, InvokeChannel } from '../ipc-contract.js';
import { createAppHandler } from './app-protocol.js';
import { deepLinkFromArgv, parseDeepLink } from './deep-links.js';
import { registerIpc } from './ipc.js';
import { menuTemplate } from './menu.js';
import { ProfileStore } from './profiles.js';
import { guardContents, isExternalUrlAllowed, windowOptions } from './window-options.js';

const here = path.dirname(fileURLToPath(import.meta.url));

protocol.registerSchemesAsPrivileged([{ scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true } }]);

if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  let win: BrowserWindow | null = null;
  let pending: DeepLink | null = deepLinkFromArgv(process.argv);
  const profiles = new ProfileStore(app.getPath('userData'), safeStorage);

  const deliver = (link: DeepLink): void => {
    if (win === null || win.webContents.isLoading()) {
      pending = link;
      return;
    }
    win.webContents.send(EventChannel.DeepLink, link);
    if (win.isMinimized()) {
      win.restore();
    }
    win.focus();
  };
  const sendMenu = (message: MenuMessage): void => {
    win?.webContents.send(EventChannel.Menu, message);
  };
  const openExternal = (url: string): void => {
    if (isExternalUrlAllowed(url)) {
      void shell.openExternal(url);
    }
  };

  app.setAsDefaultProtocolClient(DEEP_LINK_SCHEME);
  app.on('second-instance', (_event, argv) => {
    const link = deepLinkFromArgv(argv);
    if (link !== null) {
      deliver(link);
    } else if (win !== null) {
      win.focus();
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

  await app.whenReady();
  protocol.handle(APP_SCHEME, createAppHandler({ rendererDir: path.join(here, '..', 'renderer'), apiUrl: async () => (await profiles.active()).apiUrl, fetch: net.fetch.bind(net) as typeof fetch }));
  registerIpc(
    ipcMain,
    {
      [InvokeChannel.ListProfiles]: () => profiles.list(),
      [InvokeChannel.SaveProfile]: (p) => profiles.upsert(p),
      [InvokeChannel.RemoveProfile]: (id) => profiles.remove(id),
      [InvokeChannel.SelectProfile]: (id) => profiles.select(id),
      [InvokeChannel.SetToken]: (token) => profiles.setToken(token),
      [InvokeChannel.GetToken]: () => profiles.getToken(),
      [InvokeChannel.OpenExternal]: (url) => {
        const ok = typeof url === 'string' && isExternalUrlAllowed(url);
        if (ok) {
          void shell.openExternal(url);
        }
        return Promise.resolve(ok);
      },
    },
    { onError: (channel, error) => { console.error(`ipc ${channel} failed:`, error instanceof Error ? error.message : String(error)); } },
  );
  Menu.setApplicationMenu(Menu.buildFromTemplate(menuTemplate(sendMenu)));

  win = new BrowserWindow(windowOptions(path.join(here, '..', 'preload', 'preload.cjs')));
  win.once('ready-to-show', () => win?.show());
  win.webContents.on('did-finish-load', () => {
    if (pending !== null) {
      const link = pending;
      pending = null;
      deliver(link);
    }
  });
  win.on('closed', () => {
    win = null;
  });
  await win.loadURL(`${APP_ORIGIN}/index.html`);
}
