/**
 * Targeting regexes against catastrophic backtracking: a pattern such as ^(a+)+$ is refused when a
 * rule is saved, naming the rule; and one stored before that check (written straight into the
 * database here) no longer stalls the server when a client-side key sends an attribute built to
 * make it backtrack — V8's linear-time engine takes over (http/regex-guard.ts). Without the guard
 * that evaluation would take hours (each character doubles the time) on a thread no timeout can
 * interrupt, so the guard is first checked in a worker that can be stopped: the test fails in
 * seconds instead of hanging.
 */

/** Whether a backtracking regex finishes in a fresh worker (V8's flags are the process's), or is stopped after 10 s. */
function linearFallbackActive(): Promise<boolean> {
  return new Promise((resolve) => {
    const worker = new Worker("require('node:worker_threads').parentPort.postMessage(/^(a+)+$/.test('a'.repeat(40) + '!'))", { eval: true });
    const timer = setTimeout(() => {
      void worker.terminate();
      resolve(false);
    }, 10_000);
    worker.once('message', () => {
      clearTimeout(timer);
      void worker.terminate();
      resolve(true);
    });
  });
}
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { booleanFlagBody } from '../../__tests__/harness.js';
import type { SdkPlatform } from './sdk-fixture.js';
import { startSdkPlatform } from './sdk-fixture.js';

const DEMO = '/api/v1/projects/demo';
const RISKY = '^(a+)+$';

describe('regular expressions that backtrack', () => {
  let s: SdkPlatform;

  const send = (method: string, path: string, body?: unknown, version?: number) =>
    s.p.request(method, path, { token: s.owner, ...(body === undefined ? {} : { body }), ...(version === undefined ? {} : { headers: { 'If-Match': `"${version}"` } }) });
  const rule = (pattern: string) => ({ development: { enabled: true, defaultVariation: 'off', offVariation: 'off', rules: [{ id: 'aaa', type: 'force', variation: 'on', condition: { email: { $regex: pattern } } }] } });

  beforeAll(async () => {
    s = await startSdkPlatform();
  });
  afterAll(async () => {
    await s.close();
  });

  it('refuses a pattern that can backtrack exponentially when it is saved, and accepts the rewritten one', async () => {
    const refused = await send('POST', `${DEMO}/flags`, booleanFlagBody('aaa-only', rule(RISKY)));
    expect(refused.status).toBe(400);
    const issues = (refused.body.error.details.issues as { path: string; message: string }[]).map((i) => `${i.path} ${i.message}`).join('\n');
    expect(issues).toContain('environments.development.rules[0].condition');
    expect(issues).toContain('condition.email.$regex: a repeated group holds another repetition (as in (a+)+ or (a|ab)*), which can take exponential time');
    expect((await send('GET', `${DEMO}/flags/aaa-only`)).status).toBe(404);

    expect((await send('POST', `${DEMO}/flags`, booleanFlagBody('aaa-only', rule('^a+$')))).status).toBe(201);
    const segment = await send('POST', `${DEMO}/segments`, { key: 'a-people', name: 'A people', type: 'condition', condition: { email: { $regex: '(x|xy)*z' } } });
    expect(segment.status).toBe(400);
    // "Up to ten words": a counted group of repetitions, which V8's linear-time engine cannot run.
    const counted = await send('POST', `${DEMO}/segments`, { key: 'short-bio', name: 'Short bio', type: 'condition', condition: { bio: { $regex: '^(\\w+\\s?){10}$' } } });
    expect(counted.status).toBe(400);
    expect(JSON.stringify(counted.body.error.details.issues)).toContain('repeated 10 times');
    // A group that can match in two ways, counted many times: (a|a){26} held the server 4 s on 27
    // characters, (a?){30}a{30} 96 s on 8,000, sent with the public client key.
    for (const pattern of ['^(a|a){26}$', '^(a?){30}a{30}$', '([a-z]?){30}']) {
      const ways = await send('POST', `${DEMO}/flags`, booleanFlagBody('ways', rule(pattern)));
      expect([pattern, ways.status, JSON.stringify(ways.body.error.details.issues)]).toEqual([pattern, 400, expect.stringContaining('a group that can match in more than one way')]);
    }
    // Not a backtracking risk, but a pattern that cannot mean what it says without the u flag.
    const property = await send('POST', `${DEMO}/segments`, { key: 'capitals', name: 'Capitals', type: 'condition', condition: { name: { $regexi: '^\\p{Lu}' } } });
    expect(property.status).toBe(400);
    expect(JSON.stringify(property.body.error.details.issues)).toContain('needs the regex \\"u\\" flag');
  });

  it('evaluates a risky pattern stored before the check without stalling the server', async () => {
    // The platform (its app) is up, so the guard must be on.
    expect(await linearFallbackActive()).toBe(true);
    // As a flag saved by an earlier version: the definition written directly, then republished.
    const db = s.p.services.deps.db;
    const updated = await db.query(
      `UPDATE flags SET definition = jsonb_set(definition, '{environments,development,rules,0,condition,email,$regex}', to_jsonb($1::text))
       WHERE key = 'aaa-only' AND project_id = (SELECT id FROM projects WHERE key = 'demo')`,
      [RISKY],
    );
    expect(updated.rowCount).toBe(1);
    expect((await send('POST', `${DEMO}/republish`)).status).toBe(200);

    const evaluate = async (email: string): Promise<unknown> => {
      const res = await s.p.app.request('/sdk/v1/evaluate', {
        method: 'POST',
        headers: { 'X-XP-SDK-Key': s.p.boot.sdkKeys!.development!.client, 'Content-Type': 'application/json' },
        body: JSON.stringify({ unit: { id: 'u1', attributes: { email } }, flags: ['aaa-only'] }),
      });
      expect(res.status).toBe(200);
      return ((await res.json()) as { flags: Record<string, { value: unknown }> }).flags['aaa-only']?.value;
    };
    expect(await evaluate('aaaa')).toBe(true);
    expect(await evaluate(`${'a'.repeat(64)}!`)).toBe(false);
    expect((await s.p.request('GET', '/healthz')).status).toBe(200);
  });

  it('refuses to run a stored counted group of repetitions, which the linear-time engine cannot take over', async () => {
    // "Up to ten words", saved before such patterns were refused: 33 characters held the server 5 s.
    expect((await send('POST', `${DEMO}/flags`, booleanFlagBody('ten-words', rule('^\\w+$')))).status).toBe(201);
    const db = s.p.services.deps.db;
    await db.query(
      `UPDATE flags SET definition = jsonb_set(definition, '{environments,development,rules,0,condition,email,$regex}', to_jsonb($1::text))
       WHERE key = 'ten-words' AND project_id = (SELECT id FROM projects WHERE key = 'demo')`,
      ['^(\\w+\\s?){10}$'],
    );
    expect((await send('POST', `${DEMO}/republish`)).status).toBe(200);
    const res = await s.p.app.request('/sdk/v1/evaluate', {
      method: 'POST',
      headers: { 'X-XP-SDK-Key': s.p.boot.sdkKeys!.development!.client, 'Content-Type': 'application/json' },
      body: JSON.stringify({ unit: { id: 'u1', attributes: { email: 'aaaa bbbb cccc dddd eeee!' } }, flags: ['ten-words'] }),
    });
    const body = (await res.json()) as { flags: Record<string, { value: unknown; reason: string; errorCode?: string; errorMessage?: string }> };
    expect(res.status).toBe(200);
    // The flag reports why, as for a pattern that does not compile, and the caller's default stands
    // (run on this 25-character value, the pattern would take a fraction of a second and not match).
    expect(body.flags['ten-words']).toMatchObject({ value: null, reason: 'ERROR', errorCode: 'INVALID_RULE' });
    // Asked to explain, the answer names the pattern.
    const explained = await s.p.app.request('/sdk/v1/evaluate', {
      method: 'POST',
      headers: { 'X-XP-SDK-Key': s.p.boot.sdkKeys!.development!.client, 'Content-Type': 'application/json' },
      body: JSON.stringify({ unit: { id: 'u1' }, flags: ['ten-words'], explain: true }),
    });
    expect(((await explained.json()) as { flags: Record<string, { errorMessage?: string }> }).flags['ten-words']?.errorMessage).toContain('repeated 10 times');

    // Such a flag can still be turned off (how one stops using it) and get another environment's
    // state; a change that keeps the pattern in what it rewrites is refused, naming it.
    const stored = await send('GET', `${DEMO}/flags/ten-words`);
    const off = await send('POST', `${DEMO}/flags/ten-words/environments/development/toggle`, { enabled: false }, stored.body.version);
    const staging = await send('PUT', `${DEMO}/flags/ten-words/environments/staging`, { enabled: false, defaultVariation: 'off', offVariation: 'off' }, off.body.version);
    const renamed = await send('PUT', `${DEMO}/flags/ten-words`, { ...staging.body.definition, name: 'Ten words' }, staging.body.version);
    expect([off.status, staging.status, renamed.status]).toEqual([200, 200, 400]);
    expect(JSON.stringify(renamed.body.error.details.issues)).toContain('repeated 10 times');
  });

  it('refuses to run a stored group of alternatives counted many times, answering at once', async () => {
    expect((await send('POST', `${DEMO}/flags`, booleanFlagBody('many-ways', rule('^a$')))).status).toBe(201);
    await s.p.services.deps.db.query(
      `UPDATE flags SET definition = jsonb_set(definition, '{environments,development,rules,0,condition,email,$regex}', to_jsonb($1::text))
       WHERE key = 'many-ways' AND project_id = (SELECT id FROM projects WHERE key = 'demo')`,
      ['^(a|a){26}$'],
    );
    expect((await send('POST', `${DEMO}/republish`)).status).toBe(200);
    const started = Date.now();
    const res = await s.p.app.request('/sdk/v1/evaluate', {
      method: 'POST',
      headers: { 'X-XP-SDK-Key': s.p.boot.sdkKeys!.development!.client, 'Content-Type': 'application/json' },
      body: JSON.stringify({ unit: { id: 'u1', attributes: { email: `${'a'.repeat(33)}!` } }, flags: ['many-ways'], explain: true }),
    });
    const body = (await res.json()) as { flags: Record<string, { value: unknown; reason: string; errorCode?: string; errorMessage?: string }> };
    expect(body.flags['many-ways']).toMatchObject({ value: null, reason: 'ERROR', errorCode: 'INVALID_RULE' });
    expect(body.flags['many-ways']?.errorMessage).toContain('repeated 26 times');
    // Run, this value would hold the server about a minute (2^26 splits); it is not run at all.
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
