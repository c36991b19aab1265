import { ApiError } from '@xp/shared';
import type { EnvironmentInput, Project, ProjectPatch, StoredEnvironment } from '@xp/shared';
import { errorMessage, isConflict } from '../../lib/ui.js';

/** The API's refusal of a key another project or environment has (409 ALREADY_EXISTS), to show at the key field. */
export function duplicateKey(error: unknown): string | undefined {
  return error instanceof ApiError && error.code === 'ALREADY_EXISTS' ? error.message : undefined;
}

/** A write to something someone else deleted meanwhile (404): the form says so rather than showing the bare error. */
export function isGone(error: unknown): boolean {
  return error instanceof ApiError && error.status === 404;
}

/** What the Projects screen asks of the console around it: the top bar's project list, environments and switch. */
export interface ProjectsShell {
  /** Switches the console to `project`, as the top bar's Project select does (asking first when a screen holds unsaved changes). */
  readonly switchTo: (project: string) => void;
  /** The project being switched to, while it loads. */
  readonly switching: string | null;
  /**
   * Loads the project list and the current project's environments again (the top bar's selects). A
   * current project that no longer exists gives way to the first one left, or to none.
   */
  readonly reload: () => Promise<void>;
}

/** A write refused because what it was based on changed since it was read: 409 VERSION_CONFLICT, or 412 (a failed If-Match). */
export function isStale(error: unknown): boolean {
  return isConflict(error) || (error instanceof ApiError && error.status === 412);
}

/** Why an action failed, in a sentence; a stale version says that the screen has reloaded what it shows. */
export function failure(what: string, error: unknown): string {
  if (isStale(error) && error instanceof ApiError) {
    return `${what}: someone else changed it since you opened it (${error.message}). It has been reloaded: check it, then try again.`;
  }
  return `${what}: ${errorMessage(error)}`;
}

/** A flag that keeps a project from being deleted: on in a production environment. */
export interface FlagInUse {
  readonly key: string;
  readonly environment: string;
}

/** Why the API refused to delete a project (409 INVALID_STATE): its message, the flags on in production and the running experiments. */
export interface DeleteRefusal {
  readonly message: string;
  readonly flags: readonly FlagInUse[];
  readonly experiments: readonly string[];
}

const isFlagInUse = (x: unknown): x is FlagInUse =>
  typeof x === 'object' && x !== null && typeof (x as { key?: unknown }).key === 'string' && typeof (x as { environment?: unknown }).environment === 'string';

/** The refusal of a project deletion, from the API's error; null for any other error. Details of another shape are left out, the message stays. */
export function deleteRefusal(error: unknown): DeleteRefusal | null {
  if (!(error instanceof ApiError) || error.status !== 409 || error.code !== 'INVALID_STATE') {
    return null;
  }
  const details = (typeof error.details === 'object' && error.details !== null ? error.details : {}) as { flags?: unknown; experiments?: unknown };
  const flags = Array.isArray(details.flags) ? details.flags.filter(isFlagInUse) : [];
  const experiments = Array.isArray(details.experiments) ? details.experiments.filter((e): e is string => typeof e === 'string') : [];
  return { message: error.message, flags, experiments };
}

/** A project form's fields, as typed. */
export interface ProjectDraft {
  readonly key: string;
  readonly name: string;
  readonly description: string;
}

export type ProjectField = keyof ProjectDraft;

export function projectDraft(project?: Project): ProjectDraft {
  return { key: project?.key ?? '', name: project?.name ?? '', description: project?.description ?? '' };
}

/** What the form must have before it is sent (the API checks the rest, and says so at the field). */
export function validateProject(draft: ProjectDraft, creating: boolean): Partial<Record<ProjectField, string>> {
  return {
    ...(creating && draft.key.trim() === '' ? { key: 'Enter a key.' } : {}),
    ...(draft.name.trim() === '' ? { name: 'Enter a name.' } : {}),
  };
}

/** The PATCH of an edit: only the fields changed (none: nothing to send). */
export function projectPatch(original: Project, draft: ProjectDraft): ProjectPatch {
  const name = draft.name.trim();
  const description = draft.description.trim();
  return {
    ...(name === original.name ? {} : { name }),
    ...(description === (original.description ?? '') ? {} : { description }),
  };
}

/** An environment form's fields, as typed; `color` undefined while an environment without one is not given one. */
export interface EnvironmentDraft {
  readonly key: string;
  readonly name: string;
  readonly color: string | undefined;
  readonly production: boolean;
  readonly requireApproval: boolean;
  /** The emergency off switch: editors may turn flags off in this protected environment without a change request. */
  readonly editorsMayTurnOff: boolean;
}

export type EnvironmentField = 'key' | 'name' | 'color';

/** The colour a new environment starts with. */
export const NEW_ENVIRONMENT_COLOR = '#1f77b4';

export function environmentDraft(environment?: StoredEnvironment): EnvironmentDraft {
  if (environment === undefined) {
    return { key: '', name: '', color: NEW_ENVIRONMENT_COLOR, production: false, requireApproval: false, editorsMayTurnOff: false };
  }
  return {
    key: environment.key,
    name: environment.name,
    color: environment.color,
    production: environment.production,
    requireApproval: environment.requireApproval,
    editorsMayTurnOff: environment.editorsMayTurnOff === true,
  };
}

export function validateEnvironment(draft: EnvironmentDraft, creating: boolean): Partial<Record<EnvironmentField, string>> {
  return {
    ...(creating && draft.key.trim() === '' ? { key: 'Enter a key.' } : {}),
    ...(draft.name.trim() === '' ? { name: 'Enter a name.' } : {}),
  };
}

/** The body of a create or a replace (PUT sends the whole environment: a description the form does not show goes back as it was). */
export function environmentBody(draft: EnvironmentDraft, original?: StoredEnvironment): EnvironmentInput {
  return {
    key: original?.key ?? draft.key.trim(),
    name: draft.name.trim(),
    ...(original?.description === undefined ? {} : { description: original.description }),
    production: draft.production,
    requireApproval: draft.requireApproval,
    // Sent once it is set, or was: an environment that never had it keeps its body as before (absent is off).
    ...(draft.editorsMayTurnOff || original?.editorsMayTurnOff !== undefined ? { editorsMayTurnOff: draft.editorsMayTurnOff } : {}),
    ...(draft.color === undefined ? {} : { color: draft.color }),
  };
}
