import { describe, expect, it } from 'vitest';
import type { DefinitionPath, XpApiClient } from '@xp/shared';
import { experimentSchema } from '@xp/shared';
import { AppError } from '../../errors.js';
import { jsonDiff } from '../../domain/json-diff.js';
import { checkDocument, describePlan, exportDocument, holdBackApprovals, parseDocument, planApply, planError, serializeDocument, withBrokenReferences } from '../flags-as-code.js';
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

  it('escapes tabs, the characters YAML 1.1 reads as line breaks (NEL, LS, PS) and those YAML refuses raw (DEL, C1, BOM), which PyYAML refused or folded into spaces', () => {
    const values = ['+1+1\tdesc, "q"', '\u2028LS\u2029PS', 'x\u0085y', 'tab\tand\u2028both', 'del\u007f', 'c1\u0090x', 'bom\ufeff'];
    const doc: FlagsDocument = {
      ...empty,
      metrics: [{ key: 'm', name: 'M', description: values[0]!, type: 'count', event: 'e', higherIsBetter: true, guardrail: false, tags: [] }],
      flags: [{ key: 'f', name: 'F', type: 'string', tags: [], temporary: false, archived: false, variations: values.map((value, i) => ({ key: `v${i}`, value })), environments: {} }],
    };

    const text = serializeDocument(doc, 'yaml');

    expect(text).not.toMatch(/[\t\u007f-\u009f\u2028\u2029\ufeff]/);
    expect(text).toContain('value: "del\\x7F"');
    expect(text).toContain('value: "c1\\x90x"');
    expect(text).toContain('value: "bom\\uFEFF"');
    expect(text).toContain('value: "\\LLS\\PPS"');
    expect(text).toContain('value: "x\\Ny"');
    expect(text).toContain('description: "+1+1\\tdesc, \\"q\\""');
    expect(parseDocument(text, 'flags.yaml')).toEqual(doc);
  });
});

describe('exportDocument', () => {
  it('writes fields in a stable, human order, whatever order the API stores them in: environments as the project lists them', async () => {
    // As jsonb returns them: shortest key first.
    const stored = {
      key: 'checkout',
      name: 'Checkout',
      tags: [],
      type: 'string',
      archived: false,
      temporary: false,
      variations: [{ key: 'a', value: 'a', name: 'A' }, { key: 'b', value: 'b' }],
      environments: {
        staging: { rules: [], enabled: true, offVariation: 'a', prerequisites: [], defaultVariation: 'a' },
        production: {
          rules: [{ segments: ['beta'], variation: 'b', type: 'force', id: 'beta' }],
          enabled: false,
          offVariation: 'a',
          prerequisites: [{ variation: 'on', flag: 'parent' }],
          defaultVariation: 'a',
        },
        development: { rules: [], enabled: true, offVariation: 'a', prerequisites: [], defaultVariation: 'b' },
      },
      description: 'x',
    };
    const api = {
      listAll: (_project: string, kind: DefinitionPath) => Promise.resolve(kind === 'flags' ? [{ key: stored.key, version: 1, archived: false, definition: stored }] : []),
      environments: () => Promise.resolve([{ key: 'development' }, { key: 'staging' }, { key: 'production' }]),
    } as unknown as XpApiClient;

    const doc = await exportDocument(api, 'demo');
    const flag = doc.flags[0]!;

    expect(Object.keys(flag)).toEqual(['key', 'name', 'description', 'type', 'variations', 'tags', 'temporary', 'archived', 'environments']);
    expect(flag.variations.map((v) => Object.keys(v))).toEqual([['key', 'name', 'value'], ['key', 'value']]);
    expect(Object.keys(flag.environments)).toEqual(['development', 'staging', 'production']);
    expect(Object.keys(flag.environments.production!)).toEqual(['enabled', 'defaultVariation', 'offVariation', 'prerequisites', 'rules']);
    expect(Object.keys(flag.environments.production!.rules[0]!)).toEqual(['id', 'type', 'segments', 'variation']);
    expect(Object.keys(flag.environments.production!.prerequisites[0]!)).toEqual(['flag', 'variation']);
    expect(jsonDiff(flag, stored)).toEqual([]);
    const yaml = serializeDocument(doc, 'yaml');
    expect(yaml.indexOf('development:')).toBeLessThan(yaml.indexOf('staging:'));
    expect(yaml.indexOf('staging:')).toBeLessThan(yaml.indexOf('production:'));
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

  it('names the line and column of a JSON syntax error, with the line and a caret under the column', () => {
    const comma = ['{', ' "xp": 1,', ' "project": "demo",', ' "flags": [', '  {"key": "a",}', ' ]', '}'].join('\n');
    // Node's JSON.parse gives no position at all for an unexpected token.
    const token = ['{', '  "xp": 1,', '  "project": x', '}'].join('\n');

    expect(() => parseDocument(comma, 'syn.json')).toThrow(new AppError('VALIDATION_FAILED', 'syn.json is not valid JSON: Expected double-quoted property name at line 5, column 15:\n\n  {"key": "a",}\n              ^\n'));
    expect(() => parseDocument(token, 'tok.json')).toThrow(new AppError('VALIDATION_FAILED', 'tok.json is not valid JSON: Unexpected token \'x\' at line 3, column 14:\n\n  "project": x\n             ^\n'));
  });

  it('refuses integers beyond 2^53 - 1 and numbers that are not finite, with their paths and lines, in YAML and JSON', () => {
    const yaml = [
      'xp: 1',
      'project: demo',
      'flags:',
      '  - key: ids',
      '    name: Ids',
      '    type: json',
      '    variations:',
      '      - { key: a, value: { n: 9007199254740993, ok: 9007199254740991, s: "12345678901234567890" } }',
      '      - { key: b, value: [1] }',
      '  - key: big',
      '    name: Big',
      '    type: number',
      '    variations:',
      '      - key: a',
      '        value: 12345678901234567890',
      '      - key: b',
      '        value: 1e400',
      '',
    ].join('\n');
    const json = [
      '{"xp": 1, "project": "demo", "flags": [',
      ' {"key": "ids", "name": "Ids", "type": "json", "variations": [',
      '  {"key": "a", "value": {"n": 9007199254740993, "ok": 9007199254740991, "s": "12345678901234567890"}},',
      '  {"key": "b", "value": [1]}]},',
      ' {"key": "big", "name": "Big", "type": "number", "variations": [',
      '  {"key": "a", "value": 12345678901234567890},',
      '  {"key": "b", "value": 1e400}]}',
      ']}',
    ].join('\n');
    const beyond = (n: string, stored: string): string => `${n} is an integer beyond 2^53 − 1 that JSON numbers cannot hold exactly (it would be stored as ${stored}); write it as a string`;
    const infinite = '1e400 is not a finite number (too large for a JSON number); write a finite number, or a string';
    const issues = (text: string, file: string): unknown => {
      try {
        parseDocument(text, file);
        return undefined;
      } catch (e) {
        return ((e as AppError).details as { issues: unknown }).issues;
      }
    };

    expect(issues(yaml, 'flags.yaml')).toEqual([
      { path: 'flags[0].variations[0].value.n (line 8)', message: beyond('9007199254740993', '9007199254740992') },
      { path: 'flags[1].variations[0].value (line 15)', message: beyond('12345678901234567890', '12345678901234567000') },
      { path: 'flags[1].variations[1].value (line 17)', message: infinite },
    ]);
    expect(issues(json, 'flags.json')).toEqual([
      { path: 'flags[0].variations[0].value.n (line 3)', message: beyond('9007199254740993', '9007199254740992') },
      { path: 'flags[1].variations[0].value (line 6)', message: beyond('12345678901234567890', '12345678901234567000') },
      { path: 'flags[1].variations[1].value (line 7)', message: infinite },
    ]);
  });
});

describe('checkDocument and withBrokenReferences: every problem of a file in one run', () => {
  const boolean = ['    type: boolean', '    variations:', '      - { key: "off", value: false }', '      - { key: "on", value: true }'];
  const yaml = [
    'xp: 1',
    'project: demo',
    'flags:',
    '  - key: a',
    '    name: A',
    ...boolean,
    '    environments:',
    '      development: { enabled: true, defaultVariation: "off", offVariation: "off", rules: [{ id: r, type: rollout, coverage: 1.5, variation: "on" }] }',
    '  - key: a',
    '    name: A again',
    ...boolean,
    '  - key: c',
    '    name: C',
    ...boolean,
    '    environments:',
    '      development: { enabled: true, defaultVariation: "off", offVariation: "off", prerequisites: [{ flag: a, variation: "on" }] }',
    '      prodution: { enabled: true, defaultVariation: "off", offVariation: "off" }',
    '',
  ].join('\n');

  it('names a schema issue and a key written twice together, and the broken references of the valid rest, but none to the invalid definitions', async () => {
    const checked = checkDocument(yaml, 'flags.yaml');
    if (checked.error === undefined || checked.partial === undefined) {
      throw new Error('expected problems, and the valid rest');
    }

    expect(checked.error.message).toBe(
      'flags.yaml: flags[0].environments.development.rules[0].coverage (line 11): must be between 0 and 1; flags[1] (line 12): flags has "a" twice (flags[0] (line 4) and flags[1]); keys must be unique within a list',
    );
    expect(checked.partial.doc.flags.map((f) => f.key)).toEqual(['c']);
    const withReferences = await withBrokenReferences(fakeApi({}), { error: checked.error, partial: checked.partial });
    expect(withReferences?.message).toBe(`${checked.error.message}; and the valid rest would leave a broken reference (listed below)`);
    const issues = (withReferences?.details as { issues: { path: string; message: string }[] }).issues;
    expect(issues).toHaveLength(3);
    expect(issues[2]).toMatchObject({ path: 'flags.c.environments.prodution', message: expect.stringContaining('unknown environment "prodution"') as unknown });
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

  it('archives an experiment the document marks archived: true, says so in the plan, and unarchives one the document no longer marks', async () => {
    const stopped = experimentSchema.parse({ ...started, status: 'stopped', stoppedAt: '2026-11-20T00:00:00Z' });
    const archived = { ...stopped, archived: true };
    const { status: _status, startedAt: _startedAt, stoppedAt: _stoppedAt, releaseWinner: _releaseWinner, ...configuration } = stopped;

    const archive = await planApply(fakeApi({ experiments: [stopped] }), { ...empty, experiments: [archived] }, { prune: false });
    expect(archive.changes.map((c) => [c.action, c.key, c.diff, c.definition])).toEqual([['update', 'price-test', [{ op: 'add', path: '/archived', to: true }], { ...configuration, archived: true }]]);
    expect(planError(archive)).toBeUndefined();
    expect(describePlan(archive.changes)).toBe(['~ experiment price-test (update: archive)', '    add /archived true', '', 'Plan: 0 to create, 1 to update, 0 to delete.'].join('\n'));

    // As exported (archived: true) and with `archived: false` for one that is not: nothing to do.
    expect((await planApply(fakeApi({ experiments: [archived] }), { ...empty, experiments: [archived] }, { prune: false })).changes).toEqual([]);
    expect((await planApply(fakeApi({ experiments: [stopped] }), { ...empty, experiments: [{ ...stopped, archived: false }] }, { prune: false })).changes).toEqual([]);

    const unarchive = await planApply(fakeApi({ experiments: [archived] }), { ...empty, experiments: [{ ...stopped, archived: false }] }, { prune: false });
    expect(describePlan(unarchive.changes).split('\n').slice(0, 2)).toEqual(['~ experiment price-test (update: unarchive)', '    remove /archived true']);
    expect(unarchive.changes[0]?.definition).not.toHaveProperty('archived');

    const created = await planApply(fakeApi({}), { ...empty, experiments: [archived] }, { prune: false });
    expect(describePlan(created.changes).split('\n')[0]).toBe('+ experiment price-test (create, archived)');
  });

  it('refuses, before anything is sent, to archive a running experiment: it is stopped first', async () => {
    const plan = await planApply(fakeApi({ experiments: [started] }), { ...empty, experiments: [{ ...started, archived: true }] }, { prune: false });

    expect((planError(plan)?.details as { issues: { path: string; message: string }[] }).issues).toEqual([
      { path: 'experiments.price-test.archived', message: 'is running: stop it before archiving it (a document never stops an experiment)' },
    ]);
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

describe('describePlan and archiving', () => {
  const flag = (archived: boolean) => ({ key: 'f', name: 'F', type: 'boolean', archived, variations: [{ key: 'off', value: false }, { key: 'on', value: true }], environments: {} });
  const update = (before: unknown, definition: unknown): PlannedChange => ({ kind: 'flags', key: 'f', action: 'update', version: 4, before, definition, diff: jsonDiff(before, definition) });

  it('says when an update archives or unarchives a flag, as for experiments', () => {
    expect(describePlan([update(flag(false), flag(true))]).split('\n')[0]).toBe('~ flag f (update: archive)');
    expect(describePlan([update(flag(true), flag(false))]).split('\n')[0]).toBe('~ flag f (update: unarchive)');
    expect(describePlan([update(flag(false), { ...flag(false), name: 'Renamed' })]).split('\n')[0]).toBe('~ flag f (update)');
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
