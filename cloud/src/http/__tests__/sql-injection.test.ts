import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { experimentSchema, flagSchema, holdoutSchema, metricSchema, segmentSchema } from '@xp/shared';
import { pgliteTarget } from '../../store/__tests__/test-databases.js';
import type { Platform } from './harness.js';
import { OWNER, startPlatform } from './harness.js';

const DEMO = '/api/v1/projects/demo';
const PASSWORD = 'purple monkey dishwasher 7';

/** Classic payloads, each sent through every string field a user controls. */
const PAYLOADS: readonly (readonly [string, string])[] = [
  ['drop table', "'; DROP TABLE flags; --"],
  ['tautology', "' OR '1'='1"],
  ['stacked sleep', "\\'); SELECT pg_sleep(5); --"],
  ['wildcard tautology', "%' OR 1=1 --"],
  ['double quotes', '" OR ""=""; DROP TABLE "users" --'],
  ['union and comment', "x'/**/UNION SELECT password_hash FROM users--"],
  ['dollar quotes and placeholders', "x$$; DELETE FROM audit_log; $$ E'\\\\' $1 ?"],
  ['backslashes', "\\\\'\\n\\x27\\u0027 \\"],
  // A right-to-left mark, not an override: names and tags refuse bidirectional embeddings, overrides and isolates.
  ['unicode', 'Ünïcødé 🚀 中文 עברית \u200f\u200b\u00a0 ʼ＇ ǅ'],
  ['long', "'; DROP TABLE flags; -- ".repeat(250)],
];

const cut = (s: string, max: number): string => s.slice(0, max);

let p: Platform;
let owner = '';

async function created(method: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<any> {
  const res = await p.request(method, path, { token: owner, body, headers });
  expect(`${res.status} ${res.status >= 300 ? JSON.stringify(res.body) : 'ok'}`).toMatch(/^2\d\d ok$/);
  return res.body;
}

async function get(path: string): Promise<any> {
  const res = await p.request('GET', path, { token: owner });
  expect(`${res.status} ${res.status === 200 ? 'ok' : JSON.stringify(res.body)}`).toBe('200 ok');
  return res.body;
}

async function tableNames(): Promise<string[]> {
  const r = await p.db.query<{ name: string }>("SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name");
  return r.rows.map((row) => row.name);
}

/** Every flag of the demo project, across pages. */
async function allFlags(): Promise<{ key: string; name: string }[]> {
  const items: { key: string; name: string }[] = [];
  let cursor: string | undefined;
  do {
    const page = await get(`${DEMO}/flags?limit=200${cursor === undefined ? '' : `&cursor=${cursor}`}`);
    items.push(...(page.items as { key: string; definition: { name: string } }[]).map((f) => ({ key: f.key, name: f.definition.name })));
    cursor = page.nextCursor as string | undefined;
  } while (cursor !== undefined);
  return items;
}

function flagWith(key: string, s: string): Record<string, unknown> {
  return {
    key,
    name: cut(s, 200),
    description: cut(s, 5000),
    type: 'string',
    tags: [cut(s, 64), 'plain'],
    variations: [
      { key: 'a', name: cut(s, 200), description: cut(s, 2000), value: s },
      { key: 'b', value: `${s} (b)` },
    ],
    environments: {
      development: {
        enabled: true,
        defaultVariation: 'a',
        offVariation: 'b',
        rules: [
          { id: 'r1', type: 'force', description: cut(s, 2000), variation: 'a', condition: { [cut(s, 256)]: s, email: { $in: [s, 'x'] } } },
          { id: 'r2', type: 'rollout', variation: 'b', coverage: 0.5, hashAttribute: cut(s, 256), seed: cut(s, 256) },
        ],
      },
    },
  };
}

describe('SQL injection attempts stay data (pglite)', () => {
  let tablesBefore: string[] = [];

  beforeAll(async () => {
    p = await startPlatform(pgliteTarget());
    owner = await p.login(OWNER.email, OWNER.password);
    tablesBefore = await tableNames();
  });
  afterAll(async () => {
    await p.close();
  });

  describe.each(PAYLOADS.map(([name, s], i) => [name, s, i] as const))('%s', (_name, s, i) => {
    it('is stored and returned verbatim in every string field of a flag, and published as sent', async () => {
      const body = flagWith(`inj-flag-${i}`, s);
      const started = performance.now();

      const res = await created('POST', `${DEMO}/flags`, body);
      const read = await get(`${DEMO}/flags/inj-flag-${i}`);
      const ruleset = await get(`${DEMO}/environments/development/ruleset`);

      expect(performance.now() - started).toBeLessThan(5000);
      expect(res.definition).toEqual(flagSchema.parse(body));
      expect(read.definition).toEqual(flagSchema.parse(body));
      const published = ruleset.published.ruleset.flags[`inj-flag-${i}`];
      expect(published.variations[0].value).toBe(s);
      expect(published.rules[0].condition).toEqual({ [cut(s, 256)]: s, email: { $in: [s, 'x'] } });
      expect(published.rules[1]).toMatchObject({ hashAttribute: cut(s, 256), seed: cut(s, 256) });
    });

    it('is stored verbatim in segments, metrics, holdouts and experiments', async () => {
      const ids = { key: `inj-ids-${i}`, name: cut(s, 200), description: cut(s, 2000), type: 'ids', attribute: cut(s, 256), values: [cut(s, 512), 42] };
      const cond = { key: `inj-cond-${i}`, name: cut(s, 200), type: 'condition', condition: { [cut(s, 256)]: { $ne: s } } };
      const metric = { key: `inj-metric-${i}`, name: cut(s, 200), description: cut(s, 2000), type: 'sum', event: cut(s, 200), property: cut(s, 256), tags: [cut(s, 64)] };
      const holdout = { key: `inj-holdout-${i}`, name: cut(s, 200), description: cut(s, 2000), hashAttribute: cut(s, 256), coverage: 0.1 };
      const experiment = {
        key: `inj-exp-${i}`,
        name: cut(s, 200),
        hypothesis: cut(s, 5000),
        tags: [cut(s, 64)],
        hashAttribute: cut(s, 256),
        seed: cut(s, 256),
        variations: [
          { key: 'control', name: cut(s, 200), value: s },
          { key: 'treatment', value: { [cut(s, 100)]: s } },
        ],
        namespace: { id: cut(s, 128), range: [0, 0.5] },
        condition: { [cut(s, 256)]: s },
      };

      const responses = [
        await created('POST', `${DEMO}/segments`, ids),
        await created('POST', `${DEMO}/segments`, cond),
        await created('POST', `${DEMO}/metrics`, metric),
        await created('POST', `${DEMO}/holdouts`, holdout),
        await created('POST', `${DEMO}/experiments`, experiment),
      ];
      const reads = [
        await get(`${DEMO}/segments/inj-ids-${i}`),
        await get(`${DEMO}/segments/inj-cond-${i}`),
        await get(`${DEMO}/metrics/inj-metric-${i}`),
        await get(`${DEMO}/holdouts/inj-holdout-${i}`),
        await get(`${DEMO}/experiments/inj-exp-${i}`),
      ];

      const expected = [segmentSchema.parse(ids), segmentSchema.parse(cond), metricSchema.parse(metric), holdoutSchema.parse(holdout), experimentSchema.parse(experiment)];
      expect(responses.map((r) => r.definition)).toEqual(expected);
      expect(reads.map((r) => r.definition)).toEqual(expected);
    });

    it('is found literally by search, and only where it occurs', async () => {
      const q = cut(s, 100);
      await created('POST', `${DEMO}/flags`, { ...flagWith(`inj-search-${i}`, s), name: `before ${cut(s, 150)} after` });

      const found = await get(`${DEMO}/flags?limit=200&q=${encodeURIComponent(q)}`);
      const everything = await allFlags();

      const expected = everything.filter((f) => f.key.toLowerCase().includes(q.toLowerCase()) || f.name.toLowerCase().includes(q.toLowerCase())).map((f) => f.key);
      expect((found.items as { key: string }[]).map((f) => f.key)).toEqual(expected);
      expect(expected).toContain(`inj-search-${i}`);
      expect(expected.length).toBeLessThan(everything.length);
    });

    it('matches nothing as an audit filter, and as a key or resource type filter is refused', async () => {
      const filters = `resourceType=flag&resourceKey=${encodeURIComponent(cut(s, 128))}&actor=${encodeURIComponent(cut(s, 64))}`;

      const audit = await get(`/api/v1/audit?${filters}`);
      const onlyType = await p.request('GET', `/api/v1/audit?resourceType=${encodeURIComponent(cut(s, 64))}`, { token: owner });
      const onlyActor = await get(`/api/v1/audit?actor=${encodeURIComponent(cut(s, 64))}`);
      const byKey = await p.request('GET', `${DEMO}/change-requests?resourceKey=${encodeURIComponent(s)}`, { token: owner });
      const byEnv = await p.request('GET', `${DEMO}/sdk-keys?environment=${encodeURIComponent(s)}`, { token: owner });
      const byProject = await p.request('GET', `/api/v1/audit?project=${encodeURIComponent(s)}`, { token: owner });
      const control = await get('/api/v1/audit?resourceType=flag&limit=1');

      expect(audit.items).toEqual([]);
      expect(onlyActor.items).toEqual([]);
      for (const res of [onlyType, byKey, byEnv, byProject]) {
        expect(res.status).toBe(400);
        expect(res.body.error.code).toBe('VALIDATION_FAILED');
      }
      expect(control.items).toHaveLength(1);
    });

    it('is stored verbatim as a user name, project, environment, SDK key and token name, and change request comment', async () => {
      const user = await created('POST', '/api/v1/users', { email: `inj-${i}@example.com`, name: cut(s, 200), role: 'viewer' });
      const renamed = await created('PATCH', `/api/v1/users/${user.user.id as string}`, { name: cut(`${s} renamed`, 200) }, { 'If-Match': '"1"' });
      const project = await created('POST', '/api/v1/projects', { key: `inj-project-${i}`, name: cut(s, 200), description: cut(s, 2000) });
      const patched = await created('PATCH', `/api/v1/projects/inj-project-${i}`, { description: cut(`${s} patched`, 2000) }, { 'If-Match': '"1"' });
      const env = await created('POST', `/api/v1/projects/inj-project-${i}/environments`, { key: 'qa', name: cut(s, 200), description: cut(s, 2000) });
      const key = await created('POST', `${DEMO}/sdk-keys`, { environment: 'development', kind: 'server', name: cut(s, 100) });
      const token = await created('POST', '/api/v1/me/tokens', { name: cut(s, 100) });
      await created('POST', `${DEMO}/flags`, { ...flagWith(`inj-cr-${i}`, 'plain'), environments: {} });
      const cr = await created('POST', `${DEMO}/change-requests`, {
        resourceType: 'flag',
        resourceKey: `inj-cr-${i}`,
        environment: 'production',
        state: { enabled: false, defaultVariation: 'a', offVariation: 'b' },
        baseVersion: 1,
        comment: cut(s, 2000),
      });

      const users = await get(`/api/v1/users?limit=200&q=${encodeURIComponent(cut(`${s} renamed`, 200))}`);
      const keys = await get(`${DEMO}/sdk-keys`);
      const tokens = await get('/api/v1/me/tokens');
      const crRead = await get(`${DEMO}/change-requests/${cr.id as string}`);
      const envRead = await get(`/api/v1/projects/inj-project-${i}/environments/qa`);

      expect(user.user.name).toBe(cut(s, 200));
      expect(renamed.name).toBe(cut(`${s} renamed`, 200));
      expect((users.items as { id: string }[]).map((u) => u.id)).toContain(user.user.id);
      expect(project).toMatchObject({ name: cut(s, 200), description: cut(s, 2000) });
      expect(patched).toMatchObject({ name: cut(s, 200), description: cut(`${s} patched`, 2000) });
      expect(env).toMatchObject({ name: cut(s, 200), description: cut(s, 2000) });
      expect(envRead).toMatchObject({ name: cut(s, 200), description: cut(s, 2000) });
      expect((keys.items as { id: string; name: string }[]).find((k) => k.id === key.sdkKey.id)?.name).toBe(cut(s, 100));
      expect((tokens.items as { id: string; name: string }[]).find((t) => t.id === token.accessToken.id)?.name).toBe(cut(s, 100));
      expect(crRead.comment).toBe(cut(s, 2000));
    });

    it('in a path key is refused with 400, in a path id is a plain 404, and revokes nothing', async () => {
      const enc = encodeURIComponent(cut(s, 64));
      const keysBefore = await get(`${DEMO}/sdk-keys`);
      const tokensBefore = await get('/api/v1/me/tokens');

      const keyPaths = [`${DEMO}/flags/${enc}`, `/api/v1/projects/${enc}`, `/api/v1/projects/${enc}/flags`, `${DEMO}/environments/${enc}`, `${DEMO}/segments/${enc}`];
      const keyResults = await Promise.all(keyPaths.map((path) => p.request('GET', path, { token: owner })));
      const idResults = [
        await p.request('GET', `${DEMO}/change-requests/${enc}`, { token: owner }),
        await p.request('POST', `${DEMO}/change-requests/${enc}/approve`, { token: owner }),
        await p.request('GET', `/api/v1/users/${enc}`, { token: owner }),
        await p.request('DELETE', `/api/v1/me/tokens/${enc}`, { token: owner }),
        await p.request('DELETE', `${DEMO}/sdk-keys/${enc}`, { token: owner }),
      ];
      const keysAfter = await get(`${DEMO}/sdk-keys`);
      const tokensAfter = await get('/api/v1/me/tokens');

      expect(keyResults.map((r) => `${r.status} ${r.body.error?.code}`)).toEqual(keyResults.map(() => '400 VALIDATION_FAILED'));
      expect(idResults.map((r) => `${r.status} ${r.body.error?.code}`)).toEqual(idResults.map(() => '404 NOT_FOUND'));
      expect(keysAfter).toEqual(keysBefore);
      expect(tokensAfter).toEqual(tokensBefore);
    });

    it('logs nobody in as an email or password', async () => {
      const attempts = [
        { email: cut(s, 320), password: cut(s, 1024) },
        { email: `${OWNER.email}${cut(s, 200)}`, password: 'anything at all' },
        { email: OWNER.email, password: cut(s, 1024) },
      ];

      const results = [];
      for (const body of attempts) {
        results.push(await p.request('POST', '/api/v1/auth/login', { body }));
      }
      p.now.value = new Date(p.now.value.getTime() + 16 * 60_000);

      for (const res of results) {
        expect(res.status).toBe(401);
        expect(res.body.token).toBeUndefined();
      }
    });
  });

  it('matches "%", "_" and "\\" in search literally', async () => {
    for (const [key, name] of [
      ['lit-percent', '100% sure'],
      ['lit-underscore', 'snake_case name'],
      ['lit-backslash', 'back\\slash'],
      ['lit-plain', 'plain name'],
    ] as const) {
      await created('POST', `${DEMO}/flags`, { ...flagWith(key, 'plain'), name });
    }

    const percent = await get(`${DEMO}/flags?limit=200&q=${encodeURIComponent('%')}`);
    const underscore = await get(`${DEMO}/flags?limit=200&q=${encodeURIComponent('_')}`);
    const backslash = await get(`${DEMO}/flags?limit=200&q=${encodeURIComponent('\\')}`);
    const users = await get(`/api/v1/users?limit=200&q=${encodeURIComponent('%')}`);
    const allUsers = await get('/api/v1/users?limit=200');
    const everything = await allFlags();

    const containing = (c: string): string[] => everything.filter((f) => f.key.includes(c) || f.name.toLowerCase().includes(c)).map((f) => f.key);
    expect((percent.items as { key: string }[]).map((f) => f.key)).toEqual(containing('%'));
    expect((underscore.items as { key: string }[]).map((f) => f.key)).toEqual(containing('_'));
    expect((backslash.items as { key: string }[]).map((f) => f.key)).toEqual(containing('\\'));
    expect(containing('%')).toContain('lit-percent');
    expect(containing('_')).toContain('lit-underscore');
    expect(containing('_')).not.toContain('lit-plain');
    expect(containing('\\')).toContain('lit-backslash');
    expect(containing('%')).not.toContain('lit-plain');
    const usersWithPercent = (allUsers.items as { id: string; email: string; name: string }[]).filter((u) => `${u.email} ${u.name}`.includes('%')).map((u) => u.id);
    expect((users.items as { id: string }[]).map((u) => u.id)).toEqual(usersWithPercent);
    expect(usersWithPercent.length).toBeLessThan(allUsers.items.length);
  });

  it('refuses an email that is not an address, and keeps one with quotes verbatim', async () => {
    const odd = await created('POST', '/api/v1/users', { email: "o'reilly'--@example.com", name: "O'Reilly", role: 'viewer', password: PASSWORD });
    const injected = await p.request('POST', '/api/v1/users', { token: owner, body: { email: "'; DROP TABLE users; --@example.com", name: 'X', role: 'viewer' } });
    // The first login replaces the invitation's password (the email with quotes is the key of that update too).
    const login = await p.request('POST', '/api/v1/auth/login', { body: { email: "o'reilly'--@example.com", password: PASSWORD, newPassword: 'Juniper-Ocelot-Harbour-31' } });
    const found = await get(`/api/v1/users?q=${encodeURIComponent("o'reilly")}`);

    expect(odd.user.email).toBe("o'reilly'--@example.com");
    expect(injected.status).toBe(400);
    expect(login.status).toBe(200);
    expect(login.body.user.email).toBe("o'reilly'--@example.com");
    expect((found.items as { email: string }[]).map((u) => u.email)).toEqual(["o'reilly'--@example.com"]);
  });

  it('stores NUL bytes verbatim or refuses them with 400, never 500', async () => {
    const s = "nul\u0000'; DROP TABLE flags; --";

    const results = [
      await p.request('POST', `${DEMO}/flags`, { token: owner, body: flagWith('inj-nul-flag', s) }),
      await p.request('POST', `${DEMO}/flags`, { token: owner, body: { ...flagWith('inj-nul-value', 'plain'), variations: [{ key: 'a', value: s }, { key: 'b', value: 'b' }] } }),
      await p.request('POST', `${DEMO}/segments`, { token: owner, body: { key: 'inj-nul-seg', name: 'Nul', type: 'ids', values: [s] } }),
      await p.request('POST', '/api/v1/users', { token: owner, body: { email: 'nul@example.com', name: s, role: 'viewer' } }),
      await p.request('POST', '/api/v1/projects', { token: owner, body: { key: 'inj-nul', name: s } }),
      await p.request('POST', '/api/v1/me/tokens', { token: owner, body: { name: s } }),
      await p.request('GET', `${DEMO}/flags?q=${encodeURIComponent(s)}`, { token: owner }),
      await p.request('GET', `/api/v1/audit?resourceType=${encodeURIComponent(s)}`, { token: owner }),
      await p.request('POST', '/api/v1/auth/login', { body: { email: s, password: s } }),
    ];

    // Writes either keep the NUL (JSON escapes it) or refuse it; reads and logins must not crash either.
    const outcomes = results.map((r, i) => (r.status === 201 ? (JSON.stringify(r.body).includes('\\u0000') ? 'stored verbatim' : 'stored altered') : i < 6 ? `${r.status} ${r.body?.error?.code}` : String(r.status)));
    expect(outcomes.filter((o) => !['stored verbatim', '400 VALIDATION_FAILED', '200', '400', '401'].includes(o))).toEqual([]);
  });

  it('stores unpaired UTF-16 surrogates or refuses them with 400, never 500', async () => {
    const s = "lone \ud800 surrogate'; --";

    const results = [
      await p.request('POST', `${DEMO}/flags`, { token: owner, body: flagWith('inj-surrogate-flag', s) }),
      await p.request('POST', '/api/v1/projects', { token: owner, body: { key: 'inj-surrogate', name: s } }),
      await p.request('GET', `${DEMO}/flags?q=${encodeURIComponent('\ud83d\ude80')}`, { token: owner }),
    ];

    const outcomes = results.map((r) => `${r.status} ${r.body?.error?.code ?? ''}`.trim());
    expect(outcomes.filter((o) => o.startsWith('5'))).toEqual([]);
  });

  it('leaves every table in place, and the data around them intact', async () => {
    const tables = await tableNames();
    const owners = await p.db.query<{ n: number }>("SELECT count(*)::int AS n FROM users WHERE role = 'owner'");
    const revoked = await p.db.query<{ n: number }>('SELECT count(*)::int AS n FROM sdk_keys WHERE revoked_at IS NOT NULL');
    const demo = await get(`${DEMO}/flags/new-checkout`);
    const audit = await get('/api/v1/audit?resourceType=organization');

    expect(tables).toEqual(tablesBefore);
    expect(tables).toEqual(expect.arrayContaining(['flags', 'users', 'audit_log', 'sessions', 'access_tokens', 'sdk_keys']));
    expect(owners.rows[0]!.n).toBe(1);
    expect(revoked.rows[0]!.n).toBe(0);
    expect(demo.version).toBe(1);
    expect(audit.items).toHaveLength(1);
  });
});
