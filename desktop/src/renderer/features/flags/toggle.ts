import { ApiError } from '@xp/shared';
import type { ChangeRequest, Flag, FlagEnvironment, Stored } from '@xp/shared';
import type { Session } from '../../app/session.js';
import { needsApprovalIn } from '../../lib/permissions.js';

export type ChangeResult = { readonly kind: 'applied'; readonly flag: Stored<Flag> } | { readonly kind: 'proposed'; readonly request: ChangeRequest };

/** The API's answer when the caller's role may not change a protected environment directly. */
const needsApproval = (e: unknown): boolean => e instanceof ApiError && e.status === 403 && e.code === 'APPROVAL_REQUIRED';

/**
 * Writes a flag's state in the session's environment with its version (If-Match). A role that may
 * only propose in a protected environment gets a change request straight away; should the API still
 * answer APPROVAL_REQUIRED (protection changed since the session loaded), the change is proposed then.
 */
export async function saveFlagEnvironment(session: Session, flag: Stored<Flag>, state: FlagEnvironment, environment: string = session.environment, comment?: string): Promise<ChangeResult> {
  const propose = async (): Promise<ChangeResult> => ({
    kind: 'proposed',
    request: await session.client.proposeChange(session.project, { resourceKey: flag.key, environment, state, baseVersion: flag.version, ...(comment === undefined ? {} : { comment }) }),
  });
  if (needsApprovalIn(session, environment)) {
    return propose();
  }
  try {
    return { kind: 'applied', flag: await session.client.setFlagEnvironment(session.project, flag.key, environment, state, flag.version) };
  } catch (e) {
    if (needsApproval(e)) {
      return propose();
    }
    throw e;
  }
}

/**
 * Whether `environment` lets a role that needs approval there turn flags off directly: its
 * emergency off switch (`editorsMayTurnOff`, which an owner or admin sets on the environment).
 */
export function editorsMayTurnOffIn(session: Pick<Session, 'environments'>, environment: string): boolean {
  return session.environments.find((e) => e.key === environment)?.editorsMayTurnOff === true;
}

/**
 * Whether turning a flag on (`enabled`) or off in `environment` becomes a change request for the
 * signed-in user: where the role needs approval, except turning it off where the environment lets
 * editors do that directly.
 */
export function toggleProposes(session: Pick<Session, 'user' | 'project' | 'environments'>, environment: string, enabled: boolean): boolean {
  return needsApprovalIn(session, environment) && (enabled || !editorsMayTurnOffIn(session, environment));
}

/**
 * Turns a flag on or off in an environment; proposed as a change request (with `comment`, if any)
 * where the role needs approval, except turning it off where the environment lets editors do that:
 * that goes straight to the toggle endpoint (audited as a bypass of approval); should the API still
 * answer APPROVAL_REQUIRED (the setting withdrawn since the session loaded), it is proposed.
 */
export async function toggleWithApproval(session: Session, flag: Stored<Flag>, enabled: boolean, environment: string = session.environment, comment?: string): Promise<ChangeResult> {
  const current = flag.definition.environments[environment];
  if (current === undefined) {
    throw new Error(`${flag.key} is not set up in ${environment}`);
  }
  if (toggleProposes(session, environment, enabled)) {
    return saveFlagEnvironment(session, flag, { ...current, enabled }, environment, comment);
  }
  try {
    return { kind: 'applied', flag: await session.client.toggleFlag(session.project, flag.key, environment, enabled, flag.version) };
  } catch (e) {
    if (needsApproval(e)) {
      return saveFlagEnvironment(session, flag, { ...current, enabled }, environment, comment);
    }
    throw e;
  }
}
