import { useEffect, useRef, useState } from 'react';

/** The console's screens, addressed by the URL hash so reloads and deep links land in place. */
export type Route =
  | { readonly screen: 'flags' }
  | { readonly screen: 'flag'; readonly key: string }
  | { readonly screen: 'experiments' }
  | { readonly screen: 'experiment-new' }
  | { readonly screen: 'experiment'; readonly key: string }
  | { readonly screen: 'segments' }
  | { readonly screen: 'metrics' }
  | { readonly screen: 'code-refs' }
  | { readonly screen: 'audit' }
  | { readonly screen: 'events' }
  | { readonly screen: 'change-requests' }
  | { readonly screen: 'access' }
  | { readonly screen: 'webhooks' }
  | { readonly screen: 'webhook'; readonly id: string }
  | { readonly screen: 'health' }
  | { readonly screen: 'projects' };

const SIMPLE = new Set(['flags', 'experiments', 'segments', 'metrics', 'code-refs', 'events', 'audit', 'change-requests', 'access', 'webhooks', 'health', 'projects']);

export function parseRoute(hash: string): Route {
  const parts = (hash.replace(/^#\/?/, '').split('?')[0] ?? '').split('/').filter((p) => p !== '');
  const [head, second] = parts;
  const key = second === undefined ? undefined : safeDecode(second);
  if (head === 'flags' && key !== undefined) {
    return { screen: 'flag', key };
  }
  if (head === 'experiments' && second === 'new') {
    return { screen: 'experiment-new' };
  }
  if (head === 'experiments' && key !== undefined) {
    return { screen: 'experiment', key };
  }
  if (head === 'webhooks' && key !== undefined) {
    return { screen: 'webhook', id: key };
  }
  if (head !== undefined && SIMPLE.has(head)) {
    return { screen: head } as Route;
  }
  return { screen: 'flags' };
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

export function routeHash(route: Route): string {
  switch (route.screen) {
    case 'flag':
      return `#/flags/${encodeURIComponent(route.key)}`;
    case 'experiment':
      return `#/experiments/${encodeURIComponent(route.key)}`;
    case 'experiment-new':
      return '#/experiments/new';
    case 'webhook':
      return `#/webhooks/${encodeURIComponent(route.id)}`;
    default:
      return `#/${route.screen}`;
  }
}

export function navigate(route: Route): void {
  window.location.hash = routeHash(route);
}

/**
 * What leaving the current screen would lose, as a sentence (a flag editor with unsaved changes);
 * null when nothing. One screen sets it at a time, through `useLeaveWarning`.
 */
let leaveWarning: string | null = null;

/** While `message` is not null, navigating away first asks the user (see `useRoute`). */
export function useLeaveWarning(message: string | null): void {
  useEffect(() => {
    leaveWarning = message;
    return () => {
      if (leaveWarning === message) {
        leaveWarning = null;
      }
    };
  }, [message]);
}

/** The screen's leave warning, if any: for changes of screen that do not go through the URL (a project switch). */
export function currentLeaveWarning(): string | null {
  return leaveWarning;
}

/** The user chose to leave: what the screen held is discarded, so nothing asks again on the way out. */
export function discardLeaveWarning(): void {
  leaveWarning = null;
}

/** A navigation held back by a leave warning, until the user chooses. */
export interface PendingLeave {
  readonly message: string;
  /** Leave anyway: goes where the user was going. */
  proceed(): void;
  /** Stay: the URL already shows the current screen again. */
  stay(): void;
}

/**
 * The route in the URL hash. A change of screen while a leave warning is set (a link, the back
 * button, a typed URL) is held: the URL goes back to the current screen and `pending` asks the user.
 */
export function useRoute(): { route: Route; pending: PendingLeave | null } {
  const [route, setRoute] = useState<Route>(() => parseRoute(window.location.hash));
  const [held, setHeld] = useState<{ message: string; hash: string } | null>(null);
  const shown = useRef(window.location.hash);
  useEffect(() => {
    const onChange = (): void => {
      const next = window.location.hash;
      if (leaveWarning !== null && routeHash(parseRoute(next)) !== routeHash(parseRoute(shown.current))) {
        // Put the current screen's URL back without another hashchange, and ask.
        window.history.replaceState(window.history.state, '', shown.current === '' ? window.location.pathname + window.location.search : shown.current);
        setHeld({ message: leaveWarning, hash: next });
        return;
      }
      shown.current = next;
      setRoute(parseRoute(next));
    };
    window.addEventListener('hashchange', onChange);
    return () => {
      window.removeEventListener('hashchange', onChange);
    };
  }, []);
  const pending: PendingLeave | null =
    held === null
      ? null
      : {
          message: held.message,
          proceed: () => {
            setHeld(null);
            discardLeaveWarning();
            window.location.hash = held.hash;
          },
          stay: () => {
            setHeld(null);
          },
        };
  return { route, pending };
}

/** The ?query part of the hash (#/code-refs?flag=x). */
export function hashQuery(hash: string = window.location.hash): URLSearchParams {
  const i = hash.indexOf('?');
  return new URLSearchParams(i < 0 ? '' : hash.slice(i + 1));
}
