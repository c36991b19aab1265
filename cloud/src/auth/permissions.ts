import { ROLE_RANK, Role } from '@xp/shared';
import { AppError, AppErrorCode } from '../errors.js';

/**
 * The permission matrix: which role may do what, in one place. Handlers call `assertCan`; the
 * endpoint × role tests and the table in docs/api.md are generated from `PERMISSION_MATRIX`.
 * Resource-level rules (own tokens, own change requests, the last owner) are the caller's to check.
 */

/** Everything a role can be allowed to do. */
export const Permission = {
  /** Read every definition (flags, segments, experiments, metrics, holdouts, environments) and results. */
  Read: 'read',
  /** Read the audit log. */
  AuditRead: 'audit:read',
  /** Create, edit, toggle, archive flags and their per-environment rules. */
  FlagsWrite: 'flags:write',
  /** Create, edit and archive segments. */
  SegmentsWrite: 'segments:write',
  /** Create, edit, start, stop and decide experiments. */
  ExperimentsWrite: 'experiments:write',
  /** Create, edit and archive metrics. */
  MetricsWrite: 'metrics:write',
  /** Create, edit and end holdouts. */
  HoldoutsWrite: 'holdouts:write',
  /** Create, edit and delete environments, including their protection settings. */
  EnvironmentsManage: 'environments:manage',
  /** Create and revoke server-side and client-side SDK keys. */
  SdkKeysManage: 'sdk-keys:manage',
  /** Invite users, change their roles (within `canAssignRole`), disable them. */
  UsersManage: 'users:manage',
  /** Create, rename and delete projects. */
  ProjectsManage: 'projects:manage',
  /** Propose a change to a protected environment as a change request. */
  ChangeRequestsPropose: 'change-requests:propose',
  /** Approve someone else's change request (never one's own: see `canReview`). */
  ChangeRequestsApprove: 'change-requests:approve',
  /** Apply an approved change request. */
  ChangeRequestsApply: 'change-requests:apply',
  /** Reject someone else's change request. */
  ChangeRequestsReject: 'change-requests:reject',
  /** Create, list and revoke one's own personal access tokens and sessions. */
  OwnTokensManage: 'own-tokens:manage',
  /** Organisation-wide settings: name, authentication policy, deletion, ownership. */
  OrgSettingsManage: 'org-settings:manage',
  /** Upload the flag references found in a repository's code (`xp code-refs`, CI). */
  CodeRefsWrite: 'code-refs:write',
  /** Create, edit, test and delete a project's webhooks and read their deliveries. */
  WebhooksManage: 'webhooks:manage',
  /** Erase everything stored about some units of a project (data-subject deletion); see docs/privacy.md. */
  UnitsErase: 'units:erase',
} as const;
export type Permission = (typeof Permission)[keyof typeof Permission];

/** All roles, most privileged first. */
export const ROLES: readonly Role[] = [Role.Owner, Role.Admin, Role.Editor, Role.Analyst, Role.Viewer];

const { Owner, Admin, Editor, Analyst, Viewer } = Role;
const EVERYONE = [Owner, Admin, Editor, Analyst, Viewer] as const;
const EDITORS_UP = [Owner, Admin, Editor] as const;
const ADMINS_UP = [Owner, Admin] as const;

/** Permission → the roles that hold it. Listed explicitly (not derived from rank) so the tests can check it. */
export const PERMISSION_MATRIX: Readonly<Record<Permission, readonly Role[]>> = {
  read: EVERYONE,
  'audit:read': EVERYONE,
  'flags:write': EDITORS_UP,
  'segments:write': EDITORS_UP,
  'experiments:write': EDITORS_UP,
  // Analysts own metric definitions, the one thing they write.
  'metrics:write': [Owner, Admin, Editor, Analyst],
  'holdouts:write': EDITORS_UP,
  'environments:manage': ADMINS_UP,
  'sdk-keys:manage': ADMINS_UP,
  'users:manage': ADMINS_UP,
  'projects:manage': ADMINS_UP,
  'change-requests:propose': EDITORS_UP,
  'change-requests:approve': ADMINS_UP,
  // Editors apply their own change requests once approved; the approval is the control, not the click.
  'change-requests:apply': EDITORS_UP,
  'change-requests:reject': ADMINS_UP,
  // Viewers too: read-only API access from the CLI, desktop app and editor extension needs a token.
  'own-tokens:manage': EVERYONE,
  'org-settings:manage': [Owner],
  'code-refs:write': EDITORS_UP,
  'webhooks:manage': ADMINS_UP,
  // Irreversible, and it changes results: those who run the project, as a data protection request asks.
  'units:erase': ADMINS_UP,
};

/** One-line descriptions for generated documentation. */
export const PERMISSION_DESCRIPTIONS: Readonly<Record<Permission, string>> = {
  read: 'Read all definitions and results',
  'audit:read': 'Read the audit log',
  'flags:write': 'Create, edit and toggle flags and rules',
  'segments:write': 'Create and edit segments',
  'experiments:write': 'Create, edit, start, stop and decide experiments',
  'metrics:write': 'Create and edit metrics',
  'holdouts:write': 'Create and edit holdouts',
  'environments:manage': 'Manage environments and their protection',
  'sdk-keys:manage': 'Create and revoke SDK keys',
  'users:manage': 'Invite, disable and change roles of users',
  'projects:manage': 'Create, rename and delete projects',
  'change-requests:propose': 'Propose changes to protected environments',
  'change-requests:approve': "Approve another user's change request",
  'change-requests:apply': 'Apply an approved change request',
  'change-requests:reject': "Reject another user's change request",
  'own-tokens:manage': 'Manage own access tokens and sessions',
  'org-settings:manage': 'Organisation settings and ownership',
  'code-refs:write': 'Upload flag references found in code',
  'webhooks:manage': "Manage a project's webhooks and see their deliveries",
  'units:erase': "Export or erase a unit's data (data-subject access and deletion)",
};

/** Whether `role` holds `permission`. */
export function can(role: Role, permission: Permission): boolean {
  return PERMISSION_MATRIX[permission].includes(role);
}

/** Every permission `role` holds, in declaration order. */
export function permissionsOf(role: Role): Permission[] {
  return Object.values(Permission).filter((permission) => can(role, permission));
}

/** Throws `AppError` Forbidden unless the actor's role holds `permission`. */
export function assertCan(actor: { readonly role: Role; readonly projectIds?: ReadonlySet<string> | undefined; readonly roleProject?: string | undefined }, permission: Permission): void {
  if (!can(actor.role, permission)) {
    // A project role says so: its holder may have another role elsewhere, and read this as a change of it.
    const role = actor.roleProject === undefined ? actor.role : `${actor.role} in project ${actor.roleProject}`;
    throw new AppError(AppErrorCode.Forbidden, `your role (${role}) does not allow ${permission}`, {
      permission,
    });
  }
  if (actor.projectIds !== undefined && ORGANISATION_PERMISSIONS.has(permission)) {
    throw new AppError(AppErrorCode.Forbidden, `this access token is limited to some projects, so it cannot ${permission === Permission.UsersManage ? 'manage users' : 'change organisation settings'}; use a token for every project`, { permission });
  }
}

/** What a token limited to some projects never does: the organisation's people and settings are no project's. */
const ORGANISATION_PERMISSIONS: ReadonlySet<Permission> = new Set([Permission.UsersManage, Permission.OrgSettingsManage]);

/** Whether the actor may see the project: every project, unless its access token is limited to others. */
export function inScope(actor: { readonly projectIds?: ReadonlySet<string> | undefined }, projectId: string): boolean {
  return actor.projectIds === undefined || actor.projectIds.has(projectId);
}

/** The protection settings of an environment, as in the `@xp/shared` environment model. */
export interface EnvironmentProtection {
  readonly production: boolean;
  readonly requireApproval: boolean;
}

/**
 * Whether a change by `role` in this environment must go through an approved change request:
 * the environment is protected (production, or approval explicitly required) and the role is below
 * admin. Admins and owners change protected environments directly; the audit log records it.
 */
export function needsApproval(role: Role, environment: EnvironmentProtection): boolean {
  const isProtected = environment.production || environment.requireApproval;
  return isProtected && ROLE_RANK[role] < ROLE_RANK[Role.Admin];
}

/** Whether `reviewer` may approve or reject a change request proposed by `proposerId`: never their own. */
export function canReview(reviewer: { readonly id: string; readonly role: Role }, proposerId: string): boolean {
  return can(reviewer.role, Permission.ChangeRequestsApprove) && reviewer.id !== proposerId;
}

/**
 * Whether `actorRole` may give a user whose role is `targetCurrentRole` (undefined: a new invitation)
 * the role `newRole`.
 * - Owners assign any role to anyone, including granting and revoking owner.
 * - Admins assign roles up to admin to users who are not owners: they may promote to and demote from
 *   admin, but cannot create, demote or otherwise touch an owner.
 * - Editors, analysts and viewers assign no roles.
 * Not checked here (the user service's job, as it needs the data): that the last owner of an
 * organisation is never demoted, and that a user's own role change is confirmed.
 */
export function canAssignRole(actorRole: Role, targetCurrentRole: Role | undefined, newRole: Role): boolean {
  if (!can(actorRole, Permission.UsersManage)) {
    return false;
  }
  if (actorRole === Role.Owner) {
    return true;
  }
  const actorRank = ROLE_RANK[actorRole];
  const touchesTarget = targetCurrentRole === undefined || ROLE_RANK[targetCurrentRole] <= actorRank;
  return touchesTarget && ROLE_RANK[newRole] <= actorRank;
}
