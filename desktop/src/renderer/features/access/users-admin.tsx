import { useState } from 'react';
import type { ReactNode } from 'react';
import { ROLE_RANK, roleInProject, roleSchema } from '@xp/shared';
import type { Role, User } from '@xp/shared';
import { useSession } from '../../app/session.js';
import { DoneActions, SecretOnce } from '../../lib/copy-button.js';
import { FieldError, FormErrorNote, fieldErrors, invalidProps } from '../../lib/field-errors.js';
import { plainApiMessage } from '../../lib/plain-issues.js';
import { formatTime } from '../../lib/format.js';
import { pendingProps } from '../../lib/permissions.js';
import { Badge, Confirm, Dialog, Empty, ErrorNote, ExplainedBadge } from '../../lib/ui.js';

const ROLES: readonly Role[] = roleSchema.options;

/** The roles `actor` may give; mirrors the API's canAssignRole (owners any, admins up to their own rank). */
export function assignableRoles(actor: Role, targetCurrent?: Role): Role[] {
  if (actor !== 'owner' && actor !== 'admin') {
    return [];
  }
  if (actor === 'owner') {
    return [...ROLES];
  }
  if (targetCurrent !== undefined && ROLE_RANK[targetCurrent] > ROLE_RANK[actor]) {
    return [];
  }
  return ROLES.filter((r) => ROLE_RANK[r] <= ROLE_RANK[actor]);
}

/** Adds a user with a role the caller may grant; shows the generated password once. */
export function InviteUser({ onClose, onInvited }: { onClose: () => void; onInvited: () => void }): ReactNode {
  const { client, user } = useSession();
  const roles = assignableRoles(user.role);
  const [email, setEmail] = useState('');
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role>(roles.includes('editor') ? 'editor' : (roles[roles.length - 1] ?? 'viewer'));
  const [error, setError] = useState<unknown>(null);
  const [password, setPassword] = useState<string | null>(null);
  const fields = fieldErrors(error);
  /** The API's message about a field in plain words ("Name is required", not zod's "Too small: …"). */
  const problem = (field: 'email' | 'name', label: string, value: string): string | undefined => {
    const api = fields.get(field);
    return api === undefined ? undefined : plainApiMessage(label, api, value.trim());
  };
  const emailProblem = problem('email', 'Email', email);
  const nameProblem = problem('name', 'Name', name);
  const submit = async (): Promise<void> => {
    setError(null);
    try {
      const res = await client.inviteUser({ email: email.trim(), name: name.trim(), role });
      onInvited();
      setPassword(res.initialPassword ?? '');
    } catch (e) {
      setError(e);
    }
  };
  if (password !== null) {
    return (
      <Dialog title="User added" onClose={onClose}>
        <p role="status">
          {email} can sign in now; they will be asked to choose their own password the first time.
          {password === '' ? null : ' Their initial password, shown only now:'}
        </p>
        {password === '' ? <DoneActions onDone={onClose} /> : <SecretOnce value={password} copyLabel="Copy password" noun="password" valueLabel="Initial password" onDone={onClose} />}
      </Dialog>
    );
  }
  return (
    <Dialog title="Invite a user" onClose={onClose}>
      <label>
        Email
        <input type="email" value={email} onChange={(e) => { setEmail(e.target.value); }} {...invalidProps('invite-email-error', emailProblem)} />
      </label>
      <FieldError id="invite-email-error" message={emailProblem} />
      <label>
        Name
        <input value={name} onChange={(e) => { setName(e.target.value); }} {...invalidProps('invite-name-error', nameProblem)} />
      </label>
      <FieldError id="invite-name-error" message={nameProblem} />
      <label>
        Role
        <select value={role} onChange={(e) => { setRole(e.target.value as Role); }}>
          {roles.map((r) => (
            <option key={r} value={r}>
              {r}
            </option>
          ))}
        </select>
      </label>
      <FormErrorNote error={error} shown={['email', 'name']} />
      <div className="actions">
        <button type="button" onClick={onClose}>
          Cancel
        </button>
        <button type="button" className="primary" onClick={() => void submit()}>
          Invite user
        </button>
      </div>
    </Dialog>
  );
}

const article = (role: Role): string => (role === 'owner' || role === 'admin' || role === 'editor' || role === 'analyst' ? 'an' : 'a');

/** What a role change means for the user, asked before it is sent. */
export function roleChangeMessage(u: Pick<User, 'email' | 'role'>, to: Role): string {
  const becomes = `${u.email} becomes ${article(to)} ${to}`;
  if (to === 'owner') {
    return `${becomes}: owners hold every permission, including the organisation's settings and ownership, and can change the role of or disable any user, other owners too.`;
  }
  if (u.role === 'owner' || u.role === 'admin') {
    const loses =
      to === 'admin'
        ? "the organisation's settings and ownership"
        : `managing users, environments, projects, SDK keys and webhooks, and reviewing change requests${u.role === 'owner' ? ", and the organisation's settings" : ''}`;
    const approvals = to === 'admin' ? '' : ' Approvals they gave to open change requests no longer count.';
    return `${becomes} and loses ${loses}.${approvals}`;
  }
  return `${becomes}: the Roles table below lists what ${article(to)} ${to} may do.`;
}

const count = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`;

/** What a sign-out everywhere did: "Ended 3 sessions of ed@example.com and revoked 1 access token." */
export function signedOutMessage(email: string, res: { sessionsRevoked: number; accessTokensRevoked: number }): string {
  const tokens = res.accessTokensRevoked === 0 ? '' : ` and revoked ${count(res.accessTokensRevoked, 'personal access token', 'personal access tokens')}`;
  return `Ended ${count(res.sessionsRevoked, 'session', 'sessions')} of ${email}${tokens}.`;
}

/**
 * The temporary password of a reset, shown once with a copy button (as a new SDK key is), until closed.
 */
function TemporaryPassword({ email, password, onClose }: { email: string; password: string; onClose: () => void }): ReactNode {
  return (
    <Dialog title={`Password of ${email} reset`} onClose={onClose}>
      <p role="status">Their sessions and personal access tokens have ended. Give them this temporary password: they must choose their own when they sign in with it.</p>
      <p className="banner banner-warn">Copy it now: you won't see it again.</p>
      <SecretOnce value={password} copyLabel="Copy password" noun="password" valueLabel="Temporary password" onDone={onClose} />
    </Dialog>
  );
}

/**
 * A user's project roles (each in place of their organisation role in that project; owners have
 * none) and, when `editable` lists roles, a choice of their role in the current `project`: one of
 * those, or their organisation role.
 */
function ProjectRoles({ user: u, project, editable, onChange }: { user: User; project: string; editable: readonly Role[]; onChange: (role: Role | null) => void }): ReactNode {
  const roles = u.projectRoles ?? [];
  const current = roles.find((r) => r.project === project)?.role;
  return (
    <>
      {u.role === 'owner' ? <span className="muted small">owner everywhere</span> : null}
      {roles.map((r) => (
        <span key={r.project}>
          <Badge tone="info">
            {r.project}: {r.role}
          </Badge>{' '}
        </span>
      ))}
      {editable.length === 0 ? null : (
        <select aria-label={`Project role of ${u.email} in ${project}`} value={current ?? ''} onChange={(e) => { onChange(e.target.value === '' ? null : (e.target.value as Role)); }}>
          <option value="">{`${project}: organisation role (${u.role})`}</option>
          {(current === undefined || editable.includes(current) ? editable : [current, ...editable]).map((r) => (
            <option key={r} value={r}>
              {`${project}: ${r}`}
            </option>
          ))}
        </select>
      )}
    </>
  );
}

/**
 * The organisation's users; owners and admins change roles, reset passwords, sign users out
 * everywhere and disable users, each from the version listed.
 */
export function UsersTable({ users, onChanged }: { users: readonly User[]; onChanged: () => void }): ReactNode {
  const { client, user: me, project } = useSession();
  /** Whether the signed-in role manages users at all: other roles see the list read-only. */
  const manages = assignableRoles(me.role).length > 0;
  const [error, setError] = useState<{ user: string; error: unknown } | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [disabling, setDisabling] = useState<User | null>(null);
  /** A role change waiting for its confirmation. */
  const [changing, setChanging] = useState<{ user: User; role: Role } | null>(null);
  /** A password reset waiting for its confirmation, then its temporary password (shown once). */
  const [resetting, setResetting] = useState<User | null>(null);
  const [temporary, setTemporary] = useState<{ email: string; password: string } | null>(null);
  /** A sign-out everywhere waiting for its confirmation (and whether to revoke the access tokens too), then the id of the user being signed out. */
  const [signingOut, setSigningOut] = useState<User | null>(null);
  const [alsoTokens, setAlsoTokens] = useState(false);
  const [signOutBusy, setSignOutBusy] = useState<string | null>(null);
  const signOut = async (u: User, accessTokens: boolean): Promise<void> => {
    setError(null);
    setDone(null);
    setSignOutBusy(u.id);
    try {
      const res = await client.revokeUserSessions(u.id, accessTokens ? { accessTokens: true } : {});
      setDone(signedOutMessage(u.email, res));
    } catch (e) {
      setError({ user: u.email, error: e });
    }
    setSignOutBusy(null);
  };
  const reset = async (u: User): Promise<void> => {
    setError(null);
    setDone(null);
    try {
      const res = await client.resetPassword(u.id);
      setTemporary({ email: u.email, password: res.temporaryPassword });
    } catch (e) {
      setError({ user: u.email, error: e });
    }
    onChanged();
  };
  const unlock = async (u: User): Promise<void> => {
    setError(null);
    setDone(null);
    try {
      const res = await client.unlockUser(u.id);
      setDone(`${u.email} can sign in again: the failed logins counted against them are forgotten${res.addresses === 0 ? '' : ` (from ${res.addresses} ${res.addresses === 1 ? 'address' : 'addresses'})`}.`);
    } catch (e) {
      setError({ user: u.email, error: e });
    }
  };
  const patch = async (u: User, change: { role?: Role; disabled?: boolean }): Promise<void> => {
    setError(null);
    setDone(null);
    try {
      const saved = await client.updateUser(u.id, change, u.version);
      setDone(change.role !== undefined ? `${u.email} is now ${article(saved.role)} ${saved.role}.` : `${u.email} is ${saved.disabled ? 'disabled' : 'enabled'}.`);
    } catch (e) {
      setError({ user: u.email, error: e });
    }
    onChanged();
  };
  /** Sets (a role) or removes (null) a user's role in the current project. */
  const changeProjectRole = async (u: User, role: Role | null): Promise<void> => {
    setError(null);
    setDone(null);
    try {
      if (role === null) {
        await client.removeProjectRole(u.id, project);
        setDone(`${u.email} has their organisation role (${u.role}) in ${project} again.`);
      } else {
        await client.setProjectRole(u.id, project, role as Exclude<Role, 'owner'>);
        setDone(`${u.email} is now ${article(role)} ${role} in ${project}.`);
      }
    } catch (e) {
      setError({ user: u.email, error: e });
    }
    onChanged();
  };
  if (users.length === 0) {
    return <Empty>No users.</Empty>;
  }
  return (
    <>
      {error === null ? null : (
        <div>
          <strong>{error.user}:</strong> <ErrorNote error={error.error} />
        </div>
      )}
      {done === null ? null : (
        <p className="banner banner-good" role="status">
          {done}
        </p>
      )}
      <table aria-label="Users">
        <thead>
          <tr>
            <th>User</th>
            <th>Role</th>
            <th>Project roles</th>
            <th>Status</th>
            <th>Since</th>
            {manages ? <th>Actions</th> : null}
          </tr>
        </thead>
        <tbody>
          {users.map((u) => {
            const roles = assignableRoles(me.role, u.role);
            const self = u.id === me.id;
            return (
              <tr key={u.id}>
                <td>
                  {u.name} <span className="muted small">{u.email}</span>
                </td>
                <td>
                  {roles.length === 0 || self ? (
                    <Badge tone="info">{u.role}</Badge>
                  ) : (
                    <select aria-label={`Role of ${u.email}`} value={u.role} onChange={(e) => { setChanging({ user: u, role: e.target.value as Role }); }}>
                      {(roles.includes(u.role) ? roles : [u.role, ...roles]).map((r) => (
                        <option key={r} value={r}>
                          {r}
                        </option>
                      ))}
                    </select>
                  )}
                </td>
                <td>
                  <ProjectRoles user={u} project={project} editable={project !== '' && !self && u.role !== 'owner' ? assignableRoles(me.role, roleInProject(u, project)).filter((r) => r !== 'owner') : []} onChange={(role) => void changeProjectRole(u, role)} />
                </td>
                <td>
                  {u.disabled ? <Badge tone="bad">disabled</Badge> : <Badge tone="good">active</Badge>}
                  {u.passwordChangeRequired === true ? (
                    <>
                      {' '}
                      <Badge tone="warn">must choose a password</Badge>
                    </>
                  ) : null}
                  {u.sso === true ? (
                    <>
                      {' '}
                      <ExplainedBadge tone="info" label="SSO">
                        {u.email} signs in with single sign-on (linked to your identity provider). A password reset gives them a password as well, for when SSO is unavailable; it does not change how they sign in with SSO.
                      </ExplainedBadge>
                    </>
                  ) : null}
                </td>
                <td className="small muted">{formatTime(u.createdAt)}</td>
                {manages ? (
                  <td>
                    {self || roles.length === 0 ? null : u.disabled ? (
                      <button type="button" aria-label={`Enable ${u.email}`} onClick={() => void patch(u, { disabled: false })}>
                        Enable
                      </button>
                    ) : (
                      <button type="button" aria-label={`Disable ${u.email}`} onClick={() => { setDisabling(u); }}>
                        Disable
                      </button>
                    )}{' '}
                    {self || roles.length === 0 ? null : (
                      <button type="button" aria-label={`Reset password of ${u.email}`} onClick={() => { setResetting(u); }}>
                        Reset password…
                      </button>
                    )}{' '}
                    {self || roles.length === 0 || u.disabled ? null : (
                      <button type="button" aria-label={`Sign out everywhere: ${u.email}`} title="Ends all their sessions (a lost laptop, a leaked session); they can sign in again with their password" {...pendingProps(signOutBusy === u.id)} onClick={() => { setAlsoTokens(false); setSigningOut(u); }}>
                        {signOutBusy === u.id ? 'Signing out…' : 'Sign out everywhere…'}
                      </button>
                    )}{' '}
                    {self || roles.length === 0 || u.disabled ? null : (
                      <button type="button" aria-label={`Unlock sign-in of ${u.email}`} title="After too many failed logins, sign-in is refused for 15 minutes: this lifts it now" onClick={() => void unlock(u)}>
                        Unlock sign-in
                      </button>
                    )}
                  </td>
                ) : null}
              </tr>
            );
          })}
        </tbody>
      </table>
      {changing === null ? null : (
        <Confirm
          title={`Change the role of ${changing.user.email} from ${changing.user.role} to ${changing.role}?`}
          message={<p>{roleChangeMessage(changing.user, changing.role)}</p>}
          confirmLabel={`Make ${article(changing.role)} ${changing.role}`}
          onConfirm={() => {
            const { user: u, role } = changing;
            setChanging(null);
            void patch(u, { role });
          }}
          onCancel={() => { setChanging(null); }}
        />
      )}
      {resetting === null ? null : (
        <Confirm
          title={`Reset the password of ${resetting.email}?`}
          message={`${resetting.sso === true ? 'They sign in with single sign-on: a reset gives them a password as well (break-glass, for when SSO is unavailable), and SSO keeps working. ' : ''}They are signed out everywhere and their personal access tokens are revoked. You get a temporary password to give them, shown once; they must choose their own when they sign in with it.`}
          confirmLabel="Reset password"
          onConfirm={() => {
            const u = resetting;
            setResetting(null);
            void reset(u);
          }}
          onCancel={() => { setResetting(null); }}
        />
      )}
      {signingOut === null ? null : (
        <Confirm
          title={`Sign ${signingOut.email} out everywhere?`}
          message={
            <>
              <p>All their sessions end, in the console and wherever else they signed in. Their account and password stay as they are: they can sign in again at once.</p>
              <label className="check">
                <input type="checkbox" checked={alsoTokens} onChange={(e) => { setAlsoTokens(e.target.checked); }} /> Also revoke their personal access tokens (scripts and integrations using them stop working)
              </label>
            </>
          }
          confirmLabel="Sign out everywhere"
          onConfirm={() => {
            const u = signingOut;
            setSigningOut(null);
            void signOut(u, alsoTokens);
          }}
          onCancel={() => { setSigningOut(null); }}
        />
      )}
      {temporary === null ? null : <TemporaryPassword email={temporary.email} password={temporary.password} onClose={() => { setTemporary(null); }} />}
      {disabling === null ? null : (
        <Confirm
          title={`Disable ${disabling.email}?`}
          message="They are signed out and cannot sign in or use their API keys until enabled again."
          confirmLabel="Disable user"
          onConfirm={() => {
            const u = disabling;
            setDisabling(null);
            void patch(u, { disabled: true });
          }}
          onCancel={() => { setDisabling(null); }}
        />
      )}
    </>
  );
}
