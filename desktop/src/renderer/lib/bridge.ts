import type { XpBridge } from '../../ipc-contract.js';

declare global {
  interface Window {
    /** Present only inside the desktop app (the preload exposes it). */
    readonly xp?: XpBridge;
  }
}

/** The desktop bridge, or undefined in the web console and in tests. */
export function desktopBridge(): XpBridge | undefined {
  return typeof window === 'undefined' ? undefined : window.xp;
}
