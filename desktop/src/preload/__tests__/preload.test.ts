import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { runInNewContext } from 'node:vm';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { InvokeChannel } from '../../ipc-contract.js';

/**
 * Runs the real preload source, compiled to CommonJS as tsc does, with electron faked at the
 * boundary (it cannot start here): what does it put on `window.xp`, and what does each call send?
 */
async function loadPreload() {
  const source = await readFile(fileURLToPath(new URL('../preload.cts', import.meta.url)), 'utf8');
  const { outputText } = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 } });
  const exposed = new Map<string, Record<string, (...args: unknown[]) => unknown>>();
  const invoked: string[] = [];
  const sent: unknown[][] = [];
  const electron = {
    contextBridge: {
      exposeInMainWorld: (name: string, api: Record<string, (...args: unknown[]) => unknown>) => exposed.set(name, api),
    },
    ipcRenderer: {
      invoke: (channel: string, ...args: unknown[]) => {
        invoked.push(channel);
        sent.push([channel, ...args]);
        return Promise.resolve(null);
      },
      on: () => undefined,
      removeListener: () => undefined,
    },
  };
  const module = { exports: {} };
  runInNewContext(outputText, { module, exports: module.exports, require: (id: string) => (id === 'electron' ? electron : undefined) });
  return { exposed, invoked, sent };
}

describe('preload bridge', () => {
  it('exposes named capabilities only, none of which reads a token or opens a URL', async () => {
    const { exposed } = await loadPreload();

    expect([...exposed.keys()]).toEqual(['xp']);
    expect(Object.keys(exposed.get('xp')!).sort()).toEqual(['hasToken', 'listProfiles', 'onDeepLink', 'onMenu', 'removeProfile', 'saveProfile', 'selectProfile', 'setToken', 'ssoCancel', 'ssoDiscard', 'ssoStart', 'ssoWait']);
  });

  it('sends each call on its contract channel, and reaches every channel of the contract', async () => {
    const { exposed, invoked } = await loadPreload();
    const xp = exposed.get('xp')!;

    for (const [name, call] of Object.entries(xp)) {
      if (!name.startsWith('on')) {
        await call('x');
      }
    }

    expect(invoked.sort()).toEqual(Object.values(InvokeChannel).sort());
  });
});

describe('preload SSO capabilities', () => {
  it('send no URL or other argument to main, whatever the page passes; a discard sends its token only', async () => {
    const { exposed, sent } = await loadPreload();
    const xp = exposed.get('xp')!;

    await xp.ssoStart!('https://attacker.example/');
    await xp.ssoWait!('https://attacker.example/');
    await xp.ssoCancel!('x');
    await xp.ssoDiscard!('xps_token', 'https://attacker.example/');

    expect(sent).toEqual([[InvokeChannel.SsoStart], [InvokeChannel.SsoWait], [InvokeChannel.SsoCancel], [InvokeChannel.SsoDiscard, 'xps_token']]);
  });
});
