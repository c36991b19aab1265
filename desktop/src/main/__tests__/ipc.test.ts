import { describe, expect, it } from 'vitest';
import { InvokeChannel } from '../../ipc-contract.js';
import { UntrustedSenderError, isTrustedSender, registerIpc } from '../ipc.js';
import type { IpcHandlers, IpcMainLike, IpcSender } from '../ipc.js';
import { ProfileError } from '../profiles.js';

/** ipcMain stand-in (Electron cannot start here): keeps the registered listeners to call them. */
function fakeIpcMain() {
  const handlers = new Map<string, (event: IpcSender, ...args: unknown[]) => unknown>();
  const ipc: IpcMainLike = {
    handle(channel, listener) {
      handlers.set(channel, listener);
    },
  };
  const call = (channel: string, url: string | null, ...args: unknown[]) => handlers.get(channel)!({ senderFrame: url === null ? null : { url } }, ...args);
  return { ipc, handlers, call };
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
    [InvokeChannel.GetToken]: record('tok'),
    [InvokeChannel.OpenExternal]: record(false),
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

    const token = await fake.call(InvokeChannel.GetToken, 'xp-app://console/index.html#/flags');
    await fake.call(InvokeChannel.SetToken, 'xp-app://console/index.html', 'session-token');

    expect(token).toBe('tok');
    expect(calls).toEqual([[], ['session-token']]);
  });

  it.each([
    ['a foreign web page', 'https://evil.example/'],
    ['a local file', 'file:///tmp/x.html'],
    ['a frame with no URL', null],
    ['a look-alike origin', 'xp-app://console.evil/'],
  ])('refuses %s without calling the handler', async (_name, url) => {
    const calls: unknown[][] = [];
    const fake = fakeIpcMain();
    registerIpc(fake.ipc, handlers(calls));

    await expect(fake.call(InvokeChannel.GetToken, url)).rejects.toBeInstanceOf(UntrustedSenderError);
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
    expect(isTrustedSender({ senderFrame: { url: 'xp-app://console/index.html' } })).toBe(true);
    expect(isTrustedSender({ senderFrame: { url: 'http://localhost:3000/' } })).toBe(false);
  });
});
