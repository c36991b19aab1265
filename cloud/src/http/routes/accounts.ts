import { z } from 'zod';
import { ROLE_RANK, keySchema, roleSchema } from '@xp/shared';
import type { Role } from '@xp/shared';
import { PERMISSION_DESCRIPTIONS, PERMISSION_MATRIX, inScope } from '../../auth/permissions.js';
import { inviteSchema, loginSchema, lowerOf, passwordChangeSchema, projectRoleSchema, tokenCreateSchema, tokenPolicySchema, userPatchSchema, userSessionsRevokeSchema } from '../../domain/accounts.js';
import type { Services } from '../../domain/services.js';
import type { TokenPolicy } from '../../store/token-policy.js';
import type { Actor } from '../../domain/context.js';
import { Permission } from '../../auth/permissions.js';
import { errorSchema, route } from '../api.js';
import type { AnyRoute } from '../api.js';
import { idParams, pageQuery, pageSchema, pageView, versioned } from './common.js';

export const userSchema = z
  .object({
    id: z.string(),
    kind: z.enum(['person', 'service']).meta({ description: 'A person, or a service account (no password; see /api/v1/service-accounts): `email` is then a handle no one can sign in with' }),
    email: z.string(),
    name: z.string(),
    role: roleSchema,
    disabled: z.boolean(),
    /** The password was set by an administrator (invitation or reset) and the user has not replaced it yet. */
    passwordChangeRequired: z.boolean(),
    projectRoles: z
      .array(z.object({ project: z.string().meta({ description: "The project's key" }), role: roleSchema }).meta({ id: 'ProjectRole' }))
      .meta({ description: "The user's roles in single projects, in place of `role` there (higher or lower), by project key; never for an owner. Organisation permissions (users, settings, creating projects) use `role`." }),
    sso: z.boolean().meta({
      description:
        "Linked to the identity provider by a single sign-on (they sign in with SSO; see GET /api/v1/auth/sso). A person created at their first SSO sign-in has no password: a password reset gives them one (break-glass) besides SSO",
    }),
    version: z.number().int(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: 'User' });

export const accessTokenSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    prefix: z.string(),
    role: roleSchema.nullable().meta({ description: "The token's role (it acts with the lower of it and yours); null: your role, whatever it becomes" }),
    projects: z.array(z.string()).nullable().meta({ description: 'Keys of the projects it is limited to; null: every project' }),
    createdAt: z.string(),
    expiresAt: z.string().nullable(),
    lastUsedAt: z.string().nullable(),
    revokedAt: z.string().nullable(),
    createdBy: z
      .object({ id: z.string(), name: z.string().meta({ description: 'Their display name; a service account\'s ends with " (service account)"' }) })
      .nullable()
      .meta({ description: "Who minted it: you for your own tokens, the administrator (or service account) for a service account's; null: unknown (a service account's token minted before this was recorded)" }),
  })
  .meta({ id: 'AccessToken' });

const tokenPolicyViewSchema = z
  .object({
    maxLifetimeDays: z.number().int().nullable().meta({ description: 'The longest a token minted from now on may live, in days; null: no maximum' }),
    defaultLifetimeDays: z.number().int().nullable().meta({ description: 'The lifetime of a token minted without expiresInDays; null: the maximum (never expiring when there is none)' }),
    version: z.number().int().meta({ description: 'Send it as If-Match to change the policy (the ETag says the same); one more for each change' }),
  })
  .meta({ id: 'TokenPolicy' });

const policyView = (p: TokenPolicy): z.infer<typeof tokenPolicyViewSchema> => ({ maxLifetimeDays: p.maxLifetimeDays, defaultLifetimeDays: p.defaultLifetimeDays, version: p.version });

export const MINT_LIFETIME =
  "Without `expiresInDays` the token gets the organisation's default lifetime (or its maximum; see GET /api/v1/organisation/token-policy), else it never expires. More days than the policy's maximum is 400 naming `expiresInDays`. Made with an access token (not a console session), the token never outlives that one: asking for longer, or for no expiry, is 400 naming `expiresInDays` with the latest allowed expiry.";

const meSchema = userSchema
  .extend({
    hasPassword: z.boolean().meta({
      description:
        'Whether you can sign in with a password: false for a person created at their first SSO sign-in (PUT /api/v1/me/password then answers 409) and for a service account',
    }),
    access: z.object({
      role: roleSchema.meta({ description: "The role requests with this credential act with: the user's, or a personal access token's lower one" }),
      projects: z.array(z.string()).nullable().meta({ description: 'Keys of the projects this token is limited to; null: every project' }),
    }),
  })
  .meta({ id: 'Me' });

/**
 * A user as the caller may see them: the project roles of the projects the caller's credential
 * reaches (a token limited to some projects does not learn the others' keys), and, for the caller
 * themself (`self`), each capped by their token's role limit, as requests act with it.
 */
export function userView(
  u: { id: string; kind: 'person' | 'service'; email: string; name: string; role: string; disabled: boolean; passwordChangeRequired: boolean; projectRoles: readonly { project: string; projectId: string; role: Role }[]; sso: boolean; version: number; createdAt: string; updatedAt: string },
  viewer?: Actor,
  self = false,
): z.infer<typeof userSchema> {
  const tokenRole = self ? viewer?.tokenRole : undefined;
  const projectRoles = u.projectRoles
    .filter((r) => viewer === undefined || inScope(viewer, r.projectId))
    .map((r) => ({ project: r.project, role: lowerOf(r.role, tokenRole) }));
  return {
    id: u.id,
    kind: u.kind,
    email: u.email,
    name: u.name,
    role: u.role as z.infer<typeof roleSchema>,
    disabled: u.disabled,
    passwordChangeRequired: u.passwordChangeRequired,
    projectRoles,
    sso: u.sso,
    version: u.version,
    createdAt: u.createdAt,
    updatedAt: u.updatedAt,
  };
}

const userProjectParams = z.strictObject({ id: z.string().min(1).max(64), project: keySchema });

export function accountRoutes(s: Services): AnyRoute[] {
  return [
    route({
      method: 'post',
      path: '/api/v1/auth/login',
      tag: 'Auth',
      summary: 'Log in with email and password; returns a session token',
      description:
        'A password an administrator set (an invitation\'s or a reset\'s) must be replaced at the first login: without `newPassword` the right password answers 403 PASSWORD_CHANGE_REQUIRED and no session; with it, the password is changed and the session issued. `newPassword` is refused (400) for any other password. The right password of a disabled account answers 403 ACCOUNT_DISABLED (a wrong one, 401 as for any account).',
      auth: false,
      body: loginSchema,
      responses: {
        200: { description: 'Session created', schema: z.object({ token: z.string(), expiresAt: z.string(), user: userSchema }) },
        403: {
          description:
            'PASSWORD_CHANGE_REQUIRED: the password was set by an administrator; send newPassword with the login. ACCOUNT_DISABLED: the password is right, but an administrator disabled the account. SSO_REQUIRED: the password is right, but single sign-on is enforced (XP_SSO_ENFORCED) and only owners may use a password: sign in through GET /api/v1/auth/sso/start',
          schema: errorSchema,
        },
      },
      handler: async (req) => {
        const result = await s.accounts.login(req.body, { ip: req.ip, client: req.client });
        return { status: 200, body: { token: result.token, expiresAt: result.expiresAt, user: userView(result.user) }, headers: { 'Cache-Control': 'no-store' } };
      },
    }),
    route({
      method: 'post',
      path: '/api/v1/auth/logout',
      permission: Permission.Read,
      tag: 'Auth',
      summary: 'End the current session; with a personal access token, revoke that token',
      responses: { 204: { description: 'Logged out' } },
      handler: async (req) => {
        if (req.token !== undefined) {
          await s.accounts.logout(req.actor, req.token);
        }
        return { status: 204 };
      },
    }),
    route({
      method: 'get',
      path: '/api/v1/me',
      permission: Permission.Read,
      tag: 'Auth',
      summary: 'The current user, and what this credential may do',
      responses: { 200: { description: 'The user', schema: meSchema, headers: ['ETag'] } },
      handler: async (req) => {
        const user = await s.accounts.me(req.actor);
        // A personal access token may act with a lower role, within some projects.
        const projects = req.actor.projectIds === undefined ? null : (await s.projects.list(req.actor)).map((p) => p.key);
        return versioned(200, user, { ...userView(user, req.actor, true), hasPassword: user.hasPassword, access: { role: req.actor.role, projects } });
      },
    }),
    route({
      method: 'put',
      path: '/api/v1/me/password',
      permission: Permission.OwnTokensManage,
      tag: 'Auth',
      summary: 'Change your password; your other sessions end',
      body: passwordChangeSchema,
      description:
        'Needs your current password; a wrong one counts as a failed login (401, then 429). A person without a password (created at their first single sign-on: `hasPassword` false in GET /api/v1/me) gets 409 INVALID_STATE "you have no password to change: you sign in with …" (whatever currentPassword says), not counted as a failed login; an administrator can give them one with a password reset.',
      responses: {
        204: { description: 'Changed' },
        409: { description: 'INVALID_STATE: you have no password (created at your first SSO sign-in): you sign in with SSO', schema: errorSchema },
      },
      // A wrong currentPassword counts as a failed login.
      errors: [429],
      handler: async (req) => {
        await s.accounts.changePassword(req.actor, req.body, { token: req.token, ip: req.ip });
        return { status: 204 };
      },
    }),
    route({
      method: 'post',
      path: '/api/v1/me/sessions/revoke-others',
      permission: Permission.OwnTokensManage,
      tag: 'Auth',
      summary: 'End all your sessions except the current one (all of them when called with a personal access token)',
      responses: { 200: { description: 'Sessions ended', schema: z.object({ revoked: z.number().int() }) } },
      handler: async (req) => ({ status: 200, body: await s.accounts.revokeOtherSessions(req.actor, req.token) }),
    }),
    route({
      method: 'get',
      path: '/api/v1/me/tokens',
      permission: Permission.OwnTokensManage,
      tag: 'Auth',
      summary: 'Your personal access tokens (never the secrets)',
      responses: { 200: { description: 'Tokens', schema: z.object({ items: z.array(accessTokenSchema) }) } },
      handler: async (req) => ({ status: 200, body: { items: await s.accounts.listTokens(req.actor) } }),
    }),
    route({
      method: 'post',
      path: '/api/v1/me/tokens',
      permission: Permission.OwnTokensManage,
      tag: 'Auth',
      summary: 'Create a personal access token; the token is shown once',
      description: `${MINT_LIFETIME} Revoking the token it was made with revokes it too.`,
      body: tokenCreateSchema,
      responses: { 201: { description: 'Created', schema: z.object({ token: z.string(), accessToken: accessTokenSchema }) } },
      handler: async (req) => ({ status: 201, body: await s.accounts.createToken(req.actor, req.body, req.token), headers: { 'Cache-Control': 'no-store' } }),
    }),
    route({
      method: 'delete',
      path: '/api/v1/me/tokens/{id}',
      permission: Permission.OwnTokensManage,
      tag: 'Auth',
      summary: 'Revoke one of your tokens',
      params: idParams,
      responses: { 200: { description: 'Revoked', schema: accessTokenSchema } },
      handler: async (req) => ({ status: 200, body: await s.accounts.revokeToken(req.actor, req.params.id) }),
    }),
    route({
      method: 'get',
      path: '/api/v1/organisation/token-policy',
      permission: Permission.Read,
      tag: 'Users',
      summary: "The organisation's token policy: the longest and the default lifetime of new access tokens",
      responses: { 200: { description: 'The policy (null: unset)', schema: tokenPolicyViewSchema, headers: ['ETag'] } },
      handler: async (req) => {
        const policy = await s.accounts.tokenPolicy(req.actor);
        return versioned(200, policy, policyView(policy));
      },
    }),
    route({
      method: 'put',
      path: '/api/v1/organisation/token-policy',
      permission: Permission.OrgSettingsManage,
      tag: 'Users',
      summary: "Set the organisation's token policy (owners)",
      description:
        'Applies to personal access tokens and service-account tokens minted from now on; existing tokens keep their expiry (the answer counts the live ones that outlast the new maximum: revoke them to apply it). `defaultLifetimeDays` must be at most `maxLifetimeDays`. Send the version you read (If-Match): 428 without it, 409 with the current version when another owner changed the policy since. A change makes a new version and is audited as organization.token-policy-updated (an organisation action, not a webhook event); a PUT that changes nothing keeps the version and is not audited.',
      body: tokenPolicySchema,
      concurrency: true,
      responses: {
        200: {
          headers: ['ETag'],
          description: 'The policy now',
          schema: tokenPolicyViewSchema.extend({
            liveTokensExceedingMax: z.number().int().meta({ description: 'Live tokens (people\'s and service accounts\') that never expire or expire later than a token minted now may: not changed by the policy' }),
          }),
        },
      },
      handler: async (req) => {
        const { policy, liveTokensExceedingMax } = await s.accounts.setTokenPolicy(req.actor, req.body, req.expectedVersion);
        return versioned(200, policy, { ...policyView(policy), liveTokensExceedingMax });
      },
    }),
    route({
      method: 'get',
      path: '/api/v1/users',
      permission: Permission.Read,
      tag: 'Users',
      summary: 'Users of the organisation',
      description: 'People by default; `kind=service` lists service accounts (as users: see also GET /api/v1/service-accounts), `kind=all` both.',
      query: z.strictObject({ ...pageQuery, q: z.string().max(200).optional(), kind: z.enum(['person', 'service', 'all']).optional() }),
      responses: { 200: { description: 'A page of users', schema: pageSchema(userSchema) } },
      handler: async (req) => ({ status: 200, body: pageView(await s.accounts.listUsers(req.actor, { limit: req.query.limit, cursor: req.query.cursor, search: req.query.q, kind: req.query.kind }), (u) => userView(u, req.actor)) }),
    }),
    route({
      method: 'post',
      path: '/api/v1/users',
      permission: Permission.UsersManage,
      tag: 'Users',
      summary: 'Add a user; without a password, a generated one is returned once',
      description:
        "Not with a service account's token (403: whoever adds a person learns a password of theirs, and a leaked robot token must not become a person's session; a person must do it). The e-mail must not be in the service accounts' domain (…@service-accounts.invalid: 400).",
      body: inviteSchema,
      responses: { 201: { description: 'Created', schema: z.object({ user: userSchema, initialPassword: z.string().optional() }), headers: ['ETag'] } },
      handler: async (req) => {
        const { user, initialPassword } = await s.accounts.invite(req.actor, req.body);
        return { status: 201, body: initialPassword === undefined ? { user: userView(user, req.actor) } : { user: userView(user, req.actor), initialPassword }, headers: { ETag: `"${user.version}"`, 'Cache-Control': 'no-store' } };
      },
    }),
    route({
      method: 'get',
      path: '/api/v1/users/{id}',
      permission: Permission.Read,
      tag: 'Users',
      summary: 'One user',
      params: idParams,
      responses: { 200: { description: 'The user', schema: userSchema, headers: ['ETag'] } },
      handler: async (req) => {
        const user = await s.accounts.getUser(req.actor, req.params.id);
        return versioned(200, user, userView(user, req.actor));
      },
    }),
    route({
      method: 'patch',
      path: '/api/v1/users/{id}',
      permission: Permission.UsersManage,
      tag: 'Users',
      summary: 'Rename, change the role of, or disable a user',
      params: idParams,
      body: userPatchSchema,
      concurrency: true,
      responses: { 200: { description: 'Updated', schema: userSchema, headers: ['ETag'] } },
      handler: async (req) => {
        const user = await s.accounts.updateUser(req.actor, req.params.id, req.body, req.expectedVersion);
        return versioned(200, user, userView(user, req.actor));
      },
    }),
    route({
      method: 'post',
      path: '/api/v1/users/{id}/password-reset',
      permission: Permission.UsersManage,
      tag: 'Users',
      summary: 'Set a temporary password (returned once) the user must replace at their next login; ends their sessions and tokens',
      description:
        'Not on yourself (use PUT /api/v1/me/password), and an admin not on an owner; not on a service account (400), and not with a service account\'s token (403: a person must do it). The temporary password works only for a login that sends `newPassword`; all the user\'s sessions and personal access tokens are revoked.',
      params: idParams,
      responses: { 200: { description: 'Reset', schema: z.object({ temporaryPassword: z.string(), user: userSchema }) } },
      handler: async (req) => {
        const { user, temporaryPassword } = await s.accounts.resetPassword(req.actor, req.params.id);
        return { status: 200, body: { temporaryPassword, user: userView(user, req.actor) }, headers: { 'Cache-Control': 'no-store' } };
      },
    }),
    route({
      method: 'post',
      path: '/api/v1/users/{id}/unlock',
      permission: Permission.UsersManage,
      tag: 'Users',
      summary: 'Lift a login lockout: forget the failed logins counted against the user, so they can sign in again at once',
      description:
        "Forgets the failures counted against the user's email and against the email from each address their logins failed from in the last 15 minutes (the addresses' own counters stay: an address guessing at many accounts stays throttled). An admin not on an owner. Audited as user.unlocked with the number of addresses. A password reset does the same.",
      params: idParams,
      responses: { 200: { description: 'Unlocked (also when nothing was locked)', schema: z.object({ user: userSchema, addresses: z.number().int() }) } },
      handler: async (req) => {
        const { user, addresses } = await s.accounts.unlockUser(req.actor, req.params.id);
        return { status: 200, body: { user: userView(user, req.actor), addresses } };
      },
    }),
    route({
      method: 'post',
      path: '/api/v1/users/{id}/sessions/revoke',
      permission: Permission.UsersManage,
      tag: 'Users',
      summary: 'Sign a user out everywhere: end all their sessions (and, with accessTokens, revoke their personal access tokens)',
      description:
        "For a lost laptop or a leaked session, without disabling the user or resetting their password: they can sign in again at once. An admin not on an owner; not on a service account (400: revoke its tokens, or disable it); on yourself it signs you out everywhere, the session of this request included. The body may be left out (sessions only). Audited as user.sessions-revoked with the counts.",
      params: idParams,
      body: userSessionsRevokeSchema,
      responses: { 200: { description: 'Signed out', schema: z.object({ sessionsRevoked: z.number().int(), accessTokensRevoked: z.number().int() }) } },
      handler: async (req) => ({ status: 200, body: await s.accounts.revokeUserSessions(req.actor, req.params.id, req.body) }),
    }),
    route({
      method: 'put',
      path: '/api/v1/users/{id}/projects/{project}/role',
      permission: Permission.UsersManage,
      tag: 'Users',
      summary: "Set a user's role in one project, in place of their organisation role there",
      description:
        'The role may be higher or lower than the organisation role, never owner (400), and not for an owner (400: owners are owners in every project). The same rules as changing an organisation role: an admin grants at most admin, and not to an owner. Requests naming the project act with this role (a personal access token still acts with at most its own role); organisation permissions (users, settings, creating projects) keep the organisation role. Audited as user.project-role-set. Answers the user with their project roles.',
      params: userProjectParams,
      body: projectRoleSchema,
      responses: { 200: { description: 'The user, with their project roles', schema: userSchema, headers: ['ETag'] } },
      handler: async (req) => {
        const user = await s.accounts.setProjectRole(req.actor, req.params.id, req.params.project, req.body);
        return versioned(200, user, userView(user, req.actor));
      },
    }),
    route({
      method: 'delete',
      path: '/api/v1/users/{id}/projects/{project}/role',
      permission: Permission.UsersManage,
      tag: 'Users',
      summary: "Remove a user's role in one project: their organisation role applies there again",
      description: 'Audited as user.project-role-removed; answers the user (200) also when they had no role in the project.',
      params: userProjectParams,
      responses: { 200: { description: 'The user, with their project roles', schema: userSchema, headers: ['ETag'] } },
      handler: async (req) => {
        const user = await s.accounts.removeProjectRole(req.actor, req.params.id, req.params.project);
        return versioned(200, user, userView(user, req.actor));
      },
    }),
    route({
      method: 'get',
      path: '/api/v1/roles',
      permission: Permission.Read,
      tag: 'Users',
      summary: 'Roles and the permission matrix',
      responses: {
        200: {
          description: 'Roles, most privileged first, and what each permission allows',
          schema: z.object({ roles: z.array(roleSchema), permissions: z.array(z.object({ permission: z.string(), description: z.string(), roles: z.array(roleSchema) })) }),
        },
      },
      handler: () => {
        const roles = Object.entries(ROLE_RANK)
          .sort((a, b) => b[1] - a[1])
          .map(([r]) => r);
        const permissions = Object.entries(PERMISSION_MATRIX).map(([permission, allowed]) => ({
          permission,
          description: PERMISSION_DESCRIPTIONS[permission as keyof typeof PERMISSION_DESCRIPTIONS],
          roles: allowed,
        }));
        return Promise.resolve({ status: 200, body: { roles, permissions } });
      },
    }),
  ];
}
