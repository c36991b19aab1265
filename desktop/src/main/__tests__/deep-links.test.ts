import { describe, expect, it } from 'vitest';
import { deepLinkFromArgv, deepLinkRoute, parseDeepLink } from '../deep-links.js';

describe('deep links', () => {
  it.each([
    ['xp://flag/new-checkout', { kind: 'flag', key: 'new-checkout' }],
    ['xp://experiment/checkout-test', { kind: 'experiment', key: 'checkout-test' }],
    ['xp:flag/dark_mode', { kind: 'flag', key: 'dark_mode' }],
    ['xp://flag/a%2Eb', { kind: 'flag', key: 'a.b' }],
  ])('parses %s', (url, expected) => {
    expect(parseDeepLink(url)).toEqual(expected);
  });

  it.each(['https://flag/x', 'xp://segment/x', 'xp://flag/', 'xp://flag/a/b', 'xp://flag/..%2Fetc', 'xp://flag/%E0%A4%A', 'nonsense'])('rejects %s', (url) => {
    expect(parseDeepLink(url)).toBeNull();
  });

  it('finds the link among command-line arguments and maps it to a route', () => {
    const link = deepLinkFromArgv(['/usr/bin/xp-console', '--flag', 'xp://experiment/exp-1']);

    expect(link).toEqual({ kind: 'experiment', key: 'exp-1' });
    expect(deepLinkRoute(link!)).toBe('#/experiments/exp-1');
    expect(deepLinkFromArgv(['electron', '.'])).toBeNull();
  });
});
