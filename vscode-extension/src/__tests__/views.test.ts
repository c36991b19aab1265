import { describe, expect, it } from 'vitest';
import type { FlagSummary, StatusParams } from '@xp/language-server/protocol';
import { childNodes, itemView, rootNodes } from '../flags-tree.js';
import { initializationOptions, LANGUAGES, languageClientOptions } from '../server-settings.js';
import { statusView } from '../status.js';

const flag = (key: string, state: FlagSummary['state'], refs = 0): FlagSummary => ({
  key,
  name: key,
  type: 'boolean',
  state,
  summary: state === 'unknown' ? '' : 'ON',
  environments: state === 'unknown' ? [] : [{ key: 'production', enabled: true, summary: 'ON' }],
  variations: [],
  version: 1,
  references: Array.from({ length: refs }, (_, i) => ({ uri: `file:///ws/src/app%20one.ts`, line: i, character: 4, snippet: `isFeatureEnabled('${key}')` })),
});

describe('Flags view', () => {
  it('groups flags by state, then lists their references', () => {
    const roots = rootNodes([flag('a', 'active', 2), flag('b', 'archived'), flag('c', 'unknown', 1), flag('d', 'active')]);

    expect(roots.map((r) => itemView(r).label)).toEqual(['Active (2)', 'Unknown (in code, not in the project) (1)', 'Archived (1)']);
    const active = childNodes(roots[0]!);
    expect(active.map((n) => [itemView(n).label, itemView(n).description, itemView(n).collapsible])).toEqual([
      ['a', 'ON · 2 refs', true],
      ['d', 'ON · 0 refs', false],
    ]);
    const refs = childNodes(active[0]!);
    expect(refs.map((n) => itemView(n).label)).toEqual(['app one.ts:1', 'app one.ts:2']);
    // Ids stay the same when a group's count changes, so VS Code keeps what was expanded.
    expect(rootNodes([flag('a', 'active', 2)]).map((r) => itemView(r).id)).toEqual([itemView(roots[0]!).id]);
    const ids = [...roots, ...active, ...refs].map((n) => itemView(n).id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(itemView(childNodes(roots[1]!)[0]!).contextValue).toBe('xp-unknown-flag');
  });
});

describe('status item', () => {
  const base: StatusParams = { source: 'api', project: 'shop', environment: 'production', flags: 4, fetchedAt: '2026-11-25T12:00:00Z', error: null, indexing: false, references: 9, live: false };

  it('shows the connection state', () => {
    expect(statusView(undefined).text).toBe('$(loading~spin) xp');
    expect(statusView(base)).toMatchObject({ text: '$(cloud) xp shop/production', warning: false });
    expect(statusView({ ...base, live: true }).tooltip).toContain('following changes live');
    expect(statusView(base).tooltip).not.toContain('live');
    expect(statusView({ ...base, source: 'cache', error: 'fetch failed' })).toMatchObject({ text: '$(cloud-offline) xp shop/production', warning: true });
    expect(statusView({ ...base, source: 'cache', error: 'fetch failed' }).tooltip).toContain('offline (fetch failed)');
    expect(statusView({ ...base, source: 'none', project: null, indexing: true }).text).toBe('$(circle-slash) xp $(sync~spin)');
    // A refused token asks for a new sign-in instead of looking like a network outage.
    const refused = statusView({ ...base, source: 'cache', error: '401 UNAUTHENTICATED: invalid or expired token', tokenRefused: true });
    expect(refused).toMatchObject({ text: '$(key) xp: sign in again', warning: true, command: 'xp.signIn' });
    expect(refused.tooltip).toContain('expired or was revoked');
    expect(statusView(base).command).toBeUndefined();
  });

  it('passes settings to the server, leaving out empty ones, and never the token (a protocol trace logs them)', () => {
    expect(initializationOptions({ apiUrl: 'http://x', project: undefined, environment: 'staging', wrapperFunctions: ['useFlag'], flagsFile: undefined, consoleUrl: undefined })).toEqual({
      apiUrl: 'http://x',
      environment: 'staging',
      wrapperFunctions: ['useFlag'],
    });
  });

  it('leaves file watching to the watchers the server registers', () => {
    const options = languageClientOptions({ apiUrl: undefined, project: undefined, environment: 'production', wrapperFunctions: [], flagsFile: undefined, consoleUrl: undefined });
    // A watcher of the extension's own would send every event a second time.
    expect(options.synchronize).toBeUndefined();
    expect(options.documentSelector).toEqual(LANGUAGES.map((language) => ({ scheme: 'file', language })));
    expect(options.initializationOptions).toEqual({ environment: 'production', wrapperFunctions: [] });
  });
});
