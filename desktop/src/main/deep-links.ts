import type { DeepLink } from '../ipc-contract.js';
import { DEEP_LINK_SCHEME } from '../ipc-contract.js';

const KEY = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Parses `xp://flag/<key>` and `xp://experiment/<key>`; anything else is null. */
export function parseDeepLink(raw: string): DeepLink | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return null;
  }
  if (url.protocol !== `${DEEP_LINK_SCHEME}:`) {
    return null;
  }
  // xp://flag/key parses with host "flag"; xp:flag/key (no slashes) keeps it in the path.
  const parts = [url.host, ...url.pathname.split('/')].filter((p) => p !== '');
  if (parts.length !== 2) {
    return null;
  }
  const [kind, encoded] = parts as [string, string];
  let key: string;
  try {
    key = decodeURIComponent(encoded);
  } catch {
    return null;
  }
  if (!KEY.test(key)) {
    return null;
  }
  if (kind === 'flag' || kind === 'experiment') {
    return { kind, key };
  }
  return null;
}

/** The first deep link on a command line (Windows and Linux pass it as an argument). */
export function deepLinkFromArgv(argv: readonly string[]): DeepLink | null {
  for (const arg of argv) {
    if (arg.startsWith(`${DEEP_LINK_SCHEME}:`)) {
      const link = parseDeepLink(arg);
      if (link !== null) {
        return link;
      }
    }
  }
  return null;
}

/** The renderer route a deep link opens. */
export function deepLinkRoute(link: DeepLink): string {
  return link.kind === 'flag' ? `#/flags/${encodeURIComponent(link.key)}` : `#/experiments/${encodeURIComponent(link.key)}`;
}
