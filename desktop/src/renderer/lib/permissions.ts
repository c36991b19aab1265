import type { MouseEvent } from 'react';
import { roleInProject } from '@xp/shared';
import type { Role, RolesView } from '@xp/shared';
import { useSession } from '../app/session.js';
import type { Session } from '../app/session.js';

/**
 * Role-aware presentation: which actions the signed-in user's role may take, from the API's own
 * permission matrix (`GET /api/v1/roles`, loaded with the session), so the console never keeps a
 * second copy of it. The API stays the enforcement point: this only disables what would be refused.
 */

/** The permissions of the matrix the console checks before offering an action. */
export type ConsolePermission =
  | 'flags:write'
  | 'segments:write'
  | 'experiments:write'
  | 'metrics:write'
  | 'sdk-keys:manage'
  | 'webhooks:manage'
  | 'projects:manage'
  | 'environments:manage'
  | 'units:erase'
  | 'code-refs:write';

/** The permissions `role` holds according to the matrix. */
export function permissionsOf(view: RolesView, role: Role): ReadonlySet<string> {
  return new Set(view.permissions.filter((p) => p.roles.includes(role)).map((p) => p.permission));
}

const ROLE_PLURAL: Readonly<Record<Role, string>> = { owner: 'Owners', admin: 'Admins', editor: 'Editors', analyst: 'Analysts', viewer: 'Viewers' };

const ACTION: Readonly<Record<ConsolePermission, string>> = {
  'flags:write': 'change flags',
  'segments:write': 'change segments',
  'experiments:write': 'change experiments',
  'metrics:write': 'change metrics',
  'sdk-keys:manage': 'create or revoke SDK keys',
  'webhooks:manage': 'manage webhooks',
  'projects:manage': 'create, change or delete projects',
  'environments:manage': 'add, change or delete environments',
  'units:erase': "erase a unit's data",
  'code-refs:write': 'upload or delete code references',
};

/** Whether an action is allowed and, when not, why ("Viewers cannot change flags"). */
export interface Allowance {
  readonly allowed: boolean;
  readonly reason: string | undefined;
}

/** The role the signed-in user acts with in the current project: their project role there, else their organisation role. */
export function sessionRole(session: Pick<Session, 'user' | 'project'>): Role {
  return roleInProject(session.user, session.project === '' ? undefined : session.project);
}

/**
 * Where a permission is checked: the current project (default, as the API does for every request
 * naming a project), another project by key, or the organisation (creating projects, users).
 */
export type PermissionScope = { readonly project: string } | 'organisation';

/**
 * Whether `session`'s user holds `permission` in `scope` and, when not, why: "Viewers cannot change
 * flags", or "Viewers in project web cannot change flags" when a project role decides.
 */
export function allowanceIn(session: Pick<Session, 'user' | 'project' | 'permissions' | 'matrix'>, permission: ConsolePermission, scope?: PermissionScope): Allowance {
  const project = scope === undefined ? session.project : scope === 'organisation' ? undefined : scope.project;
  const role = project === undefined || project === '' ? session.user.role : roleInProject(session.user, project);
  const held = scope === undefined ? session.permissions : session.matrix === undefined ? undefined : permissionsOf(session.matrix, role);
  if (held === undefined || held.has(permission)) {
    return { allowed: true, reason: undefined };
  }
  const where = role === session.user.role || project === undefined ? '' : ` in project ${project}`;
  return { allowed: false, reason: `${ROLE_PLURAL[role]}${where} cannot ${ACTION[permission]}` };
}

/**
 * Whether the signed-in user's role in the current project (or `scope`) holds `permission`. While
 * the matrix is unknown (an API that does not serve it) everything is allowed and the API's answer
 * decides, as before.
 */
export function usePermission(permission: ConsolePermission, scope?: PermissionScope): Allowance {
  return allowanceIn(useSession(), permission, scope);
}

/** Props of a control that cannot act just now (see pendingProps). */
export interface PendingProps {
  readonly 'aria-disabled'?: true;
  readonly onClickCapture?: (event: MouseEvent<HTMLElement>) => void;
}

/** Swallows a click before the control's own handler sees it, and so the form submit of a submit button (Enter in a field clicks it too). */
function swallow(event: MouseEvent<HTMLElement>): void {
  event.preventDefault();
  event.stopPropagation();
}

/**
 * Props for a control that cannot act while `pending` (a request in flight, nothing to save): it
 * says so (aria-disabled) and ignores clicks, but stays focusable — the `disabled` attribute would
 * drop the keyboard focus to the page (WCAG 2.4.3) the moment the pressed button goes busy.
 */
export function pendingProps(pending: boolean): PendingProps {
  return pending ? { 'aria-disabled': true, onClickCapture: swallow } : {};
}

/**
 * Props for a control of an action the role may not take: disabled, with the reason as tooltip and
 * accessible description. `busy` holds it back for other reasons (a request in flight), focusable
 * (pendingProps).
 */
export function allowanceProps(allowance: Allowance, busy = false): { disabled: boolean; title?: string; 'aria-description'?: string } & PendingProps {
  return allowance.reason === undefined ? { disabled: false, ...pendingProps(busy) } : { disabled: true, title: allowance.reason, 'aria-description': allowance.reason };
}

/** Whether an environment is protected: production, or set to require approval. */
export function isProtected(environment: { readonly production: boolean; readonly requireApproval: boolean } | undefined): boolean {
  return environment !== undefined && (environment.production || environment.requireApproval);
}

/**
 * Whether the signed-in user's changes to `environment` go through a change request: it is
 * protected and the role is below admin (the API's rule; owners and admins change it directly).
 */
export function needsApprovalIn(session: Pick<Session, 'user' | 'project' | 'environments'>, environment: string): boolean {
  const role = sessionRole(session);
  return isProtected(session.environments.find((e) => e.key === environment)) && role !== 'owner' && role !== 'admin';
}

/**
 * Whether the signed-in user may start, stop or resume an experiment that runs in `environments`
 * (keys; empty means all): that changes those environments' rulesets, and for a protected one the
 * API asks an owner or admin (a change request carries flag states only).
 */
export function useExperimentLifecycle(environments: readonly string[]): Allowance {
  const write = usePermission('experiments:write');
  const session = useSession();
  const all = session.environments;
  const runs = environments.length === 0 ? all : all.filter((e) => environments.includes(e.key));
  const guarded = runs.filter(isProtected).map((e) => e.name);
  if (!write.allowed || sessionRole(session) !== 'editor' || guarded.length === 0) {
    return write;
  }
  return { allowed: false, reason: `Editors need an owner or admin to start, stop or resume an experiment that runs in ${guarded.join(', ')}` };
}
