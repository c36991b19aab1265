import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '@xp/shared';
import { hashPassword } from '../../auth/passwords.js';
import { ROLES, can } from '../../auth/permissions.js';
import type { Services } from '../../domain/services.js';
import { users } from '../../store/users.js';
import { pgliteTarget, postgresTarget } from '../../store/__tests__/test-databases.js';
import { PROJECT_ROUTE_PREFIX } from '../api.js';
import type { AnyRoute } from '../api.js';
import { managementRoutes } from '../app.js';
import type { Platform } from './harness.js';
import { OWNER, TEST_SCRYPT, booleanFlagBody, startPlatform } from './harness.js';

// The route table only touches services inside handlers, so it can be listed before a platform exists.
const ROUTES: readonly AnyRoute[] = managementRoutes({} as Services).filter((r) => r.auth !== false);
const routeId = (r: Pick<AnyRoute, 'method' | 'path'>): string => `${r.method.toUpperCase()} ${r.path}`;

const PASSWORD = 'purple monkey dishwasher 7';
const CREDENTIALS: Readonly<Record<Role, { email: string; password: string }>> = {
  owner: OWNER,
  admin: { email: 'ada@example.com', password: PASSWORD },
  editor: { email: 'eddie@example.com', password: PASSWORD },
  analyst: { email: 'anna@example.com', password: PASSWORD },
  viewer: { email: 'vic@example.com', password: PASSWORD },
};

/** What a fixture gets: the caller under test, every role's session, and a unique suffix for keys. */
interface Ctx {
  readonly role: Role;
  readonly token: string;
  readonly tokens: Readonly<Record<Role, string>>;
  readonly userIds: Readonly<Record<Role, string>>;
  /** An editor outside the matrix, so reviewers are never the proposer. */
  readonly proposer: string;
  readonly n: string;
}

/** The request a fixture prepared; `token` overrides the caller's session (logout needs its own). */
interface Call {
  readonly path: string;
  readonly body?: unknown;
  readonly ifMatch?: number;
  readonly token?: string;
}

type Fixture = (ctx: Ctx) => Promise<Call>;

let p: Platform;

/** A setup step as some user; anything but 2xx aborts the case. */
async function must(token: string, method: string, path: string, body?: unknown, ifMatch?: number): Promise<any> {
  const res = await p.request(method, path, { token, ...(body === undefined ? {} : { body }), ...(ifMatch === undefined ? {} : { headers: { 'If-Match': `"${ifMatch}"` } }) });
  if (res.status < 200 || res.status >= 300) {
    throw new Error(`setup ${method} ${path} failed: ${res.status} ${JSON.stringify(res.body)}`);
  }
  return res.body;
}

const DEMO = '/api/v1/projects/demo';
const SCIM_USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const SCIM_ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';

const flagBody = (key: string): Record<string, unknown> =>
  booleanFlagBody(
    key,
    {
      development: { enabled: false, defaultVariation: 'on', offVariation: 'off' },
      production: { enabled: false, defaultVariation: 'off', offVariation: 'off' },
    },
    `Flag ${key}`,
  );


interface Kind {
  readonly plural: string;
  readonly body: (key: string) => Record<string, unknown>;
}

const KINDS: readonly Kind[] = [
  { plural: 'flags', body: flagBody },
  { plural: 'segments', body: (key) => ({ key, name: `Segment ${key}`, type: 'ids', values: ['u1', 'u2'] }) },
  { plural: 'metrics', body: (key) => ({ key, name: `Metric ${key}`, type: 'conversion', event: 'purchase' }) },
  { plural: 'holdouts', body: (key) => ({ key, name: `Holdout ${key}`, coverage: 0.05 }) },
  // In development only: starting one in protected production is a matter of approval, not of the role (flows.test.ts).
  { plural: 'experiments', body: (key) => ({ key, name: `Experiment ${key}`, variations: [{ key: 'control' }, { key: 'treatment' }], environments: ['development'] }) },
];

/** A day after the platform's clock: a time a change may be scheduled for. */
const tomorrow = (): string => new Date(p.now.value.getTime() + 86_400_000).toISOString();

/** Proposes a production change to a fresh flag; returns the change request id. */
async function proposal(ctx: Ctx, proposer: string): Promise<string> {
  const key = `cr-${ctx.n}`;
  await must(ctx.tokens.owner, 'POST', `${DEMO}/flags`, flagBody(key));
  const cr = await must(proposer, 'POST', `${DEMO}/change-requests`, {
    resourceType: 'flag',
    resourceKey: key,
    environment: 'production',
    state: { enabled: false, defaultVariation: 'on', offVariation: 'off' },
    baseVersion: 1,
  });
  return cr.id as string;
}

/** The caller when their role may propose (own requests), else the outside proposer. */
const ownOrOutside = (ctx: Ctx): string => (can(ctx.role, 'change-requests:propose') ? ctx.token : ctx.proposer);

async function freshProjectWithEnvironment(ctx: Ctx): Promise<string> {
  const project = `p-${ctx.n}`;
  await must(ctx.tokens.owner, 'POST', '/api/v1/projects', { key: project, name: 'Scratch' });
  await must(ctx.tokens.owner, 'POST', `/api/v1/projects/${project}/environments`, { key: 'qa', name: 'QA' });
  return project;
}

function kindFixtures(k: Kind): Record<string, Fixture> {
  const base = `/api/v1/projects/{project}/${k.plural}`;
  const at = `${DEMO}/${k.plural}`;
  const created = async (ctx: Ctx): Promise<string> => {
    const key = `${k.plural.slice(0, 3)}-${ctx.n}`;
    await must(ctx.tokens.owner, 'POST', at, k.body(key));
    return key;
  };
  return {
    [`GET ${base}`]: () => Promise.resolve({ path: `${at}?limit=5` }),
    [`POST ${base}`]: (ctx) => Promise.resolve({ path: at, body: k.body(`${k.plural.slice(0, 3)}-${ctx.n}`) }),
    [`GET ${base}/{key}`]: async (ctx) => ({ path: `${at}/${await created(ctx)}` }),
    [`PUT ${base}/{key}`]: async (ctx) => {
      const key = await created(ctx);
      return { path: `${at}/${key}`, body: { ...k.body(key), name: 'Renamed' }, ifMatch: 1 };
    },
    [`DELETE ${base}/{key}`]: async (ctx) => ({ path: `${at}/${await created(ctx)}`, ifMatch: 1 }),
  };
}

/** A viewer service account the owner creates (one an admin may manage too); its id. */
async function serviceAccount(ctx: Ctx): Promise<string> {
  return (await must(ctx.tokens.owner, 'POST', '/api/v1/service-accounts', { name: `bot ${ctx.n}`, role: 'viewer' })).id as string;
}

/** One minimal valid request per route, keyed by `METHOD /path`; allowed roles get 2xx. */
const FIXTURES: Readonly<Record<string, Fixture>> = {
  'POST /api/v1/auth/logout': async (ctx) => ({ path: '/api/v1/auth/logout', token: await p.login(CREDENTIALS[ctx.role].email, CREDENTIALS[ctx.role].password) }),
  'GET /api/v1/me': () => Promise.resolve({ path: '/api/v1/me' }),
  'PUT /api/v1/me/password': async (ctx) => {
    // The call changes it back, so the role's password stays what the other cases log in with
    // (changing to the same password is refused).
    const interim = `${CREDENTIALS[ctx.role].password} interim`;
    await must(ctx.token, 'PUT', '/api/v1/me/password', { currentPassword: CREDENTIALS[ctx.role].password, newPassword: interim });
    return { path: '/api/v1/me/password', body: { currentPassword: interim, newPassword: CREDENTIALS[ctx.role].password } };
  },
  'POST /api/v1/me/sessions/revoke-others': () => Promise.resolve({ path: '/api/v1/me/sessions/revoke-others' }),
  'GET /api/v1/me/tokens': () => Promise.resolve({ path: '/api/v1/me/tokens' }),
  'POST /api/v1/me/tokens': (ctx) => Promise.resolve({ path: '/api/v1/me/tokens', body: { name: `cli ${ctx.n}` } }),
  'DELETE /api/v1/me/tokens/{id}': async (ctx) => {
    const created = await must(ctx.token, 'POST', '/api/v1/me/tokens', { name: `to revoke ${ctx.n}` });
    return { path: `/api/v1/me/tokens/${created.accessToken.id as string}` };
  },
  'GET /api/v1/users': () => Promise.resolve({ path: '/api/v1/users?q=example' }),
  'POST /api/v1/users': (ctx) => Promise.resolve({ path: '/api/v1/users', body: { email: `new-${ctx.n}@example.com`, name: 'New user', role: 'viewer' } }),
  'GET /api/v1/users/{id}': (ctx) => Promise.resolve({ path: `/api/v1/users/${ctx.userIds.owner}` }),
  'PATCH /api/v1/users/{id}': async (ctx) => {
    const created = await must(ctx.tokens.owner, 'POST', '/api/v1/users', { email: `patch-${ctx.n}@example.com`, name: 'To rename', role: 'viewer' });
    return { path: `/api/v1/users/${created.user.id as string}`, body: { name: 'Renamed' }, ifMatch: 1 };
  },
  'POST /api/v1/users/{id}/password-reset': async (ctx) => {
    const created = await must(ctx.tokens.owner, 'POST', '/api/v1/users', { email: `reset-${ctx.n}@example.com`, name: 'To reset', role: 'viewer' });
    return { path: `/api/v1/users/${created.user.id as string}/password-reset` };
  },
  'POST /api/v1/users/{id}/unlock': async (ctx) => {
    const created = await must(ctx.tokens.owner, 'POST', '/api/v1/users', { email: `unlock-${ctx.n}@example.com`, name: 'To unlock', role: 'viewer' });
    return { path: `/api/v1/users/${created.user.id as string}/unlock` };
  },
  'POST /api/v1/users/{id}/sessions/revoke': async (ctx) => {
    const created = await must(ctx.tokens.owner, 'POST', '/api/v1/users', { email: `signout-${ctx.n}@example.com`, name: 'To sign out', role: 'viewer' });
    return { path: `/api/v1/users/${created.user.id as string}/sessions/revoke`, body: { accessTokens: true } };
  },
  'PUT /api/v1/users/{id}/projects/{project}/role': async (ctx) => {
    const created = await must(ctx.tokens.owner, 'POST', '/api/v1/users', { email: `prole-${ctx.n}@example.com`, name: 'Project role', role: 'viewer' });
    return { path: `/api/v1/users/${created.user.id as string}/projects/demo/role`, body: { role: 'editor' } };
  },
  'DELETE /api/v1/users/{id}/projects/{project}/role': async (ctx) => {
    const created = await must(ctx.tokens.owner, 'POST', '/api/v1/users', { email: `prole-${ctx.n}@example.com`, name: 'Project role', role: 'viewer' });
    await must(ctx.tokens.owner, 'PUT', `/api/v1/users/${created.user.id as string}/projects/demo/role`, { role: 'analyst' });
    return { path: `/api/v1/users/${created.user.id as string}/projects/demo/role` };
  },
  'GET /api/v1/roles': () => Promise.resolve({ path: '/api/v1/roles' }),
  'GET /api/v1/organisation/token-policy': () => Promise.resolve({ path: '/api/v1/organisation/token-policy' }),
  // No limits: the policy the other cases mint under stays as it is.
  'PUT /api/v1/organisation/token-policy': async (ctx) => ({
    path: '/api/v1/organisation/token-policy',
    body: { maxLifetimeDays: null, defaultLifetimeDays: null },
    ifMatch: (await must(ctx.tokens.owner, 'GET', '/api/v1/organisation/token-policy')).version as number,
  }),
  'GET /api/v1/service-accounts': () => Promise.resolve({ path: '/api/v1/service-accounts?q=bot' }),
  'POST /api/v1/service-accounts': (ctx) => Promise.resolve({ path: '/api/v1/service-accounts', body: { name: `bot ${ctx.n}`, role: 'viewer' } }),
  'GET /api/v1/service-accounts/{id}': async (ctx) => ({ path: `/api/v1/service-accounts/${await serviceAccount(ctx)}` }),
  'PATCH /api/v1/service-accounts/{id}': async (ctx) => ({ path: `/api/v1/service-accounts/${await serviceAccount(ctx)}`, body: { name: 'Renamed' }, ifMatch: 1 }),
  'DELETE /api/v1/service-accounts/{id}': async (ctx) => ({ path: `/api/v1/service-accounts/${await serviceAccount(ctx)}`, ifMatch: 1 }),
  'GET /api/v1/service-accounts/{id}/tokens': async (ctx) => ({ path: `/api/v1/service-accounts/${await serviceAccount(ctx)}/tokens` }),
  'POST /api/v1/service-accounts/{id}/tokens': async (ctx) => ({ path: `/api/v1/service-accounts/${await serviceAccount(ctx)}/tokens`, body: { name: `ci ${ctx.n}` } }),
  'DELETE /api/v1/service-accounts/{id}/tokens/{tokenId}': async (ctx) => {
    const id = await serviceAccount(ctx);
    const minted = await must(ctx.tokens.owner, 'POST', `/api/v1/service-accounts/${id}/tokens`, { name: `to revoke ${ctx.n}` });
    return { path: `/api/v1/service-accounts/${id}/tokens/${minted.accessToken.id as string}` };
  },
  'GET /api/v1/scim/v2/ServiceProviderConfig': () => Promise.resolve({ path: '/api/v1/scim/v2/ServiceProviderConfig' }),
  'GET /api/v1/scim/v2/ResourceTypes': () => Promise.resolve({ path: '/api/v1/scim/v2/ResourceTypes' }),
  'GET /api/v1/scim/v2/Schemas': () => Promise.resolve({ path: '/api/v1/scim/v2/Schemas' }),
  'GET /api/v1/scim/v2/ResourceTypes/{id}': () => Promise.resolve({ path: '/api/v1/scim/v2/ResourceTypes/User' }),
  'GET /api/v1/scim/v2/Schemas/{id}': () => Promise.resolve({ path: `/api/v1/scim/v2/Schemas/${SCIM_USER}` }),
  'GET /api/v1/scim/v2/Users': () => Promise.resolve({ path: `/api/v1/scim/v2/Users?filter=${encodeURIComponent('userName eq "ada@example.com"')}` }),
  'POST /api/v1/scim/v2/Users': (ctx) => Promise.resolve({ path: '/api/v1/scim/v2/Users', body: { schemas: [SCIM_USER], userName: `scim-${ctx.n}@example.com`, roles: [{ value: 'viewer' }] } }),
  'GET /api/v1/scim/v2/Users/{id}': (ctx) => Promise.resolve({ path: `/api/v1/scim/v2/Users/${ctx.userIds.viewer}` }),
  'PUT /api/v1/scim/v2/Users/{id}': async (ctx) => {
    const created = await must(ctx.tokens.owner, 'POST', '/api/v1/users', { email: `scim-put-${ctx.n}@example.com`, name: 'To replace', role: 'viewer' });
    return { path: `/api/v1/scim/v2/Users/${created.user.id as string}`, body: { schemas: [SCIM_USER], userName: `scim-put-${ctx.n}@example.com`, name: { formatted: 'Replaced' } } };
  },
  'PATCH /api/v1/scim/v2/Users/{id}': async (ctx) => {
    const created = await must(ctx.tokens.owner, 'POST', '/api/v1/users', { email: `scim-patch-${ctx.n}@example.com`, name: 'To patch', role: 'viewer' });
    return { path: `/api/v1/scim/v2/Users/${created.user.id as string}`, body: { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'active', value: false }] } };
  },
  'DELETE /api/v1/scim/v2/Users/{id}': async (ctx) => {
    const created = await must(ctx.tokens.owner, 'POST', '/api/v1/users', { email: `scim-delete-${ctx.n}@example.com`, name: 'To deprovision', role: 'viewer' });
    return { path: `/api/v1/scim/v2/Users/${created.user.id as string}` };
  },
  'GET /api/v1/projects': () => Promise.resolve({ path: '/api/v1/projects' }),
  'POST /api/v1/projects': (ctx) => Promise.resolve({ path: '/api/v1/projects', body: { key: `p-${ctx.n}`, name: 'New project' } }),
  'GET /api/v1/projects/{project}': () => Promise.resolve({ path: DEMO }),
  'PATCH /api/v1/projects/{project}': async (ctx) => {
    await must(ctx.tokens.owner, 'POST', '/api/v1/projects', { key: `p-${ctx.n}`, name: 'To rename' });
    return { path: `/api/v1/projects/p-${ctx.n}`, body: { name: 'Renamed' }, ifMatch: 1 };
  },
  'DELETE /api/v1/projects/{project}': async (ctx) => {
    await must(ctx.tokens.owner, 'POST', '/api/v1/projects', { key: `p-${ctx.n}`, name: 'To delete' });
    return { path: `/api/v1/projects/p-${ctx.n}`, ifMatch: 1 };
  },
  'GET /api/v1/projects/{project}/environments': () => Promise.resolve({ path: `${DEMO}/environments` }),
  'POST /api/v1/projects/{project}/environments': async (ctx) => {
    await must(ctx.tokens.owner, 'POST', '/api/v1/projects', { key: `p-${ctx.n}`, name: 'Scratch' });
    return { path: `/api/v1/projects/p-${ctx.n}/environments`, body: { key: 'qa', name: 'QA' } };
  },
  'GET /api/v1/projects/{project}/environments/{environment}': () => Promise.resolve({ path: `${DEMO}/environments/development` }),
  'PUT /api/v1/projects/{project}/environments/{environment}': async (ctx) => {
    const project = await freshProjectWithEnvironment(ctx);
    return { path: `/api/v1/projects/${project}/environments/qa`, body: { key: 'qa', name: 'QA renamed', color: '#123456' }, ifMatch: 1 };
  },
  'DELETE /api/v1/projects/{project}/environments/{environment}': async (ctx) => {
    const project = await freshProjectWithEnvironment(ctx);
    return { path: `/api/v1/projects/${project}/environments/qa`, ifMatch: 1 };
  },
  'GET /api/v1/projects/{project}/environments/{environment}/ruleset': () => Promise.resolve({ path: `${DEMO}/environments/development/ruleset` }),
  'POST /api/v1/projects/{project}/republish': async (ctx) => {
    const project = await freshProjectWithEnvironment(ctx);
    return { path: `/api/v1/projects/${project}/republish` };
  },
  'GET /api/v1/projects/{project}/sdk-keys': () => Promise.resolve({ path: `${DEMO}/sdk-keys?environment=development` }),
  'POST /api/v1/projects/{project}/sdk-keys': (ctx) => Promise.resolve({ path: `${DEMO}/sdk-keys`, body: { environment: 'development', kind: 'client', name: `web ${ctx.n}` } }),
  'POST /api/v1/projects/{project}/sdk-keys/{id}/rotate': async (ctx) => {
    const created = await must(ctx.tokens.owner, 'POST', `${DEMO}/sdk-keys`, { environment: 'staging', kind: 'server', name: `to rotate ${ctx.n}` });
    return { path: `${DEMO}/sdk-keys/${created.sdkKey.id as string}/rotate`, body: { keepPreviousHours: 1 } };
  },
  'POST /api/v1/projects/{project}/units/erase': (ctx) => Promise.resolve({ path: `${DEMO}/units/erase`, body: { unitIds: [`unit-${ctx.n}`] } }),
  'GET /api/v1/projects/{project}/unit-export': () => Promise.resolve({ path: `${DEMO}/unit-export?unitId=user-1` }),
  'DELETE /api/v1/projects/{project}/sdk-keys/{id}': async (ctx) => {
    const created = await must(ctx.tokens.owner, 'POST', `${DEMO}/sdk-keys`, { environment: 'staging', kind: 'server', name: `to revoke ${ctx.n}` });
    return { path: `${DEMO}/sdk-keys/${created.sdkKey.id as string}` };
  },
  ...Object.fromEntries(KINDS.flatMap((k) => Object.entries(kindFixtures(k)))),
  // Every cleanup parameter of the flags list (stale classification included): reading, for every role.
  'GET /api/v1/projects/{project}/flags': () => Promise.resolve({ path: `${DEMO}/flags?limit=5&stale=false&staleDays=0&temporary=true&sort=servingChangedAt&include=stale&tag=team-1` }),
  // A flag with no state in protected production: deleting one served there (on or off) is a matter
  // of approval, not of the role (change-control.test.ts).
  'DELETE /api/v1/projects/{project}/flags/{key}': async (ctx) => {
    const key = `fla-${ctx.n}`;
    await must(ctx.tokens.owner, 'POST', `${DEMO}/flags`, booleanFlagBody(key, { development: { enabled: false, defaultVariation: 'on', offVariation: 'off' } }));
    return { path: `${DEMO}/flags/${key}?force=true`, ifMatch: 1 };
  },
  'PUT /api/v1/projects/{project}/flags/{key}/environments/{environment}': async (ctx) => {
    await must(ctx.tokens.owner, 'POST', `${DEMO}/flags`, flagBody(`fe-${ctx.n}`));
    return {
      path: `${DEMO}/flags/fe-${ctx.n}/environments/development`,
      body: { enabled: true, defaultVariation: 'off', offVariation: 'off', rules: [{ id: 'beta', type: 'force', variation: 'on', condition: { beta: true } }] },
      ifMatch: 1,
    };
  },
  'POST /api/v1/projects/{project}/flags/{key}/environments/{environment}/toggle': async (ctx) => {
    await must(ctx.tokens.owner, 'POST', `${DEMO}/flags`, flagBody(`ft-${ctx.n}`));
    return { path: `${DEMO}/flags/ft-${ctx.n}/environments/development/toggle`, body: { enabled: true }, ifMatch: 1 };
  },
  // No If-Match: the ids apply to the stored list.
  'POST /api/v1/projects/{project}/segments/{key}/ids': async (ctx) => {
    const key = `si-${ctx.n}`;
    await must(ctx.tokens.owner, 'POST', `${DEMO}/segments`, KINDS[1]!.body(key));
    return { path: `${DEMO}/segments/${key}/ids`, body: { add: ['u3'], remove: ['u1'] } };
  },
  'POST /api/v1/projects/{project}/experiments/{key}/start': async (ctx) => {
    const key = `xs-${ctx.n}`;
    await must(ctx.tokens.owner, 'POST', `${DEMO}/experiments`, KINDS[4]!.body(key));
    return { path: `${DEMO}/experiments/${key}/start`, ifMatch: 1 };
  },
  'POST /api/v1/projects/{project}/experiments/{key}/stop': async (ctx) => {
    const key = `xp-${ctx.n}`;
    await must(ctx.tokens.owner, 'POST', `${DEMO}/experiments`, KINDS[4]!.body(key));
    await must(ctx.tokens.owner, 'POST', `${DEMO}/experiments/${key}/start`, undefined, 1);
    return { path: `${DEMO}/experiments/${key}/stop`, body: { decision: 'ship', winner: 'treatment' }, ifMatch: 2 };
  },
  'POST /api/v1/projects/{project}/experiments/{key}/resume': async (ctx) => {
    const key = `xu-${ctx.n}`;
    await must(ctx.tokens.owner, 'POST', `${DEMO}/experiments`, KINDS[4]!.body(key));
    await must(ctx.tokens.owner, 'POST', `${DEMO}/experiments/${key}/start`, undefined, 1);
    await must(ctx.tokens.owner, 'POST', `${DEMO}/experiments/${key}/stop`, { decision: 'inconclusive' }, 2);
    return { path: `${DEMO}/experiments/${key}/resume`, ifMatch: 3 };
  },
  'GET /api/v1/projects/{project}/scheduled-changes': () => Promise.resolve({ path: `${DEMO}/scheduled-changes?status=scheduled` }),
  'GET /api/v1/projects/{project}/flags/{key}/scheduled-changes': async (ctx) => {
    await must(ctx.tokens.owner, 'POST', `${DEMO}/flags`, flagBody(`sl-${ctx.n}`));
    return { path: `${DEMO}/flags/sl-${ctx.n}/scheduled-changes?status=scheduled` };
  },
  'POST /api/v1/projects/{project}/flags/{key}/scheduled-changes': async (ctx) => {
    await must(ctx.tokens.owner, 'POST', `${DEMO}/flags`, flagBody(`ss-${ctx.n}`));
    return { path: `${DEMO}/flags/ss-${ctx.n}/scheduled-changes`, body: { environment: 'development', at: tomorrow(), state: { enabled: true } } };
  },
  'DELETE /api/v1/projects/{project}/flags/{key}/scheduled-changes/{id}': async (ctx) => {
    await must(ctx.tokens.owner, 'POST', `${DEMO}/flags`, flagBody(`sd-${ctx.n}`));
    const sc = await must(ctx.tokens.owner, 'POST', `${DEMO}/flags/sd-${ctx.n}/scheduled-changes`, { environment: 'development', at: tomorrow(), state: { enabled: true } });
    return { path: `${DEMO}/flags/sd-${ctx.n}/scheduled-changes/${sc.id as string}` };
  },
  'GET /api/v1/projects/{project}/change-requests': () => Promise.resolve({ path: `${DEMO}/change-requests?status=open` }),
  'POST /api/v1/projects/{project}/change-requests': async (ctx) => {
    await must(ctx.tokens.owner, 'POST', `${DEMO}/flags`, flagBody(`fp-${ctx.n}`));
    return {
      path: `${DEMO}/change-requests`,
      body: { resourceType: 'flag', resourceKey: `fp-${ctx.n}`, environment: 'production', state: { enabled: true, defaultVariation: 'on', offVariation: 'off' }, baseVersion: 1, comment: 'ship it' },
    };
  },
  'GET /api/v1/projects/{project}/change-requests/{id}': async (ctx) => ({ path: `${DEMO}/change-requests/${await proposal(ctx, ctx.proposer)}` }),
  'POST /api/v1/projects/{project}/change-requests/{id}/approve': async (ctx) => ({ path: `${DEMO}/change-requests/${await proposal(ctx, ctx.proposer)}/approve` }),
  'POST /api/v1/projects/{project}/change-requests/{id}/reject': async (ctx) => ({ path: `${DEMO}/change-requests/${await proposal(ctx, ctx.proposer)}/reject` }),
  'POST /api/v1/projects/{project}/change-requests/{id}/apply': async (ctx) => {
    const proposer = ownOrOutside(ctx);
    const id = await proposal(ctx, proposer);
    // Nobody reviews their own request: an owner's proposal is approved by the admin.
    await must(proposer === ctx.tokens.owner ? ctx.tokens.admin : ctx.tokens.owner, 'POST', `${DEMO}/change-requests/${id}/approve`);
    return { path: `${DEMO}/change-requests/${id}/apply` };
  },
  'POST /api/v1/projects/{project}/change-requests/{id}/cancel': async (ctx) => ({ path: `${DEMO}/change-requests/${await proposal(ctx, ownOrOutside(ctx))}/cancel` }),
  'GET /api/v1/projects/{project}/alerts': () => Promise.resolve({ path: `${DEMO}/alerts?status=open&limit=10` }),
  'POST /api/v1/projects/{project}/alerts/{id}/acknowledge': async (ctx) => ({ path: `${DEMO}/alerts/${await openAlert(ctx, null)}/acknowledge`, body: { comment: 'on it' } }),
  'POST /api/v1/projects/{project}/alerts/{id}/unacknowledge': async (ctx) => ({ path: `${DEMO}/alerts/${await openAlert(ctx, ctx.userIds.owner)}/unacknowledge` }),
  'GET /api/v1/projects/{project}/experiments/{key}/bandit': async (ctx) => {
    await must(ctx.tokens.owner, 'POST', `${DEMO}/experiments`, banditExperiment(`xbg-${ctx.n}`));
    return { path: `${DEMO}/experiments/xbg-${ctx.n}/bandit` };
  },
  'POST /api/v1/projects/{project}/experiments/{key}/bandit/update': async (ctx) => {
    // A running bandit without data: the check keeps the split (insufficient_units), 200 all the same.
    await must(ctx.tokens.owner, 'POST', `${DEMO}/experiments`, banditExperiment(`xbu-${ctx.n}`));
    return { path: `${DEMO}/experiments/xbu-${ctx.n}/bandit/update` };
  },
  'GET /api/v1/projects/{project}/experiments/{key}/results': async (ctx) => {
    await must(ctx.tokens.owner, 'POST', `${DEMO}/experiments`, KINDS[4]!.body(`xr-${ctx.n}`));
    return { path: `${DEMO}/experiments/xr-${ctx.n}/results?environment=production&interval=day` };
  },
  'GET /api/v1/projects/{project}/experiments/{key}/results/breakdown': async (ctx) => {
    await must(ctx.tokens.owner, 'POST', `${DEMO}/experiments`, { ...KINDS[4]!.body(`xb-${ctx.n}`), dimensions: ['country'] });
    return { path: `${DEMO}/experiments/xb-${ctx.n}/results/breakdown?dimension=country` };
  },
  'GET /api/v1/projects/{project}/experiments/{key}/results.csv': async (ctx) => {
    await must(ctx.tokens.owner, 'POST', `${DEMO}/experiments`, KINDS[4]!.body(`xc-${ctx.n}`));
    return { path: `${DEMO}/experiments/xc-${ctx.n}/results.csv?table=timeseries` };
  },
  // Event explorer (issue 10); the stream closes at once with maxSeconds=0.
  'GET /api/v1/projects/{project}/events': () => Promise.resolve({ path: `${DEMO}/events?limit=5&type=track` }),
  'GET /api/v1/projects/{project}/events/stream': () => Promise.resolve({ path: `${DEMO}/events/stream?maxSeconds=0` }),
  'GET /api/v1/projects/{project}/units/{unitId}/timeline': () => Promise.resolve({ path: `${DEMO}/units/user-1/timeline?limit=10` }),
  'GET /api/v1/projects/{project}/unit-timeline': () => Promise.resolve({ path: `${DEMO}/unit-timeline?unitId=team%2Fuser-1&limit=10` }),
  // Change feed (issue 9's editor refresh); maxSeconds=0 answers what is pending and closes.
  'GET /api/v1/projects/{project}/changes/stream': () => Promise.resolve({ path: `${DEMO}/changes/stream?after=0&maxSeconds=0` }),
  'POST /api/v1/projects/{project}/code-refs': (ctx) =>
    Promise.resolve({
      path: `${DEMO}/code-refs`,
      body: { repository: `repo-${ctx.n}`, branch: 'main', references: [{ flagKey: 'new-checkout', path: 'src/app.ts', line: 3, column: 7, snippet: "isFeatureEnabled('new-checkout')", language: 'typescript' }] },
    }),
  // A dry run of a change every role with the route's permission (metrics:write) may make.
  'POST /api/v1/projects/{project}/apply': (ctx) =>
    Promise.resolve({ path: `${DEMO}/apply`, body: { dryRun: true, changes: [{ kind: 'metrics', action: 'create', key: `m-${ctx.n}`, definition: KINDS[2]!.body(`m-${ctx.n}`) }] } }),
  'GET /api/v1/projects/{project}/code-refs': () => Promise.resolve({ path: `${DEMO}/code-refs?flag=new-checkout&repository=Acme/Shop&branch=main&limit=10` }),
  'GET /api/v1/projects/{project}/code-refs/flags': () => Promise.resolve({ path: `${DEMO}/code-refs/flags?flag=new-checkout&repository=acme/shop&branch=main` }),
  'GET /api/v1/projects/{project}/flags/{flag}/evaluations': () => Promise.resolve({ path: `${DEMO}/flags/new-checkout/evaluations?environment=development&interval=day&app=web-shop` }),
  'GET /api/v1/projects/{project}/flag-evaluations': () => Promise.resolve({ path: `${DEMO}/flag-evaluations?days=30&app=web-shop` }),
  'GET /api/v1/projects/{project}/code-refs/branches': () => Promise.resolve({ path: `${DEMO}/code-refs/branches?repository=acme/shop&flag=new-checkout` }),
  'DELETE /api/v1/projects/{project}/code-refs': async (ctx) => {
    await must(ctx.tokens.owner, 'POST', `${DEMO}/code-refs`, { repository: `gone-${ctx.n}`, branch: 'old', references: [{ flagKey: 'new-checkout', path: 'src/app.ts', line: 1, column: 1, snippet: 'x', language: 'typescript' }] });
    return { path: `${DEMO}/code-refs?repository=gone-${ctx.n}&branch=old` };
  },
  'GET /api/v1/audit': () => Promise.resolve({ path: '/api/v1/audit?project=demo&resourceType=flag&limit=10&credential=00000000-0000-4000-8000-000000000000' }),
  'GET /api/v1/audit/export': () => Promise.resolve({ path: '/api/v1/audit/export?project=demo&resourceType=flag&credential=00000000-0000-4000-8000-000000000000' }),
  'GET /api/v1/health': () => Promise.resolve({ path: '/api/v1/health?minutes=15' }),
  'GET /api/v1/projects/{project}/webhooks': () => Promise.resolve({ path: `${DEMO}/webhooks` }),
  'POST /api/v1/projects/{project}/webhooks': (ctx) => Promise.resolve({ path: `${DEMO}/webhooks`, body: { name: `hook ${ctx.n}`, url: UNREACHABLE_URL } }),
  'GET /api/v1/projects/{project}/webhooks/{id}': async (ctx) => ({ path: `${DEMO}/webhooks/${await aWebhook(ctx)}` }),
  'PATCH /api/v1/projects/{project}/webhooks/{id}': async (ctx) => ({ ...(await atVersion(ctx, await aWebhook(ctx))), body: { events: ['flag.*'] } }),
  'DELETE /api/v1/projects/{project}/webhooks/{id}': async (ctx) => atVersion(ctx, await newWebhook(ctx)),
  'POST /api/v1/projects/{project}/webhooks/{id}/rotate-secret': async (ctx) => atVersion(ctx, await aWebhook(ctx), '/rotate-secret'),
  'POST /api/v1/projects/{project}/webhooks/{id}/test': async (ctx) => ({ path: `${DEMO}/webhooks/${await aWebhook(ctx)}/test` }),
  'GET /api/v1/projects/{project}/webhooks/{id}/deliveries': async (ctx) => ({ path: `${DEMO}/webhooks/${await aWebhook(ctx)}/deliveries?limit=5` }),
  'GET /api/v1/projects/{project}/webhooks/{id}/deliveries/{delivery}': async (ctx) => {
    const id = await aWebhook(ctx);
    const sent = await must(ctx.tokens.owner, 'POST', `${DEMO}/webhooks/${id}/test`);
    return { path: `${DEMO}/webhooks/${id}/deliveries/${sent.id as string}` };
  },
  'POST /api/v1/projects/{project}/webhooks/{id}/deliveries/{delivery}/redeliver': async (ctx) => {
    const id = await aWebhook(ctx);
    const sent = await must(ctx.tokens.owner, 'POST', `${DEMO}/webhooks/${id}/test`);
    return { path: `${DEMO}/webhooks/${id}/deliveries/${sent.id as string}/redeliver` };
  },
};

/** Refuses connections at once (the discard port), so test sends fail fast without leaving the machine. */
const UNREACHABLE_URL = 'http://127.0.0.1:9/hook';

/** A webhook the owner made for one case (a project has at most 20); returns its id. */
/** A running bandit experiment of the demo project (sticky bucketing, a primary metric). */
function banditExperiment(key: string): Record<string, unknown> {
  return { ...KINDS[4]!.body(key), status: 'running', stickyBucketing: { enabled: true }, metrics: { primary: ['demo-purchase'], secondary: [], guardrails: [] }, bandit: {} };
}

async function newWebhook(ctx: Ctx): Promise<string> {
  const created = await must(ctx.tokens.owner, 'POST', `${DEMO}/webhooks`, { name: `fixture ${ctx.n}`, url: UNREACHABLE_URL, events: ['experiment.*'] });
  return created.webhook.id as string;
}

/** An open guardrail alert of the demo project (a metric of its own), as the checks record it; acknowledged by `by` unless null. */
async function openAlert(ctx: Ctx, by: string | null): Promise<number> {
  const out = await p.db.query<{ id: string | number }>(
    `INSERT INTO alerts (project_id, environment, experiment, metric, variation, control, detected_at, difference, effect, ci_lower, ci_upper, p_value, alpha,
                         control_units, treatment_units, action, acknowledged_at, acknowledged_by)
     SELECT id, 'development', 'checkout', $1, 'treatment', 'control', now(), 'relative', 0.2, 0.1, 0.3, 0.001, 0.05, 600, 600, 'alert', CASE WHEN $2::text IS NULL THEN NULL ELSE now() END, $2::text
     FROM projects WHERE key = 'demo'
     RETURNING id`,
    [`m-${ctx.n}`, by],
  );
  return Number(out.rows[0]!.id);
}

/** A call on a webhook at the version the owner reads now (If-Match). */
async function atVersion(ctx: Ctx, id: string, suffix = ''): Promise<Call> {
  const read = await must(ctx.tokens.owner, 'GET', `${DEMO}/webhooks/${id}`);
  return { path: `${DEMO}/webhooks/${id}${suffix}`, ifMatch: read.version as number };
}

let sharedWebhook: Promise<string> | undefined;
/** One webhook for the cases that leave it in place. */
const aWebhook = (ctx: Ctx): Promise<string> => (sharedWebhook ??= newWebhook(ctx));

/** A request that passes every check but authentication: concrete, valid-looking parameters. */
function concretePath(path: string): string {
  return path.replace(/\{(\w+)\}/g, (_m, name: string) => ({ project: 'demo', key: 'new-checkout', environment: 'development' })[name] ?? 'some-id');
}

async function auditCount(): Promise<number> {
  const r = await p.db.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_log');
  return r.rows[0]!.n;
}

describe('every route × every role, from the permission matrix (pglite)', () => {
  const tokens = {} as Record<Role, string>;
  const userIds = {} as Record<Role, string>;
  let proposer = '';
  let counter = 0;

  beforeAll(async () => {
    p = await startPlatform(pgliteTarget());
    tokens.owner = await p.login(OWNER.email, OWNER.password);
    for (const role of ROLES.filter((r) => r !== 'owner')) {
      await must(tokens.owner, 'POST', '/api/v1/users', { ...CREDENTIALS[role], name: `The ${role}`, role });
      tokens[role] = await p.login(CREDENTIALS[role].email, CREDENTIALS[role].password);
    }
    for (const role of ROLES) {
      userIds[role] = (await must(tokens[role], 'GET', '/api/v1/me')).id as string;
    }
    await must(tokens.owner, 'POST', '/api/v1/users', { email: 'pat@example.com', password: PASSWORD, name: 'Proposer', role: 'editor' });
    proposer = await p.login('pat@example.com', PASSWORD);
  });
  afterAll(async () => {
    await p.close();
  });

  it('has a fixture for every route and a route for every fixture', () => {
    const routes = ROUTES.map(routeId);

    const missing = routes.filter((id) => !(id in FIXTURES));
    const stale = Object.keys(FIXTURES).filter((id) => !routes.includes(id));

    expect(missing).toEqual([]);
    expect(stale).toEqual([]);
    expect(routes.length).toBeGreaterThan(50);
  });

  it('lists the same routes and permissions as the running platform', () => {
    const live = managementRoutes(p.services)
      .filter((r) => r.auth !== false)
      .map((r) => `${routeId(r)} ${String(r.permission)}`);

    const listed = ROUTES.map((r) => `${routeId(r)} ${String(r.permission)}`);

    expect(listed).toEqual(live);
    expect(ROUTES.every((r) => r.permission !== undefined)).toBe(true);
  });

  /** Sends a fixture's request: 'allowed', 'FORBIDDEN' or the unexpected answer, and whether it wrote an audit entry. */
  const attempt = async (route: (typeof ROUTES)[number], call: Call, token: string): Promise<{ outcome: string; wrote: boolean }> => {
    const auditBefore = await auditCount();
    const res = await p.request(route.method.toUpperCase(), call.path, {
      token: call.token ?? token,
      ...(call.body === undefined ? {} : { body: call.body }),
      ...(call.ifMatch === undefined ? {} : { headers: { 'If-Match': `"${call.ifMatch}"` } }),
    });
    const wrote = (await auditCount()) !== auditBefore;
    // SCIM routes answer SCIM error bodies (routes/scim.ts): the permission's refusal is told by its detail.
    const scimForbidden = res.body?.schemas?.[0] === SCIM_ERROR && /^your role \(\w+\) does not allow /.test(String(res.body?.detail));
    const forbidden = res.status === 403 && (res.body?.error?.code === 'FORBIDDEN' || scimForbidden);
    return { outcome: res.status >= 200 && res.status < 300 ? 'allowed' : forbidden ? 'FORBIDDEN' : `${res.status} ${JSON.stringify(res.body)}`, wrote };
  };

  describe.each(ROUTES.map((r) => [routeId(r), r] as const))('%s', (id, route) => {
    it.each(ROLES.map((role) => [role, can(role, route.permission!) ? 'allowed' : 'FORBIDDEN'] as const))('as %s: %s', async (role, expected) => {
      const fixture = FIXTURES[id];
      if (fixture === undefined) {
        throw new Error(`no fixture for ${id}: add one to FIXTURES`);
      }
      counter += 1;
      const call = await fixture({ role, token: tokens[role], tokens, userIds, proposer, n: `${role}-${counter}` });

      const { outcome, wrote } = await attempt(route, call, tokens[role]);

      expect(outcome).toBe(expected);
      expect({ forbiddenButWrote: expected === 'FORBIDDEN' && wrote }).toEqual({ forbiddenButWrote: false });
    });
  });

  /**
   * The same matrix for per-project roles, on every route of one project: each caller's organisation
   * role is the opposite of the role under test (viewers made admins, editors and analysts of the
   * project; an admin made its viewer), so any request acting with the organisation role fails the case.
   */
  describe('every project route × every project role', () => {
    const PROJECT_ROLES = ROLES.filter((r) => r !== 'owner');
    const projectTokens = {} as Record<Role, string>;
    const projectUserIds = {} as Record<Role, string>;
    const orgRoleFor = (role: Role): Role => (role === 'viewer' ? 'admin' : 'viewer');

    beforeAll(async () => {
      for (const role of PROJECT_ROLES) {
        const email = `project-${role}@example.com`;
        const created = await must(tokens.owner, 'POST', '/api/v1/users', { email, password: PASSWORD, name: `Project ${role}`, role: orgRoleFor(role) });
        projectTokens[role] = await p.login(email, PASSWORD);
        projectUserIds[role] = created.user.id as string;
        await must(tokens.owner, 'PUT', `/api/v1/users/${projectUserIds[role]}/projects/demo/role`, { role });
      }
    });

    const projectRoutes = ROUTES.filter((r) => r.path === PROJECT_ROUTE_PREFIX || r.path.startsWith(`${PROJECT_ROUTE_PREFIX}/`));

    it('covers every route of a project', () => {
      expect(projectRoutes.length).toBeGreaterThan(40);
    });

    describe.each(projectRoutes.map((r) => [routeId(r), r] as const))('%s', (id, route) => {
      it.each(PROJECT_ROLES.map((role) => [role, orgRoleFor(role), can(role, route.permission!) ? 'allowed' : 'FORBIDDEN'] as const))('as %s in the project (%s in the organisation): %s', async (role, _orgRole, expected) => {
        counter += 1;
        const call = await FIXTURES[id]!({ role, token: projectTokens[role], tokens, userIds, proposer, n: `prj-${role}-${counter}` });
        // A fixture's fresh project: the caller gets the role there too.
        const project = /^\/api\/v1\/projects\/([^/?]+)/.exec(call.path)?.[1];
        if (project !== undefined && project !== 'demo') {
          await must(tokens.owner, 'PUT', `/api/v1/users/${projectUserIds[role]}/projects/${project}/role`, { role });
        }
        const { outcome, wrote } = await attempt(route, call, projectTokens[role]);

        expect(outcome).toBe(expected);
        expect({ forbiddenButWrote: expected === 'FORBIDDEN' && wrote }).toEqual({ forbiddenButWrote: false });
      });
    });
  });

  it('answers 401 to every route without a token, with a garbage token, or a token in another header', async () => {
    const calls = ROUTES.flatMap((r) => [
      { route: r, headers: {} },
      { route: r, headers: { authorization: 'Bearer not-a-real-token' } },
      { route: r, headers: { authorization: 'Bearer xps_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' } },
      { route: r, headers: { authorization: `Basic ${Buffer.from(`${OWNER.email}:${OWNER.password}`).toString('base64')}` } },
      { route: r, headers: { 'x-api-key': tokens.owner } },
    ]);

    const results = [];
    for (const { route, headers } of calls) {
      const res = await p.request(route.method.toUpperCase(), concretePath(route.path), { headers });
      // A SCIM route's refusal is a SCIM error body (no code): its status and detail say the same.
      const scim = res.body?.schemas?.[0] === SCIM_ERROR && res.body?.status === '401' && /^(?:missing bearer token|invalid or expired token)$/.test(String(res.body?.detail));
      results.push({ call: `${routeId(route)} ${Object.keys(headers).join(',')}`, status: res.status, code: res.body?.error?.code ?? (scim ? 'UNAUTHENTICATED' : undefined) });
    }

    expect(results.filter((r) => r.status !== 401 || r.code !== 'UNAUTHENTICATED')).toEqual([]);
    expect(results).toHaveLength(ROUTES.length * 5);
  });

  it('refuses a revoked personal access token', async () => {
    const created = await must(tokens.viewer, 'POST', '/api/v1/me/tokens', { name: 'laptop' });
    const pat = created.token as string;
    const before = await p.request('GET', '/api/v1/me', { token: pat });

    await must(tokens.viewer, 'DELETE', `/api/v1/me/tokens/${created.accessToken.id as string}`);
    const after = await p.request('GET', '/api/v1/me', { token: pat });
    const write = await p.request('POST', '/api/v1/me/tokens', { token: pat, body: { name: 'sneaky' } });

    expect(before.status).toBe(200);
    expect(after.status).toBe(401);
    expect(after.body.error.code).toBe('UNAUTHENTICATED');
    expect(write.status).toBe(401);
  });

  it('refuses an expired personal access token and an expired session', async () => {
    await must(tokens.owner, 'POST', '/api/v1/users', { email: 'temp@example.com', password: PASSWORD, name: 'Temp', role: 'editor' });
    const session = await p.login('temp@example.com', PASSWORD);
    const pat = (await must(session, 'POST', '/api/v1/me/tokens', { name: 'short', expiresInDays: 1 })).token as string;
    const start = p.now.value;

    p.now.value = new Date(start.getTime() + 2 * 86_400_000);
    const patLater = await p.request('GET', '/api/v1/me', { token: pat });
    const sessionLater = await p.request('GET', '/api/v1/me', { token: session });
    p.now.value = start;

    expect(patLater.status).toBe(401);
    expect(sessionLater.status).toBe(401);
  });

  it("refuses a disabled user's session and personal access token", async () => {
    const invited = await must(tokens.owner, 'POST', '/api/v1/users', { email: 'leaver@example.com', password: PASSWORD, name: 'Leaver', role: 'editor' });
    const session = await p.login('leaver@example.com', PASSWORD);
    const pat = (await must(session, 'POST', '/api/v1/me/tokens', { name: 'ci' })).token as string;
    const before = await p.request('GET', `${DEMO}/flags`, { token: session });

    await must(tokens.admin, 'PATCH', `/api/v1/users/${invited.user.id as string}`, { disabled: true }, 1);
    const viaSession = await p.request('GET', `${DEMO}/flags`, { token: session });
    const viaPat = await p.request('POST', `${DEMO}/flags`, { token: pat, body: flagBody('from-a-leaver') });
    const relogin = await p.request('POST', '/api/v1/auth/login', { body: { email: 'leaver@example.com', password: PASSWORD } });

    expect(before.status).toBe(200);
    expect(viaSession.status).toBe(401);
    expect(viaPat.status).toBe(401);
    // The right password: told the account is disabled (a wrong one is told what any wrong password is).
    expect([relogin.status, relogin.body.error.code]).toEqual([403, 'ACCOUNT_DISABLED']);
  });

  it("refuses an admin's change of the owner's role, and a grant of the owner role, saying who may not do what", async () => {
    const demote = await p.request('PATCH', `/api/v1/users/${userIds.owner}`, { token: tokens.admin, body: { role: 'viewer' }, headers: { 'If-Match': '"1"' } });
    const grant = await p.request('POST', '/api/v1/users', { token: tokens.admin, body: { email: 'heir@example.com', password: PASSWORD, name: 'Heir', role: 'owner' } });
    const rename = await p.request('PATCH', `/api/v1/users/${userIds.owner}`, { token: tokens.admin, body: { name: 'Renamed by admin' }, headers: { 'If-Match': '"1"' } });
    const owner = await must(tokens.owner, 'GET', `/api/v1/users/${userIds.owner}`);

    expect([demote.status, demote.body.error.message]).toEqual([403, 'an admin cannot change an owner to viewer']);
    expect([grant.status, grant.body.error.message]).toEqual([403, 'an admin cannot grant the owner role']);
    expect([rename.status, rename.body.error.message]).toEqual([403, 'only an owner can change or disable an owner']);
    expect(owner).toMatchObject({ role: 'owner' });
    expect((owner as { name: string }).name).not.toBe('Renamed by admin');
  });

  it('refuses a session after logout', async () => {
    const session = await p.login(CREDENTIALS.editor.email, CREDENTIALS.editor.password);

    const out = await p.request('POST', '/api/v1/auth/logout', { token: session });
    const after = await p.request('GET', '/api/v1/me', { token: session });

    expect(out.status).toBe(204);
    expect(after.status).toBe(401);
  });

  it("hides one organisation's project, users and audit log from another organisation's owner", async () => {
    const orgId = randomUUID();
    await p.db.query('INSERT INTO organizations (id, name) VALUES ($1, $2)', [orgId, 'Rival']);
    await users.create(p.db, { id: randomUUID(), orgId, email: 'rival@example.org', name: 'Rival', role: 'owner', passwordHash: await hashPassword(PASSWORD, TEST_SCRYPT) });
    const rival = await p.login('rival@example.org', PASSWORD);
    const flagsBefore = await must(tokens.owner, 'GET', `${DEMO}/flags?limit=200`);

    const project = await p.request('GET', DEMO, { token: rival });
    const projects = await p.request('GET', '/api/v1/projects', { token: rival });
    const flag = await p.request('GET', `${DEMO}/flags/new-checkout`, { token: rival });
    const create = await p.request('POST', `${DEMO}/flags`, { token: rival, body: flagBody('planted') });
    const toggle = await p.request('POST', `${DEMO}/flags/new-checkout/environments/development/toggle`, { token: rival, body: { enabled: false }, headers: { 'If-Match': '"1"' } });
    const keys = await p.request('POST', `${DEMO}/sdk-keys`, { token: rival, body: { environment: 'production', kind: 'server', name: 'stolen' } });
    const user = await p.request('GET', `/api/v1/users/${userIds.owner}`, { token: rival });
    const patch = await p.request('PATCH', `/api/v1/users/${userIds.viewer}`, { token: rival, body: { role: 'owner' }, headers: { 'If-Match': '"1"' } });
    const userList = await p.request('GET', '/api/v1/users', { token: rival });
    const audit = await p.request('GET', '/api/v1/audit', { token: rival });
    const auditOfDemo = await p.request('GET', '/api/v1/audit?project=demo', { token: rival });
    const flagsAfter = await must(tokens.owner, 'GET', `${DEMO}/flags?limit=200`);

    for (const res of [project, flag, create, toggle, keys, user, patch, auditOfDemo]) {
      expect(`${res.status} ${res.body.error?.code ?? JSON.stringify(res.body)}`).toBe('404 NOT_FOUND');
    }
    expect(projects.body.items).toEqual([]);
    expect((userList.body.items as { email: string }[]).map((u) => u.email)).toEqual(['rival@example.org']);
    expect((audit.body.items as { actorEmail: string }[]).map((e) => e.actorEmail)).toEqual(['rival@example.org']);
    expect(flagsAfter).toEqual(flagsBefore);
  });
});

describe('authentication and role basics on real PostgreSQL', () => {
  let pg: Platform;

  beforeAll(async () => {
    pg = await startPlatform(postgresTarget());
  });
  afterAll(async () => {
    await pg.close();
  });

  it('answers 401 without or with a bad token, 403 to a viewer writing, and 2xx to the owner', async () => {
    const owner = await pg.login(OWNER.email, OWNER.password);
    await pg.request('POST', '/api/v1/users', { token: owner, body: { email: 'vic@example.com', password: PASSWORD, name: 'Vic', role: 'viewer' } });
    const viewer = await pg.login('vic@example.com', PASSWORD);

    const anonymous = await pg.request('GET', `${DEMO}/flags`);
    const garbage = await pg.request('GET', `${DEMO}/flags`, { token: 'xpp_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' });
    const viewerRead = await pg.request('GET', `${DEMO}/flags`, { token: viewer });
    const viewerWrite = await pg.request('POST', `${DEMO}/flags`, { token: viewer, body: flagBody('viewer-flag') });
    const viewerInvite = await pg.request('POST', '/api/v1/users', { token: viewer, body: { email: 'x@example.com', name: 'X', role: 'owner' } });
    const ownerWrite = await pg.request('POST', `${DEMO}/flags`, { token: owner, body: flagBody('owner-flag') });

    expect(anonymous.status).toBe(401);
    expect(garbage.status).toBe(401);
    expect(viewerRead.status).toBe(200);
    expect(viewerWrite.status).toBe(403);
    expect(viewerWrite.body.error.code).toBe('FORBIDDEN');
    expect(viewerInvite.status).toBe(403);
    expect(ownerWrite.status).toBe(201);
  });
});
