import type { MenuItemConstructorOptions } from 'electron';
import type { MenuMessage } from '../ipc-contract.js';
import { MenuCommand } from '../ipc-contract.js';

/** Screens reachable from the Go menu, with their accelerators (CmdOrCtrl+1… for the first nine), in the order of the web console's Alt+1…9. */
export const MENU_SCREENS: readonly { readonly screen: string; readonly label: string; readonly accelerator?: string }[] = [
  { screen: 'flags', label: 'Flags' },
  { screen: 'experiments', label: 'Experiments' },
  { screen: 'segments', label: 'Segments' },
  { screen: 'metrics', label: 'Metrics' },
  { screen: 'code-refs', label: 'Code references' },
  { screen: 'audit', label: 'Audit log' },
  { screen: 'access', label: 'Users and keys' },
  { screen: 'health', label: 'Health' },
  { screen: 'change-requests', label: 'Change requests' },
  { screen: 'events', label: 'Events', accelerator: 'CmdOrCtrl+Shift+E' },
  // Owners and admins only: for other roles the screen says so (the menu cannot follow the signed-in role).
  { screen: 'webhooks', label: 'Webhooks', accelerator: 'CmdOrCtrl+Shift+H' },
  { screen: 'projects', label: 'Projects', accelerator: 'CmdOrCtrl+Shift+P' },
];

/** The native menu: standard edit/view roles plus console commands sent to the renderer. */
export function menuTemplate(send: (message: MenuMessage) => void, platform: NodeJS.Platform = process.platform): MenuItemConstructorOptions[] {
  const mac = platform === 'darwin';
  return [
    ...(mac ? [{ role: 'appMenu' as const }] : []),
    { label: 'File', submenu: [mac ? { role: 'close' as const } : { role: 'quit' as const }] },
    { role: 'editMenu' as const },
    {
      label: 'View',
      submenu: [
        { label: 'Refresh', accelerator: 'CmdOrCtrl+R', click: () => { send({ command: MenuCommand.Refresh }); } },
        { label: 'Search', accelerator: 'CmdOrCtrl+F', click: () => { send({ command: MenuCommand.Search }); } },
        { label: 'Toggle dark theme', accelerator: 'CmdOrCtrl+Shift+L', click: () => { send({ command: MenuCommand.ToggleTheme }); } },
        { type: 'separator' as const },
        { role: 'resetZoom' as const },
        { role: 'zoomIn' as const },
        { role: 'zoomOut' as const },
        { role: 'togglefullscreen' as const },
      ],
    },
    {
      label: 'Go',
      submenu: MENU_SCREENS.map((s, i) => ({
        label: s.label,
        accelerator: s.accelerator ?? `CmdOrCtrl+${i + 1}`,
        click: () => { send({ command: MenuCommand.Navigate, screen: s.screen }); },
      })),
    },
    { role: 'windowMenu' as const },
  ];
}
