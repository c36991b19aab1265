import { z } from 'zod';
import { roleSchema } from '@xp/shared';
import { Permission, inScope } from '../../auth/permissions.js';
import { serviceAccountCreateSchema, serviceAccountPatchSchema, tokenCreateSchema } from '../../domain/accounts.js';
import type { Actor } from '../../domain/context.js';
import type { Services } from '../../domain/services.js';
import type { User } from '../../store/users.js';
import { route } from '../api.js';
import type { AnyRoute } from '../api.js';
import { MINT_LIFETIME, accessTokenSchema } from './accounts.js';
import { idParams, pageQuery, pageSchema, pageView, versioned } from './common.js';

const serviceAccountSchema = z
  .object({
    id: z.string(),
    kind: z.literal('service'),
    name: z.string(),
    description: z.string().nullable(),
    role: roleSchema.meta({ description: 'Its organisation role (never owner); its tokens act with at most this role' }),
    projectRoles: z
      .array(z.object({ project: z.string().meta({ description: "The project's key" }), role: roleSchema }))
      .meta({ description: 'Its roles in single projects, in place of `role` there (higher or lower), by project key' }),
    disabled: z.boolean().meta({ description: 'Its tokens answer 401 while it is disabled' }),
    version: z.number().int(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: 'ServiceAccount' });

/** A service account as the caller may see it: the project roles of the projects the caller's credential reaches. */
function serviceAccountView(a: User, viewer: Actor): z.infer<typeof serviceAccountSchema> {
  return {
    id: a.id,
    kind: 'service',
    name: a.name,
    description: a.description,
    role: a.role,
    projectRoles: a.projectRoles.filter((r) => inScope(viewer, r.projectId)).map((r) => ({ project: r.project, role: r.role })),
    disabled: a.disabled,
    version: a.version,
    createdAt: a.createdAt,
    updatedAt: a.updatedAt,
  };
}

/** A token id: what `newId` makes, so a malformed one is refused (400) before any lookup. */
const tokenParams = z.strictObject({
  id: z.string().min(1).max(64),
  tokenId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, { error: 'must be a token id (letters, digits, - and _)' }),
});

const ROLE_RULES =
  'An admin gives a service account at most editor (in the organisation and in each project) and manages only such accounts; only an owner creates or manages an admin one. A service account never manages itself (its own token answers 403).';

/** Service accounts: organisation identities that never sign in, acting through tokens an administrator mints. */
export function serviceAccountRoutes(s: Services): AnyRoute[] {
  return [
    route({
      method: 'get',
      path: '/api/v1/service-accounts',
      permission: Permission.Read,
      tag: 'Service accounts',
      summary: 'Service accounts of the organisation',
      query: z.strictObject({ ...pageQuery, q: z.string().max(200).optional() }),
      responses: { 200: { description: 'A page of service accounts', schema: pageSchema(serviceAccountSchema) } },
      handler: async (req) => ({
        status: 200,
        body: pageView(await s.accounts.listServiceAccounts(req.actor, { limit: req.query.limit, cursor: req.query.cursor, search: req.query.q }), (a) => serviceAccountView(a, req.actor)),
      }),
    }),
    route({
      method: 'post',
      path: '/api/v1/service-accounts',
      permission: Permission.UsersManage,
      tag: 'Service accounts',
      summary: 'Create a service account (no password, no session: mint tokens for it)',
      description: `${ROLE_RULES} Audited as service-account.created (and user.project-role-set in each project it gets a role in).`,
      body: serviceAccountCreateSchema,
      responses: { 201: { description: 'Created', schema: serviceAccountSchema, headers: ['ETag'] } },
      handler: async (req) => {
        const account = await s.accounts.createServiceAccount(req.actor, req.body);
        return versioned(201, account, serviceAccountView(account, req.actor));
      },
    }),
    route({
      method: 'get',
      path: '/api/v1/service-accounts/{id}',
      permission: Permission.Read,
      tag: 'Service accounts',
      summary: 'One service account',
      params: idParams,
      responses: { 200: { description: 'The service account', schema: serviceAccountSchema, headers: ['ETag'] } },
      handler: async (req) => {
        const account = await s.accounts.getServiceAccount(req.actor, req.params.id);
        return versioned(200, account, serviceAccountView(account, req.actor));
      },
    }),
    route({
      method: 'patch',
      path: '/api/v1/service-accounts/{id}',
      permission: Permission.UsersManage,
      tag: 'Service accounts',
      summary: 'Rename, describe, change the roles of, disable or enable a service account',
      description: `Only the fields sent change; \`projectRoles\` replaces the whole list ([] removes them all); an empty \`description\` removes it. Disabling makes every token of the account answer 401 at once; they are kept, and work again once it is enabled (delete the account, or revoke a token, to end them for good). ${ROLE_RULES} Audited as service-account.updated (and user.project-role-set / user.project-role-removed in each project whose role changed).`,
      params: idParams,
      body: serviceAccountPatchSchema,
      concurrency: true,
      responses: { 200: { description: 'Updated', schema: serviceAccountSchema, headers: ['ETag'] } },
      handler: async (req) => {
        const account = await s.accounts.updateServiceAccount(req.actor, req.params.id, req.body, req.expectedVersion);
        return versioned(200, account, serviceAccountView(account, req.actor));
      },
    }),
    route({
      method: 'delete',
      path: '/api/v1/service-accounts/{id}',
      permission: Permission.UsersManage,
      tag: 'Service accounts',
      summary: 'Delete a service account: its tokens are revoked at once, its open change requests and pending scheduled changes cancelled',
      description: `Its project roles go too. Its open change requests and the scheduled changes it made that have not applied yet are cancelled in the same transaction (they could only fail once it is gone), each audited as its cancel endpoint would, the caller as the actor, with the reason. The audit log, and the definitions and change requests it made, keep its id (GET /api/v1/users/{id} answers 404 once it is deleted; the audit log's entries name it). ${ROLE_RULES} Audited as service-account.deleted with the counts.`,
      params: idParams,
      concurrency: true,
      responses: {
        200: {
          description: 'Deleted: what went with it',
          schema: z.object({ tokensRevoked: z.number().int(), changeRequestsCancelled: z.number().int(), scheduledChangesCancelled: z.number().int() }),
        },
      },
      handler: async (req) => ({ status: 200, body: await s.accounts.deleteServiceAccount(req.actor, req.params.id, req.expectedVersion) }),
    }),
    route({
      method: 'get',
      path: '/api/v1/service-accounts/{id}/tokens',
      permission: Permission.UsersManage,
      tag: 'Service accounts',
      summary: "A service account's tokens (never the secrets)",
      params: idParams,
      responses: { 200: { description: 'Tokens, newest first, revoked ones too', schema: z.object({ items: z.array(accessTokenSchema) }) } },
      handler: async (req) => ({ status: 200, body: { items: await s.accounts.listServiceAccountTokens(req.actor, req.params.id) } }),
    }),
    route({
      method: 'post',
      path: '/api/v1/service-accounts/{id}/tokens',
      permission: Permission.UsersManage,
      tag: 'Service accounts',
      summary: 'Mint a token of a service account; the token is shown once',
      description: `The token acts as the service account: with the lower of its \`role\` (at most the account's) and the account's role at the time, within \`projects\` when given. A service account cannot mint its own (POST /api/v1/me/tokens answers 403 to its tokens). ${MINT_LIFETIME} ${ROLE_RULES} Audited as service-account.token-created.`,
      params: idParams,
      body: tokenCreateSchema,
      responses: { 201: { description: 'Created', schema: z.object({ token: z.string(), accessToken: accessTokenSchema }) } },
      handler: async (req) => ({ status: 201, body: await s.accounts.createServiceAccountToken(req.actor, req.params.id, req.body), headers: { 'Cache-Control': 'no-store' } }),
    }),
    route({
      method: 'delete',
      path: '/api/v1/service-accounts/{id}/tokens/{tokenId}',
      permission: Permission.UsersManage,
      tag: 'Service accounts',
      summary: "Revoke one of a service account's tokens",
      description: 'Answers 401 at once to requests made with it. Audited as service-account.token-revoked (revoking again changes and records nothing).',
      params: tokenParams,
      responses: { 200: { description: 'Revoked', schema: accessTokenSchema } },
      handler: async (req) => ({ status: 200, body: await s.accounts.revokeServiceAccountToken(req.actor, req.params.id, req.params.tokenId) }),
    }),
  ];
}
