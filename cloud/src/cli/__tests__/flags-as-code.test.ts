import { describe, expect, it } from 'vitest';
import type { DefinitionPath, XpApiClient } from '@xp/shared';
import { experimentSchema } from '@xp/shared';
import { AppError } from '../../errors.js';
import { jsonDiff } from '../../domain/json-diff.js';
import { describePlan, holdBackApprovals, parseDocument, planApply, planError, serializeDocument } from '../flags-as-code.js';
import type { FlagsDocument, PlannedChange } from '../flags-as-code.js';

const empty: FlagsDocument = { xp: 1, project: 'demo', segments: [], holdouts: [], metrics: [], experiments: [], flags: [] };

/** The API as planApply reads it: the stored definitions at version 1, and the project's environments. */
function fakeApi(stored: Partial<Record<DefinitionPath, { key: string }[]>>): XpApiClient {
  return {
    listAll: (_project: string, kind: DefinitionPath) => Promise.resolve((stored[kind] ?? []).map((definition) => ({ key: definition.key, version: 1, archived: false, definition }))),
    environments: () => Promise.resolve([{ key: 'development' }, { key: 'production' }]),
  } as unknown as XpApiClient;
}

const started = experimentSchema.parse({
  key: 'price-test',
  name: 'Price test',
  status: 'running',
  startedAt: '2026-11-01T10:00:00Z',
  variations: [
    { key: 'control', weight: 1 },
    { key: 'cheap', weight: 1 },
  ],
});

describe('serializeDocument', () => {
  it('writes YAML that reads back as the same document, strings that YAML 1.2 reads as numbers included', () => {
    const doc: FlagsDocument = {
      ...empty,
      segments: [{ key: 'octal', name: 'Octal ids', type: 'ids', attribute: 'id', values: ['0o17', '0x1F', 'on', '007', 7] }],
      flags: [
        {
          key: 'mode',
          name: 'Mode ⚑',
          type: 'string',
          tags: ['yes'],
          temporary: true,
          archived: false,
          variations: [
            { key: 'a', value: '0o644' },
            { key: 'b', value: '1e3' },
          ],
          environments: {},
        },
      ],
    };

    const text = serializeDocument(doc, 'yaml');

    expect(parseDocument(text, 'flags.yaml')).toEqual(doc);
  });
});

describe('parseDocument', () => {
  it('names the line of each problem in a YAML and a JSON file', () => {
    const yaml = ['xp: 1', 'project: demo', 'flags:', '  - key: a', '    name: A', '    type: boolean', '    colour: red', '    variations:', '      - key: "on"', '        value: "true"', ''].join('\n');
    const json = JSON.stringify({ xp: 1, project: 'demo', flags: [{ key: 'a', name: 'A', type: 'boolean', variations: [{ key: 'on', value: 'true' }] }] }, null, 2);

    const messages = [() => parseDocument(yaml, 'flags.yaml'), () => parseDocument(json, 'flags.json')].map((parse) => {
      try {
        parse();
        return undefined;
      } catch (e) {
        return (e as Error).message;
      }
    });

    expect(messages).toEqual([
      'flags.yaml: flags[0] (line 7): Unrecognized key: "colour"; flags[0].variations[0].value (line 10): must be a boolean for a boolean flag',
      'flags.json: flags[0].variations[0].value (line 12): must be a boolean for a boolean flag',
    ]);
  });

  it('refuses a tag it does not know rather than reading it as a string', () => {
    const text = 'xp: 1\nproject: demo\nsegments:\n  - key: s\n    name: S\n    type: ids\n    values: [!custom a]\n';

    expect(() => parseDocument(text, 'flags.yaml')).toThrow(/^flags\.yaml is not valid YAML: Unresolved tag: !custom at line 7, column 14/);
  });
});

describe('planApply', () => {
  const withSplit = (variations: { key: string; weight?: number }[], extra: Record<string, unknown> = {}): FlagsDocument => ({
    ...empty,
    experiments: [experimentSchema.parse({ ...started, status: 'draft', startedAt: undefined, variations, ...extra })],
  });

  it('refuses, before anything is sent, an update that moves units of a started experiment', async () => {
    const api = fakeApi({ experiments: [started] });

    const plan = await planApply(api, withSplit([{ key: 'control', weight: 2 }, { key: 'cheap', weight: 1 }], { seed: 'other' }), { prune: false });

    expect(plan.changes.map((c) => `${c.action} ${c.key}`)).toEqual(['update price-test']);
    const error = planError(plan);
    expect(error).toBeInstanceOf(AppError);
    expect(error?.message).toBe('nothing was applied: the API would refuse 2 changes to a started experiment; fix the document (or the project) first');
    expect((error?.details as { issues: { path: string }[] }).issues.map((i) => i.path)).toEqual(['experiments.price-test.seed', 'experiments.price-test.variations']);
  });

  it('refuses, before anything is sent, to prune a running experiment: deleting it would delete its exposures and results', async () => {
    const plan = await planApply(fakeApi({ experiments: [started] }), empty, { prune: true });

    expect(plan.changes.map((c) => `${c.action} ${c.key}`)).toEqual(['delete price-test']);
    expect((planError(plan)?.details as { issues: { path: string; message: string }[] }).issues).toEqual([
      { path: 'experiments.price-test', message: 'is running and not in the document: stop it before pruning deletes it (with its exposures and results)' },
    ]);
    const stopped = await planApply(fakeApi({ experiments: [experimentSchema.parse({ ...started, status: 'stopped', stoppedAt: '2026-11-20T00:00:00Z' })] }), empty, { prune: true });
    expect(planError(stopped)).toBeUndefined();
  });

  it('says which lifecycle fields the document sets differently, since apply never starts or stops an experiment', async () => {
    const asExported = await planApply(fakeApi({ experiments: [started] }), { ...empty, experiments: [started] }, { prune: false });
    const leftOut = await planApply(fakeApi({ experiments: [started] }), { ...empty, experiments: [experimentSchema.parse({ ...started, status: undefined, startedAt: undefined })] }, { prune: false });
    const stopped = await planApply(fakeApi({ experiments: [started] }), { ...empty, experiments: [experimentSchema.parse({ ...started, status: 'stopped', decision: 'ship' })] }, { prune: false });

    expect([asExported.changes, asExported.ignored]).toEqual([[], []]);
    expect([leftOut.changes, leftOut.ignored]).toEqual([[], []]);
    expect(stopped.changes).toEqual([]);
    expect(stopped.ignored).toEqual(['experiment price-test: status "stopped" (the project has "running"), decision "ship" (the project has none)']);
    expect(describePlan(stopped.changes, stopped.ignored)).toBe('No changes to apply.');
    expect(describePlan(asExported.changes, asExported.ignored)).toBe('No changes: the project already matches the document.');

    // A file that says draft, and one that says nothing (the schema's default is draft too).
    const yaml = (status: string): string =>
      ['xp: 1', 'project: demo', 'experiments:', '  - key: price-test', '    name: Price test', ...(status === '' ? [] : [`    status: ${status}`]), '    startedAt: "2026-11-01T10:00:00Z"', '    variations:', '      - key: control', '        weight: 1', '      - key: cheap', '        weight: 1', ''].join('\n');
    const draft = await planApply(fakeApi({ experiments: [started] }), parseDocument(yaml('draft'), 'flags.yaml'), { prune: false });
    const silent = await planApply(fakeApi({ experiments: [started] }), parseDocument(yaml(''), 'flags.yaml'), { prune: false });
    expect(draft.ignored).toEqual(['experiment price-test: status "draft" (the project has "running")']);
    expect(silent.ignored).toEqual([]);
  });

  it('lets through what keeps every unit in its variation, and any change once sticky bucketing is on', async () => {
    const sameSplit = await planApply(fakeApi({ experiments: [started] }), withSplit([{ key: 'control', weight: 5 }, { key: 'cheap', weight: 5 }], { coverage: 0.5 }), { prune: false });
    const sticky = { ...started, stickyBucketing: { enabled: true, bucketVersion: 0, minBucketVersion: 0 } };
    const moved = await planApply(fakeApi({ experiments: [sticky] }), withSplit([{ key: 'control', weight: 2 }, { key: 'cheap', weight: 1 }], { stickyBucketing: sticky.stickyBucketing }), {
      prune: false,
    });

    expect([sameSplit.changes.length, planError(sameSplit)]).toEqual([1, undefined]);
    expect([moved.changes.length, planError(moved)]).toEqual([1, undefined]);
  });
});

describe('holdBackApprovals (xp apply --propose)', () => {
  const state = (enabled: boolean, defaultVariation = 'on') => ({ enabled, defaultVariation, offVariation: 'off', prerequisites: [], rules: [] });
  const flag = (environments: Record<string, unknown>, name = 'F') => ({ key: 'f', name, type: 'boolean', variations: [{ key: 'off', value: false }, { key: 'on', value: true }], environments });
  const update = (before: unknown, definition: unknown): PlannedChange => ({ kind: 'flags', key: 'f', action: 'update', version: 4, before, definition, diff: jsonDiff(before, definition) });

  it('drops an update that only changes protected states, and proposes them', () => {
    const { changes, proposals } = holdBackApprovals([update(flag({ production: state(false) }), flag({ production: state(true) }))], ['production']);

    expect(changes).toEqual([]);
    expect(proposals).toEqual([{ flag: 'f', environment: 'production', state: state(true) }]);
  });

  it('keeps the rest of the update with the stored protected state, and leaves what a change request cannot carry to the API', () => {
    const before = flag({ development: state(false), production: state(false), staging: state(true) });
    const { changes, proposals } = holdBackApprovals(
      [update(before, flag({ development: state(true), production: state(true, 'off') }, 'Renamed')), { kind: 'segments', key: 's', action: 'create', definition: { key: 's' }, diff: [] }],
      ['production', 'staging'],
    );

    expect(changes.map((c) => c.key)).toEqual(['f', 's']);
    // staging's state removed: no change request removes one, so the update still removes it (and the API refuses it).
    expect(changes[0]!.definition).toEqual(flag({ development: state(true), production: state(false) }, 'Renamed'));
    expect(changes[0]!.diff.map((d) => d.path).sort()).toEqual(['/environments/development/enabled', '/environments/staging', '/name']);
    expect(proposals).toEqual([{ flag: 'f', environment: 'production', state: state(true, 'off') }]);
  });

  it('creates a new flag off where it needs approval to be on, and proposes its state', () => {
    const create: PlannedChange = { kind: 'flags', key: 'f', action: 'create', definition: flag({ production: state(true), staging: state(false) }), diff: [] };

    const { changes, proposals } = holdBackApprovals([create], ['production', 'staging']);

    expect(changes[0]!.definition).toEqual(flag({ production: state(false), staging: state(false) }));
    expect(proposals).toEqual([{ flag: 'f', environment: 'production', state: state(true) }]);
  });
});
