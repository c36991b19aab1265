import { describe, expect, it } from 'vitest';
import { externalHref, guardContents, isAppIndex, isAppUrl, isExternalUrlAllowed, windowOptions } from '../window-options.js';
import type { GuardedContents } from '../window-options.js';

/** A stand-in for WebContents (Electron cannot start here): records the listeners the guard installs. */
function fakeContents() {
  const listeners = new Map<string, (event: { preventDefault(): void; defaultPrevented: boolean }, url: string) => void>();
  let openHandler: ((details: { url: string }) => { action: string }) | undefined;
  const contents = {
    on(name: string, fn: never) {
      listeners.set(name, fn);
      return contents;
    },
    setWindowOpenHandler(fn: never) {
      openHandler = fn;
    },
  };
  const fire = (name: string, url: string): boolean => {
    const event = {
      defaultPrevented: false,
      preventDefault() {
        event.defaultPrevented = true;
      },
    };
    listeners.get(name)!(event, url);
    return event.defaultPrevented;
  };
  return { contents: contents as unknown as GuardedContents, fire, open: (url: string) => openHandler!({ url }), listeners };
}

describe('window options', () => {
  it('isolates and sandboxes the page with no Node access', () => {
    const prefs = windowOptions('/app/preload.cjs').webPreferences!;

    expect(prefs).toMatchObject({
      preload: '/app/preload.cjs',
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
    });
  });

  it('recognises only the app origin as the app', () => {
    expect(isAppUrl('xp-app://console/index.html#/flags')).toBe(true);
    expect(isAppUrl('https://console.evil.example/')).toBe(false);
    expect(isAppUrl('file:///etc/passwd')).toBe(false);
    expect(isAppUrl('not a url')).toBe(false);
  });

  it("recognises the console's own page, not other paths of its origin", () => {
    expect(isAppIndex('xp-app://console/index.html#/flags')).toBe(true);
    expect(isAppIndex('xp-app://console/?project=shop#/flags')).toBe(true);
    expect(isAppIndex('xp-app://console/api/v1/x')).toBe(false);
    expect(isAppIndex('xp-app://console.evil/index.html')).toBe(false);
  });

  it('hands over the normalised href that was checked, never the raw string', () => {
    expect(externalHref('ht\ttp://evil.example/')).toBe('http://evil.example/');
    expect(externalHref(' \x01https://evil.example/\n')).toBe('https://evil.example/');
    expect(externalHref('\x00javascript:alert(1)')).toBeNull();
    expect(externalHref('JaVaScRiPt:alert(1)')).toBeNull();
  });

  it('opens only http(s) externally', () => {
    expect(isExternalUrlAllowed('https://example.com/docs')).toBe(true);
    expect(isExternalUrlAllowed('http://localhost:8000/docs')).toBe(true);
    expect(isExternalUrlAllowed('file:///etc/passwd')).toBe(false);
    expect(isExternalUrlAllowed('javascript:alert(1)')).toBe(false);
    expect(isExternalUrlAllowed('xp://flag/a')).toBe(false);
  });
});

describe('navigation guards', () => {
  it('denies every new window and sends web links to the system browser', () => {
    const opened: string[] = [];
    const fake = fakeContents();
    guardContents(fake.contents, (u) => opened.push(u));

    expect(fake.open('https://example.com/')).toEqual({ action: 'deny' });
    expect(fake.open('file:///etc/hosts')).toEqual({ action: 'deny' });
    expect(opened).toEqual(['https://example.com/']);
  });

  it('keeps navigation inside the app and blocks everything else', () => {
    const opened: string[] = [];
    const fake = fakeContents();
    guardContents(fake.contents, (u) => opened.push(u));

    expect(fake.fire('will-navigate', 'xp-app://console/index.html#/experiments')).toBe(false);
    expect(fake.fire('will-navigate', 'https://phish.example/login')).toBe(true);
    expect(fake.fire('will-redirect', 'file:///home/user/.ssh/id_rsa')).toBe(true);
    expect(fake.fire('will-attach-webview', 'xp-app://console/')).toBe(true);
    expect(opened).toEqual(['https://phish.example/login']);
  });

  it('keeps the window off the /api and /sdk proxy, whose answers are not pages', () => {
    const opened: string[] = [];
    const fake = fakeContents();
    guardContents(fake.contents, (u) => opened.push(u));

    expect(fake.fire('will-navigate', 'xp-app://console/api/v1/x')).toBe(true);
    expect(fake.fire('will-redirect', 'xp-app://console/sdk/v1/flags')).toBe(true);
    expect(fake.fire('will-navigate', 'xp-app://console/index.html#/flags')).toBe(false);
    expect(opened).toEqual([]);
  });

  it('passes the normalised href to the system browser, from navigation and from new windows', () => {
    const opened: string[] = [];
    const fake = fakeContents();
    guardContents(fake.contents, (u) => opened.push(u));

    fake.fire('will-navigate', 'ht\ttp://evil.example/a');
    fake.open('h\nttps://evil.example/b\n');

    expect(opened).toEqual(['http://evil.example/a', 'https://evil.example/b']);
  });
});
