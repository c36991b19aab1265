import { describe, expect, it } from 'vitest';
import type { MenuItemConstructorOptions } from 'electron';
import type { MenuMessage } from '../../ipc-contract.js';
import { MENU_SCREENS, menuTemplate } from '../menu.js';

function items(template: MenuItemConstructorOptions[]): MenuItemConstructorOptions[] {
  return template.flatMap((m) => [m, ...(Array.isArray(m.submenu) ? items(m.submenu) : [])]);
}

describe('native menu', () => {
  it('gives every screen an accelerator that navigates the renderer', () => {
    const sent: MenuMessage[] = [];
    const all = items(menuTemplate((m) => sent.push(m), 'linux'));
    const go = all.filter((i) => i.accelerator?.startsWith('CmdOrCtrl+') === true && /\d$/.test(i.accelerator));

    for (const item of go) {
      (item.click as () => void)();
    }

    const numbered = MENU_SCREENS.filter((s) => s.accelerator === undefined);
    expect(go.map((i) => i.accelerator)).toEqual(numbered.map((_s, i) => `CmdOrCtrl+${i + 1}`));
    expect(sent.map((m) => m.screen)).toEqual(numbered.map((s) => s.screen));
    // The same numbers as the web console's Alt+1…9 and the shortcuts table in docs/console.md.
    expect(numbered.map((s) => s.screen)).toEqual(['flags', 'experiments', 'segments', 'metrics', 'code-refs', 'audit', 'access', 'health', 'change-requests']);
    const events = all.find((i) => i.label === 'Events');
    expect(events?.accelerator).toBe('CmdOrCtrl+Shift+E');
    (events?.click as () => void)();
    expect(sent.at(-1)?.screen).toBe('events');
    const webhooks = all.find((i) => i.label === 'Webhooks');
    expect(webhooks?.accelerator).toBe('CmdOrCtrl+Shift+H');
    (webhooks?.click as () => void)();
    expect(sent.at(-1)?.screen).toBe('webhooks');
  });

  it('adds the app menu on macOS only', () => {
    expect(menuTemplate(() => undefined, 'darwin')[0]).toEqual({ role: 'appMenu' });
    expect(menuTemplate(() => undefined, 'linux')[0]).not.toEqual({ role: 'appMenu' });
  });
});
