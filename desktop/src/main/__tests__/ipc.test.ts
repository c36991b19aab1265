import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ssoConfirmationCode } from '@xp/shared';
import { InvokeChannel } from '../../ipc-contract.js';
import { UntrustedSenderError, isTrustedSender, profileHandlers, registerIpc } from '../ipc.js';
import type { IpcHandlers, IpcMainLike, IpcSender } from '../ipc.js';
import { ProfileError, ProfileStore } from '../profiles.js';
import type { TokenCipher } from '../profiles.js';
import { SsoSignInController } from '../sso-loopback.js';

/** ipcMain stand-in (Electron cannot start here): keeps the registered listeners to call them. */
function fakeIpcMain() {
  const handlers = new Map<string, (event: IpcSender, ...args: unknown[]) => unknown>();
  const ipc: IpcMainLike = {
    handle(channel, listener) {
      handlers.set(channel, listener);
    },
  };
  const call = (channel: string, url: string | null, ...args: unknown[]) => handlers.get(channel)!({ senderFrame: url === null ? null : { url, parent: null } }, ...args);
  /** A message from an iframe of the page (its frame has a parent). */
  const callFromSubframe = (channel: string, url: string, ...args: unknown[]) => handlers.get(channel)!({ senderFrame: { url, parent: {} } }, ...args);
  return { ipc, handlers, call, callFromSubframe };
}

function handlers(calls: unknown[][]): IpcHandlers {
  const record =
    <T>(result: T) =>
    (...args: unknown[]) => {
      calls.push(args);
      return Promise.resolve(result);
    };
  return {
    [InvokeChannel.ListProfiles]: record([]),
    [InvokeChannel.SaveProfile]: record([]),
    [InvokeChannel.RemoveProfile]: () => Promise.reject(new ProfileError('NOT_FOUND', 'no such profile')),
    [InvokeChannel.SelectProfile]: () => Promise.reject(new Error('EACCES: /home/me/.config/xp/profiles.json')),
    [InvokeChannel.SetToken]: record(true),
    [InvokeChannel.HasToken]: record(true),
    [InvokeChannel.SsoStart]: record({ confirmationCode: 'ABCD-EFGH' }),
    [InvokeChannel.SsoWait]: record({ status: 'cancelled' }),
    [InvokeChannel.SsoCancel]: record(false),
    [InvokeChannel.SsoDiscard]: record(true),
  };
}

describe('IPC registration', () => {
  it('registers a handler for every channel of the contract', () => {
    const fake = fakeIpcMain();
    registerIpc(fake.ipc, handlers([]));

    expect([...fake.handlers.keys()].sort()).toEqual(Object.values(InvokeChannel).sort());
  });

  it('answers the app page and passes the arguments through', async () => {
    const calls: unknown[][] = [];
    const fake = fakeIpcMain();
    registerIpc(fake.ipc, handlers(calls));

    const signedIn = await fake.call(InvokeChannel.HasToken, 'xp-app://console/index.html#/flags');
    await fake.call(InvokeChannel.SetToken, 'xp-app://console/index.html', 'session-token');

    expect(signedIn).toBe(true);
    expect(calls).toEqual([[], ['session-token']]);
  });

  it.each([
    ['a foreign web page', 'https://evil.example/'],
    ['a local file', 'file:///tmp/x.html'],
    ['a frame with no URL', null],
    ['a look-alike origin', 'xp-app://console.evil/'],
    ['an API answer loaded as a document', 'xp-app://console/api/v1/anything.html'],
    ['an SDK answer loaded as a document', 'xp-app://console/sdk/v1/x'],
  ])('refuses %s without calling the handler', async (_name, url) => {
    const calls: unknown[][] = [];
    const fake = fakeIpcMain();
    registerIpc(fake.ipc, handlers(calls));

    await expect(fake.call(InvokeChannel.SetToken, url, 'planted')).rejects.toBeInstanceOf(UntrustedSenderError);
    await expect(fake.call(InvokeChannel.SsoStart, url)).rejects.toBeInstanceOf(UntrustedSenderError);
    await expect(fake.call(InvokeChannel.SsoWait, url)).rejects.toBeInstanceOf(UntrustedSenderError);
    await expect(fake.call(InvokeChannel.SsoCancel, url)).rejects.toBeInstanceOf(UntrustedSenderError);
    await expect(fake.call(InvokeChannel.SsoDiscard, url, 'xps_token')).rejects.toBeInstanceOf(UntrustedSenderError);
    expect(calls).toEqual([]);
  });

  it("refuses a subframe, even one showing the app's own page", async () => {
    const calls: unknown[][] = [];
    const fake = fakeIpcMain();
    registerIpc(fake.ipc, handlers(calls));

    await expect(fake.callFromSubframe(InvokeChannel.SetToken, 'xp-app://console/index.html', 'planted')).rejects.toBeInstanceOf(UntrustedSenderError);
    await expect(fake.callFromSubframe(InvokeChannel.SsoStart, 'xp-app://console/index.html')).rejects.toBeInstanceOf(UntrustedSenderError);
    expect(calls).toEqual([]);
  });

  it('passes profile errors through and hides other failures', async () => {
    const logged: string[] = [];
    const fake = fakeIpcMain();
    registerIpc(fake.ipc, handlers([]), { onError: (c) => logged.push(c) });

    await expect(fake.call(InvokeChannel.RemoveProfile, 'xp-app://console/', 'x')).rejects.toThrow('no such profile');
    await expect(fake.call(InvokeChannel.SelectProfile, 'xp-app://console/', 'x')).rejects.toThrow(/^the request failed$/);
    expect(logged).toEqual([InvokeChannel.RemoveProfile, InvokeChannel.SelectProfile]);
  });

  it('checks the sender frame URL, not the page it claims', () => {
    expect(isTrustedSender({ senderFrame: { url: 'xp-app://console/index.html', parent: null } })).toBe(true);
    expect(isTrustedSender({ senderFrame: { url: 'xp-app://console/', parent: null } })).toBe(true);
    expect(isTrustedSender({ senderFrame: { url: 'http://localhost:3000/', parent: null } })).toBe(false);
    expect(isTrustedSender({ senderFrame: { url: 'xp-app://console/api/v1/x', parent: null } })).toBe(false);
  });
});

/** A keychain-backed safeStorage stand-in (what a laptop with a secret store gives). */
const keychain: TokenCipher = {
  isEncryptionAvailable: () => true,
  getSelectedStorageBackend: () => 'gnome_libsecret',
  encryptString: (s) => Buffer.from(`enc:${Buffer.from(s).toString('hex')}`),
  decryptString: (b) => Buffer.from(b.toString().slice(4), 'hex').toString(),
};

describe('the bridge as the page gets it (main.ts wiring, real profile store)', () => {
  /** `window.xp` over the registered channels, called from the console's own page. */
  async function page() {
    const dir = await mkdtemp(path.join(tmpdir(), 'xp-ipc-'));
    const store = new ProfileStore(dir, keychain);
    const fake = fakeIpcMain();
    /** What the app opened in the system browser. */
    const opened: string[] = [];
    /** What main sent to an API itself (a discarded session's logout): no network here. */
    const fetched: { url: string; authorization: string | null }[] = [];
    const fetchFake: typeof fetch = (input, init) => {
      fetched.push({ url: input instanceof Request ? input.url : input.toString(), authorization: new Headers(init?.headers).get('authorization') });
      return Promise.resolve(new Response(null, { status: 204 }));
    };
    const sso = new SsoSignInController({ openExternal: (url) => { opened.push(url); }, fetch: fetchFake });
    registerIpc(fake.ipc, profileHandlers(store, sso));
    const call = (channel: string, ...args: unknown[]) => fake.call(channel, 'xp-app://console/index.html#/flags', ...args);
    return { dir, store, fake, call, opened, fetched, sso };
  }

  it("signs in with SSO at the active profile's API, whatever URL the page sends, and cancels on request", async () => {
    const { dir, call, opened, sso } = await page();
    await call(InvokeChannel.SaveProfile, { id: 'prod', name: 'Production', apiUrl: 'https://xp.corp.example/console-api' });
    await call(InvokeChannel.SelectProfile, 'prod');

    const started = (await call(InvokeChannel.SsoStart, 'https://attacker.example/')) as { confirmationCode: string };
    const outcome = call(InvokeChannel.SsoWait) as Promise<unknown>;
    expect(opened).toHaveLength(1);
    // Main opens the listener's one-shot /sso/begin (no challenge on a command line), which sends the browser on to the profile's API.
    expect(opened[0]).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/sso\/begin$/);
    const begin = await fetch(opened[0]!, { redirect: 'manual' });
    expect(begin.status).toBe(302);
    const start = new URL(begin.headers.get('location')!);
    expect(`${start.origin}${start.pathname}`).toBe('https://xp.corp.example/console-api/api/v1/auth/sso/start');
    // The code to show is the one the API's confirmation page derives from the challenge the browser took there.
    expect(started).toEqual({ confirmationCode: await ssoConfirmationCode(start.searchParams.get('app_challenge')!) });

    expect(await call(InvokeChannel.SsoCancel)).toBe(true);
    expect(await outcome).toEqual({ status: 'cancelled' });
    expect(await call(InvokeChannel.SsoCancel)).toBe(false);
    expect(sso.cancel()).toBe(false);
    await rm(dir, { recursive: true, force: true });
  });

  it('tells the page why an SSO sign-in could not start (the browser would not open)', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'xp-ipc-'));
    const fake = fakeIpcMain();
    registerIpc(fake.ipc, profileHandlers(new ProfileStore(dir, keychain), new SsoSignInController({ openExternal: () => Promise.reject(new Error('xdg-open: not found at /usr/bin')) })));

    await expect(fake.call(InvokeChannel.SsoStart, 'xp-app://console/index.html')).rejects.toThrow(/^the system browser could not be opened for single sign-on$/);
    await rm(dir, { recursive: true, force: true });
  });

  it("ends a discarded SSO session with a logout carrying that token, at the active profile's API (not the profile's own token)", async () => {
    const { dir, call, fetched } = await page();
    await call(InvokeChannel.SaveProfile, { id: 'prod', name: 'Production', apiUrl: 'https://xp.corp.example/console-api' });
    await call(InvokeChannel.SelectProfile, 'prod');
    await call(InvokeChannel.SetToken, 'xps_PROFILE_SESSION');

    expect(await call(InvokeChannel.SsoDiscard, 'xps_OTHER_PERSON')).toBe(true);
    // Not a token: nothing is sent.
    expect(await call(InvokeChannel.SsoDiscard, { token: 'x' })).toBe(false);
    expect(await call(InvokeChannel.SsoDiscard, 'two words')).toBe(false);

    expect(fetched).toEqual([{ url: 'https://xp.corp.example/console-api/api/v1/auth/logout', authorization: 'Bearer xps_OTHER_PERSON' }]);
    await rm(dir, { recursive: true, force: true });
  });

  it('gives no channel that answers with a token, stored or just set', async () => {
    const { dir, store, fake, call, sso } = await page();
    await call(InvokeChannel.SaveProfile, { id: 'prod', name: 'Production', apiUrl: 'https://xp.corp.example' });
    await call(InvokeChannel.SelectProfile, 'prod');
    await call(InvokeChannel.SetToken, 'xps_PRODUCTION_SECRET');

    // Whatever a script in the page sends on every channel, no answer or error carries the token
    // (SetToken is sent once, with the same token: on other values it would only replace it).
    const answers: unknown[] = [await call(InvokeChannel.SetToken, 'xps_PRODUCTION_SECRET')];
    // (SsoWait waits for a browser: it has its own test.)
    for (const channel of [...fake.handlers.keys()].filter((c) => c !== InvokeChannel.SetToken && c !== InvokeChannel.SsoWait)) {
      for (const args of [[], ['prod'], ['local'], [{ id: 'prod', name: 'P', apiUrl: 'https://xp.corp.example' }]]) {
        answers.push(await Promise.resolve(call(channel, ...args)).catch((e: unknown) => (e instanceof Error ? e.message : e)));
      }
    }

    expect(JSON.stringify(answers)).not.toContain('xps_PRODUCTION_SECRET');
    expect(await call(InvokeChannel.HasToken)).toBe(true);
    expect((await store.activeSession()).token).toBe('xps_PRODUCTION_SECRET');
    sso.cancel();
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps a signed-in session on its server: profiles cannot be added, switched, moved or removed until sign-out', async () => {
    const { dir, store, call } = await page();
    await call(InvokeChannel.SaveProfile, { id: 'prod', name: 'Production', apiUrl: 'https://xp.corp.example' });
    await call(InvokeChannel.SelectProfile, 'prod');
    await call(InvokeChannel.SetToken, 'xps_PRODUCTION_SECRET');

    await expect(call(InvokeChannel.SaveProfile, { id: 'x', name: 'x', apiUrl: 'https://attacker.example' })).rejects.toThrow('sign out before changing connections');
    await expect(call(InvokeChannel.SaveProfile, { id: 'prod', name: 'Production', apiUrl: 'https://attacker.example' })).rejects.toThrow('sign out before changing connections');
    await expect(call(InvokeChannel.SelectProfile, 'local')).rejects.toThrow('sign out before changing connections');
    await expect(call(InvokeChannel.RemoveProfile, 'prod')).rejects.toThrow('sign out before changing connections');
    expect(await store.activeSession()).toEqual({ profile: { id: 'prod', name: 'Production', apiUrl: 'https://xp.corp.example' }, token: 'xps_PRODUCTION_SECRET' });

    // Signed out, the connection list works as before.
    await call(InvokeChannel.SetToken, null);
    await call(InvokeChannel.SelectProfile, 'local');
    expect(await call(InvokeChannel.HasToken)).toBe(false);
    await rm(dir, { recursive: true, force: true });
  });
});
