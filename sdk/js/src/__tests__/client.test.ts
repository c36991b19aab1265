import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evaluateFlag } from '@xp/shared/eval';
import { describe, expect, it, vi } from 'vitest';
import { ExperimentationClient as BrowserClient } from '../browser.js';
import { ExperimentationClient } from '../client.js';
import { ExperimentationClient as NodeClient, loadRulesetFile } from '../node.js';
import { diffRulesets } from '../ruleset-state.js';
import type { RulesetDocument } from '../ruleset-state.js';
import { SseParser } from '../sse.js';
import type { SseMessage } from '../sse.js';
import { ClientStatus } from '../types.js';
import type { UserContext } from '../types.js';
import { groupedRuleset, makeRuleset, recordingLogger, reversedKeys } from './fixtures.js';

function offline(ruleset: unknown = makeRuleset(1)): ExperimentationClient {
  return new ExperimentationClient('', { bootstrap: ruleset, logger: recordingLogger() });
}

describe('typed values', () => {
  it('returns values of the default type and the default with TYPE_MISMATCH otherwise', () => {
    const c = offline();

    expect(c.getValue('checkout', 'u1', true)).toBe(false);
    expect(c.getValue('color', 'u1', 'red')).toBe('blue');
    expect(c.getValue('limits', 'u1', { max: 0 })).toEqual({ max: 3 });
    expect(c.getValue('color', 'u1', 7)).toBe(7);
    expect(c.evaluate('color', 'u1', false)).toMatchObject({ flagKey: 'color', value: false, reason: 'ERROR', errorCode: 'TYPE_MISMATCH', variationKey: null });
    expect(c.evaluate('limits', 'u1', [1])).toMatchObject({ value: [1], errorCode: 'TYPE_MISMATCH', errorMessage: 'flag "limits" serves an object, expected an array' });
    expect(c.evaluate('color', 'u1', false).errorMessage).toBe('flag "color" serves a string, expected a boolean');
    expect(c.evaluate('missing', 'u1', 'x')).toMatchObject({ value: 'x', reason: 'FLAG_NOT_FOUND', errorCode: 'FLAG_NOT_FOUND' });
  });

  it('evaluates without a default, and treats the unit id as attributes.id', () => {
    const c = offline();

    const byId = c.evaluate('exp-flag', 'user-0');
    const byObject = c.evaluate('exp-flag', { id: 'user-0', attributes: { plan: 'pro' } });
    const byAttributes = c.evaluate('exp-flag', { attributes: { id: 'user-0' } });

    expect(byId.reason).toBe('SPLIT');
    expect(byObject.value).toBe(byId.value);
    expect(byAttributes.experiment).toMatchObject({ hashValue: 'user-0', inExperiment: true });
  });

  it('reads a null id as an absent one, so attributes.id buckets the unit as /sdk/v1/evaluate does', () => {
    const c = offline();

    const byAttributes = c.evaluate('exp-flag', { attributes: { id: 'user-0', plan: 'pro' } });
    const withNullId = c.evaluate('exp-flag', { id: null, attributes: { id: 'user-0', plan: 'pro' } });

    expect(byAttributes.reason).toBe('SPLIT');
    expect(withNullId).toEqual(byAttributes);
  });

  it('isFeatureEnabled follows the served value and is false when the flag cannot be evaluated', () => {
    const on = offline(makeRuleset(1, { checkoutOn: true }));

    expect(on.isFeatureEnabled('checkout', 'u1')).toBe(true);
    expect(on.isFeatureEnabled('missing', 'u1')).toBe(false);
    // Other types by JavaScript truthiness, as the Python SDK and GrowthBook's isOn.
    expect(on.isFeatureEnabled('color', 'u1')).toBe(true);
    expect(on.isFeatureEnabled('limits', 'u1')).toBe(true);
    expect(offline(undefined).isFeatureEnabled('checkout', 'u1')).toBe(false);
  });

  it('never throws on garbage arguments', () => {
    const c = offline();

    expect(() => c.getValue('color', null as never, 'red')).not.toThrow();
    expect(c.getVariant('exp-ab', true as never)).toBeNull();
    expect(() => {
      c.trackEvent('x', undefined as never, 5 as never);
    }).not.toThrow();
    expect(() => {
      c.trackEvent('x', 'u1', null as never);
    }).not.toThrow();
  });

  it('takes a number as the unit id, as the Python SDK and the evaluation API do', () => {
    const c = offline();

    expect(c.evaluate('exp-flag', 42)).toMatchObject({ reason: 'SPLIT', experiment: { hashValue: '42', inExperiment: true } });
    expect(c.getExperiment('exp-ab', 42)).toMatchObject({ inExperiment: true, hashValue: '42' });
    expect(c.getVariant('exp-ab', 42)).toBe(c.getVariant('exp-ab', '42'));
  });

  it('targets a numeric id as its decimal string, as POST /sdk/v1/evaluate does (id lists, $in on ids)', () => {
    const on = { variations: [{ key: 'off', value: false }, { key: 'on', value: true }], default: 0, off: 0 };
    const ruleset = {
      schemaVersion: 1,
      environment: 'production',
      version: 1,
      flags: {
        beta: { ...on, rules: [{ id: 'list', type: 'force', condition: { id: { $inGroup: 'beta-ids' } }, variation: 1 }] },
        staff: { ...on, rules: [{ id: 'ids', type: 'force', condition: { id: { $in: ['42', '7'] } }, variation: 1 }] },
        'exp-flag': (makeRuleset(1).flags as Record<string, unknown>)['exp-flag'],
      },
      experiments: makeRuleset(1).experiments,
      savedGroups: { 'beta-ids': ['42', '1001'] },
    };
    const c = offline(ruleset);
    // What the evaluation API computes for { unit: { id: "42", attributes } }: the id as a string, winning over attributes.id.
    const server = (flag: string, attributes: Record<string, unknown> = {}) => evaluateFlag(ruleset, flag, { attributes: { ...attributes, id: '42' } });

    for (const flag of ['beta', 'staff', 'exp-flag']) {
      for (const user of [42, { id: 42 }, { id: 42, attributes: { plan: 'pro' } }, { id: 42, attributes: { id: 42 } }]) {
        const expected = server(flag, typeof user === 'object' ? user.attributes : undefined);
        expect(c.evaluate(flag, user), `${flag} for ${JSON.stringify(user)}`).toMatchObject({ value: expected.value, variationKey: expected.variationKey, reason: expected.reason });
      }
    }
    expect(c.isFeatureEnabled('beta', 42)).toBe(true);
    expect(c.isFeatureEnabled('staff', 42)).toBe(true);
    expect(c.isFeatureEnabled('beta', 43)).toBe(false);
  });

  it('answers INVALID_CONTEXT with the default for a user that is neither an id nor an object', () => {
    const c = offline();

    for (const user of [null, undefined, true]) {
      expect(c.evaluate('color', user as never, 'red')).toMatchObject({ value: 'red', reason: 'ERROR', errorCode: 'INVALID_CONTEXT' });
      expect(c.getExperiment('exp-ab', user as never)).toMatchObject({ inExperiment: false, errorCode: 'INVALID_CONTEXT' });
    }
  });

  const notObjects = ['abc', 5, true, [], ['id', 'u1']].flatMap((attributes) => [{ id: 'user-0', attributes }, { attributes }]) as unknown as UserContext[];

  it.each(notObjects)('answers INVALID_CONTEXT from every entry point for %j: attributes that are not an object, as the Python SDK', (user) => {
    const c = offline(makeRuleset(1, { checkoutOn: true }));

    expect(c.evaluate('color', user, 'red')).toMatchObject({ value: 'red', variationKey: null, reason: 'ERROR', errorCode: 'INVALID_CONTEXT' });
    expect(c.evaluate('exp-flag', user)).toMatchObject({ value: null, reason: 'ERROR', errorCode: 'INVALID_CONTEXT' });
    expect(c.getValue('color', user, 'red')).toBe('red');
    expect(c.isFeatureEnabled('checkout', user)).toBe(false);
    expect(c.getExperiment('exp-ab', user)).toMatchObject({ inExperiment: false, variationKey: null, errorCode: 'INVALID_CONTEXT' });
    expect(c.getVariant('exp-ab', user)).toBeNull();
  });

  it('reads null attributes as absent ones, as the Python SDK', () => {
    const c = offline(makeRuleset(1, { checkoutOn: true }));

    expect(c.evaluate('checkout', { id: 'u1', attributes: null } as unknown as UserContext)).toMatchObject({ value: true, reason: 'DEFAULT' });
  });

  it('returns the default with GENERAL instead of throwing when reading the user throws', () => {
    const c = offline();
    const attributes = Object.defineProperty({}, 'plan', {
      enumerable: true,
      get: () => {
        throw new Error('unreadable');
      },
    });
    const user = { id: 'u1', attributes };

    expect(c.evaluate('exp-flag', user, 'x')).toMatchObject({ value: 'x', reason: 'ERROR', errorCode: 'GENERAL' });
    expect(c.isFeatureEnabled('checkout', user)).toBe(false);
    expect(c.getExperiment('exp-ab', user)).toMatchObject({ inExperiment: false, errorCode: 'GENERAL' });
    expect(c.getVariant('exp-ab', user)).toBeNull();
  });

  it('answers PROVIDER_NOT_READY from getExperiment as from evaluate while no ruleset is loaded', () => {
    const c = new ExperimentationClient('', { logger: recordingLogger() });

    expect(c.getExperiment('exp-ab', 'u1')).toMatchObject({ inExperiment: false, variationKey: null, errorCode: 'PROVIDER_NOT_READY' });
    expect(c.evaluate('color', 'u1', 'red')).toMatchObject({ value: 'red', errorCode: 'PROVIDER_NOT_READY' });
  });
});

describe('explain', () => {
  const ruleset = makeRuleset(1) as Record<string, any>;
  ruleset.flags.targeted = {
    ...ruleset.flags['exp-flag'],
    rules: [
      { id: 'staff', type: 'force', condition: { plan: 'staff' }, variation: 1 },
      { id: 'ramp', type: 'rollout', hashAttribute: 'id', seed: 'ramp', hashVersion: 2, coverage: 0, variation: 1 },
      { id: 'r1', type: 'experiment', experiment: 'exp-ab', variations: [0, 1] },
    ],
  };

  it.each([
    ['@xp/sdk', ExperimentationClient],
    ['@xp/sdk/node', NodeClient],
    ['@xp/sdk/browser', BrowserClient],
  ])('returns the trace of every rule considered from %s, as Python\'s explain=True', (_entry, Client) => {
    const c = new Client('', { bootstrap: ruleset, logger: recordingLogger() });
    const user = { id: 'user-0', attributes: { plan: 'pro' } };

    const explained = c.evaluate('targeted', user, 'none', { explain: true });
    const plain = c.evaluate('targeted', user, 'none');

    expect(explained).toMatchObject({ flagKey: 'targeted', reason: 'SPLIT', ruleId: 'r1' });
    expect(explained.trace).toEqual([
      { ruleId: 'staff', outcome: 'condition-false', detail: 'plan is "pro", needs "staff"' },
      { ruleId: 'ramp', outcome: 'outside-rollout', detail: expect.stringMatching(/^bucket [\d.]+ > coverage 0$/) },
      { ruleId: 'r1', outcome: 'matched', detail: `exp-ab: ${explained.experiment?.variationKey ?? ''}` },
    ]);
    expect(plain).not.toHaveProperty('trace');
    expect({ ...explained, trace: undefined }).toEqual({ ...plain, trace: undefined });
  });

  it('gives an empty trace when no rule was considered and none when the default is returned, as Python', () => {
    const c = offline({ ...ruleset, flags: { ...ruleset.flags, dark: { ...ruleset.flags.targeted, on: false } } });

    expect(c.evaluate('dark', 'u1', undefined, { explain: true })).toMatchObject({ reason: 'DISABLED', trace: [] });
    expect(c.evaluate('checkout', 'u1', undefined, { explain: true })).toMatchObject({ reason: 'DEFAULT', trace: [] });
    expect(c.evaluate('targeted', 'u1', 42, { explain: true })).not.toHaveProperty('trace');
    expect(c.evaluate('missing', 'u1', 'x', { explain: true })).not.toHaveProperty('trace');
    expect(c.evaluate('targeted', { attributes: 'x' } as unknown as UserContext, 'x', { explain: true })).not.toHaveProperty('trace');
  });
});

describe('bootstrap', () => {
  it('starts offline from a snapshot with status BOOTSTRAPPED, and round-trips getSnapshot()', async () => {
    const c = offline();

    const ready = await c.ready();
    const again = offline(JSON.parse(JSON.stringify(c.getSnapshot())));

    expect(ready.status).toBe(ClientStatus.Bootstrapped);
    expect(again.getValue('color', 'u1', 'red')).toBe('blue');
  });

  it('refuses a bootstrap that is not a ruleset and serves defaults', async () => {
    const log = recordingLogger();
    const c = new ExperimentationClient('', { bootstrap: { hello: 'world' }, logger: log });

    expect((await c.ready()).status).toBe(ClientStatus.Defaults);
    expect(c.getValue('color', 'u1', 'red')).toBe('red');
    expect(log.has('warn', 'bootstrap ruleset refused')).toBe(true);
  });

  it('reads a bootstrap file in Node, and logs (never throws) when the file is missing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'xp-sdk-'));
    const file = join(dir, 'ruleset.json');
    writeFileSync(file, JSON.stringify(makeRuleset(3, { color: 'file' })));
    const log = recordingLogger();

    const c = new NodeClient('', { bootstrap: file, logger: log });
    const missing = new NodeClient('', { bootstrap: join(dir, 'nope.json'), logger: log });

    expect(c.getValue('color', 'u1', 'red')).toBe('file');
    expect((await missing.ready()).status).toBe(ClientStatus.Defaults);
    expect(log.has('error', 'bootstrap file not used')).toBe(true);
    expect(() => loadRulesetFile(join(dir, 'nope.json'))).toThrow(/cannot read/);
  });

  it('reports a configuration error instead of throwing for a malformed apiUrl', async () => {
    const log = recordingLogger();
    const c = new ExperimentationClient('key', { apiUrl: 'not a url', logger: log });

    expect(await c.ready()).toMatchObject({ status: ClientStatus.Defaults, error: { code: 'CONFIGURATION' } });
  });
});

describe('log lines say what is true', () => {
  it('does not promise an API answer to a client that never contacts the API (no key, bad apiUrl)', async () => {
    for (const [key, apiUrl] of [
      ['', 'https://xp.example.com'],
      ['key', 'ftp://x'],
    ] as const) {
      const log = recordingLogger();
      const c = new ExperimentationClient(key, { apiUrl, logger: log });
      await c.ready();

      expect(log.lines).toHaveLength(1);
      expect(log.lines[0]).toMatchObject({ level: 'error' });
      expect(log.lines[0]?.message).toContain('the client stays offline, serving defaults');
    }
  });

  it('says a client closed before ready() settled is closed, not waiting for the API', async () => {
    const log = recordingLogger();
    // An API that does not answer before close() aborts the request.
    const fetch = (_url: string, init: RequestInit): Promise<Response> =>
      new Promise((_resolve, reject) => {
        init.signal?.addEventListener('abort', () => {
          reject(new Error('aborted'));
        });
      });
    const c = new ExperimentationClient('xpk_srv_key', { apiUrl: 'https://xp.example.com', fetch, logger: log });

    await c.close();
    const ready = await c.ready();

    expect(ready.status).toBe(ClientStatus.Closed);
    expect(log.lines.some((l) => l.message.includes('until the API answers'))).toBe(false);
    expect(log.has('info', 'client closed before the first ruleset arrived')).toBe(true);
  });
});

describe('a server key in a web page', () => {
  const silentApi = (_url: string, init: RequestInit): Promise<Response> =>
    new Promise((_resolve, reject) => {
      init.signal?.addEventListener('abort', () => {
        reject(new Error('aborted'));
      });
    });

  it('is said loudly in a page, where anyone can read it, and not in a server', async () => {
    const inPage = recordingLogger();
    vi.stubGlobal('document', { visibilityState: 'visible', addEventListener: () => undefined, removeEventListener: () => undefined });
    try {
      const c = new BrowserClient('xpk_srv_secretpart', { apiUrl: 'https://xp.example.com', fetch: silentApi, logger: inPage });
      await c.close();
    } finally {
      vi.unstubAllGlobals();
    }
    const onServer = recordingLogger();
    await new ExperimentationClient('xpk_srv_secretpart', { apiUrl: 'https://xp.example.com', fetch: silentApi, logger: onServer }).close();
    const pageClientKey = recordingLogger();
    vi.stubGlobal('document', { visibilityState: 'visible', addEventListener: () => undefined, removeEventListener: () => undefined });
    try {
      await new BrowserClient('xpk_cli_publicpart', { apiUrl: 'https://xp.example.com', fetch: silentApi, logger: pageClientKey }).close();
    } finally {
      vi.unstubAllGlobals();
    }

    const warning = inPage.lines.find((l) => l.message.includes('server SDK key'));
    expect(warning).toMatchObject({ level: 'error' });
    expect(warning?.message).toContain("use the environment's client key (xpk_cli_…)");
    expect(warning?.message).not.toContain('secretpart');
    expect(onServer.lines.some((l) => l.message.includes('server SDK key'))).toBe(false);
    expect(pageClientKey.lines.some((l) => l.message.includes('server SDK key'))).toBe(false);
  });
});

describe('change detection', () => {
  const base = makeRuleset(1) as unknown as RulesetDocument;

  it('names changed flags and flags that use a changed experiment', () => {
    const next = makeRuleset(2, { color: 'red', coverage: 0.5 }) as unknown as RulesetDocument;

    const change = diffRulesets(base, next);

    expect([...change.flags].sort()).toEqual(['color', 'exp-flag']);
    expect(change.experiments).toEqual(['exp-ab']);
  });

  it('propagates through prerequisites and reports removed flags', () => {
    const next = makeRuleset(2, { checkoutOn: true }) as Record<string, any>;
    next.flags.color.prerequisites = [{ flag: 'checkout', variation: 'on' }];
    delete next.flags.limits;
    const prev = makeRuleset(1) as Record<string, any>;
    prev.flags.color.prerequisites = [{ flag: 'checkout', variation: 'on' }];

    const change = diffRulesets(prev as RulesetDocument, next as RulesetDocument);

    expect([...change.flags].sort()).toEqual(['checkout', 'color', 'limits']);
  });

  it('reports nothing for an identical ruleset with a new version', () => {
    expect(diffRulesets(base, makeRuleset(2) as unknown as RulesetDocument)).toEqual({ flags: [], experiments: [], version: 2 });
  });

  it('reports nothing for the same ruleset with its object keys in another order, as a restarted server publishes it', () => {
    const before = groupedRuleset(1) as unknown as RulesetDocument;
    const after = reversedKeys(groupedRuleset(2)) as RulesetDocument;

    expect(JSON.stringify(after.flags)).not.toBe(JSON.stringify(before.flags));
    expect(diffRulesets(before, after)).toEqual({ flags: [], experiments: [], version: 2 });
  });

  it('still counts the order of arrays: variations and rules', () => {
    const next = groupedRuleset(2) as Record<string, any>;
    next.flags.checkout.variations.reverse();
    next.flags['exp-flag'].rules.unshift({ id: 'r0', type: 'force', variation: 1 });

    expect([...diffRulesets(groupedRuleset(1) as unknown as RulesetDocument, next as RulesetDocument).flags].sort()).toEqual(['checkout', 'exp-flag']);
  });

  it('names only the flags whose conditions, or whose experiments\' conditions, use a changed saved group', () => {
    const before = groupedRuleset(1) as unknown as RulesetDocument;

    const beta = diffRulesets(before, groupedRuleset(2, { betaIds: ['u1', 'u3'] }) as unknown as RulesetDocument);
    const staff = diffRulesets(before, reversedKeys(groupedRuleset(2, { staffIds: ['u8', 'u9'] })) as RulesetDocument);

    expect([...beta.flags].sort()).toEqual(['beta', 'grouped-flag']);
    expect(beta.experiments).toEqual(['exp-grouped']);
    expect(staff).toEqual({ flags: ['staff'], experiments: [], version: 2 });
  });

  it('names only the flags running an experiment in a changed holdout', () => {
    const change = diffRulesets(groupedRuleset(1) as unknown as RulesetDocument, groupedRuleset(2, { holdoutCoverage: 0.1 }) as unknown as RulesetDocument);

    expect(change).toEqual({ flags: ['grouped-flag'], experiments: ['exp-grouped'], version: 2 });
  });
});

describe('SseParser', () => {
  it('parses events split across chunks with any line ending, and skips comments', () => {
    const messages: SseMessage[] = [];
    const parser = new SseParser((m) => messages.push(m));

    for (const chunk of ['event: rule', 'set\r', '\nid: 7\ndata: {"a"', ':1}\n\n: heartbeat\n\n', 'data: x\rdata: y\r\r', ': data: not data\n', 'event: empty\n\n']) {
      parser.push(chunk);
    }

    expect(messages).toEqual([
      { event: 'ruleset', data: '{"a":1}', id: '7' },
      { event: 'message', data: 'x\ny', id: '7' },
    ]);
  });

  it('gives the same events whatever the chunking, a CRLF split between chunks included', () => {
    const stream = 'retry: 3000\r\n\r\n: hi\r\nevent: ruleset\r\ndata: a\r\ndata: b\r\n\r\ndata: c\r\rdata: d\n\ndata:e\r\n\rid: 9\ndata: f\n\n';
    const parse = (chunks: string[]): SseMessage[] => {
      const messages: SseMessage[] = [];
      const parser = new SseParser((m) => messages.push(m));
      chunks.forEach((chunk) => {
        parser.push(chunk);
      });
      return messages;
    };
    const expected = [
      { event: 'ruleset', data: 'a\nb', id: undefined },
      { event: 'message', data: 'c', id: undefined },
      { event: 'message', data: 'd', id: undefined },
      { event: 'message', data: 'e', id: undefined },
      { event: 'message', data: 'f', id: '9' },
    ];

    expect(parse([stream])).toEqual(expected);
    expect(parse(Array.from({ length: stream.length }, (_v, i) => stream.charAt(i)))).toEqual(expected);
    for (let cut = 1; cut < stream.length; cut++) {
      expect(parse([stream.slice(0, cut), stream.slice(cut)]), `cut at ${cut}`).toEqual(expected);
    }
  });
});
