/**
 * SCIM 2.0 provisioning (domain/scim.ts, docs/scim.md): Okta's and Entra ID's request sequences over
 * real HTTP, with a service account's token, the real OIDC test IdP for the people's sign-ins, and
 * the effects a user sees: a deactivated person's session and personal access token stop at once.
 */
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TARGETS } from '../../store/__tests__/test-databases.js';
import type { Platform } from './harness.js';
import { OWNER, mustAs } from './harness.js';
import type { TestIdp } from './sso-idp.js';
import { ssoSignIn, startSsoPlatform } from './sso-harness.js';
import type { SsoPlatform } from './sso-harness.js';

const BASE = '/api/v1/scim/v2';
const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const LIST = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';

type Response = Awaited<ReturnType<Platform['request']>>;

interface ScimUser {
  id: string;
  externalId?: string;
  userName: string;
  name: { formatted: string; givenName?: string; familyName?: string };
  displayName: string;
  active: boolean;
  roles: { value: string }[];
  emails: { value: string; type: string; primary: boolean }[];
  meta: { resourceType: string; location: string };
}

describe.each(TARGETS.map((t) => [t().name, t] as const))('SCIM 2.0 user provisioning on %s', (_name, makeTarget) => {
  let sp: SsoPlatform;
  let p: Platform;
  let idp: TestIdp;
  let owner = '';
  /** The "Okta SCIM" service account's token (role admin), as docs/scim.md sets it up. */
  let scimToken = '';
  let scimAccountId = '';

  /** A SCIM request as the IdP sends it: application/scim+json, the service account's bearer token. */
  const scim = (method: string, path: string, body?: unknown, token: string | null = scimToken, headers: Record<string, string> = {}): Promise<Response> =>
    p.request(method, `${BASE}${path}`, {
      ...(token === null ? {} : { token }),
      ...(body === undefined ? {} : { raw: typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body) }),
      headers: { accept: 'application/scim+json', ...(body === undefined ? {} : { 'content-type': 'application/scim+json; charset=utf-8' }), ...headers },
    });

  const filterPath = (filter: string, extra = ''): string => `/Users?filter=${encodeURIComponent(filter)}${extra}`;

  /** A SCIM error body's status and scimType. */
  const scimError = (res: Response): { status: number; body: { schemas: string[]; status: string; scimType?: string; detail: string } } => ({ status: res.status, body: res.body as { schemas: string[]; status: string; scimType?: string; detail: string } });

  /** A whole SSO sign-in as the IdP account: the exchange's answer, or (refused) the callback's redirect. */
  const signIn = (account: string): ReturnType<typeof ssoSignIn> => ssoSignIn(p, idp, account);

  const me = (token: string): Promise<number> => p.request('GET', '/api/v1/me', { token }).then((r) => r.status);

  const auditOf = async (resourceKey: string): Promise<{ action: string; actor_id: string | null; diff: { op: string; path: string; from?: unknown; to?: unknown }[] }[]> =>
    (await p.db.query<{ action: string; actor_id: string | null; diff: { op: string; path: string; from?: unknown; to?: unknown }[] }>('SELECT action, actor_id, diff FROM audit_log WHERE resource_key = $1 ORDER BY id', [resourceKey])).rows;

  beforeAll(async () => {
    sp = await startSsoPlatform(makeTarget());
    ({ p, idp, owner } = sp);
    sp.box.sso = sp.config({ XP_SSO_DEFAULT_ROLE: 'analyst' });
    const account = await mustAs(p, owner, 'POST', '/api/v1/service-accounts', { name: 'Okta SCIM', role: 'admin' });
    scimAccountId = account.id as string;
    scimToken = (await mustAs(p, owner, 'POST', `/api/v1/service-accounts/${scimAccountId}/tokens`, { name: 'okta' })).token as string;
  });
  afterAll(async () => {
    await sp.close();
  });

  it('describes itself: ServiceProviderConfig, ResourceTypes and Schemas, as application/scim+json', async () => {
    const config = await scim('GET', '/ServiceProviderConfig');
    const types = await scim('GET', '/ResourceTypes');
    const schemas = await scim('GET', '/Schemas');

    expect([config.status, config.headers.get('content-type')]).toEqual([200, 'application/scim+json; charset=utf-8']);
    expect(config.body).toMatchObject({
      patch: { supported: true },
      bulk: { supported: false },
      filter: { supported: true, maxResults: 100 },
      changePassword: { supported: false },
      sort: { supported: false },
      etag: { supported: false },
      authenticationSchemes: [{ type: 'oauthbearertoken' }],
    });
    expect(types.body).toMatchObject({ schemas: [LIST], totalResults: 1, Resources: [{ id: 'User', endpoint: '/Users', schema: USER }] });
    expect((schemas.body.Resources as { id: string; attributes: { name: string }[] }[]).map((s) => [s.id, s.attributes.map((a) => a.name)])).toEqual([
      [USER, ['userName', 'externalId', 'name', 'displayName', 'active', 'emails', 'roles']],
    ]);
  });

  it("answers the meta.location of each ResourceType and Schema (200, the same entry), and 404 for others", async () => {
    const types = await scim('GET', '/ResourceTypes');
    const schemas = await scim('GET', '/Schemas');
    const entries = [...(types.body.Resources as { meta: { location: string } }[]), ...(schemas.body.Resources as { meta: { location: string } }[])];

    for (const entry of entries) {
      const at = await scim('GET', entry.meta.location.slice(`http://localhost${BASE}`.length));
      expect([entry.meta.location, at.status, at.body]).toEqual([entry.meta.location, 200, entry]);
    }
    expect(entries.map((e) => e.meta.location)).toEqual([`http://localhost${BASE}/ResourceTypes/User`, `http://localhost${BASE}/Schemas/${USER}`]);
    expect(scimError(await scim('GET', '/ResourceTypes/Group'))).toMatchObject({ status: 404, body: { schemas: [ERROR], status: '404' } });
    expect(scimError(await scim('GET', `/Schemas/${encodeURIComponent('urn:ietf:params:scim:schemas:core:2.0:Group')}`))).toMatchObject({ status: 404, body: { schemas: [ERROR], status: '404' } });
  });

  it("follows Okta's sequence: filter (none), create, read, deactivate (session and token answer 401 at once), reactivate (SSO sign-in works again)", async () => {
    idp.accounts.set('okta-dana', { email: 'dana@example.com', email_verified: true, name: 'Dana Scully' });

    const none = await scim('GET', filterPath('userName eq "dana@example.com"', '&startIndex=1&count=100'));
    expect([none.status, none.body]).toEqual([200, { schemas: [LIST], totalResults: 0, startIndex: 1, itemsPerPage: 0, Resources: [] }]);

    const created = await scim('POST', '/Users', {
      schemas: [USER],
      userName: 'dana@example.com',
      name: { givenName: 'Dana', familyName: 'Scully' },
      emails: [{ primary: true, value: 'dana@example.com', type: 'work' }],
      displayName: 'Dana Scully',
      locale: 'en-US',
      externalId: '00u1dana',
      groups: [],
      password: 'ignored-okta-password',
      active: true,
    });
    expect(created.status).toBe(201);
    const dana = created.body as ScimUser;
    expect(created.headers.get('content-type')).toBe('application/scim+json; charset=utf-8');
    expect(created.headers.get('location')).toBe(`http://localhost${BASE}/Users/${dana.id}`);
    expect(dana).toMatchObject({
      schemas: [USER],
      externalId: '00u1dana',
      userName: 'dana@example.com',
      name: { formatted: 'Dana Scully', givenName: 'Dana', familyName: 'Scully' },
      displayName: 'Dana Scully',
      active: true,
      // No roles sent: SSO's default role (XP_SSO_DEFAULT_ROLE).
      roles: [{ value: 'analyst' }],
      emails: [{ value: 'dana@example.com', type: 'work', primary: true }],
      meta: { resourceType: 'User', location: `http://localhost${BASE}/Users/${dana.id}` },
    });
    expect((await scim('GET', `/Users/${dana.id}`)).body).toEqual(dana);
    // The person in the console: no password (SSO), the role.
    const consoleView = await mustAs(p, owner, 'GET', `/api/v1/users/${dana.id}`);
    expect([consoleView.email, consoleView.name, consoleView.role, consoleView.disabled]).toEqual(['dana@example.com', 'Dana Scully', 'analyst', false]);

    // Dana signs in through the IdP (linked by email) and mints a personal access token.
    const signedIn = (await signIn('okta-dana')).response!;
    expect(signedIn.status).toBe(200);
    const session = signedIn.body.token as string;
    const pat = (await mustAs(p, session, 'POST', '/api/v1/me/tokens', { name: 'laptop script' })).token as string;
    expect([await me(session), await me(pat)]).toEqual([200, 200]);

    // Okta deactivates: PATCH replace without a path.
    const deactivated = await scim('PATCH', `/Users/${dana.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: false } }] });

    expect([deactivated.status, (deactivated.body as ScimUser).active]).toEqual([200, false]);
    expect([await me(session), await me(pat)]).toEqual([401, 401]);
    const failed = await signIn('okta-dana');
    expect([failed.response, failed.location]).toEqual([undefined, '/#sso-error=account-disabled']);
    const entry = (await auditOf(dana.id)).filter((e) => e.action === 'user.updated').at(-1)!;
    expect(entry.actor_id).toBe(scimAccountId);
    expect(entry.diff).toEqual(
      expect.arrayContaining([
        { op: 'replace', path: '/disabled', from: false, to: true },
        { op: 'add', path: '/sessionsRevoked', to: 1 },
        { op: 'add', path: '/accessTokensRevoked', to: 1 },
        { op: 'add', path: '/via', to: 'scim' },
      ]),
    );

    // Okta reactivates with a PUT of the whole user.
    const reactivated = await scim('PUT', `/Users/${dana.id}`, { schemas: [USER], id: dana.id, userName: 'dana@example.com', name: { givenName: 'Dana', familyName: 'Scully' }, externalId: '00u1dana', active: true });

    expect([reactivated.status, (reactivated.body as ScimUser).active, (reactivated.body as ScimUser).roles]).toEqual([200, true, [{ value: 'analyst', display: 'analyst', primary: true }]]);
    const again = (await signIn('okta-dana')).response!;
    expect(again.status).toBe(200);
    expect(await me(again.body.token as string)).toBe(200);
    // Revoked tokens stay revoked.
    expect(await me(pat)).toBe(401);
  });

  it("follows Entra ID's sequence: filter, create, PATCH with \"Replace\" and \"False\", the no-path form, add and remove", async () => {
    const probe = await scim('GET', filterPath('userName eq "8b6c1e52-entra-probe"'));
    expect([probe.status, probe.body.totalResults]).toEqual([200, 0]);
    const none = await scim('GET', filterPath('userName eq "eve@example.com"'));
    expect(none.body.totalResults).toBe(0);

    const created = await scim('POST', '/Users', {
      schemas: [USER, ENTERPRISE],
      externalId: 'eve-object-id',
      userName: 'eve@example.com',
      active: true,
      displayName: 'Eve Moneypenny',
      emails: [{ primary: true, type: 'work', value: 'eve@example.com' }],
      meta: { resourceType: 'User' },
      name: { formatted: 'Eve Moneypenny', familyName: 'Moneypenny', givenName: 'Eve' },
      roles: [{ primary: 'True', type: 'WindowsAzureActiveDirectoryRole', value: 'Editor' }],
      [ENTERPRISE]: { department: 'Sales', employeeNumber: '42' },
    });
    expect(created.status).toBe(201);
    const eve = created.body as ScimUser;
    expect([eve.roles[0]!.value, eve.name.formatted, eve.externalId]).toEqual(['editor', 'Eve Moneypenny', 'eve-object-id']);

    const disabled = await scim('PATCH', `/Users/${eve.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'Replace', path: 'active', value: 'False' }] });
    expect([disabled.status, disabled.body.active]).toEqual([200, false]);

    const changed = await scim('PATCH', `/Users/${eve.id}`, {
      schemas: [PATCH_OP],
      Operations: [
        { op: 'Replace', path: 'displayName', value: 'Eve M.' },
        { op: 'Add', path: 'title', value: 'Secretary' },
        { op: 'Replace', path: `${ENTERPRISE}:department`, value: 'MI6' },
        // Entra's mail: never the xp email (userName is), so this one changes nothing.
        { op: 'Replace', path: 'emails[type eq "work"].value', value: 'moneypenny@mail.example.com' },
        { op: 'Replace', path: 'userName', value: 'eve.moneypenny@example.com' },
        { op: 'Replace', path: 'roles', value: [{ value: 'viewer', primary: 'True' }] },
      ],
    });
    expect(changed.status).toBe(200);
    expect([changed.body.displayName, changed.body.userName, changed.body.roles[0].value, changed.body.active]).toEqual(['Eve M.', 'eve.moneypenny@example.com', 'viewer', false]);

    const appRole = await scim('PATCH', `/Users/${eve.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'Add', path: 'roles[primary eq "True"].value', value: 'Analyst' }] });
    expect([appRole.status, appRole.body.roles[0].value]).toEqual([200, 'analyst']);

    const noPath = await scim('PATCH', `/Users/${eve.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'Replace', value: { active: 'True', 'name.givenName': 'Evelyn', 'name.familyName': 'Moneypenny' } }] });
    expect([noPath.status, noPath.body.active, noPath.body.name, noPath.body.displayName]).toEqual([200, true, { formatted: 'Evelyn Moneypenny', givenName: 'Evelyn', familyName: 'Moneypenny' }, 'Evelyn Moneypenny']);

    const removed = await scim('PATCH', `/Users/${eve.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'remove', path: 'externalId' }] });
    expect([removed.status, 'externalId' in removed.body]).toEqual([200, false]);
    const added = await scim('PATCH', `/Users/${eve.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'add', path: 'externalId', value: 'eve-object-id-2' }] });
    expect(added.body.externalId).toBe('eve-object-id-2');
    const byExternalId = await scim('GET', filterPath('externalId eq "eve-object-id-2"'));
    expect((byExternalId.body.Resources as ScimUser[]).map((u) => u.userName)).toEqual(['eve.moneypenny@example.com']);
    // Every change was audited with the SCIM service account as the actor.
    const entries = await auditOf(eve.id);
    expect(entries.map((e) => [e.action, e.actor_id, e.diff.some((d) => d.path === '/via' && d.to === 'scim')])).toEqual([
      ['user.created', scimAccountId, true],
      ...Array.from({ length: 6 }, () => ['user.updated', scimAccountId, true]),
    ]);
  });

  it('adopts a person invited in the console: 409 uniqueness, found by filter, linked by PUT or PATCH', async () => {
    const invited = (await mustAs(p, owner, 'POST', '/api/v1/users', { email: 'Frank@Example.com', name: 'Frank', role: 'editor' })).user as { id: string };

    const conflict = scimError(await scim('POST', '/Users', { schemas: [USER], userName: 'frank@example.com', name: { givenName: 'Frank', familyName: 'Drebin' }, externalId: '00ufrank' }));
    expect(conflict).toMatchObject({ status: 409, body: { schemas: [ERROR], status: '409', scimType: 'uniqueness' } });

    const found = await scim('GET', filterPath('userName eq "FRANK@example.com"'));
    expect(found.body.totalResults).toBe(1);
    const frank = found.body.Resources[0] as ScimUser;
    expect([frank.id, frank.externalId, frank.roles[0]!.value]).toEqual([invited.id, undefined, 'editor']);
    const byEmail = await scim('GET', filterPath('emails[type eq "work"].value eq "frank@example.com"'));
    expect(byEmail.body.Resources.map((u: ScimUser) => u.id)).toEqual([invited.id]);

    const linked = await scim('PUT', `/Users/${frank.id}`, { schemas: [USER], userName: 'Frank@Example.com', name: { givenName: 'Frank', familyName: 'Drebin' }, externalId: '00ufrank', active: true });
    expect(linked.status).toBe(200);
    expect([linked.body.externalId, linked.body.displayName, linked.body.roles[0].value]).toEqual(['00ufrank', 'Frank Drebin', 'editor']);

    // Another person's externalId is refused.
    const another = (await mustAs(p, owner, 'POST', '/api/v1/users', { email: 'grace@example.com', name: 'Grace', role: 'viewer' })).user as { id: string };
    const taken = await scim('PATCH', `/Users/${another.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'add', path: 'externalId', value: '00ufrank' }] });
    expect(scimError(taken)).toMatchObject({ status: 409, body: { scimType: 'uniqueness' } });
    const linkedByPatch = await scim('PATCH', `/Users/${another.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'add', path: 'externalId', value: '00ugrace' }] });
    expect([linkedByPatch.status, linkedByPatch.body.externalId]).toEqual([200, '00ugrace']);
  });

  it('refuses to disable, delete or change the role or email of an owner (403), but renames one', async () => {
    const found = await scim('GET', filterPath(`userName eq "${OWNER.email}"`));
    const ownerUser = found.body.Resources[0] as ScimUser;
    expect(ownerUser.roles[0]!.value).toBe('owner');

    const disable = await scim('PATCH', `/Users/${ownerUser.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'active', value: false }] });
    const demote = await scim('PUT', `/Users/${ownerUser.id}`, { schemas: [USER], userName: OWNER.email, roles: [{ value: 'viewer' }] });
    const remove = await scim('DELETE', `/Users/${ownerUser.id}`);
    const promote = await scim('PATCH', `/Users/${ownerUser.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'roles', value: [{ value: 'owner' }] }] });
    const renamed = await scim('PATCH', `/Users/${ownerUser.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'name.formatted', value: 'The Owner' }] });
    const emailByPatch = await scim('PATCH', `/Users/${ownerUser.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'userName', value: 'mallory@example.com' }] });
    const emailByNoPath = await scim('PATCH', `/Users/${ownerUser.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'Replace', value: { userName: 'mallory@example.com' } }] });
    const emailByPut = await scim('PUT', `/Users/${ownerUser.id}`, { schemas: [USER], userName: 'mallory@example.com', name: { formatted: 'The Owner' } });
    const unassignRole = await scim('PATCH', `/Users/${ownerUser.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'remove', path: 'roles' }] });
    // The same email in another case (as an IdP may send it) is no change: the owner's stays as it is.
    const sameEmail = await scim('PUT', `/Users/${ownerUser.id}`, { schemas: [USER], userName: OWNER.email.toUpperCase(), name: { formatted: 'The Owner' } });

    for (const res of [disable, demote, remove, emailByPatch, emailByNoPath, emailByPut, unassignRole]) {
      expect(scimError(res)).toMatchObject({ status: 403, body: { schemas: [ERROR], status: '403', detail: expect.stringContaining('SCIM cannot disable, delete or change the role or email of an owner') } });
    }
    expect([sameEmail.status, sameEmail.body.userName]).toEqual([200, OWNER.email]);
    expect((await mustAs(p, owner, 'GET', `/api/v1/users/${ownerUser.id}`)).email).toBe(OWNER.email);
    expect(promote.status).toBe(200);
    expect([renamed.status, renamed.body.displayName, renamed.body.active, renamed.body.roles[0].value]).toEqual([200, 'The Owner', true, 'owner']);
    expect(await me(owner)).toBe(200);
    // Nobody becomes an owner through SCIM.
    const newOwner = await scim('POST', '/Users', { schemas: [USER], userName: 'henry@example.com', roles: [{ value: 'owner' }] });
    expect(scimError(newOwner)).toMatchObject({ status: 403, body: { detail: 'SCIM cannot make anyone an owner: an owner grants that role in xp' } });
  });

  it('never shows service accounts; 401 without a token or with a wrong one; 403 for a role that may not manage users', async () => {
    const all = await scim('GET', '/Users?count=100');
    expect((all.body.Resources as ScimUser[]).some((u) => u.userName.endsWith('.invalid'))).toBe(false);
    expect(scimError(await scim('GET', `/Users/${scimAccountId}`))).toMatchObject({ status: 404, body: { schemas: [ERROR], status: '404' } });

    const analystAccount = await mustAs(p, owner, 'POST', '/api/v1/service-accounts', { name: 'Reader', role: 'analyst' });
    const analyst = (await mustAs(p, owner, 'POST', `/api/v1/service-accounts/${analystAccount.id as string}/tokens`, { name: 'scim' })).token as string;
    const forbidden = await scim('GET', '/Users', undefined, analyst);
    const anonymous = await scim('GET', '/Users', undefined, null);
    const wrong = await scim('GET', '/Users', undefined, 'xpp_not-a-real-token');
    const created = await scim('POST', '/Users', { schemas: [USER], userName: 'ivan@example.com' }, analyst);

    expect(scimError(forbidden)).toEqual({ status: 403, body: { schemas: [ERROR], status: '403', detail: 'your role (analyst) does not allow users:manage' } });
    expect(forbidden.headers.get('content-type')).toBe('application/scim+json; charset=utf-8');
    expect(scimError(anonymous)).toEqual({ status: 401, body: { schemas: [ERROR], status: '401', detail: 'missing bearer token' } });
    expect(scimError(wrong)).toMatchObject({ status: 401, body: { schemas: [ERROR], status: '401' } });
    // RFC 6750 §3: the scheme to authenticate with.
    expect([anonymous.headers.get('www-authenticate'), wrong.headers.get('www-authenticate')]).toEqual(['Bearer', 'Bearer']);
    expect(forbidden.headers.get('www-authenticate')).toBeNull();
    expect(created.status).toBe(403);
    expect((await scim('GET', filterPath('userName eq "ivan@example.com"'))).body.totalResults).toBe(0);
  });

  it("does not show another organisation's people", async () => {
    await p.db.query("INSERT INTO organizations (id, name) VALUES ('other-org', 'Other')");
    await p.db.query("INSERT INTO users (id, org_id, email, name, role, password_hash) VALUES ('other-person', 'other-org', 'judy@other.example', 'Judy', 'viewer', NULL)");

    expect((await scim('GET', filterPath('userName eq "judy@other.example"'))).body.totalResults).toBe(0);
    expect((await scim('GET', '/Users/other-person')).status).toBe(404);
    expect((await scim('PATCH', '/Users/other-person', { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'active', value: false }] })).status).toBe(404);
    // Its email is taken across the installation all the same.
    expect(scimError(await scim('POST', '/Users', { schemas: [USER], userName: 'judy@other.example' }))).toMatchObject({ status: 409, body: { scimType: 'uniqueness' } });
  });

  it('takes a bare role name for roles (an Okta custom attribute of type string), on create and on replace', async () => {
    const created = await scim('POST', '/Users', { schemas: [USER], userName: 'bare-role@example.com', roles: 'analyst' });
    expect([created.status, created.body.roles]).toEqual([201, [{ value: 'analyst', display: 'analyst', primary: true }]]);
    const replaced = await scim('PUT', `/Users/${String(created.body.id)}`, { schemas: [USER], userName: 'bare-role@example.com', roles: 'editor' });
    expect([replaced.status, replaced.body.roles[0].value]).toEqual([200, 'editor']);
  });

  it('pages with startIndex and count (capped at 100; 0 answers the total only)', async () => {
    for (let i = 0; i < 4; i++) {
      expect((await scim('POST', '/Users', { schemas: [USER], userName: `page-${String(i)}@example.com`, roles: ['viewer'] })).status).toBe(201);
    }
    const everyone = await scim('GET', '/Users');
    const total = everyone.body.totalResults as number;
    const ids = (everyone.body.Resources as ScimUser[]).map((u) => u.id);
    expect(ids.length).toBe(total);

    const first = await scim('GET', '/Users?startIndex=1&count=2');
    const second = await scim('GET', '/Users?startIndex=3&count=2');
    const countOnly = await scim('GET', '/Users?count=0');
    const capped = await scim('GET', '/Users?count=5000&startIndex=0');
    const past = await scim('GET', `/Users?startIndex=${String(total + 5)}`);

    expect([first.body.totalResults, first.body.startIndex, first.body.itemsPerPage, first.body.Resources.map((u: ScimUser) => u.id)]).toEqual([total, 1, 2, ids.slice(0, 2)]);
    expect(second.body.Resources.map((u: ScimUser) => u.id)).toEqual(ids.slice(2, 4));
    expect(countOnly.body).toEqual({ schemas: [LIST], totalResults: total, startIndex: 1, itemsPerPage: 0, Resources: [] });
    expect([capped.status, capped.body.startIndex, capped.body.itemsPerPage]).toEqual([200, 1, Math.min(total, 100)]);
    expect([past.body.totalResults, past.body.Resources]).toEqual([total, []]);
    expect(scimError(await scim('GET', '/Users?count=ten'))).toMatchObject({ status: 400, body: { scimType: 'invalidValue' } });
    // RFC 7644 §3.4.2.4: a startIndex below 1 is read as 1, a negative count as 0 — not refused.
    const negative = await scim('GET', '/Users?startIndex=-1&count=-5');
    expect([negative.status, negative.body.totalResults, negative.body.startIndex, negative.body.itemsPerPage]).toEqual([200, total, 1, 0]);
  });

  it.each([
    'name.givenName eq "Dana"',
    'userName co "dana"',
    'userName eq dana@example.com',
    'userName eq "a" or userName eq "b"',
    'active eq true',
    'emails[type eq "home"].value eq "x@example.com"',
  ])('answers the filter %s with 400 invalidFilter', async (filter) => {
    expect(scimError(await scim('GET', filterPath(filter)))).toMatchObject({ status: 400, body: { schemas: [ERROR], status: '400', scimType: 'invalidFilter' } });
  });

  it('refuses bad input with SCIM errors, never a 500, and changes nothing', async () => {
    const kim = (await scim('POST', '/Users', { schemas: [USER], userName: 'kim@example.com', name: { formatted: 'Kim' } })).body as ScimUser;
    const patch = (operations: unknown): Promise<Response> => scim('PATCH', `/Users/${kim.id}`, { schemas: [PATCH_OP], Operations: operations });

    const cases: [string, Response, number, string | undefined][] = [
      ['malformed JSON', await scim('POST', '/Users', '{"schemas":'), 400, 'invalidSyntax'],
      ['an array body', await scim('POST', '/Users', '[]'), 400, 'invalidSyntax'],
      ['wrong Content-Type', await scim('POST', '/Users', JSON.stringify({ schemas: [USER], userName: 'x@example.com' }), scimToken, { 'content-type': 'text/plain' }), 415, undefined],
      ['wrong Content-Type on PATCH', await scim('PATCH', `/Users/${kim.id}`, JSON.stringify({ schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'active', value: false }] }), scimToken, { 'content-type': 'application/x-www-form-urlencoded' }), 415, undefined],
      ['no userName', await scim('POST', '/Users', { schemas: [USER] }), 400, 'invalidValue'],
      ['userName not an email', await scim('POST', '/Users', { schemas: [USER], userName: 'kim' }), 400, 'invalidValue'],
      ["a service account's domain", await scim('POST', '/Users', { schemas: [USER], userName: 'x@service-accounts.invalid' }), 400, 'invalidValue'],
      ['active of the wrong type', await scim('POST', '/Users', { schemas: [USER], userName: 'x@example.com', active: 5 }), 400, 'invalidValue'],
      ['an unknown schema', await scim('POST', '/Users', { schemas: [USER, 'urn:example:custom'], userName: 'x@example.com' }), 400, 'invalidSyntax'],
      ['no core schema', await scim('POST', '/Users', { schemas: [ENTERPRISE], userName: 'x@example.com' }), 400, 'invalidSyntax'],
      ['roles not a list of roles', await scim('POST', '/Users', { schemas: [USER], userName: 'x@example.com', roles: [{ value: 5 }] }), 400, 'invalidValue'],
      ['a name with a line break', await scim('POST', '/Users', { schemas: [USER], userName: 'x@example.com', displayName: 'Kim\nadmin' }), 400, 'invalidValue'],
      ['an unknown op', await patch([{ op: 'move', path: 'active', value: false }]), 400, 'invalidValue'],
      ['an unknown path', await patch([{ op: 'replace', path: 'favouriteColour', value: 'red' }]), 400, 'invalidPath'],
      ['a filtered path xp does not take', await patch([{ op: 'replace', path: 'emails[type eq "home"].value', value: 'k@example.com' }]), 400, 'invalidPath'],
      ['active not a boolean', await patch([{ op: 'replace', path: 'active', value: 'maybe' }]), 400, 'invalidValue'],
      ['a userName that is not an email', await patch([{ op: 'replace', path: 'userName', value: 42 }]), 400, 'invalidValue'],
      ['a no-path value that is not an object', await patch([{ op: 'replace', value: false }]), 400, 'invalidValue'],
      ['remove without a path', await patch([{ op: 'remove' }]), 400, 'noTarget'],
      ['remove of active', await patch([{ op: 'remove', path: 'active' }]), 400, 'mutability'],
      ['remove of userName', await patch([{ op: 'remove', path: 'userName' }]), 400, 'mutability'],
      ['no operations', await patch([]), 400, 'invalidValue'],
      ['Operations not a list', await scim('PATCH', `/Users/${kim.id}`, { schemas: [PATCH_OP], Operations: { op: 'replace' } }), 400, 'invalidValue'],
      ['a PatchOp without its schema', await scim('PATCH', `/Users/${kim.id}`, { schemas: [USER], Operations: [{ op: 'replace', path: 'active', value: false }] }), 400, 'invalidSyntax'],
      ['a body over 64 KB', await scim('POST', '/Users', { schemas: [USER], userName: 'x@example.com', title: 'x'.repeat(70 * 1024) }), 413, undefined],
      ['no body', await scim('POST', '/Users', undefined, scimToken, { 'content-type': 'application/scim+json' }), 400, 'invalidSyntax'],
      ['a gzipped body', await scim('POST', '/Users', gzipSync(JSON.stringify({ schemas: [USER], userName: 'x@example.com' })), scimToken, { 'content-encoding': 'gzip' }), 400, 'invalidValue'],
      ['a body nested too deep', await scim('POST', '/Users', `${'['.repeat(200)}${']'.repeat(200)}`), 400, 'invalidSyntax'],
      ['a DELETE with a body', await scim('DELETE', `/Users/${kim.id}`, { schemas: [USER], userName: 'kim@example.com' }), 400, 'invalidSyntax'],
      ['a repeated query parameter', await scim('GET', '/Users?count=1&count=2'), 400, 'invalidValue'],
      ['an id longer than 64 characters', await scim('GET', `/Users/${'a'.repeat(65)}`), 400, 'invalidValue'],
      ['an id that is not percent-encoded UTF-8', await scim('PATCH', '/Users/%D8%00', { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'active', value: false }] }), 400, 'invalidValue'],
      ['an unknown user', await scim('GET', '/Users/no-such-user'), 404, undefined],
      ['an unknown SCIM path', await scim('GET', '/Groups'), 404, undefined],
    ];
    const answers = cases.map(([what, res]) => [what, res.status, res.body?.schemas, res.body?.scimType]);

    expect(answers).toEqual(cases.map(([what, , status, scimType]) => [what, status, [ERROR], scimType]));
    expect(cases.every(([, res]) => typeof res.body.detail === 'string' && res.body.status === String(res.status))).toBe(true);
    expect((await scim('GET', `/Users/${kim.id}`)).body).toEqual(kim);
    expect((await scim('GET', filterPath('userName eq "x@example.com"'))).body.totalResults).toBe(0);
  });

  it('deletes (deprovisions) a person: disabled, not erased, gone for SCIM; a POST of the email provisions them again', async () => {
    idp.accounts.set('okta-liz', { email: 'liz@example.com', email_verified: true, name: 'Liz' });
    const liz = (await scim('POST', '/Users', { schemas: [USER], userName: 'liz@example.com', externalId: '00uliz', roles: [{ value: 'editor' }] })).body as ScimUser;
    const session = (await signIn('okta-liz')).response!.body.token as string;
    expect(await me(session)).toBe(200);

    const deleted = await scim('DELETE', `/Users/${liz.id}`);

    expect([deleted.status, deleted.body]).toEqual([204, undefined]);
    expect(await me(session)).toBe(401);
    expect((await scim('GET', `/Users/${liz.id}`)).status).toBe(404);
    expect((await scim('DELETE', `/Users/${liz.id}`)).status).toBe(404);
    expect((await scim('GET', filterPath('userName eq "liz@example.com"'))).body.totalResults).toBe(0);
    expect((await scim('GET', filterPath('externalId eq "00uliz"'))).body.totalResults).toBe(0);
    const consoleView = await mustAs(p, owner, 'GET', `/api/v1/users/${liz.id}`);
    expect([consoleView.email, consoleView.disabled]).toEqual(['liz@example.com', true]);
    expect((await auditOf(liz.id)).at(-1)!.diff).toEqual(expect.arrayContaining([{ op: 'add', path: '/scimDeleted', to: true }]));
    // The console's Enable does not bring back someone the IdP deleted (it answered 500 before: a check constraint).
    const enable = await p.request('PATCH', `/api/v1/users/${liz.id}`, { token: owner, body: { disabled: false }, headers: { 'if-match': `"${String(consoleView.version)}"` } });
    expect([enable.status, enable.body.error?.code, enable.body.error?.message]).toEqual([409, 'INVALID_STATE', 'liz@example.com was deleted by your identity provider (SCIM): assign them to xp there again to bring them back']);
    expect((await mustAs(p, owner, 'GET', `/api/v1/users/${liz.id}`)).disabled).toBe(true);

    // The same IdP identity (externalId) again: their former role comes back.
    const again = await scim('POST', '/Users', { schemas: [USER], userName: 'liz@example.com', externalId: '00uliz', name: { formatted: 'Liz Lemon' } });

    expect(again.status).toBe(201);
    expect([again.body.id, again.body.active, again.body.externalId, again.body.displayName, again.body.roles[0].value]).toEqual([liz.id, true, '00uliz', 'Liz Lemon', 'editor']);
    expect((await signIn('okta-liz')).response?.status).toBe(200);
  });
  it("takes the xp email from userName alone: Entra ID's emails (mail, which may differ from the UPN) never change it nor clash", async () => {
    const created = await scim('POST', '/Users', {
      schemas: [USER, ENTERPRISE],
      externalId: 'upn-object-id',
      userName: 'nora.upn@example.com',
      emails: [{ primary: true, type: 'work', value: 'nora@mail.example.com' }],
      name: { givenName: 'Nora', familyName: 'Upn' },
    });
    expect([created.status, created.body.userName, created.body.emails]).toEqual([201, 'nora.upn@example.com', [{ value: 'nora.upn@example.com', type: 'work', primary: true }]]);
    const id = created.body.id as string;

    const byPath = await scim('PATCH', `/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: 'Replace', path: 'emails[type eq "work"].value', value: 'nora.other@mail.example.com' }] });
    const byList = await scim('PATCH', `/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: 'add', path: 'emails', value: [{ value: 'nora.list@mail.example.com', type: 'work', primary: true }] }] });
    const byNoPath = await scim('PATCH', `/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: 'Replace', value: { 'emails[type eq "work"].value': 'nora.nopath@mail.example.com', emails: [{ value: 'x@mail.example.com' }] } }] });
    const byPut = await scim('PUT', `/Users/${id}`, { schemas: [USER], userName: 'nora.upn@example.com', emails: [{ value: 'nora.put@mail.example.com', type: 'work', primary: true }], name: { givenName: 'Nora', familyName: 'Upn' } });
    // Another person whose userName is Nora's mail: no clash, no flip.
    const other = await scim('POST', '/Users', { schemas: [USER], userName: 'nora@mail.example.com', emails: [{ value: 'nora.upn@example.com', type: 'work' }] });

    expect([byPath.status, byList.status, byNoPath.status, byPut.status].every((st) => st === 200)).toBe(true);
    expect([byPath, byList, byNoPath, byPut].map((r) => r.body.userName)).toEqual(Array.from({ length: 4 }, () => 'nora.upn@example.com'));
    expect([other.status, other.body.userName]).toEqual([201, 'nora@mail.example.com']);
    expect((await mustAs(p, owner, 'GET', `/api/v1/users/${id}`)).email).toBe('nora.upn@example.com');
    // Nothing changed: no entry beyond the creation.
    expect((await auditOf(id)).map((e) => e.action)).toEqual(['user.created']);
  });

  it("ignores role values xp does not know (Entra ID's msiam_access): the default role, and the audit entry names them", async () => {
    const created = await scim('POST', '/Users', { schemas: [USER, ENTERPRISE], userName: 'otto@example.com', roles: [{ primary: 'True', type: 'WindowsAzureActiveDirectoryRole', value: 'msiam_access' }] });
    expect([created.status, created.body.roles[0].value]).toEqual([201, 'analyst']);
    const id = created.body.id as string;
    expect((await auditOf(id))[0]!.diff).toEqual(expect.arrayContaining([{ op: 'add', path: '/ignoredRoles', to: ['msiam_access'] }]));

    // Beside a known role, the known one applies; alone on an update, the role stays.
    const mixed = await scim('PATCH', `/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'roles', value: [{ value: 'msiam_access' }, { value: 'Editor' }] }] });
    expect([mixed.status, mixed.body.roles[0].value]).toEqual([200, 'editor']);
    const entry = (await auditOf(id)).at(-1)!;
    expect(entry.diff).toEqual(expect.arrayContaining([{ op: 'replace', path: '/role', from: 'analyst', to: 'editor' }, { op: 'add', path: '/ignoredRoles', to: ['msiam_access'] }]));
    const unknownOnly = await scim('PUT', `/Users/${id}`, { schemas: [USER], userName: 'otto@example.com', displayName: 'Otto', roles: 'msiam_access' });
    expect([unknownOnly.status, unknownOnly.body.roles[0].value]).toEqual([200, 'editor']);
    const appRole = await scim('PATCH', `/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: 'Add', path: 'roles[primary eq "True"].value', value: 'msiam_access' }] });
    expect([appRole.status, appRole.body.roles[0].value]).toEqual([200, 'editor']);
    // Known role names keep working.
    expect((await scim('PATCH', `/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'roles', value: 'Viewer' }] })).body.roles[0].value).toBe('viewer');
  });

  it("brings a deleted person's roles back only for the same IdP identity: another externalId starts afresh, without the old project roles", async () => {
    await mustAs(p, owner, 'POST', '/api/v1/projects', { key: 'scim-revive', name: 'SCIM revive' });
    const provision = async (userName: string, externalId?: string): Promise<ScimUser> => {
      const res = await scim('POST', '/Users', { schemas: [USER], userName, ...(externalId === undefined ? {} : { externalId }), roles: [{ value: 'editor' }] });
      expect(res.status).toBe(201);
      const user = res.body as ScimUser;
      expect((await p.request('PUT', `/api/v1/users/${user.id}/projects/scim-revive/role`, { token: owner, body: { role: 'admin' } })).status).toBe(200);
      expect((await scim('DELETE', `/Users/${user.id}`)).status).toBe(204);
      return user;
    };

    // Another identity (a new hire given a leaver's address): only what this request gives.
    const leaver = await provision('pat@example.com', '00upat');
    const newcomer = await scim('POST', '/Users', { schemas: [USER], userName: 'pat@example.com', externalId: '00upat-new-hire' });
    expect([newcomer.status, newcomer.body.id, newcomer.body.externalId, newcomer.body.roles[0].value]).toEqual([201, leaver.id, '00upat-new-hire', 'analyst']);
    const newcomerView = await mustAs(p, owner, 'GET', `/api/v1/users/${leaver.id}`);
    expect([newcomerView.role, newcomerView.projectRoles, newcomerView.disabled]).toEqual(['analyst', [], false]);
    const revived = (await auditOf(leaver.id)).at(-1)!.diff;
    expect(revived).toEqual(expect.arrayContaining([{ op: 'replace', path: '/role', from: 'editor', to: 'analyst' }, { op: 'replace', path: '/scimDeleted', from: true, to: false }]));
    // The project roles that went are in the entry.
    expect(JSON.stringify(revived.filter((d) => d.path.startsWith('/projectRoles')))).toContain('scim-revive');
    // Another identity without an externalId at all is another identity too.
    const second = await provision('quinn@example.com', '00uquinn');
    const anonymousAgain = await scim('POST', '/Users', { schemas: [USER], userName: 'quinn@example.com', roles: [{ value: 'viewer' }] });
    expect([anonymousAgain.body.id, anonymousAgain.body.roles[0].value]).toEqual([second.id, 'viewer']);
    expect((await mustAs(p, owner, 'GET', `/api/v1/users/${second.id}`)).projectRoles).toEqual([]);

    // The old record had no externalId: the same person as far as xp can tell, their roles come back.
    const unlinked = await provision('rita@example.com');
    const back = await scim('POST', '/Users', { schemas: [USER], userName: 'rita@example.com', externalId: '00urita' });
    expect([back.status, back.body.id, back.body.roles[0].value]).toEqual([201, unlinked.id, 'editor']);
    expect((await mustAs(p, owner, 'GET', `/api/v1/users/${unlinked.id}`)).projectRoles).toEqual([{ project: 'scim-revive', role: 'admin' }]);
  });

  it('accepts sortBy, sortOrder and parameters it does not know, and answers the attributes asked for (attributes, excludedAttributes)', async () => {
    const created = await scim('POST', '/Users', { schemas: [USER], userName: 'sam.sort@example.com', externalId: '00usam', name: { givenName: 'Sam', familyName: 'Sort' } });
    const sam = created.body as ScimUser;

    const sorted = await scim('GET', filterPath('userName eq "sam.sort@example.com"', '&sortBy=userName&sortOrder=descending&domain=example.com'));
    const someAttributes = await scim('GET', filterPath('userName eq "sam.sort@example.com"', `&attributes=${encodeURIComponent(`userName,Name.givenName,${USER}:externalId,emails.value`)}`));
    const excluded = await scim('GET', `/Users/${sam.id}?excludedAttributes=${encodeURIComponent('meta,roles,name.familyName')}`);
    const patched = await scim('PATCH', `/Users/${sam.id}?attributes=active&excludedAttributes=userName`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'displayName', value: 'Sam S.' }] });
    const config = await scim('GET', '/ServiceProviderConfig?attributes=sort');

    expect([sorted.status, sorted.body.totalResults, sorted.body.Resources[0].id]).toEqual([200, 1, sam.id]);
    expect(someAttributes.body.Resources).toEqual([{ schemas: [USER], id: sam.id, userName: 'sam.sort@example.com', externalId: '00usam', name: { givenName: 'Sam' }, emails: [{ value: 'sam.sort@example.com' }] }]);
    const { meta: _meta, roles: _roles, ...rest } = sam;
    expect([excluded.status, excluded.body]).toEqual([200, { ...rest, name: { formatted: 'Sam Sort', givenName: 'Sam' } }]);
    expect([patched.status, patched.body]).toEqual([200, { schemas: [USER], id: sam.id, active: true }]);
    expect([config.status, config.body.sort]).toEqual([200, { supported: false }]);
    expect((await scim('GET', `/Users/${sam.id}`)).body.displayName).toBe('Sam S.');
  });

  it('removes roles (the default role), the display name or the name (what xp shows without one) and emails (nothing) with PATCH remove', async () => {
    const created = await scim('POST', '/Users', { schemas: [USER], userName: 'tess.remove@example.com', displayName: 'Tess R.', name: { givenName: 'Tess', familyName: 'Remove', formatted: 'Tess the Remover' }, roles: 'editor' });
    const id = created.body.id as string;
    const patch = (operations: unknown): Promise<Response> => scim('PATCH', `/Users/${id}`, { schemas: [PATCH_OP], Operations: operations });

    const noRole = await patch([{ op: 'remove', path: 'roles' }]);
    expect([noRole.status, noRole.body.roles[0].value]).toEqual([200, 'analyst']);
    await patch([{ op: 'replace', path: 'roles', value: 'editor' }]);
    const noAppRole = await patch([{ op: 'Remove', path: 'roles[primary eq "True"].value' }]);
    expect([noAppRole.status, noAppRole.body.roles[0].value]).toEqual([200, 'analyst']);

    const noDisplayName = await patch([{ op: 'remove', path: 'displayName' }]);
    expect([noDisplayName.status, noDisplayName.body.displayName, noDisplayName.body.name]).toEqual([200, 'Tess Remove', { formatted: 'Tess Remove', givenName: 'Tess', familyName: 'Remove' }]);
    const noName = await patch([{ op: 'remove', path: 'name' }]);
    expect([noName.status, noName.body.displayName, noName.body.name]).toEqual([200, 'tess.remove', { formatted: 'tess.remove' }]);
    const noEmails = await patch([{ op: 'remove', path: 'emails' }, { op: 'remove', path: 'emails[type eq "work"].value' }]);
    expect([noEmails.status, noEmails.body.userName]).toEqual([200, 'tess.remove@example.com']);
  });

  it('takes attribute names in any case and qualified with the User schema URN: PATCH (Operations, op, path) and filters', async () => {
    const created = await scim('POST', '/Users', { schemas: [USER], UserName: 'uma.case@example.com', DisplayName: 'Uma', ExternalId: '00uuma', Name: { GivenName: 'Uma', FamilyName: 'Case' } });
    expect([created.status, created.body.userName, created.body.externalId, created.body.name]).toEqual([201, 'uma.case@example.com', '00uuma', { formatted: 'Uma Case', givenName: 'Uma', familyName: 'Case' }]);
    const id = created.body.id as string;

    const lower = await scim('PATCH', `/Users/${id}`, { Schemas: [PATCH_OP], operations: [{ Op: 'Replace', Path: 'DisplayName', Value: 'Uma C.' }] });
    const urnPath = await scim('PATCH', `/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: `${USER}:userName`, value: 'uma@example.com' }] });
    const urnNoPath = await scim('PATCH', `/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: 'REPLACE', value: { [`${USER}:active`]: false, 'NAME.GIVENNAME': 'Umaa' } }] });

    expect([lower.status, lower.body.displayName]).toEqual([200, 'Uma C.']);
    expect([urnPath.status, urnPath.body.userName]).toEqual([200, 'uma@example.com']);
    expect([urnNoPath.status, urnNoPath.body.active, urnNoPath.body.name.givenName]).toEqual([200, false, 'Umaa']);
    for (const filter of [`${USER}:userName eq "uma@example.com"`, 'USERNAME EQ "uma@example.com"', `${USER}:externalId eq "00uuma"`, `urn:ietf:params:scim:schemas:core:2.0:user:emails[type eq "work"].value eq "UMA@example.com"`]) {
      const found = await scim('GET', filterPath(filter));
      expect([filter, found.status, found.body.Resources?.map((u: ScimUser) => u.id)]).toEqual([filter, 200, [id]]);
    }
  });
});
