import { useEffect, useState } from 'react';

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
  | { readonly screen: 'health' };

const SIMPLE = new Set(['flags', 'experiments', 'segments', 'metrics', 'code-refs', 'events', 'audit', 'change-requests', 'access', 'health']);

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
    default:
      return `#/${route.screen}`;
  }
}

export function navigate(route: Route): void {
  window.location.hash = routeHash(route);
}

export function useRoute(): Route {
  const [route, setRoute] = useState<Route>(() => parseRoute(window.location.hash));
  useEffect(() => {
    const onChange = (): void => {
      setRoute(parseRoute(window.location.hash));
    };
    window.addEventListener('hashchange', onChange);
    return () => {
      window.removeEventListener('hashchange', onChange);
    };
  }, []);
  return route;
}

/** The ?query part of the hash (#/code-refs?flag=x). */
export function hashQuery(hash: string = window.location.hash): URLSearchParams {
  const i = hash.indexOf('?');
  return new URLSearchParams(i < 0 ? '' : hash.slice(i + 1));
}
