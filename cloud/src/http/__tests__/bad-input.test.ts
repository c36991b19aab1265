import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { AppErrorCode, STATUS_OF } from '../../errors.js';
import type { Services } from '../../domain/services.js';
import { pgliteTarget } from '../../store/__tests__/test-databases.js';
import type { AnyRoute } from '../api.js';
import { managementRoutes } from '../app.js';
import { SMALL_BODY_BYTES, isSmallBodyRoute } from '../body-limits.js';
import { SCIM_BASE_PATH } from '../routes/scim.js';
import type { Platform } from './harness.js';
import { OWNER, markPasswordChosen, startPlatform } from './harness.js';

// The route table only touches services inside handlers, so it can be listed before a platform exists.
// Not the SCIM routes: they answer SCIM error bodies, and take attributes of the SCIM User schema they
// do not keep (RFC 7643: an unknown field is ignored, not refused); scim.test.ts checks their bad input.
const ROUTES: readonly AnyRoute[] = managementRoutes({} as Services).filter((r) => !r.path.startsWith(`${SCIM_BASE_PATH}/`));
const routeId = (r: Pick<AnyRoute, 'method' | 'path'>): string => `${r.method.toUpperCase()} ${r.path}`;
const BODY_ROUTES = ROUTES.filter((r) => r.body !== undefined);
const BODYLESS_ACTIONS = ROUTES.filter((r) => r.body === undefined && r.method !== 'get');
/**
 * Routes that take parameters they do not name: the SSO callback, which the identity provider calls
 * with parameters of its own (iss, session_state…) and which answers every outcome with a redirect
 * to the console (sso.test.ts), never a JSON error; and the SSO start, a link people follow from
 * portals and intranet pages that add tracking parameters (sso-app.test.ts: ignored).
 */
const LOOSE_QUERY_ROUTES: ReadonlySet<string> = new Set(['GET /api/v1/auth/sso/callback', 'GET /api/v1/auth/sso/start']);
const QUERY_ROUTES = ROUTES.filter((r) => r.query !== undefined && !LOOSE_QUERY_ROUTES.has(`${r.method.toUpperCase()} ${r.path}`));
const PAGED_ROUTES = QUERY_ROUTES.filter((r) => 'limit' in (r.query as z.ZodObject).shape);
const PARAM_ROUTES = ROUTES.filter((r) => r.path.includes('{'));
const VERSIONED_ROUTES = ROUTES.filter((r) => r.concurrency === true);

const BODY_LIMIT = 256 * 1024;
const DEMO = '/api/v1/projects/demo';

const FLAG = {
  key: 'valid-flag',
  name: 'Valid flag',
  description: 'Every field present, so each can be corrupted in turn.',
  type: 'string',
  variations: [
    { key: 'a', name: 'A', value: 'a' },
    { key: 'b', name: 'B', value: 'b' },
  ],
  tags: ['checkout'],
  temporary: true,
  archived: false,
  environments: { development: { enabled: true, defaultVariation: 'a', offVariation: 'a', prerequisites: [], rules: [] } },
};

const EXPERIMENT = {
  key: 'valid-experiment',
  name: 'Valid experiment',
  hypothesis: 'Green converts better.',
  type: 'ab',
  status: 'draft',
  tags: ['growth'],
  hashAttribute: 'id',
  fallbackAttribute: 'deviceId',
  hashVersion: 2,
  seed: 'seed',
  coverage: 1,
  variations: [{ key: 'control' }, { key: 'treatment' }],
  condition: { country: 'NL' },
  segments: [],
  namespace: { id: 'checkout', range: [0, 0.5] },
  holdout: 'global',
  stickyBucketing: { enabled: false },
  environments: ['development'],
  allowUrlOverride: true,
  metrics: { primary: ['purchase'], secondary: [], guardrails: [] },
  startedAt: '2026-11-01T00:00:00Z',
  stoppedAt: '2026-11-02T00:00:00Z',
  decision: 'ship',
  winner: 'treatment',
  releaseWinner: false,
  analysis: { sequential: true, alpha: 0.05, cuped: true, correction: 'holm' },
};

const ENVIRONMENT = { name: 'QA', description: 'Quality', production: false, requireApproval: false, editorsMayTurnOff: false, color: '#123456' };

/** A schema-valid body for every route that takes one, with every top-level field present. */
const BODIES: Readonly<Record<string, Record<string, unknown>>> = {
  'POST /api/v1/auth/login': { email: OWNER.email, password: 'well-formed but never sent' },
  'POST /api/v1/auth/sso/exchange': { code: 'xps_well-formed-but-never-issued', verifier: 'a-desktop-apps-verifier_of.43~characters-00' },
  'PUT /api/v1/me/password': { currentPassword: OWNER.password, newPassword: 'a brand new passphrase 9' },
  'POST /api/v1/me/tokens': { name: 'cli', expiresInDays: 30 },
  'POST /api/v1/users': { email: 'new@example.com', name: 'New', role: 'viewer', password: 'purple monkey dishwasher 7' },
  'PATCH /api/v1/users/{id}': { name: 'Renamed', role: 'viewer', disabled: false },
  'POST /api/v1/users/{id}/sessions/revoke': { accessTokens: true },
  'PUT /api/v1/users/{id}/projects/{project}/role': { role: 'editor' },
  'POST /api/v1/service-accounts': { name: 'ci-bot', description: 'Deploys from CI', role: 'viewer', projectRoles: [{ project: 'demo', role: 'editor' }] },
  'PATCH /api/v1/service-accounts/{id}': { name: 'Renamed', description: 'Still CI', role: 'viewer', projectRoles: [{ project: 'demo', role: 'analyst' }], disabled: false },
  'POST /api/v1/service-accounts/{id}/tokens': { name: 'ci', expiresInDays: 30, role: 'viewer', projects: ['demo'] },
  'PUT /api/v1/organisation/token-policy': { maxLifetimeDays: 90, defaultLifetimeDays: 30 },
  'POST /api/v1/projects': { key: 'fresh', name: 'Fresh', description: 'New project' },
  'PATCH /api/v1/projects/{project}': { name: 'Renamed', description: 'Described' },
  'POST /api/v1/projects/{project}/environments': { key: 'qa', ...ENVIRONMENT },
  'PUT /api/v1/projects/{project}/environments/{environment}': { key: 'development', ...ENVIRONMENT },
  'POST /api/v1/projects/{project}/sdk-keys': { environment: 'development', kind: 'server', name: 'backend' },
  'POST /api/v1/projects/{project}/sdk-keys/{id}/rotate': { keepPreviousHours: 24 },
  'POST /api/v1/projects/{project}/units/erase': { unitIds: ['u-never-seen'] },
  // environments is left out: null is a valid value there (every environment).
  'POST /api/v1/projects/{project}/webhooks': { name: 'hook', url: 'http://127.0.0.1:9/hook', events: ['flag.*'], format: 'slack' },
  'PATCH /api/v1/projects/{project}/webhooks/{id}': { name: 'hook', enabled: false },
  'POST /api/v1/projects/{project}/webhooks/{id}/rotate-secret': { keepPreviousHours: 24 },
  'POST /api/v1/projects/{project}/flags': FLAG,
  'PUT /api/v1/projects/{project}/flags/{key}': { ...FLAG, key: 'new-checkout' },
  'PUT /api/v1/projects/{project}/flags/{key}/environments/{environment}': { enabled: true, defaultVariation: 'on', offVariation: 'off', prerequisites: [], rules: [] },
  'POST /api/v1/projects/{project}/flags/{key}/environments/{environment}/toggle': { enabled: true },
  'POST /api/v1/projects/{project}/segments': { key: 'beta', name: 'Beta', description: 'Testers', type: 'ids', attribute: 'id', values: ['u1', 2] },
  'PUT /api/v1/projects/{project}/segments/{key}': { key: 'beta', name: 'Beta', description: 'Testers', type: 'ids', attribute: 'id', values: ['u1'] },
  'POST /api/v1/projects/{project}/segments/{key}/ids': { add: ['u1', 2], remove: ['u3'] },
  'POST /api/v1/projects/{project}/metrics': {
    key: 'revenue',
    name: 'Revenue',
    description: 'Order value',
    type: 'sum',
    event: 'purchase',
    property: 'amount',
    where: { plan: 'pro' },
    numerator: { event: 'purchase', aggregation: 'count' },
    denominator: { event: 'visit', aggregation: 'count' },
    capping: { type: 'absolute', value: 1000 },
    higherIsBetter: true,
    windowHours: 72,
    delayHours: -2,
    guardrail: false,
    tags: ['money'],
  },
  'PUT /api/v1/projects/{project}/metrics/{key}': { key: 'revenue', name: 'Revenue', type: 'count', event: 'purchase' },
  'POST /api/v1/projects/{project}/holdouts': { key: 'global', name: 'Global', description: 'Held out', hashAttribute: 'id', coverage: 0.05 },
  'PUT /api/v1/projects/{project}/holdouts/{key}': { key: 'global', name: 'Global', coverage: 0.05 },
  'POST /api/v1/projects/{project}/experiments': EXPERIMENT,
  'PUT /api/v1/projects/{project}/experiments/{key}': EXPERIMENT,
  'POST /api/v1/projects/{project}/experiments/{key}/stop': { decision: 'ship', winner: 'treatment', releaseWinner: true },
  'POST /api/v1/projects/{project}/change-requests': {
    resourceType: 'flag',
    resourceKey: 'new-checkout',
    environment: 'production',
    state: { enabled: true, defaultVariation: 'on', offVariation: 'off' },
    baseVersion: 1,
    comment: 'Ready',
    applyAt: '2026-12-24T09:00:00+01:00',
  },
  'POST /api/v1/projects/{project}/flags/{key}/scheduled-changes': { environment: 'development', at: '2026-12-24T09:00:00+01:00', state: { enabled: true, defaultVariation: 'on', offVariation: 'off', prerequisites: [], rules: [] }, comment: 'Launch' },
  'POST /api/v1/projects/{project}/alerts/{id}/acknowledge': { comment: 'Seen, investigating' },
  'POST /api/v1/projects/{project}/apply': { changes: [{ kind: 'segments', action: 'create', key: 'beta', definition: { key: 'beta', name: 'Beta', type: 'ids', attribute: 'id', values: ['u1'] } }], dryRun: true },
  'POST /api/v1/projects/{project}/code-refs': {
    repository: 'acme/shop',
    branch: 'main',
    commit: 'abc1234',
    references: [{ flagKey: 'new-checkout', path: 'src/app.ts', line: 3, column: 7, snippet: "isFeatureEnabled('new-checkout')", language: 'typescript' }],
  },
};

/** Body fields whose null is a valid value (unset), by route: the wrong-type case still runs for them. */
const NULL_VALID: Readonly<Record<string, readonly string[]>> = { 'PUT /api/v1/organisation/token-policy': ['maxLifetimeDays', 'defaultLifetimeDays'] };

const PARAM_VALUES: Readonly<Record<string, string>> = { project: 'demo', key: 'new-checkout', flag: 'new-checkout', environment: 'development', id: 'an-id' };

/** The query string of routes that require one, so what else is checked is reached. */
const REQUIRED_QUERIES: Readonly<Record<string, string>> = {
  'DELETE /api/v1/projects/{project}/code-refs': '?repository=acme/shop&branch=main',
};

/** Page limits above the usual 200: the first refused value is one more. */
const PAGE_MAX: Readonly<Record<string, number>> = { 'GET /api/v1/projects/{project}/code-refs': 5_000, 'GET /api/v1/projects/{project}/flag-evaluations': 5_000 };

/** The route's path with concrete, valid parameters (`override` replaces some). */
function concretePath(path: string, override: Readonly<Record<string, string>> = {}): string {
  return path.replace(/\{(\w+)\}/g, (_m, name: string) => override[name] ?? PARAM_VALUES[name] ?? 'x');
}

/** A value of the wrong JSON type for the field holding `v`. */
function wrongType(v: unknown): unknown {
  if (typeof v === 'string') {
    return 12345;
  }
  if (typeof v === 'number') {
    return 'twelve';
  }
  if (typeof v === 'boolean') {
    return 'yes';
  }
  return 'not an object';
}
type Response = Awaited<ReturnType<Platform['request']>>;

const ERROR_CODES: readonly string[] = Object.values(AppErrorCode);

/**
 * What is wrong with a response that should be a clean client error (empty when nothing): it must
 * be a 4xx shaped `{ error: { code, message, details? } }`, its code must map to its status, and it
 * must carry no stack trace, source path or SQL.
 */
function faults(label: string, res: Response, status?: number, code?: string): string[] {
  const text = JSON.stringify(res.body ?? null);
  const seen = `${label}: ${res.status} ${text}`;
  const error = res.body?.error;
  const out: string[] = [];
  if (res.status < 400 || res.status >= 500 || (status !== undefined && res.status !== status)) {
    out.push(`expected ${status ?? '4xx'}, got ${seen}`);
  }
  if (typeof res.body !== 'object' || Object.keys(res.body as object).join() !== 'error' || typeof error?.code !== 'string' || typeof error.message !== 'string') {
    out.push(`not { error: { code, message } }: ${seen}`);
  } else if (!ERROR_CODES.includes(error.code as string) || STATUS_OF[error.code as AppErrorCode] !== res.status || (code !== undefined && error.code !== code)) {
    out.push(`expected code ${code ?? `for ${res.status}`}, got ${seen}`);
  }
  for (const leak of ['    at ', '.ts:', '.js:', 'node_modules', 'DatabaseError']) {
    if (text.includes(leak)) {
      out.push(`leaks "${leak}": ${seen}`);
    }
  }
  if (/\b(?:SELECT|INSERT|UPDATE)\b.*\b(?:FROM|INTO|SET)\b/.test(text)) {
    out.push(`leaks SQL: ${seen}`);
  }
  return out;
}

const issuePaths = (res: Response): string[] => ((res.body.error?.details?.issues ?? []) as { path: string }[]).map((i) => i.path);

const TABLES = ['organizations', 'users', 'sessions', 'access_tokens', 'projects', 'environments', 'sdk_keys', 'flags', 'segments', 'metrics', 'holdouts', 'experiments', 'change_requests', 'audit_log'];

describe('bad input gets a clean 4xx and changes nothing (pglite)', () => {
  let p: Platform;
  let owner = '';

  /** Row counts of every table, versions of every flag and user, and the published ruleset counters. */
  async function snapshot(): Promise<Record<string, unknown>> {
    const out: Record<string, unknown> = {};
    for (const table of TABLES) {
      out[table] = (await p.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`)).rows[0]!.n;
    }
    out.flagVersions = (await p.db.query('SELECT key, version FROM flags ORDER BY key')).rows;
    out.userVersions = (await p.db.query('SELECT email, version, disabled FROM users ORDER BY email')).rows;
    out.rulesets = (await p.db.query('SELECT environment_key, version FROM ruleset_versions ORDER BY environment_key')).rows;
    return out;
  }

  const send = (method: string, path: string, options: Parameters<Platform['request']>[2] = {}): Promise<Response> => p.request(method, path, { token: owner, ...options });

  beforeAll(async () => {
    p = await startPlatform(pgliteTarget());
    owner = await p.login(OWNER.email, OWNER.password);
  });
  afterAll(async () => {
    await p.close();
  });

  it('refuses query parameters on a route that takes none, as unknown ones are refused elsewhere; ?version= stays for versioned writes', async () => {
    const projects = await p.request('GET', '/api/v1/projects?limit=abc&bogus=1', { token: owner });
    const tokens = await p.request('GET', '/api/v1/me/tokens?sort=name', { token: owner });
    expect([projects.status, projects.body.error.message]).toEqual([400, 'unknown query parameter "limit": GET /api/v1/projects takes none']);
    expect([tokens.status, tokens.body.error.details.issues]).toEqual([400, [{ path: 'query.sort', message: 'unknown' }]]);
    const renamed = await p.request('PATCH', '/api/v1/projects/demo?version=1', { token: owner, body: { description: 'renamed through ?version' } });
    expect(renamed.status).toBe(200);
  });

  it('has a valid body fixture for every route that takes a body', () => {
    const ids = BODY_ROUTES.map(routeId);

    const missing = ids.filter((id) => !(id in BODIES));
    const stale = Object.keys(BODIES).filter((id) => !ids.includes(id));
    const invalid = BODY_ROUTES.filter((r) => BODIES[routeId(r)] !== undefined && !(r.body as z.ZodType).safeParse(BODIES[routeId(r)]).success).map(routeId);

    expect(missing).toEqual([]);
    expect(stale).toEqual([]);
    expect(invalid).toEqual([]);
  });

  describe.each(BODY_ROUTES.map((r) => [routeId(r), r] as const))('%s', (id, route) => {
    const method = route.method.toUpperCase();
    const path = concretePath(route.path);
    const valid = BODIES[id] ?? {};

    it('rejects malformed JSON, non-objects, an empty body and the wrong Content-Type', async () => {
      const before = await snapshot();
      const found: string[] = [];

      for (const raw of ['{"a":', '{"name": "x",}', "{'name': 'x'}", '{"a":1}{"b":2}', '\u0000']) {
        found.push(...faults(`raw ${raw}`, await send(method, path, { raw }), 400, 'MALFORMED_JSON'));
      }
      // The valid body with bytes that are not UTF-8 in a string: malformed, not stored as U+FFFD.
      const json = JSON.stringify(valid);
      const at = json.indexOf('"', json.indexOf(':') + 1) + 1;
      if (at > 0) {
        const bytes = Buffer.concat([Buffer.from(json.slice(0, at)), Buffer.from([0xff, 0xfe]), Buffer.from(json.slice(at))]);
        found.push(...faults('bytes that are not UTF-8', await send(method, path, { raw: bytes }), 400, 'MALFORMED_JSON'));
      }
      for (const raw of ['[]', '[{}]', '"a string"', '42', 'true', 'null']) {
        found.push(...faults(`raw ${raw}`, await send(method, path, { raw }), 400, 'VALIDATION_FAILED'));
      }
      // A body whose every field is optional may be left out (the OpenAPI document says so too).
      if (!(route.body as z.ZodType).safeParse(undefined).success) {
        const none = await send(method, path);
        found.push(...faults('no body', none, 400, 'VALIDATION_FAILED'));
        if (none.body?.error?.message !== 'the request has no body: send a JSON object (Content-Type: application/json)') {
          found.push(`no body: ${JSON.stringify(none.body)}`);
        }
      }
      for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml']) {
        found.push(...faults(type, await send(method, path, { raw: JSON.stringify(valid), headers: { 'content-type': type } }), 400, 'VALIDATION_FAILED'));
      }
      // A compressed body is named as such, not read as text that is not UTF-8.
      const gzipped = await send(method, path, { raw: gzipSync(JSON.stringify(valid)), headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' } });
      found.push(...faults('gzip', gzipped, 400, 'VALIDATION_FAILED'));
      if (gzipped.body?.error?.message !== 'Content-Encoding "gzip" is not supported: send the body uncompressed') {
        found.push(`gzip: ${JSON.stringify(gzipped.body)}`);
      }

      expect(found).toEqual([]);
      expect(await snapshot()).toEqual(before);
    });

    it('rejects an unknown field, naming it', async () => {
      const before = await snapshot();

      const res = await send(method, path, { body: { ...valid, isAdmin: true } });

      expect(faults('unknown field', res, 400, 'VALIDATION_FAILED')).toEqual([]);
      expect(JSON.stringify(res.body.error)).toContain('isAdmin');
      expect(await snapshot()).toEqual(before);
    });

    it.each(Object.keys(valid))('rejects a wrong type or null for "%s", naming the field', async (field) => {
      const before = await snapshot();

      const wrong = await send(method, path, { body: { ...valid, [field]: wrongType(valid[field]) } });
      // Where null is a valid value (NULL_VALID), only the wrong type is refused.
      const nulled = NULL_VALID[id]?.includes(field) === true ? undefined : await send(method, path, { body: { ...valid, [field]: null } });

      const named = (res: Response): boolean => issuePaths(res).some((p) => p === `body.${field}` || p.startsWith(`body.${field}.`) || p.startsWith(`body.${field}[`));
      expect([...faults('wrong type', wrong, 400, 'VALIDATION_FAILED'), ...(nulled === undefined ? [] : faults('null', nulled, 400, 'VALIDATION_FAILED'))]).toEqual([]);
      expect([named(wrong), nulled === undefined || named(nulled)]).toEqual([true, true]);
      expect(await snapshot()).toEqual(before);
    });

    it('refuses a body over the limit with 413 and validates one just under it', async () => {
      // Routes whose body is a few fields (sign-in, tokens, users…) take 16 KB.
      const limit = isSmallBodyRoute(path) ? SMALL_BODY_BYTES : BODY_LIMIT;
      const over = JSON.stringify({ ...valid, padding: 'x'.repeat(limit) });
      const under = JSON.stringify({ ...valid, padding: '' });
      const justUnder = under.replace('"padding":""', `"padding":"${'x'.repeat(limit - under.length - 1)}"`);
      const before = await snapshot();

      const streamed = await send(method, path, { raw: over });
      const declared = await send(method, path, { raw: over, headers: { 'content-length': String(over.length) } });
      const fits = await send(method, path, { raw: justUnder });

      expect([
        ...faults('over, streamed', streamed, 413, 'PAYLOAD_TOO_LARGE'),
        ...faults('over, with Content-Length', declared, 413, 'PAYLOAD_TOO_LARGE'),
        ...faults('just under', fits, 400, 'VALIDATION_FAILED'),
      ]).toEqual([]);
      expect(await snapshot()).toEqual(before);
    });
  });

  describe.each(BODYLESS_ACTIONS.map((r) => [routeId(r), r] as const))('%s (takes no body)', (id, route) => {
    const method = route.method.toUpperCase();
    const path = `${concretePath(route.path, { delivery: '1' })}${REQUIRED_QUERIES[id] ?? ''}`;

    it('refuses malformed JSON, the wrong Content-Type and any body but {} or null, before acting', async () => {
      const before = await snapshot();
      const found: string[] = [];

      for (const raw of ['{"a":', "{'a': 1}", '\u0000']) {
        found.push(...faults(`raw ${raw}`, await send(method, path, { raw }), 400, 'MALFORMED_JSON'));
      }
      for (const raw of ['{"a":1}', '[]', '"a string"', '42', 'true']) {
        const res = await send(method, path, { raw });
        found.push(...faults(`raw ${raw}`, res, 400, 'VALIDATION_FAILED'));
        if (res.body?.error?.message !== `${method} ${route.path} takes no body`) {
          found.push(`raw ${raw}: ${JSON.stringify(res.body)}`);
        }
      }
      found.push(...faults('text/plain', await send(method, path, { raw: 'hello', headers: { 'content-type': 'text/plain' } }), 400, 'VALIDATION_FAILED'));

      expect(found).toEqual([]);
      expect(await snapshot()).toEqual(before);
    });
  });

  it('does not reset a password when the request carries malformed JSON, and accepts {} as no body', async () => {
    const created = await p.request('POST', '/api/v1/users', { token: owner, body: { email: 'kept@example.com', name: 'Kept', role: 'viewer', password: 'amber kettle violin 2029' } });
    await markPasswordChosen(p.db, 'kept@example.com');
    const id = created.body.user.id as string;

    const malformed = await p.request('POST', `/api/v1/users/${id}/password-reset`, { token: owner, raw: '{"a":' });

    expect([malformed.status, malformed.body.error.code]).toEqual([400, 'MALFORMED_JSON']);
    expect((await p.request('POST', '/api/v1/auth/login', { body: { email: 'kept@example.com', password: 'amber kettle violin 2029' } })).status).toBe(200);
    const empty = await p.request('POST', `/api/v1/users/${id}/password-reset`, { token: owner, body: {} });
    expect([empty.status, typeof empty.body.temporaryPassword]).toEqual([200, 'string']);
  });

  it("rejects a desktop app's verifier on the SSO exchange that PKCE would not take, naming it", async () => {
    const before = await snapshot();
    const found: string[] = [];

    for (const verifier of ['v'.repeat(42), 'v'.repeat(129), `${'v'.repeat(42)}+`, `${'v'.repeat(42)}/`, `${'v'.repeat(42)}=`, `${'v'.repeat(42)} `, '', `${'v'.repeat(42)}\u00e9`]) {
      const res = await p.request('POST', '/api/v1/auth/sso/exchange', { body: { code: 'xps_well-formed-but-never-issued', verifier } });
      found.push(...faults(`verifier ${verifier}`, res, 400, 'VALIDATION_FAILED'));
      if (issuePaths(res).join() !== 'body.verifier') {
        found.push(`verifier ${verifier}: not named: ${JSON.stringify(res.body)}`);
      }
    }

    expect(found).toEqual([]);
    expect(await snapshot()).toEqual(before);
  });

  describe('query strings', () => {
    it.each(QUERY_ROUTES.map((r) => [routeId(r), r] as const))('%s rejects an unknown parameter', async (_id, route) => {
      const before = await snapshot();

      const res = await send(route.method.toUpperCase(), `${concretePath(route.path)}?unexpected=1`);

      expect(faults('unknown parameter', res, 400, 'VALIDATION_FAILED')).toEqual([]);
      expect(JSON.stringify(res.body.error)).toContain('unexpected');
      expect(await snapshot()).toEqual(before);
    });

    it.each(PAGED_ROUTES.map((r) => [routeId(r), r] as const))('%s rejects bad limits and cursors', async (id, route) => {
      const path = concretePath(route.path);
      const cursors = ['!!!', 'not-base64-json', Buffer.from('{"key":1}').toString('base64url'), Buffer.from('[]').toString('base64url'), Buffer.from('null').toString('base64url'), 'x'.repeat(513)];
      const before = await snapshot();
      const found: string[] = [];

      // Numbers only in digits: "0x10", "1e1", " 7" and "7.0" are each a valid number to JavaScript.
      for (const limit of ['0', '10000', String((PAGE_MAX[id] ?? 200) + 1), '-1', '1.5', 'abc', '', '1e3', '0x10', '1e1', '%207', '7.0', '%2B5']) {
        found.push(...faults(`limit=${limit}`, await send('GET', `${path}?limit=${limit}`), 400, 'VALIDATION_FAILED'));
      }
      for (const cursor of cursors) {
        found.push(...faults(`cursor=${cursor}`, await send('GET', `${path}?cursor=${encodeURIComponent(cursor)}`), 400, 'VALIDATION_FAILED'));
      }

      expect(found).toEqual([]);
      expect(await snapshot()).toEqual(before);
    });

    it('accepts the largest page and rejects a cursor of the wrong kind', async () => {
      const before = await snapshot();

      const largest = await send('GET', `${DEMO}/flags?limit=200`);
      const found = [
        ...faults('string cursor for the audit log', await send('GET', `/api/v1/audit?cursor=${Buffer.from('"abc"').toString('base64url')}`), 400, 'VALIDATION_FAILED'),
        ...faults('number cursor for flags', await send('GET', `${DEMO}/flags?cursor=${Buffer.from('42').toString('base64url')}`), 400, 'VALIDATION_FAILED'),
        ...faults('key cursor for flags by updatedAt', await send('GET', `${DEMO}/flags?sort=updatedAt&cursor=${Buffer.from('"button-color"').toString('base64url')}`), 400, 'VALIDATION_FAILED'),
        ...faults('number cursor for users', await send('GET', `/api/v1/users?cursor=${Buffer.from('42').toString('base64url')}`), 400, 'VALIDATION_FAILED'),
      ];

      expect(largest.status).toBe(200);
      expect(found).toEqual([]);
      // Named as every other validation failure names its field.
      const bad = await send('GET', `${DEMO}/flags?cursor=garbage`);
      expect(bad.body.error.details).toEqual({ issues: [{ path: 'query.cursor', message: 'not a cursor of this list' }] });
      expect(await snapshot()).toEqual(before);
    });

    it('rejects enum and key filters that are out of range', async () => {
      const before = await snapshot();

      const found = [
        ...faults('experiment status', await send('GET', `${DEMO}/experiments?status=paused`), 400, 'VALIDATION_FAILED'),
        ...faults('archived', await send('GET', `${DEMO}/flags?archived=maybe`), 400, 'VALIDATION_FAILED'),
        ...faults('flags stale', await send('GET', `${DEMO}/flags?stale=maybe`), 400, 'VALIDATION_FAILED'),
        ...faults('flags staleDays', await send('GET', `${DEMO}/flags?staleDays=-1`), 400, 'VALIDATION_FAILED'),
        ...faults('flags temporary', await send('GET', `${DEMO}/flags?temporary=yes`), 400, 'VALIDATION_FAILED'),
        ...faults('flags sort', await send('GET', `${DEMO}/flags?sort=name`), 400, 'VALIDATION_FAILED'),
        ...faults('flags include', await send('GET', `${DEMO}/flags?include=codeRefs`), 400, 'VALIDATION_FAILED'),
        ...faults('segments sort', await send('GET', `${DEMO}/segments?sort=updatedAt`), 400, 'VALIDATION_FAILED'),
        ...faults('change request status', await send('GET', `${DEMO}/change-requests?status=merged`), 400, 'VALIDATION_FAILED'),
        ...faults('environment', await send('GET', `${DEMO}/sdk-keys?environment=${encodeURIComponent('no such env!')}`), 400, 'VALIDATION_FAILED'),
        ...faults('project', await send('GET', `/api/v1/audit?project=${encodeURIComponent('../demo')}`), 400, 'VALIDATION_FAILED'),
        ...faults('long search', await send('GET', `${DEMO}/flags?q=${'q'.repeat(201)}`), 400, 'VALIDATION_FAILED'),
        ...faults('long actor', await send('GET', `/api/v1/audit?actor=${'a'.repeat(65)}`), 400, 'VALIDATION_FAILED'),
        // A token's prefix where its id belongs would list nothing, as if the token had done nothing.
        ...faults('audit credential prefix', await send('GET', '/api/v1/audit?credential=xpp_ab12cd34'), 400, 'VALIDATION_FAILED'),
        ...faults('audit export credential', await send('GET', `/api/v1/audit/export?credential=${'a'.repeat(65)}`), 400, 'VALIDATION_FAILED'),
        ...faults('audit resource type', await send('GET', '/api/v1/audit?resourceType=flags'), 400, 'VALIDATION_FAILED'),
        ...faults('audit from', await send('GET', '/api/v1/audit?from=yesterday'), 400, 'VALIDATION_FAILED'),
        ...faults('audit to without a zone', await send('GET', '/api/v1/audit?to=2026-11-25T10:00:00'), 400, 'VALIDATION_FAILED'),
        ...faults('audit from after to', await send('GET', '/api/v1/audit?from=2026-11-26T00:00:00Z&to=2026-11-25T00:00:00Z'), 400, 'VALIDATION_FAILED'),
        // Only the first would be read: two attribute filters on one attribute analysed the first value alone.
        ...faults('repeated parameter', await send('GET', `${DEMO}/flags?limit=1&limit=2`), 400, 'VALIDATION_FAILED'),
        ...faults('repeated filter', await send('GET', `${DEMO}/experiments/demo-checkout-cta/results?attr.country=US&attr.country=DE`), 400, 'VALIDATION_FAILED'),
        // Named like Object.prototype's members: unknown parameters all the same.
        ...faults('toString parameter', await send('GET', `${DEMO}/experiments/demo-checkout-cta/results?toString=1`), 400, 'VALIDATION_FAILED'),
        ...faults('constructor parameter', await send('GET', `${DEMO}/experiments/demo-checkout-cta/results.csv?constructor=x`), 400, 'VALIDATION_FAILED'),
      ];

      expect(found).toEqual([]);
      expect(await snapshot()).toEqual(before);
    });

    it("rejects a desktop app's bad sign-in parameters on the SSO start, naming the parameter (before SSO is looked at)", async () => {
      const challenge = 'c'.repeat(43);
      const cases: readonly (readonly [string, string])[] = [
        [`app_port=49152`, 'query.app_challenge'],
        [`app_challenge=${challenge}`, 'query.app_port'],
        [`app_port=80&app_challenge=${challenge}`, 'query.app_port'],
        [`app_port=65536&app_challenge=${challenge}`, 'query.app_port'],
        [`app_port=8080abc&app_challenge=${challenge}`, 'query.app_port'],
        [`app_port=%208080&app_challenge=${challenge}`, 'query.app_port'],
        [`app_port=49152&app_challenge=${'c'.repeat(42)}`, 'query.app_challenge'],
        [`app_port=49152&app_challenge=${'c'.repeat(44)}`, 'query.app_challenge'],
        [`app_port=49152&app_challenge=%2B${'c'.repeat(42)}`, 'query.app_challenge'],
        [`app_port=49152&app_challenge=%2F${'c'.repeat(42)}`, 'query.app_challenge'],
        [`app_port=49152&app_challenge=${'c'.repeat(42)}%3D`, 'query.app_challenge'],
      ];
      const before = await snapshot();
      const found: string[] = [];

      for (const [query, path] of cases) {
        const res = await p.request('GET', `/api/v1/auth/sso/start?${query}`);
        found.push(...faults(query, res, 400, 'VALIDATION_FAILED'));
        if (issuePaths(res).join() !== path) {
          found.push(`${query}: not named ${path}: ${JSON.stringify(res.body)}`);
        }
      }

      expect(found).toEqual([]);
      expect(await snapshot()).toEqual(before);
    });
  });

  describe('path parameters', () => {
    const badKeys = ['-leading-dash', 'has space', 'semi;colon', "quote'", '.hidden', 'k'.repeat(129), 'ünïcode'];

    it.each(PARAM_ROUTES.map((r) => [routeId(r), r] as const))('%s rejects a parameter that is not a valid key or id', async (id, route) => {
      const names = [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
      const body = BODIES[id];
      const before = await snapshot();
      const found: string[] = [];
      const unnamed: string[] = [];

      for (const name of names) {
        // A unit id is any id events carry (1-256 characters), so only what no unit id can be is bad there.
        // A flag key SDKs counted is any text of 1-200 characters (evaluation counts of keys no flag has).
        for (const bad of name === 'id' ? ['i'.repeat(65)] : name === 'unitId' ? ['u'.repeat(257), 'a/b', 'nul\u0000id'] : name === 'flag' ? ['f'.repeat(201), 'nul\u0000flag'] : badKeys) {
          const res = await send(route.method.toUpperCase(), concretePath(route.path, { [name]: encodeURIComponent(bad) }), {
            ...(body === undefined ? {} : { body }),
            headers: { 'If-Match': '"1"' },
          });
          found.push(...faults(`${name}=${bad}`, res, 400, 'VALIDATION_FAILED'));
          if (!issuePaths(res).includes(`path.${name}`)) {
            unnamed.push(`${name}=${bad}`);
          }
        }
      }

      expect(found).toEqual([]);
      expect(unnamed).toEqual([]);
      expect(await snapshot()).toEqual(before);
    });

    it('answers 404 for well-formed keys that do not exist', async () => {
      const before = await snapshot();

      const found = [
        ...faults('flag', await send('GET', `${DEMO}/flags/no-such-flag`), 404, 'NOT_FOUND'),
        ...faults('project', await send('GET', '/api/v1/projects/no-such-project/flags'), 404, 'NOT_FOUND'),
        ...faults('environment', await send('GET', `${DEMO}/environments/no-such-env`), 404, 'NOT_FOUND'),
        ...faults('change request', await send('GET', `${DEMO}/change-requests/no-such-id`), 404, 'NOT_FOUND'),
        ...faults('user', await send('GET', '/api/v1/users/no-such-id'), 404, 'NOT_FOUND'),
        ...faults('token', await send('DELETE', '/api/v1/me/tokens/no-such-id'), 404, 'NOT_FOUND'),
        ...faults('SDK key', await send('DELETE', `${DEMO}/sdk-keys/no-such-id`), 404, 'NOT_FOUND'),
        ...faults('webhook', await send('GET', `${DEMO}/webhooks/no-such-id`), 404, 'NOT_FOUND'),
        ...faults('route', await send('GET', '/api/v1/no-such-route'), 404, 'NOT_FOUND'),
      ];

      expect(found).toEqual([]);
      expect(await snapshot()).toEqual(before);
    });
  });

  describe('If-Match', () => {
    it.each(VERSIONED_ROUTES.map((r) => [routeId(r), r] as const))('%s: malformed → 400, missing → 428', async (id, route) => {
      const method = route.method.toUpperCase();
      const path = concretePath(route.path);
      const body = BODIES[id];
      const withBody = body === undefined ? {} : { body };
      const before = await snapshot();
      const found: string[] = [];

      for (const header of ['1', 'abc', '"abc"', '"-1"', '"1", "2"', '*', '"1.5"', '"9999999999"', '']) {
        found.push(...faults(`If-Match: ${header}`, await send(method, path, { ...withBody, headers: { 'If-Match': header } }), 400, 'VALIDATION_FAILED'));
      }
      found.push(...faults('?version=abc', await send(method, `${path}?version=abc`, withBody), 400, 'VALIDATION_FAILED'));
      found.push(...faults('no If-Match', await send(method, path, withBody), 428, 'PRECONDITION_REQUIRED'));

      expect(found).toEqual([]);
      expect(await snapshot()).toEqual(before);
    });

    it('answers 409 with the current version to a stale If-Match', async () => {
      const before = await snapshot();

      const res = await send('PUT', `${DEMO}/flags/new-checkout`, { body: { ...FLAG, key: 'new-checkout' }, headers: { 'If-Match': '"7"' } });

      expect(faults('stale', res, 409, 'VERSION_CONFLICT')).toEqual([]);
      expect(res.body.error.details).toEqual({ currentVersion: 1 });
      // A version from the future was never read: not "changed by someone else".
      expect(res.body.error.message).toBe('flag "new-checkout" is at version 1, not 7: read it again and resend');
      expect(await snapshot()).toEqual(before);
    });
  });

  describe('domain validation', () => {
    let n = 0;
    // A fresh key each time, so a wrongly accepted flag cannot turn the next case into a 409.
    const flagWith = (rules: unknown[]): Record<string, unknown> => ({
      ...FLAG,
      key: `rule-check-${++n}`,
      environments: { development: { enabled: true, defaultVariation: 'a', offVariation: 'a', rules } },
    });
    const CHANGE_REQUEST = BODIES['POST /api/v1/projects/{project}/change-requests'];

    it('names a number JSON.parse reads as Infinity (1e999) where it is, instead of "Invalid input"', async () => {
      const before = await snapshot();
      const body = JSON.stringify(flagWith([{ id: 'big', type: 'force', variation: 'b', condition: { age: { $gt: 1 } } }])).replace('"$gt":1', '"$gt":1e999');

      const res = await send('POST', `${DEMO}/flags`, { raw: body });

      expect(faults('1e999', res, 400, 'VALIDATION_FAILED')).toEqual([]);
      expect(res.body.error.message).toBe('body.environments.development.rules[0].condition.age.$gt: expected a finite number (JSON such as 1e999 reads as infinity)');
      expect(await snapshot()).toEqual(before);
    });

    it('rejects a rule with an unknown operator, naming it', async () => {
      const before = await snapshot();

      const res = await send('POST', `${DEMO}/flags`, { body: flagWith([{ id: 'adults', type: 'force', variation: 'b', condition: { age: { $between: [18, 65] } } }]) });

      expect(faults('$between', res, 400, 'VALIDATION_FAILED')).toEqual([]);
      expect(JSON.stringify(res.body.error.details)).toContain('$between');
      expect(await snapshot()).toEqual(before);
    });

    it('rejects a rule whose condition the evaluator would misread (a "$" attribute, a wrong operand, mixed keys), naming the rule and the key', async () => {
      const before = await snapshot();
      const MISREAD: readonly [Record<string, unknown>, string][] = [
        [{ $xor: [{ plan: 'pro' }, { beta: true }] }, 'condition.$xor: "$xor" is not an operator; use $and, $or, $nor or $not, or an attribute name without "$"'],
        [{ $where: 'this.age > 18' }, 'condition.$where: "$where" is not an operator'],
        [{ plan: { $type: 'integer' } }, 'condition.plan.$type: must be one of "string", "number", "boolean", "array", "object", "null", not "integer"'],
        [{ beta: { $exists: 'yes' } }, 'condition.beta.$exists: must be true or false, not "yes"'],
        [{ tags: { $size: '2' } }, 'condition.tags.$size: must be a number of elements (2)'],
        [{ v: { $vgt: 2 } }, 'condition.v.$vgt: must be a version string such as "2.0.0", not 2'],
        [{ age: { $gt: 1, x: 2 } }, 'condition.age: mixes operators ($gt) with other keys ("x")'],
      ];
      const found: string[] = [];
      const issues: { path: string; message: string }[][] = [];

      for (const [condition] of MISREAD) {
        const res = await send('POST', `${DEMO}/flags`, { body: flagWith([{ id: 'misread', type: 'force', variation: 'b', condition }]) });
        found.push(...faults(JSON.stringify(condition), res, 400, 'VALIDATION_FAILED'));
        issues.push((res.body.error?.details?.issues ?? []) as { path: string; message: string }[]);
      }
      const segment = await send('POST', `${DEMO}/segments`, { body: { key: 'misread', name: 'Misread', type: 'condition', condition: { $xor: [{ plan: 'pro' }] } } });
      found.push(...faults('segment $xor', segment, 400, 'VALIDATION_FAILED'));

      expect(found).toEqual([]);
      expect(issues).toEqual(MISREAD.map(([, message]) => [{ path: 'body.environments.development.rules[0].condition', message: expect.stringContaining(message) }]));
      expect(JSON.stringify(segment.body.error.details)).toContain('condition.$xor: \\"$xor\\" is not an operator');
      expect(await snapshot()).toEqual(before);
    });

    it('rejects a rule with an invalid regex, naming the rule', async () => {
      const before = await snapshot();

      const res = await send('POST', `${DEMO}/flags`, { body: flagWith([{ id: 'staff', type: 'force', variation: 'b', condition: { email: { $regex: '([a-z' } } }]) });

      expect(faults('([a-z', res, 400, 'VALIDATION_FAILED')).toEqual([]);
      expect(JSON.stringify(res.body.error.details)).toContain('rules[0]');
      expect(await snapshot()).toEqual(before);
    });

    it('rejects a condition segment with an invalid regex', async () => {
      const before = await snapshot();

      const res = await send('POST', `${DEMO}/segments`, { body: { key: 'bad-regex', name: 'Bad', type: 'condition', condition: { email: { $regex: '([a-z' } } } });

      expect(faults('segment regex', res, 400, 'VALIDATION_FAILED')).toEqual([]);
      expect(await snapshot()).toEqual(before);
    });

    it('rejects duplicate variation keys, rule ids and split variations', async () => {
      const before = await snapshot();

      const dupVariations = await send('POST', `${DEMO}/flags`, {
        body: {
          ...flagWith([]),
          variations: [
            { key: 'a', value: 'a' },
            { key: 'a', value: 'b' },
          ],
        },
      });
      const dupRules = await send('POST', `${DEMO}/flags`, {
        body: flagWith([
          { id: 'r', type: 'force', variation: 'b', condition: { beta: true } },
          { id: 'r', type: 'force', variation: 'a', condition: { beta: false } },
        ]),
      });
      const dupSplit = await send('POST', `${DEMO}/flags`, {
        body: flagWith([
          {
            id: 's',
            type: 'split',
            distribution: [
              { variation: 'a', weight: 0.5 },
              { variation: 'a', weight: 0.5 },
            ],
          },
        ]),
      });
      const dupExperiment = await send('POST', `${DEMO}/experiments`, { body: { key: 'dup', name: 'Dup', variations: [{ key: 'x' }, { key: 'x' }] } });

      expect([
        ...faults('variations', dupVariations, 400, 'VALIDATION_FAILED'),
        ...faults('rules', dupRules, 400, 'VALIDATION_FAILED'),
        ...faults('split', dupSplit, 400, 'VALIDATION_FAILED'),
        ...faults('experiment variations', dupExperiment, 400, 'VALIDATION_FAILED'),
      ]).toEqual([]);
      expect(issuePaths(dupVariations)).toContain('body.variations[1]');
      expect(issuePaths(dupRules)).toContain('body.environments.development.rules[1]');
      expect(await snapshot()).toEqual(before);
    });

    it('rejects references to variations that do not exist, weights that do not add up and values of the wrong type', async () => {
      const before = await snapshot();

      const unknownVariation = await send('POST', `${DEMO}/flags`, { body: flagWith([{ id: 'r', type: 'force', variation: 'zzz' }]) });
      const weights = await send('POST', `${DEMO}/flags`, {
        body: flagWith([
          {
            id: 's',
            type: 'split',
            distribution: [
              { variation: 'a', weight: 0.5 },
              { variation: 'b', weight: 0.6 },
            ],
          },
        ]),
      });
      const valueType = await send('POST', `${DEMO}/flags`, { body: { ...flagWith([]), type: 'number' } });

      expect([
        ...faults('unknown variation', unknownVariation, 400, 'VALIDATION_FAILED'),
        ...faults('weights', weights, 400, 'VALIDATION_FAILED'),
        ...faults('value type', valueType, 400, 'VALIDATION_FAILED'),
      ]).toEqual([]);
      expect(JSON.stringify(unknownVariation.body.error.details)).toContain('unknown variation');
      expect(issuePaths(valueType)).toContain('body.variations[0].value');
      expect(await snapshot()).toEqual(before);
    });

    it('rejects a rule that references an unknown segment or experiment, naming it', async () => {
      const before = await snapshot();

      const segment = await send('POST', `${DEMO}/flags`, { body: flagWith([{ id: 'r', type: 'force', variation: 'b', segments: ['no-such-segment'] }]) });
      const experiment = await send('POST', `${DEMO}/flags`, { body: flagWith([{ id: 'r', type: 'experiment', experiment: 'no-such-experiment' }]) });

      expect([...faults('segment', segment, 400, 'VALIDATION_FAILED'), ...faults('experiment', experiment, 400, 'VALIDATION_FAILED')]).toEqual([]);
      expect(JSON.stringify(segment.body.error.details)).toContain('unknown segment \\"no-such-segment\\"');
      expect(JSON.stringify(experiment.body.error.details)).toContain('no-such-experiment');
      expect(await snapshot()).toEqual(before);
    });

    it('answers 409 ALREADY_EXISTS to duplicate keys and emails', async () => {
      const before = await snapshot();

      const found = [
        ...faults('flag', await send('POST', `${DEMO}/flags`, { body: { ...FLAG, key: 'new-checkout' } }), 409, 'ALREADY_EXISTS'),
        ...faults('project', await send('POST', '/api/v1/projects', { body: { key: 'demo', name: 'Again' } }), 409, 'ALREADY_EXISTS'),
        ...faults('environment', await send('POST', `${DEMO}/environments`, { body: { key: 'production', name: 'Again' } }), 409, 'ALREADY_EXISTS'),
        ...faults('email', await send('POST', '/api/v1/users', { body: { email: OWNER.email.toUpperCase(), name: 'Twin', role: 'viewer' } }), 409, 'ALREADY_EXISTS'),
      ];

      expect(found).toEqual([]);
      expect(await snapshot()).toEqual(before);
    });

    it('rejects out-of-range values, bad formats and renames through the path', async () => {
      const cases: [string, string, string, unknown][] = [
        ['coverage 1.5', 'POST', `${DEMO}/holdouts`, { key: 'h', name: 'H', coverage: 1.5 }],
        ['colour', 'POST', `${DEMO}/environments`, { key: 'qa', name: 'QA', color: 'red' }],
        ['expiry 0', 'POST', '/api/v1/me/tokens', { name: 'forever', expiresInDays: 0 }],
        ['policy max 0', 'PUT', '/api/v1/organisation/token-policy', { maxLifetimeDays: 0, defaultLifetimeDays: null }],
        ['policy max 3651', 'PUT', '/api/v1/organisation/token-policy', { maxLifetimeDays: 3651, defaultLifetimeDays: null }],
        ['policy default 0', 'PUT', '/api/v1/organisation/token-policy', { maxLifetimeDays: null, defaultLifetimeDays: 0 }],
        ['policy default 3651', 'PUT', '/api/v1/organisation/token-policy', { maxLifetimeDays: null, defaultLifetimeDays: 3651 }],
        ['policy days 1.5', 'PUT', '/api/v1/organisation/token-policy', { maxLifetimeDays: 1.5, defaultLifetimeDays: null }],
        ['policy default over max', 'PUT', '/api/v1/organisation/token-policy', { maxLifetimeDays: 30, defaultLifetimeDays: 31 }],
        ['policy without default', 'PUT', '/api/v1/organisation/token-policy', { maxLifetimeDays: 30 }],
        ['service-account expiry 3651', 'POST', '/api/v1/service-accounts/an-id/tokens', { name: 'long', expiresInDays: 3651 }],
        ['empty name', 'POST', '/api/v1/me/tokens', { name: '' }],
        ['email', 'POST', '/api/v1/users', { email: 'not-an-email', name: 'X', role: 'viewer' }],
        ['role', 'POST', '/api/v1/users', { email: 'x@example.com', name: 'X', role: 'superuser' }],
        ['weak password', 'POST', '/api/v1/users', { email: 'weak@example.com', name: 'Weak', role: 'viewer', password: '123456789012' }],
        ['date', 'POST', `${DEMO}/experiments`, { ...EXPERIMENT, key: 'late', startedAt: 'yesterday' }],
        ['url scheme', 'POST', `${DEMO}/experiments`, { ...EXPERIMENT, key: 'url', type: 'split-url', variations: [{ key: 'a', url: 'javascript:alert(1)' }, { key: 'b', url: 'https://example.com' }] }],
        ['ratio without sides', 'POST', `${DEMO}/metrics`, { key: 'ratio', name: 'Ratio', type: 'ratio' }],
        ['delay before a day', 'POST', `${DEMO}/metrics`, { key: 'early', name: 'Early', type: 'count', event: 'visit', delayHours: -24.5 }],
        ['delay past a year', 'PUT', `${DEMO}/metrics/revenue`, { key: 'revenue', name: 'Revenue', type: 'count', event: 'purchase', delayHours: 24 * 365 + 1 }],
        ['delay as text', 'POST', `${DEMO}/metrics`, { key: 'text', name: 'Text', type: 'count', event: 'visit', delayHours: '2' }],
        ['base version 0', 'POST', `${DEMO}/change-requests`, { ...CHANGE_REQUEST, baseVersion: 0 }],
        ['resource type', 'POST', `${DEMO}/change-requests`, { ...CHANGE_REQUEST, resourceType: 'segment' }],
        ['101 variations', 'POST', `${DEMO}/flags`, { ...FLAG, key: 'big', variations: Array.from({ length: 101 }, (_, i) => ({ key: `v${i}`, value: `v${i}` })) }],
        ['empty tag', 'POST', `${DEMO}/flags`, { ...FLAG, key: 'tags', tags: [''] }],
        ['renamed flag', 'PUT', `${DEMO}/flags/new-checkout`, { ...FLAG, key: 'renamed' }],
        ['renamed environment', 'PUT', `${DEMO}/environments/development`, { key: 'dev', name: 'Dev' }],
      ];
      const before = await snapshot();
      const found: string[] = [];

      for (const [label, method, path, body] of cases) {
        found.push(...faults(label, await send(method, path, { body, headers: { 'If-Match': '"1"' } }), 400, 'VALIDATION_FAILED'));
      }

      expect(found).toEqual([]);
      expect(await snapshot()).toEqual(before);
    });

    it('rejects a metric delay that is not finite, saying which field', async () => {
      // 1e400 parses as Infinity.
      const raw = JSON.stringify({ key: 'inf', name: 'Inf', type: 'count', event: 'visit', delayHours: 0 }).replace('"delayHours":0', '"delayHours":1e400');
      const before = await snapshot();

      const res = await send('POST', `${DEMO}/metrics`, { raw });

      expect(faults('infinite delay', res, 400, 'VALIDATION_FAILED')).toEqual([]);
      expect(JSON.stringify(res.body)).toContain('delayHours');
      expect(await snapshot()).toEqual(before);
    });

    it('rejects a deeply nested variation value without crashing', async () => {
      const depth = 50_000;
      const raw = JSON.stringify({ ...FLAG, key: 'deep', type: 'json', variations: [{ key: 'a', value: 'a' }] }).replace('"value":"a"', `"value":${'['.repeat(depth)}${']'.repeat(depth)}`);
      const before = await snapshot();

      const res = await send('POST', `${DEMO}/flags`, { raw });

      expect(faults('deep', res, 400)).toEqual([]);
      expect(p.logs.filter((l) => l.startsWith('unhandled error'))).toEqual([]);
      expect(await snapshot()).toEqual(before);
    });

    it('rejects change requests against unprotected environments or stale versions, and actions on unknown ones', async () => {
      const before = await snapshot();

      const found = [
        ...faults('unknown', await send('POST', `${DEMO}/change-requests/no-such-id/approve`), 404, 'NOT_FOUND'),
        ...faults('unprotected', await send('POST', `${DEMO}/change-requests`, { body: { ...CHANGE_REQUEST, environment: 'development' } }), 409, 'INVALID_STATE'),
        ...faults('stale', await send('POST', `${DEMO}/change-requests`, { body: { ...CHANGE_REQUEST, baseVersion: 9 } }), 409, 'VERSION_CONFLICT'),
      ];

      expect(found).toEqual([]);
      expect(await snapshot()).toEqual(before);
    });

    it('answers a method a path does not take with 405 and Allow, and a path that does not exist with 404', async () => {
      const before = await snapshot();

      const patch = await send('PATCH', `${DEMO}/flags/new-checkout`, { body: { name: 'x' } });
      const put = await send('PUT', `${DEMO}/flags`, { body: {} });
      const missing = await send('GET', `${DEMO}/flagz`);
      const slash = await send('POST', `${DEMO}/flags/`, { body: {} });
      const slashQuery = await send('GET', `${DEMO}/flags/?limit=1`);

      expect([
        ...faults('PATCH a flag', patch, 405, 'METHOD_NOT_ALLOWED'),
        ...faults('PUT the flag list', put, 405, 'METHOD_NOT_ALLOWED'),
        ...faults('unknown path', missing, 404, 'NOT_FOUND'),
        ...faults('trailing slash', slash, 404, 'NOT_FOUND'),
      ]).toEqual([]);
      expect(slash.body.error.message).toBe('no route for POST /api/v1/projects/demo/flags/; did you mean /api/v1/projects/demo/flags?');
      expect(slashQuery.body.error.message).toBe('no route for GET /api/v1/projects/demo/flags/; did you mean /api/v1/projects/demo/flags?limit=1?');
      expect(patch.headers.get('allow')?.split(', ').sort()).toEqual(['DELETE', 'GET', 'HEAD', 'PUT']);
      expect(patch.body.error.message).toBe('PATCH is not allowed on /api/v1/projects/demo/flags/new-checkout; it takes GET, PUT, DELETE, HEAD');
      expect(put.headers.get('allow')?.split(', ').sort()).toEqual(['GET', 'HEAD', 'POST']);
      expect(missing.headers.get('allow')).toBeNull();
      expect(await snapshot()).toEqual(before);
    });
  });
});

describe('bad input to POST /sdk/v1/evaluate gets a clean 400 naming the field (pglite)', () => {
  let p: Platform;
  let key = '';

  beforeAll(async () => {
    p = await startPlatform(pgliteTarget(), {
      deps: (d) => ({
        ...d,
        events: { put: () => Promise.resolve() },
      }),
    });
    key = p.boot.sdkKeys!.development!.server;
  });
  afterAll(async () => {
    await p.close();
  });

  /** A valid body with every field present, so each can be corrupted in turn. */
  const VALID = { unit: { id: 'u-1', attributes: { country: 'NL' } }, flags: ['button-color'], explain: false, privateAttributes: ['country'], exposure: false };
  const evaluate = (body: unknown): Promise<Response> => p.request('POST', '/sdk/v1/evaluate', { body, headers: { 'X-XP-SDK-Key': key } });

  it('accepts the valid body', async () => {
    expect((await evaluate(VALID)).status).toBe(200);
  });

  it.each([
    ['exposure', null, 'body.exposure'],
    ['exposure', 'false', 'body.exposure'],
    ['exposure', 0, 'body.exposure'],
    ['exposure', [false], 'body.exposure'],
    ['explain', null, 'body.explain'],
    ['explain', 'yes', 'body.explain'],
    ['privateAttributes', 'country', 'body.privateAttributes'],
    ['privateAttributes', [''], 'body.privateAttributes[0]'],
    ['flags', null, 'body.flags'],
    ['flags', ['button-color', 7], 'body.flags[1]'],
    ['unit', null, 'body.unit'],
  ])('refuses %s: %j', async (field, value, path) => {
    const res = await evaluate({ ...VALID, [field]: value });

    expect(faults(`${field}: ${JSON.stringify(value)}`, res, 400, 'VALIDATION_FAILED')).toEqual([]);
    expect(issuePaths(res)).toEqual([path]);
  });

  it('refuses an unknown field (logExposures is not the name), naming it', async () => {
    const res = await evaluate({ ...VALID, logExposures: false });

    expect(faults('logExposures', res, 400, 'VALIDATION_FAILED')).toEqual([]);
    expect(res.body.error.message).toContain('unrecognized key "logExposures"');
  });
});

describe("bad input to the OFREP endpoints (/ofrep/v1/evaluate/flags[/{key}]) gets the protocol's 400, naming the context path (pglite)", () => {
  let p: Platform;
  let key = '';

  beforeAll(async () => {
    p = await startPlatform(pgliteTarget(), { deps: (d) => ({ ...d, events: { put: () => Promise.resolve() } }) });
    key = p.boot.sdkKeys!.development!.server;
  });
  afterAll(async () => {
    await p.close();
  });

  /** A valid OFREP context with every kind of entry, so each can be corrupted in turn. */
  const VALID = { targetingKey: 'u-1', country: 'NL', plan: { tier: 'pro' } };
  const PATHS = ['/ofrep/v1/evaluate/flags/button-color', '/ofrep/v1/evaluate/flags'];
  const evaluate = (path: string, body: unknown): ReturnType<Platform['request']> => p.request('POST', path, { body, headers: { authorization: `Bearer ${key}` } });

  it('accepts the valid body', async () => {
    for (const path of PATHS) {
      expect((await evaluate(path, { context: VALID })).status).toBe(200);
    }
  });

  it.each([
    ['the body', [VALID], 'PARSE_ERROR', 'JSON object'],
    ['the body', 'context', 'PARSE_ERROR', 'JSON object'],
    ['context', { context: 'u-1' }, 'INVALID_CONTEXT', 'context must be an object'],
    ['context', { context: [VALID] }, 'INVALID_CONTEXT', 'context must be an object'],
    ['context.targetingKey', { context: { ...VALID, targetingKey: true } }, 'INVALID_CONTEXT', 'context.targetingKey'],
    ['context.targetingKey', { context: { ...VALID, targetingKey: ['u-1'] } }, 'INVALID_CONTEXT', 'context.targetingKey'],
    ['context.targetingKey', { context: { ...VALID, targetingKey: 'u'.repeat(257) } }, 'INVALID_CONTEXT', 'context.targetingKey'],
    ['context.plan.tier', { context: { ...VALID, plan: { tier: 'pro\u0000' } } }, 'INVALID_CONTEXT', 'context.plan.tier'],
    ['an attribute name', { context: { ...VALID, ['n'.repeat(201)]: 1 } }, 'INVALID_CONTEXT', 'context.nnnn'],
  ])('refuses %s: %j', async (_what, body, errorCode, named) => {
    for (const path of PATHS) {
      const res = await evaluate(path, body);
      const single = path !== '/ofrep/v1/evaluate/flags';

      expect(res.status).toBe(400);
      expect(res.body).toEqual({ ...(single ? { key: 'button-color' } : {}), errorCode, errorDetails: expect.stringContaining(named) });
    }
  });
});
