/**
 * SCIM 2.0 user provisioning (RFC 7643, RFC 7644; docs/scim.md): the identity provider (Okta, Entra
 * ID) creates, updates and, above all, deactivates xp's people, so that someone removed at the IdP
 * loses their sessions and personal access tokens at once, not only their next SSO sign-in.
 *
 * People only: a service account is never a SCIM resource. The caller is an ordinary access token
 * whose role may manage users (a service account "Okta SCIM" with role admin, as documented); every
 * change is audited as the console's are (`user.created`, `user.updated`) with `via: 'scim'`.
 * Owners are listed but never disabled, deleted, given another role or another email through SCIM.
 *
 * The xp email is `userName` alone: `emails` (Entra ID's `mail`, which may differ from the UPN it sends
 * as userName) never changes it. Attribute names are case-insensitive (RFC 7643 §2.1), also
 * URN-qualified (`urn:ietf:params:scim:schemas:core:2.0:User:userName`).
 */
import { z } from 'zod';
import { ROLE_RANK, Role } from '@xp/shared';
import { Permission, assertCan, canAssignRole } from '../auth/permissions.js';
import { AppError, AppErrorCode } from '../errors.js';
import { SERVICE_ACCOUNT_EMAIL_DOMAIN, scimUsers } from '../store/users.js';
import type { ScimFields, ScimUser, ScimUserFilter } from '../store/users.js';
import { displayNameSchema, withArticle, writeUserChange } from './accounts.js';
import { record } from './audit-trail.js';
import type { Actor, Deps } from './context.js';
import { issuesOf } from './validation.js';
import type { Queryable } from '../store/db.js';
import { projectRoles } from '../store/project-roles.js';

export const SCIM_USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
/** The enterprise extension Entra ID sends beside the core schema: accepted, its attributes not stored. */
export const SCIM_ENTERPRISE_USER_SCHEMA = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
export const SCIM_PATCH_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
export const SCIM_LIST_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
export const SCIM_ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';

/** The most users one GET /Users answers (`count` above it is lowered to it), as ServiceProviderConfig's filter.maxResults says. */
export const SCIM_MAX_RESULTS = 100;

/** RFC 7644 §3.12's scimType of a 400 (and `uniqueness` of a 409). */
export type ScimType = 'invalidFilter' | 'invalidSyntax' | 'invalidPath' | 'invalidValue' | 'noTarget' | 'mutability' | 'uniqueness' | 'tooMany';

/** An error the SCIM edge answers as a SCIM error body with this scimType. */
export function scimError(code: AppErrorCode, scimType: ScimType | undefined, detail: string): AppError {
  return new AppError(code, detail, scimType === undefined ? undefined : { scimType });
}

const invalidValue = (detail: string): AppError => scimError(AppErrorCode.Validation, 'invalidValue', detail);
const invalidPath = (detail: string): AppError => scimError(AppErrorCode.Validation, 'invalidPath', detail);

/** A SCIM boolean as Entra ID sends some: true, or the strings "True"/"False" (any case). */
const scimBoolean = z.union([z.boolean(), z.string().regex(/^(?:true|false)$/i, { error: 'must be true or false' })]).transform((v) => (typeof v === 'boolean' ? v : v.toLowerCase() === 'true'));

const shortText = z.string().max(200);

const nameSchema = z
  .looseObject({
    formatted: shortText.nullable().optional(),
    givenName: shortText.nullable().optional(),
    familyName: shortText.nullable().optional(),
  })
  .meta({ description: "The person's name: `formatted`, else `givenName` and `familyName`, else `displayName`, becomes xp's display name" });

const roleValueSchema = z.union([z.string().max(64), z.looseObject({ value: z.string().max(64), primary: scimBoolean.optional() })]);

/** A SCIM User as the IdP sends it (POST, PUT): the attributes xp keeps; others of the User schema are accepted and ignored. */
export const scimUserInputSchema = z
  .looseObject({
    schemas: z.array(z.string().max(200)).min(1).max(10).meta({ description: `Must include ${SCIM_USER_SCHEMA}; ${SCIM_ENTERPRISE_USER_SCHEMA} is accepted` }),
    userName: z.string().min(1).max(320).meta({ description: "The person's email address: their xp email (the only source of it: `emails` never changes it)" }),
    externalId: shortText.nullable().optional().meta({ description: "The IdP's id of the person, unique in the organisation" }),
    name: nameSchema.optional(),
    displayName: shortText.nullable().optional(),
    active: scimBoolean.optional().meta({ description: 'false disables the person: their sessions and personal access tokens end at once' }),
    emails: z.array(z.looseObject({ value: z.string().max(320), type: z.string().max(64).optional(), primary: scimBoolean.optional() })).max(20).optional(),
    // Okta sends a custom attribute of type string as a bare string: one role.
    roles: z
      .union([z.array(roleValueSchema).max(20), roleValueSchema.transform((v) => [v])])
      .optional()
      .meta({ description: "One value: an xp role (admin, editor, analyst, viewer); never owner. A bare role name (an Okta string attribute) is taken as a list of one. A value xp does not know (Entra ID's msiam_access) is ignored, and the audit entry names it" }),
  })
  .meta({ id: 'ScimUserInput' });

const patchOperationSchema = z.looseObject({
  op: z.string().regex(/^(?:add|replace|remove)$/i, { error: 'must be add, replace or remove' }),
  path: z.string().max(300).optional(),
  value: z.unknown().optional(),
});

/** A PatchOp (RFC 7644 §3.5.2), as Okta and Entra ID send it (Entra's capitalised ops too). */
export const scimPatchSchema = z
  .looseObject({
    schemas: z.array(z.string().max(200)).min(1).max(10),
    Operations: z.array(patchOperationSchema).min(1).max(50),
  })
  .meta({ id: 'ScimPatchOp' });

/** GET /Users's query. */
export interface ScimListQuery {
  readonly filter?: string | undefined;
  readonly startIndex?: number | undefined;
  readonly count?: number | undefined;
}

/** A SCIM User as xp answers it. */
export interface ScimUserView {
  readonly schemas: readonly string[];
  readonly id: string;
  readonly externalId?: string;
  readonly userName: string;
  readonly name: { readonly formatted: string; readonly givenName?: string; readonly familyName?: string };
  readonly displayName: string;
  readonly emails: readonly { readonly value: string; readonly type: 'work'; readonly primary: true }[];
  readonly active: boolean;
  readonly roles: readonly { readonly value: Role; readonly display: string; readonly primary: true }[];
  readonly meta: { readonly resourceType: 'User'; readonly created: string; readonly lastModified: string; readonly location: string; readonly version: string };
}

/** `user` as a SCIM User; `base` is the SCIM base URL (…/api/v1/scim/v2) for `meta.location`. */
export function scimUserView(user: ScimUser, base: string): ScimUserView {
  return {
    schemas: [SCIM_USER_SCHEMA],
    id: user.id,
    ...(user.scim.externalId === null ? {} : { externalId: user.scim.externalId }),
    userName: user.email,
    name: { formatted: user.name, ...(user.scim.givenName === null ? {} : { givenName: user.scim.givenName }), ...(user.scim.familyName === null ? {} : { familyName: user.scim.familyName }) },
    displayName: user.name,
    emails: [{ value: user.email, type: 'work', primary: true }],
    active: !user.disabled,
    roles: [{ value: user.role, display: user.role, primary: true }],
    meta: { resourceType: 'User', created: user.createdAt, lastModified: user.updatedAt, location: `${base}/Users/${encodeURIComponent(user.id)}`, version: `W/"${String(user.version)}"` },
  };
}

/** What a person is, as SCIM can change it. */
interface Draft {
  email: string;
  name: string;
  active: boolean;
  role: Role;
  scim: { externalId: string | null; givenName: string | null; familyName: string | null };
}

const EMAIL = z.email().max(320);
const ASCII_EMAIL = /^[\x21-\x7e]+$/;
const DISPLAY_NAME = displayNameSchema(200);

/** The email a userName (or a work email) gives, or 400 invalidValue. */
function emailOf(value: unknown, field: string): string {
  if (typeof value !== 'string' || !EMAIL.safeParse(value).success || !ASCII_EMAIL.test(value)) {
    throw invalidValue(`${field} must be an email address (xp's people are named by their email)`);
  }
  if (value.toLowerCase().endsWith(`@${SERVICE_ACCOUNT_EMAIL_DOMAIN}`)) {
    throw invalidValue(`${field} must not be in the service accounts' domain (…@${SERVICE_ACCOUNT_EMAIL_DOMAIN})`);
  }
  return value;
}

/** A display name xp accepts, or 400 invalidValue naming the attribute. */
function displayNameOf(value: string, field: string): string {
  const parsed = DISPLAY_NAME.safeParse(value);
  if (!parsed.success) {
    throw invalidValue(`${field}: ${issuesOf(parsed.error)[0]?.message ?? 'not a usable name'}`);
  }
  return parsed.data;
}

/** Optional text of a SCIM attribute: a string, or null/absent (none); else 400. */
function textOrNull(value: unknown, field: string): string | null {
  if (value === null || value === undefined || value === '') {
    return null;
  }
  if (typeof value !== 'string' || value.length > 200) {
    throw invalidValue(`${field} must be a string of at most 200 characters`);
  }
  return value;
}

/** xp's display name from SCIM's name parts: `formatted`, else given and family names, else `displayName`, else the email's local part. */
function nameFrom(parts: { formatted?: string | null | undefined; givenName?: string | null | undefined; familyName?: string | null | undefined; displayName?: string | null | undefined }, email: string): string {
  const formatted = parts.formatted?.trim();
  if (formatted !== undefined && formatted !== '') {
    return displayNameOf(formatted, 'name.formatted');
  }
  const joined = [parts.givenName, parts.familyName].filter((p) => p !== null && p !== undefined && p.trim() !== '').join(' ').trim();
  if (joined !== '') {
    return displayNameOf(joined, 'name.givenName and name.familyName');
  }
  const display = parts.displayName?.trim();
  if (display !== undefined && display !== '') {
    return displayNameOf(display, 'displayName');
  }
  return email.slice(0, email.lastIndexOf('@'));
}

/**
 * An xp role from SCIM `roles` (values are role names, any case): the primary one, else the only one,
 * else the highest; undefined when none. Values that are not xp roles (Entra ID's `msiam_access`, an
 * app role of another app) are left out and listed in `ignored`: only them is as no roles at all.
 */
function rolesFrom(value: unknown): { role: Role | undefined; ignored: string[] } {
  const parsed = z.array(roleValueSchema).max(20).safeParse(value);
  if (!parsed.success) {
    throw invalidValue('roles must be a list of {"value": "<role>"} (or role names): admin, editor, analyst or viewer');
  }
  const roles: { role: Role; primary: boolean }[] = [];
  const ignored: string[] = [];
  for (const r of parsed.data) {
    const entry = typeof r === 'string' ? { value: r, primary: false } : { value: r.value, primary: r.primary ?? false };
    const role = Object.values(Role).find((known) => known === entry.value.trim().toLowerCase());
    if (role === undefined) {
      ignored.push(entry.value.slice(0, 64));
    } else {
      roles.push({ role, primary: entry.primary });
    }
  }
  if (roles.length === 0) {
    return { role: undefined, ignored };
  }
  const primary = roles.find((r) => r.primary);
  return { role: primary?.role ?? roles.reduce((a, b) => (ROLE_RANK[b.role] > ROLE_RANK[a.role] ? b : a)).role, ignored };
}

/** The audit marker of a SCIM change: `via`, and the role values ignored (not xp roles), if any. */
function markerOf(ignoredRoles: readonly string[]): Record<string, unknown> {
  return { via: 'scim', ...(ignoredRoles.length === 0 ? {} : { ignoredRoles: [...new Set(ignoredRoles)] }) };
}

/** The core User schema's URN, which may prefix an attribute name (`urn:…:User:userName`). */
const CORE_PREFIX = /^urn:ietf:params:scim:schemas:core:2\.0:user:/i;

/**
 * `input` with the keys of an object that name `names` (any case, RFC 7643 §2.1; URN-qualified with
 * the core schema too) spelt as xp reads them; other keys as they are. Not an object: as it is.
 */
function canonicalKeys(input: unknown, names: readonly string[]): unknown {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return input;
  }
  const byLower = new Map(names.map((n) => [n.toLowerCase(), n]));
  return Object.fromEntries(Object.entries(input).map(([key, value]) => [byLower.get(key.replace(CORE_PREFIX, '').toLowerCase()) ?? key, value]));
}

const USER_KEYS = ['schemas', 'userName', 'externalId', 'name', 'displayName', 'active', 'emails', 'roles'] as const;

/** A User body with its attribute names (and name's) as xp reads them. */
export function canonicalUser(input: unknown): unknown {
  const user = canonicalKeys(input, USER_KEYS);
  if (typeof user !== 'object' || user === null || Array.isArray(user) || !('name' in user)) {
    return user;
  }
  return { ...user, name: canonicalKeys(user.name, ['formatted', 'givenName', 'familyName']) };
}

/** A PatchOp body with `schemas`, `Operations` and each operation's `op`, `path`, `value` as xp reads them. */
export function canonicalPatch(input: unknown): unknown {
  const patch = canonicalKeys(input, ['schemas', 'Operations']);
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch) || !('Operations' in patch) || !Array.isArray(patch.Operations)) {
    return patch;
  }
  return { ...patch, Operations: patch.Operations.map((o: unknown) => canonicalKeys(o, ['op', 'path', 'value'])) };
}

/** 400 unless `schemas` names the core User schema, and nothing but it and the enterprise extension. */
function checkUserSchemas(schemas: readonly string[]): void {
  if (!schemas.includes(SCIM_USER_SCHEMA)) {
    throw scimError(AppErrorCode.Validation, 'invalidSyntax', `schemas must include ${SCIM_USER_SCHEMA}`);
  }
  const unknown = schemas.find((s) => s !== SCIM_USER_SCHEMA && s !== SCIM_ENTERPRISE_USER_SCHEMA);
  if (unknown !== undefined) {
    throw scimError(AppErrorCode.Validation, 'invalidSyntax', `unknown schema "${unknown.slice(0, 100)}": this service provider takes ${SCIM_USER_SCHEMA} (and ${SCIM_ENTERPRISE_USER_SCHEMA})`);
  }
}

function parseBody<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw scimError(AppErrorCode.Validation, 'invalidSyntax', `the body must be a JSON object (a SCIM ${what})`);
  }
  const result = schema.safeParse(input);
  if (!result.success) {
    const first = issuesOf(result.error)[0];
    throw invalidValue(`invalid ${what}: ${first === undefined ? '' : `${first.path === '' ? '' : `${first.path}: `}${first.message}`}`);
  }
  return result.data;
}

const FILTER = /^\s*((?:urn:ietf:params:scim:schemas:core:2\.0:user:)?(?:[A-Za-z.]+|emails\[type eq "work"\]\.value))\s+eq\s+"((?:[^"\\]|\\.)*)"\s*$/i;

/**
 * The filters of GET /Users: `userName eq "…"`, `emails.value eq "…"` and `emails[type eq "work"].value
 * eq "…"` (emails compared case-insensitively), `externalId eq "…"` (exactly); attribute names and `eq`
 * in any case, optionally qualified with the core schema's URN; anything else 400 invalidFilter.
 */
export function parseScimFilter(filter: string): ScimUserFilter {
  const m = FILTER.exec(filter);
  const attribute = m?.[1]?.replace(CORE_PREFIX, '').toLowerCase();
  let value: string | undefined;
  try {
    value = m === null ? undefined : (JSON.parse(`"${m[2]!}"`) as string);
  } catch {
    value = undefined;
  }
  if (value !== undefined && (attribute === 'username' || attribute === 'emails.value' || attribute === 'emails[type eq "work"].value')) {
    return { attribute: 'email', value };
  }
  if (value !== undefined && attribute === 'externalid') {
    return { attribute: 'externalId', value };
  }
  throw scimError(
    AppErrorCode.Validation,
    'invalidFilter',
    'unsupported filter: this service provider filters users by one equality, `userName eq "…"`, `externalId eq "…"`, `emails.value eq "…"` or `emails[type eq "work"].value eq "…"`',
  );
}

/** The attribute paths of the core User schema xp does not keep: set by a PATCH, they change nothing (Entra ID's default mappings send them). */
const IGNORED_ATTRIBUTES = new Set([
  'nickname',
  'profileurl',
  'title',
  'usertype',
  'preferredlanguage',
  'locale',
  'timezone',
  'password',
  'phonenumbers',
  'ims',
  'photos',
  'addresses',
  'entitlements',
  'x509certificates',
  'name.middlename',
  'name.honorificprefix',
  'name.honorificsuffix',
]);

/** One attribute a PATCH changes, in xp's terms. */
type PatchTarget = 'active' | 'email' | 'displayName' | 'formatted' | 'givenName' | 'familyName' | 'name' | 'externalId' | 'roles' | 'emails' | 'ignored';

/** What the operations of one PATCH gather: which name attributes they set, the default role (a remove of roles), the role values ignored. */
interface PatchContext {
  /** 'full' (the display name was set), 'givenName', 'familyName', 'cleared' (the display name was removed). */
  readonly named: Set<string>;
  readonly defaultRole: Role;
  readonly ignoredRoles: string[];
}

/** What a PATCH path names (attribute names are case-insensitive; the core schema's URN may prefix them), or 400 invalidPath. */
function targetOf(path: string): PatchTarget {
  const p = path.trim().replace(CORE_PREFIX, '');
  if (/^urn:ietf:params:scim:schemas:extension:enterprise:2\.0:user(?::[A-Za-z.]+)?$/i.test(p)) {
    return 'ignored';
  }
  const lower = p.toLowerCase();
  // The work email (Entra ID's `mail`): never the xp email, which is userName alone.
  if (/^emails\[(?:type eq "work"|primary eq (?:"true"|true))\]\.value$/i.test(p)) {
    return 'emails';
  }
  // Entra ID's mapping of app roles: roles[primary eq "True"].value ← SingleAppRoleAssignment([appRoleAssignments]).
  if (/^roles\[primary eq (?:"true"|true)\]\.value$/i.test(p)) {
    return 'roles';
  }
  const known: Readonly<Record<string, PatchTarget>> = {
    active: 'active',
    username: 'email',
    displayname: 'displayName',
    'name.formatted': 'formatted',
    'name.givenname': 'givenName',
    'name.familyname': 'familyName',
    name: 'name',
    externalid: 'externalId',
    roles: 'roles',
    emails: 'emails',
  };
  const target = known[lower];
  if (target !== undefined) {
    return target;
  }
  const root = lower.replace(/\[.*$/, '').replace(/\..*$/, '');
  if (IGNORED_ATTRIBUTES.has(lower) || IGNORED_ATTRIBUTES.has(root)) {
    return 'ignored';
  }
  throw invalidPath(`unsupported path "${path.slice(0, 100)}": xp takes active, userName, name (formatted, givenName, familyName), displayName, externalId, roles and emails[type eq "work"].value`);
}

/** Applies one PatchOp operation to `draft`; `context` gathers what the operations did to the name and roles. */
function applyOperation(draft: Draft, op: 'add' | 'replace' | 'remove', target: PatchTarget, value: unknown, context: PatchContext): void {
  const { named } = context;
  if (target === 'ignored') {
    return;
  }
  if (op === 'remove') {
    switch (target) {
      case 'externalId':
      case 'givenName':
      case 'familyName':
        draft.scim[target] = null;
        named.add(target);
        return;
      case 'name':
        draft.scim.givenName = null;
        draft.scim.familyName = null;
        named.add('cleared');
        return;
      case 'displayName':
      case 'formatted':
        named.add('cleared');
        return;
      case 'roles':
        // No explicit role: the default role, as a person created without roles.
        draft.role = context.defaultRole;
        return;
      case 'emails':
        // The xp email is userName's: removing the IdP's emails leaves it.
        return;
      case 'active':
      case 'email':
        throw scimError(AppErrorCode.Validation, 'mutability', `${target === 'email' ? 'userName' : target} cannot be removed: replace it instead`);
    }
  }
  switch (target) {
    case 'active': {
      const parsed = scimBoolean.safeParse(value);
      if (!parsed.success) {
        throw invalidValue('active must be true or false');
      }
      draft.active = parsed.data;
      return;
    }
    case 'email':
      draft.email = emailOf(value, 'userName');
      return;
    case 'emails':
      // Stored nowhere and never the xp email (userName is): Entra ID's mail may differ from its UPN.
      return;
    case 'externalId':
      draft.scim.externalId = textOrNull(value, 'externalId');
      return;
    case 'givenName':
    case 'familyName':
      draft.scim[target] = textOrNull(value, `name.${target}`);
      named.add(target);
      return;
    case 'displayName':
    case 'formatted': {
      const text = textOrNull(value, target === 'formatted' ? 'name.formatted' : 'displayName');
      if (text !== null) {
        draft.name = displayNameOf(text, target === 'formatted' ? 'name.formatted' : 'displayName');
        named.add('full');
      }
      return;
    }
    case 'name': {
      value = canonicalKeys(value, ['formatted', 'givenName', 'familyName']);
      const parsed = nameSchema.safeParse(value);
      if (!parsed.success || typeof value !== 'object' || value === null) {
        throw invalidValue('name must be an object: {"givenName": …, "familyName": …, "formatted": …}');
      }
      for (const part of ['givenName', 'familyName'] as const) {
        if (part in parsed.data) {
          draft.scim[part] = textOrNull(parsed.data[part], `name.${part}`);
          named.add(part);
        }
      }
      if (typeof parsed.data.formatted === 'string' && parsed.data.formatted.trim() !== '') {
        draft.name = displayNameOf(parsed.data.formatted, 'name.formatted');
        named.add('full');
      }
      return;
    }
    case 'roles': {
      const { role, ignored } = rolesFrom(Array.isArray(value) ? value : [value]);
      context.ignoredRoles.push(...ignored);
      if (role !== undefined) {
        draft.role = role;
      }
      return;
    }
  }
}

/** SCIM's users of the caller's organisation (see the module comment). */
export class ScimService {
  constructor(private readonly deps: Deps) {}

  /** GET /Users: a page of people (1-based `startIndex`; `count` at most SCIM_MAX_RESULTS, 0 for the total alone). */
  async list(actor: Actor, query: ScimListQuery): Promise<{ total: number; startIndex: number; users: ScimUser[] }> {
    assertCan(actor, Permission.UsersManage);
    const filter = query.filter === undefined || query.filter.trim() === '' ? undefined : parseScimFilter(query.filter);
    // RFC 7644 §3.4.2.4: a startIndex below 1 is taken as 1; a count above the maximum as the maximum.
    const startIndex = Math.max(1, query.startIndex ?? 1);
    const count = Math.min(SCIM_MAX_RESULTS, Math.max(0, query.count ?? SCIM_MAX_RESULTS));
    const { total, items } = await scimUsers.list(this.deps.db, actor.orgId, filter, startIndex - 1, count);
    return { total, startIndex, users: items };
  }

  async get(actor: Actor, id: string): Promise<ScimUser> {
    assertCan(actor, Permission.UsersManage);
    return this.found(await scimUsers.find(this.deps.db, actor.orgId, id));
  }

  /**
   * POST /Users: a new person without a password (they sign in with SSO). Their role: `roles`, else
   * SSO's default role when SSO is configured, else viewer. An email another person has is 409
   * uniqueness (the IdP then finds them by filter and adopts them), except a person the IdP deleted
   * (DELETE /Users/{id}) in this organisation: they are provisioned again, the same xp user (their
   * history continues), with what this request says. Their former organisation role (when the request
   * has none) and project roles come back only when it is the same IdP identity: the externalId they
   * had, or they had none; another identity starts with this request's role alone, and no project roles.
   */
  async create(actor: Actor, input: unknown): Promise<ScimUser> {
    assertCan(actor, Permission.UsersManage);
    const body = parseBody(scimUserInputSchema, canonicalUser(input), 'User');
    checkUserSchemas(body.schemas);
    const email = emailOf(body.userName, 'userName');
    const { role: asked, ignored } = body.roles === undefined ? { role: undefined, ignored: [] } : rolesFrom(body.roles);
    const role: Role = asked ?? this.defaultRole();
    const draft: Draft = {
      email,
      name: nameFrom({ ...body.name, displayName: body.displayName }, email),
      active: body.active ?? true,
      role,
      scim: { externalId: textOrNull(body.externalId, 'externalId'), givenName: textOrNull(body.name?.givenName, 'name.givenName'), familyName: textOrNull(body.name?.familyName, 'name.familyName') },
    };
    return this.deps.db.withTransaction(async (tx) => {
      const existing = await scimUsers.findByEmail(tx, email);
      if (existing !== undefined) {
        if (existing.orgId === actor.orgId && existing.scimDeleted) {
          const locked = (await scimUsers.find(tx, actor.orgId, existing.id, { lock: true, includeDeleted: true }))!;
          const sameIdentity = locked.scimDeletedExternalId === null || locked.scimDeletedExternalId === draft.scim.externalId;
          if (sameIdentity) {
            return this.write(tx, actor, locked, { ...draft, role: asked ?? locked.role }, { undelete: true, ignoredRoles: ignored });
          }
          // Another IdP identity with this email: nothing of the former person's access comes back.
          return this.write(tx, actor, locked, draft, { undelete: true, ignoredRoles: ignored, dropProjectRoles: true });
        }
        throw scimError(AppErrorCode.AlreadyExists, 'uniqueness', `a user with userName ${email} already exists: find them with filter=userName eq "${email}" and update them`);
      }
      if (role === Role.Owner) {
        throw scimError(AppErrorCode.Forbidden, undefined, 'SCIM cannot make anyone an owner: an owner grants that role in xp');
      }
      if (!canAssignRole(actor.role, undefined, role)) {
        throw scimError(AppErrorCode.Forbidden, undefined, `${withArticle(actor.role)} cannot grant the ${role} role`);
      }
      const id = this.deps.newId();
      await scimUsers.create(tx, { id, orgId: actor.orgId, email, name: draft.name, role, disabled: !draft.active, scim: draft.scim });
      const user = (await scimUsers.find(tx, actor.orgId, id))!;
      await record(tx, actor, {
        projectId: null,
        action: 'user.created',
        resourceType: 'user',
        resourceKey: id,
        before: undefined,
        after: { email: user.email, name: user.name, role: user.role, ...(user.disabled ? { disabled: true } : {}), ...(user.scim.externalId === null ? {} : { externalId: user.scim.externalId }) },
        marker: markerOf(ignored),
      });
      return user;
    });
  }

  /** PUT /Users/{id}: replaces what xp keeps; `active`, `roles` and `externalId` left out stay as they are. */
  async replace(actor: Actor, id: string, input: unknown): Promise<ScimUser> {
    assertCan(actor, Permission.UsersManage);
    const body = parseBody(scimUserInputSchema, canonicalUser(input), 'User');
    checkUserSchemas(body.schemas);
    const email = emailOf(body.userName, 'userName');
    // Only values xp does not know: as no roles (the role stays).
    const { role, ignored } = body.roles === undefined ? { role: undefined, ignored: [] } : rolesFrom(body.roles);
    return this.deps.db.withTransaction(async (tx) => {
      const current = this.found(await scimUsers.find(tx, actor.orgId, id, { lock: true }));
      const draft: Draft = {
        email,
        name: nameFrom({ ...body.name, displayName: body.displayName }, email),
        active: body.active ?? !current.disabled,
        role: role ?? current.role,
        scim: {
          externalId: body.externalId === undefined ? current.scim.externalId : textOrNull(body.externalId, 'externalId'),
          givenName: textOrNull(body.name?.givenName, 'name.givenName'),
          familyName: textOrNull(body.name?.familyName, 'name.familyName'),
        },
      };
      // Without any name attribute, the name stays (the email's local part is only for a new person).
      if (body.name === undefined && (body.displayName === undefined || body.displayName === null)) {
        draft.name = current.name;
      }
      return this.write(tx, actor, current, draft, { ignoredRoles: ignored });
    });
  }

  /**
   * PATCH /Users/{id}: a PatchOp's operations, applied in order (add and replace alike; remove of
   * externalId, the name or its parts, displayName, roles and emails), including Entra ID's forms:
   * capitalised ops, "True"/"False" strings, and operations without a path whose value is an object
   * of attributes. A remove of roles leaves the default role; of the name, the display name falls back
   * to the name parts left, else the email's local part; of emails, nothing (userName is the email).
   */
  async patch(actor: Actor, id: string, input: unknown): Promise<ScimUser> {
    assertCan(actor, Permission.UsersManage);
    const body = parseBody(scimPatchSchema, canonicalPatch(input), 'PatchOp');
    if (!body.schemas.includes(SCIM_PATCH_SCHEMA)) {
      throw scimError(AppErrorCode.Validation, 'invalidSyntax', `schemas must be ["${SCIM_PATCH_SCHEMA}"]`);
    }
    return this.deps.db.withTransaction(async (tx) => {
      const current = this.found(await scimUsers.find(tx, actor.orgId, id, { lock: true }));
      const draft: Draft = { email: current.email, name: current.name, active: !current.disabled, role: current.role, scim: { ...current.scim } };
      const context: PatchContext = { named: new Set<string>(), defaultRole: this.defaultRole(), ignoredRoles: [] };
      const { named } = context;
      for (const operation of body.Operations) {
        const op = operation.op.toLowerCase() as 'add' | 'replace' | 'remove';
        if (operation.path === undefined || operation.path.trim() === '') {
          if (op === 'remove') {
            throw scimError(AppErrorCode.Validation, 'noTarget', 'a remove operation needs a path');
          }
          if (typeof operation.value !== 'object' || operation.value === null || Array.isArray(operation.value)) {
            throw invalidValue('an operation without a path takes an object of attributes as its value, such as {"active": false}');
          }
          for (const [key, value] of Object.entries(operation.value)) {
            if (key === 'schemas') {
              continue;
            }
            applyOperation(draft, op, targetOf(key), value, context);
          }
        } else {
          applyOperation(draft, op, targetOf(operation.path), operation.value, context);
        }
      }
      if (!named.has('full') && (named.has('givenName') || named.has('familyName') || named.has('cleared'))) {
        // Only name parts changed: the display name is made of them again (or stays when they are gone);
        // the display name removed: of the parts left, else the email's local part (as a person created without a name).
        const joined = [draft.scim.givenName, draft.scim.familyName].filter((p) => p !== null && p.trim() !== '').join(' ');
        if (joined !== '') {
          draft.name = displayNameOf(joined, 'name.givenName and name.familyName');
        } else if (named.has('cleared')) {
          draft.name = nameFrom({}, draft.email);
        }
      }
      return this.write(tx, actor, current, draft, { ignoredRoles: context.ignoredRoles });
    });
  }

  /**
   * DELETE /Users/{id}: the person is disabled (their sessions and tokens end, as with active false)
   * and marked deleted by the IdP: not erased (their audit history and authorship stay, and the
   * console lists them as disabled), but gone for SCIM (404, not listed) until a POST of their email.
   */
  async delete(actor: Actor, id: string): Promise<void> {
    assertCan(actor, Permission.UsersManage);
    await this.deps.db.withTransaction(async (tx) => {
      const current = this.found(await scimUsers.find(tx, actor.orgId, id, { lock: true }));
      this.checkChange(actor, current, { ...this.draftOf(current), active: false });
      await writeUserChange(tx, actor, current, { disabled: true }, current.version, { after: { scimDeleted: true }, marker: { via: 'scim' } });
      await scimUsers.markDeleted(tx, id, this.deps.now());
    });
  }

  private found(user: ScimUser | undefined): ScimUser {
    if (user === undefined) {
      throw scimError(AppErrorCode.NotFound, undefined, 'user not found');
    }
    return user;
  }

  /** The role of a person SCIM gives none: SSO's default role when SSO is configured, else viewer. */
  private defaultRole(): Role {
    return this.deps.sso?.defaultRole ?? Role.Viewer;
  }

  private draftOf(user: ScimUser): Draft {
    return { email: user.email, name: user.name, active: !user.disabled, role: user.role, scim: { ...user.scim } };
  }

  /** 403 for what SCIM may not do: disable, delete, change the role or the email of an owner, make an owner, act on its own caller, grant above the caller. */
  private checkChange(actor: Actor, current: ScimUser, next: Draft): void {
    const disables = !current.disabled && !next.active;
    const changesRole = next.role !== current.role;
    // An owner's email in another case is the same email (write keeps theirs).
    const changesOwnerEmail = next.email.toLowerCase() !== current.email.toLowerCase();
    if (current.role === Role.Owner && (disables || changesRole || changesOwnerEmail)) {
      throw scimError(
        AppErrorCode.Forbidden,
        undefined,
        `${current.email} is an owner: SCIM cannot disable, delete or change the role or email of an owner (an owner does it in xp); their name can be changed`,
      );
    }
    if (current.id === actor.userId && (disables || changesRole)) {
      throw scimError(AppErrorCode.Forbidden, undefined, 'this token is the person it would disable or change the role of: use a service account\'s token');
    }
    if (changesRole && next.role === Role.Owner) {
      throw scimError(AppErrorCode.Forbidden, undefined, 'SCIM cannot make anyone an owner: an owner grants that role in xp');
    }
    if (changesRole && !canAssignRole(actor.role, current.role, next.role)) {
      throw scimError(AppErrorCode.Forbidden, undefined, `${withArticle(actor.role)} cannot change ${withArticle(current.role)} to ${next.role}`);
    }
  }

  /**
   * Writes `next` over `current` (locked in `tx`) with the console's effects (`writeUserChange`:
   * disabling ends sessions and tokens at once, audited as user.updated), `via: 'scim'`; nothing
   * written, and no entry, when nothing changes. Re-enabling does not bring revoked tokens back.
   */
  private async write(
    tx: Queryable,
    actor: Actor,
    current: ScimUser,
    draft: Draft,
    options: { undelete?: boolean; ignoredRoles?: readonly string[]; dropProjectRoles?: boolean } = {},
  ): Promise<ScimUser> {
    this.checkChange(actor, current, draft);
    const next: Draft = current.role === Role.Owner ? { ...draft, email: current.email } : draft;
    if (changesRoleToAdmin(current, next) && current.passwordChangeRequired) {
      // As in the console: whoever set the password could otherwise sign in as the promoted user.
      throw scimError(AppErrorCode.InvalidState, undefined, `${current.email} has not yet chosen their own password (they must sign in once first): they cannot be made an admin until then`);
    }
    const fieldsChanged = next.email !== current.email || !sameFields(next.scim, current.scim);
    const coreChanged = next.name !== current.name || next.role !== current.role || next.active === current.disabled;
    const undelete = options.undelete === true;
    if (!fieldsChanged && !coreChanged && !undelete) {
      return current;
    }
    const marker = markerOf(options.ignoredRoles ?? []);
    const before: Record<string, unknown> = {};
    const after: Record<string, unknown> = {};
    if (next.email !== current.email) {
      before.email = current.email;
      after.email = next.email;
    }
    if (next.scim.externalId !== current.scim.externalId) {
      before.externalId = current.scim.externalId;
      after.externalId = next.scim.externalId;
    }
    if (undelete) {
      before.scimDeleted = true;
      after.scimDeleted = false;
    }
    if (options.dropProjectRoles === true) {
      // The project roles of the person the IdP deleted; an owner has none (and is never deleted).
      const removed = await projectRoles.removeAllForUser(tx, current.id);
      if (removed.length > 0) {
        before.projectRoles = removed;
        after.projectRoles = [];
      }
    }
    // The fields first: a person the IdP deleted is undeleted before being enabled (a SCIM-deleted person is always disabled).
    if (fieldsChanged || undelete) {
      await scimUsers.setFields(tx, current.id, { email: next.email, scim: next.scim, undelete });
    }
    const version = (await scimUsers.find(tx, actor.orgId, current.id))!.version;
    await writeUserChange(
      tx,
      actor,
      current,
      { name: next.name !== current.name ? next.name : undefined, role: next.role !== current.role ? next.role : undefined, disabled: next.active === current.disabled ? !next.active : undefined },
      version,
      { before, after, marker },
    );
    return (await scimUsers.find(tx, actor.orgId, current.id))!;
  }
}

function changesRoleToAdmin(current: ScimUser, next: Draft): boolean {
  return next.role !== current.role && next.role === Role.Admin;
}

function sameFields(a: ScimFields, b: ScimFields): boolean {
  return a.externalId === b.externalId && a.givenName === b.givenName && a.familyName === b.familyName;
}
