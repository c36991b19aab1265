import { useEffect, useId, useRef, useState } from 'react';
import type { ReactNode } from 'react';
import { ROLE_RANK } from '@xp/shared';
import type { AccessTokenView, Role, ServiceAccount, ServiceAccountDeletion, ServiceAccountInput } from '@xp/shared';
import { useSession } from '../../app/session.js';
import { SecretOnce } from '../../lib/copy-button.js';
import { FieldError, FormErrorNote, fieldErrors, invalidProps, validationIssues } from '../../lib/field-errors.js';
import { formatTime } from '../../lib/format.js';
import { pendingProps } from '../../lib/permissions.js';
import { plainApiMessage } from '../../lib/plain-issues.js';
import { useAsync } from '../../lib/use-async.js';
import { usePages } from '../../lib/use-pages.js';
import { AsyncView, Badge, Confirm, Dialog, Empty, ErrorNote } from '../../lib/ui.js';
import { ProjectChoices, projectsChoiceProblem, tokenRoles } from './api-keys.js';
import { ExpiryField, TokenTable, isExpired, useTokenLifetime } from './token-table.js';

/** A role a service account may hold, in the organisation or in a project: never owner. */
export type ServiceAccountRole = Exclude<Role, 'owner'>;

const ACCOUNT_ROLES: readonly ServiceAccountRole[] = ['admin', 'editor', 'analyst', 'viewer'];

/**
 * The roles `actor` may give a service account; mirrors the API's canGrantServiceAccountRole: owners
 * any (never owner), admins a role below their own (at most editor: an admin robot outlives whoever
 * made it, so owners decide), other roles none (they do not manage service accounts).
 */
export function serviceAccountRoles(actor: Role): ServiceAccountRole[] {
  if (actor === 'owner') {
    return [...ACCOUNT_ROLES];
  }
  if (actor === 'admin') {
    return ACCOUNT_ROLES.filter((r) => ROLE_RANK[r] < ROLE_RANK.admin);
  }
  return [];
}

/** Whether `actor` may manage `account`: every role it holds (organisation and projects) is one the actor could give it. */
export function managesAccount(actor: Role, account: Pick<ServiceAccount, 'role' | 'projectRoles'>): boolean {
  const grantable: readonly Role[] = serviceAccountRoles(actor);
  return grantable.length > 0 && [account.role, ...account.projectRoles.map((r) => r.role)].every((r) => grantable.includes(r));
}

/** How many of an account's tokens work: "2 live tokens, 1 revoked or expired" (the API holds at most 100 live ones per account). */
export function liveCount(tokens: readonly AccessTokenView[], now = Date.now()): string {
  const live = tokens.filter((t) => t.revokedAt === null && !isExpired(t, now)).length;
  const gone = tokens.length - live;
  return `${live} live ${live === 1 ? 'token' : 'tokens'}${gone === 0 ? '' : `, ${gone} revoked or expired`}`;
}

/** What deleting an account ended: "2 tokens revoked, 1 open change request cancelled" (only what there was). */
export function deletionSummary(ended: ServiceAccountDeletion): string {
  const plural = (n: number, one: string, many: string): string => `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;
  return [
    plural(ended.tokensRevoked, 'token revoked', 'tokens revoked'),
    ...(ended.changeRequestsCancelled > 0 ? [plural(ended.changeRequestsCancelled, 'open change request cancelled', 'open change requests cancelled')] : []),
    ...(ended.scheduledChangesCancelled > 0 ? [plural(ended.scheduledChangesCancelled, 'scheduled change cancelled', 'scheduled changes cancelled')] : []),
  ].join(', ');
}

/** One project role being edited; `id` keeps React's rows apart while projects change. */
interface ProjectRoleDraft {
  readonly id: number;
  readonly project: string;
  readonly role: ServiceAccountRole;
}

/** The message of a validation issue of the `projectRoles` list that names row `index` (`projectRoles[1].project`). */
function rowProblem(error: unknown, index: number): string | undefined {
  return validationIssues(error).find((i) => i.path === `projectRoles[${index}]` || i.path.startsWith(`projectRoles[${index}].`))?.message;
}

/**
 * Creates a service account (`account` undefined) or edits one: name, description, organisation
 * role and project roles, each offering only the roles the signed-in user may give. Only the fields
 * that changed are sent, with the version listed.
 */
export function ServiceAccountDialog({ account, onClose, onSaved }: { account?: ServiceAccount; onClose: () => void; onSaved: (saved: ServiceAccount) => void }): ReactNode {
  const { client, user } = useSession();
  const id = useId();
  const roles = serviceAccountRoles(user.role);
  const projects = useAsync(() => client.projects(), [client]);
  const [name, setName] = useState(account?.name ?? '');
  const [description, setDescription] = useState(account?.description ?? '');
  const [role, setRole] = useState<ServiceAccountRole>(account?.role ?? (roles.includes('editor') ? 'editor' : (roles.at(-1) ?? 'viewer')));
  const nextRow = useRef(0);
  const [rows, setRows] = useState<ProjectRoleDraft[]>(() => (account?.projectRoles ?? []).map((r) => ({ id: nextRow.current++, project: r.project, role: r.role as ServiceAccountRole })));
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const fields = fieldErrors(error);
  /** The API's message about a field in plain words ("Name is required", not zod's "Too small: …"). */
  const problem = (field: string, label: string, value: string): string | undefined => {
    const api = fields.get(field);
    return api === undefined ? undefined : plainApiMessage(label, api, value.trim());
  };
  const nameProblem = problem('name', 'Name', name);
  const descriptionProblem = problem('description', 'Description', description);
  const roleProblem = problem('role', 'Role', role);
  // A problem of the whole list (two rows of one project); a row's own is shown beside that row.
  const listProblem = validationIssues(error).find((i) => i.path === 'projectRoles')?.message;
  const update = (rowId: number, change: Partial<ProjectRoleDraft>): void => {
    setRows((rs) => rs.map((r) => (r.id === rowId ? { ...r, ...change } : r)));
  };

  const submit = async (): Promise<void> => {
    setError(null);
    setBusy(true);
    const projectRoles = rows.filter((r) => r.project !== '').map((r) => ({ project: r.project, role: r.role }));
    try {
      let saved: ServiceAccount;
      if (account === undefined) {
        const body: ServiceAccountInput = { name: name.trim(), role, ...(description.trim() === '' ? {} : { description: description.trim() }), ...(projectRoles.length === 0 ? {} : { projectRoles }) };
        saved = await client.createServiceAccount(body);
      } else {
        const before = [...account.projectRoles].map((r) => `${r.project}:${r.role}`).sort().join(',');
        const after = projectRoles.map((r) => `${r.project}:${r.role}`).sort().join(',');
        const patch = {
          ...(name.trim() === account.name ? {} : { name: name.trim() }),
          ...(description.trim() === (account.description ?? '') ? {} : { description: description.trim() }),
          ...(role === account.role ? {} : { role }),
          ...(before === after ? {} : { projectRoles }),
        };
        saved = Object.keys(patch).length === 0 ? account : await client.updateServiceAccount(account.id, patch, account.version);
      }
      onSaved(saved);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Dialog title={account === undefined ? 'New service account' : `Edit ${account.name}`} onClose={onClose}>
      <form
        aria-label={account === undefined ? 'New service account' : `Edit ${account.name}`}
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        <label>
          Name
          <input required maxLength={100} placeholder="e.g. github-deploy" value={name} onChange={(e) => { setName(e.target.value); }} {...invalidProps(`${id}-name-error`, nameProblem)} />
        </label>
        <FieldError id={`${id}-name-error`} message={nameProblem} />
        <label>
          Description
          <textarea rows={2} maxLength={1000} placeholder="What uses it, e.g. Applies flags/ from main" value={description} onChange={(e) => { setDescription(e.target.value); }} {...invalidProps(`${id}-description-error`, descriptionProblem)} />
        </label>
        <FieldError id={`${id}-description-error`} message={descriptionProblem} />
        <label>
          Role
          <select
            value={role}
            onChange={(e) => { setRole(e.target.value as ServiceAccountRole); }}
            {...invalidProps(`${id}-role-error`, roleProblem)}
            aria-describedby={roleProblem === undefined ? `${id}-role-help` : `${id}-role-error ${id}-role-help`}
          >
            {(roles.includes(role) ? roles : [role, ...roles]).map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </label>
        <FieldError id={`${id}-role-error`} message={roleProblem} />
        <span id={`${id}-role-help`} className="small muted">
          {user.role === 'owner' ? 'A service account is never an owner.' : 'Admins give a service account at most editor; only an owner makes an admin one.'} Its tokens act with at most this role.
        </span>
        <fieldset aria-describedby={listProblem === undefined ? `${id}-projects-help` : `${id}-projects-error ${id}-projects-help`}>
          <legend>Project roles</legend>
          {rows.map((r, i) => {
            const taken = new Set(rows.filter((o) => o.id !== r.id).map((o) => o.project));
            const own = rowProblem(error, i);
            return (
              <div key={r.id} className="row">
                <AsyncView state={projects.state} onRetry={projects.reload}>
                  {(list) => (
                    <select aria-label={`Project of project role ${i + 1}`} value={r.project} onChange={(e) => { update(r.id, { project: e.target.value }); }} {...invalidProps(`${id}-row-${r.id}-error`, own)}>
                      <option value="">Choose a project</option>
                      {/* A project it holds a role in that the list no longer has stays choosable, so the row says what it is. */}
                      {(r.project === '' || list.some((p) => p.key === r.project) ? list : [{ key: r.project, name: r.project }, ...list])
                        .filter((p) => !taken.has(p.key))
                        .map((p) => (
                          <option key={p.key} value={p.key}>
                            {p.name === p.key ? p.key : `${p.key} (${p.name})`}
                          </option>
                        ))}
                    </select>
                  )}
                </AsyncView>{' '}
                <select aria-label={`Role in project role ${i + 1}`} value={r.role} onChange={(e) => { update(r.id, { role: e.target.value as ServiceAccountRole }); }}>
                  {(roles.includes(r.role) ? roles : [r.role, ...roles]).map((x) => (
                    <option key={x} value={x}>
                      {x}
                    </option>
                  ))}
                </select>{' '}
                <button type="button" aria-label={`Remove project role ${i + 1}${r.project === '' ? '' : ` (${r.project})`}`} onClick={() => { setRows((rs) => rs.filter((o) => o.id !== r.id)); }}>
                  Remove
                </button>
                <FieldError id={`${id}-row-${r.id}-error`} message={own} />
              </div>
            );
          })}
          <button
            type="button"
            onClick={() => {
              setRows((rs) => [...rs, { id: nextRow.current++, project: '', role: roles.includes('viewer') ? 'viewer' : (roles.at(-1) ?? 'viewer') }]);
            }}
          >
            Add a project role
          </button>
          <FieldError id={`${id}-projects-error`} message={listProblem} />
          <span id={`${id}-projects-help`} className="small muted">
            In each project listed it has that role instead of its organisation role (higher or lower).
          </span>
        </fieldset>
        <FormErrorNote error={error} shown={['name', 'description', 'role', 'projectRoles']} />
        <div className="actions">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="primary" {...pendingProps(busy)}>
            {account === undefined ? 'Create service account' : 'Save'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

/** A token just minted: its secret, shown once with a copy button and a warning, until closed. */
function MintedToken({ account, token, onClose }: { account: string; token: string; onClose: () => void }): ReactNode {
  return (
    <Dialog title={`Token of ${account} created`} onClose={onClose}>
      <p className="banner banner-warn">Copy it now: you won't see it again. It acts as {account}; store it where the job that uses it reads secrets.</p>
      <SecretOnce value={token} copyLabel="Copy token" noun="token" valueLabel="Token" onDone={onClose} />
    </Dialog>
  );
}

/**
 * The tokens of one service account (never their secrets): mint one — shown once — with an expiry,
 * optionally capped at a role at or below the account's and limited to some projects; revoke one.
 */
export function ServiceAccountTokens({ account, onClose }: { account: ServiceAccount; onClose: () => void }): ReactNode {
  const { client, refreshTick } = useSession();
  const id = useId();
  const heading = useRef<HTMLHeadingElement>(null);
  const tokens = useAsync(() => client.serviceAccountTokens(account.id), [client, account.id], { refreshKey: refreshTick });
  const roles = tokenRoles(account.role);
  const [tokenName, setTokenName] = useState('');
  const { expiry, choices: lifetimes, setExpiry } = useTokenLifetime();
  /** '' follows the account's role, whatever it becomes. */
  const [role, setRole] = useState<Role | ''>('');
  const [limited, setLimited] = useState(false);
  const [projects, setProjects] = useState<string[]>([]);
  const [projectsProblem, setProjectsProblem] = useState<string | null>(null);
  const [minted, setMinted] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [revokeError, setRevokeError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [revoking, setRevoking] = useState<AccessTokenView | null>(null);
  const fields = fieldErrors(error);
  const nameProblem = fields.get('name') === undefined ? undefined : plainApiMessage('Token name', fields.get('name')!, tokenName.trim());
  const projectsMessage = projectsProblem ?? fields.get('projects');

  // Opened from a row's Tokens button: the keyboard lands on the panel it opened.
  useEffect(() => {
    heading.current?.focus();
  }, [account.id]);

  const submit = async (): Promise<void> => {
    setError(null);
    const problem = projectsChoiceProblem(limited, projects, 'token');
    setProjectsProblem(problem);
    if (problem !== null) {
      return;
    }
    setBusy(true);
    try {
      const res = await client.createServiceAccountToken(account.id, {
        name: tokenName.trim(),
        ...(expiry === '' ? {} : { expiresInDays: Number(expiry) }),
        ...(role === '' ? {} : { role }),
        ...(limited ? { projects } : {}),
      });
      setMinted(res.token);
      setTokenName('');
      setRole('');
      setLimited(false);
      setProjects([]);
      tokens.reload();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="panel" aria-labelledby={`${id}-heading`}>
      <div className="page-head">
        <h3 id={`${id}-heading`} ref={heading} tabIndex={-1}>
          Tokens of {account.name}
        </h3>
        <button type="button" onClick={onClose}>
          Close tokens
        </button>
      </div>
      {account.disabled ? <p className="banner banner-warn">{account.name} is disabled: its tokens answer 401 until it is enabled again.</p> : null}
      {revokeError === null ? null : <ErrorNote error={revokeError} />}
      <AsyncView state={tokens.state} onRetry={tokens.reload}>
        {(list) =>
          list.length === 0 ? (
            <Empty>No tokens yet. Mint one below for the job that acts as {account.name}.</Empty>
          ) : (
            <>
              <p className="small muted">{liveCount(list)}</p>
              <TokenTable label={`Tokens of ${account.name}`} tokens={list} follows="the account's role" revokeName={(t) => `Revoke token ${t.name}`} onRevoke={setRevoking} />
            </>
          )
        }
      </AsyncView>
      <form
        aria-label={`New token of ${account.name}`}
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        <h4>Mint a token</h4>
        <label>
          Token name
          <input required maxLength={100} placeholder="e.g. github actions" value={tokenName} onChange={(e) => { setTokenName(e.target.value); }} {...invalidProps(`${id}-name-error`, nameProblem)} />
        </label>
        <FieldError id={`${id}-name-error`} message={nameProblem} />
        <ExpiryField id={id} value={expiry} onChange={setExpiry} choices={lifetimes} error={fields.get('expiresInDays')} />
        <label>
          Token role
          <select
            value={role}
            onChange={(e) => { setRole(e.target.value as Role | ''); }}
            {...invalidProps(`${id}-role-error`, fields.get('role'))}
            aria-describedby={fields.get('role') === undefined ? `${id}-role-help` : `${id}-role-error ${id}-role-help`}
          >
            <option value="">{`Same as the account's (follows it, now ${account.role})`}</option>
            {roles.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </label>
        <FieldError id={`${id}-role-error`} message={fields.get('role')} />
        <span id={`${id}-role-help`} className="small muted">
          A token acts with the lower of this role and the account&apos;s at the time.
        </span>
        <fieldset aria-describedby={projectsMessage === undefined ? undefined : `${id}-projects-error`}>
          <legend>Token projects</legend>
          <label className="check">
            <input
              type="radio"
              name={`${id}-projects`}
              checked={!limited}
              onChange={() => {
                setLimited(false);
                setProjectsProblem(null);
              }}
            />{' '}
            All projects
          </label>
          <label className="check">
            <input type="radio" name={`${id}-projects`} checked={limited} onChange={() => { setLimited(true); }} /> Only these projects
          </label>
          {limited ? (
            <ProjectChoices
              chosen={projects}
              invalid={projectsMessage !== undefined}
              errorId={`${id}-projects-error`}
              onChange={(next) => {
                setProjects(next);
                setProjectsProblem(null);
              }}
            />
          ) : null}
          <FieldError id={`${id}-projects-error`} message={projectsMessage} />
        </fieldset>
        <FormErrorNote error={error} shown={['name', 'expiresInDays', 'role', 'projects']} />
        <div className="actions">
          <button type="submit" className="primary" {...pendingProps(busy)}>
            Mint token
          </button>
        </div>
      </form>
      {minted === null ? null : <MintedToken account={account.name} token={minted} onClose={() => { setMinted(null); }} />}
      {revoking === null ? null : (
        <Confirm
          title={`Revoke token ${revoking.name} of ${account.name}?`}
          message={<p>Anything using this token stops working at once (401). This cannot be undone: mint a new token instead.</p>}
          confirmLabel="Revoke token"
          onCancel={() => { setRevoking(null); }}
          onConfirm={() => {
            const tokenId = revoking.id;
            setRevoking(null);
            setRevokeError(null);
            client.revokeServiceAccountToken(account.id, tokenId).then(
              () => { tokens.reload(); },
              (e: unknown) => { setRevokeError(e); },
            );
          }}
        />
      )}
    </section>
  );
}

/**
 * The organisation's service accounts (identities for CI and automation that never sign in): every
 * role sees the list; owners and admins create, edit, disable and delete the ones whose roles they
 * could give, and mint and revoke their tokens.
 */
export function ServiceAccounts(): ReactNode {
  const { client, user, refreshTick } = useSession();
  const manages = serviceAccountRoles(user.role).length > 0;
  const accounts = usePages(
    (cursor) => client.serviceAccounts({ limit: 200, ...(cursor === undefined ? {} : { cursor }) }),
    [client],
    { keyOf: (a) => a.id, refreshKey: refreshTick },
  );
  const [editing, setEditing] = useState<ServiceAccount | 'new' | null>(null);
  const [deleting, setDeleting] = useState<ServiceAccount | null>(null);
  const [disabling, setDisabling] = useState<ServiceAccount | null>(null);
  /** The account whose tokens are open below the list. */
  const [tokensOf, setTokensOf] = useState<string | null>(null);
  const [error, setError] = useState<{ account: string; error: unknown } | null>(null);
  const [done, setDone] = useState<string | null>(null);

  const act = async (a: ServiceAccount, run: () => Promise<string>): Promise<void> => {
    setError(null);
    setDone(null);
    try {
      setDone(await run());
    } catch (e) {
      setError({ account: a.name, error: e });
    }
    accounts.reload();
  };
  const setDisabled = (a: ServiceAccount, disabled: boolean): Promise<void> =>
    act(a, async () => {
      await client.updateServiceAccount(a.id, { disabled }, a.version);
      return disabled ? `${a.name} is disabled: its tokens answer 401 until it is enabled again.` : `${a.name} is enabled: its tokens work again.`;
    });
  const remove = (a: ServiceAccount): Promise<void> =>
    act(a, async () => {
      const ended = await client.deleteServiceAccount(a.id, a.version);
      setTokensOf((open) => (open === a.id ? null : open));
      return `${a.name} is deleted: ${deletionSummary(ended)}.`;
    });

  const list = accounts.state.status === 'ready' ? accounts.state.data : [];
  const open = list.find((a) => a.id === tokensOf);

  return (
    <section aria-labelledby="service-accounts-heading">
      <div className="page-head">
        <h2 id="service-accounts-heading">Service accounts</h2>
        {manages ? (
          <button type="button" className="primary" onClick={() => { setEditing('new'); }}>
            New service account
          </button>
        ) : null}
      </div>
      <p className="small muted">
        Identities for CI, deploy jobs and other automation: they never sign in, and act only through their tokens, whoever minted them and whatever becomes of that person.
      </p>
      {manages ? null : <p className="muted">Read only: owners and admins create service accounts, change them and mint their tokens.</p>}
      {error === null ? null : (
        <div>
          <strong>{error.account}:</strong> <ErrorNote error={error.error} />
        </div>
      )}
      {done === null ? null : (
        <p className="banner banner-good" role="status">
          {done}
        </p>
      )}
      <AsyncView state={accounts.state} onRetry={accounts.reload}>
        {(items) =>
          items.length === 0 ? (
            <Empty>No service accounts.{manages ? ' Create one for a CI pipeline instead of using a personal API key.' : ''}</Empty>
          ) : (
            <table aria-label="Service accounts">
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Role</th>
                  <th>Project roles</th>
                  <th>Status</th>
                  <th>Created</th>
                  {manages ? <th>Actions</th> : null}
                </tr>
              </thead>
              <tbody>
                {items.map((a) => {
                  const mine = managesAccount(user.role, a);
                  return (
                    <tr key={a.id}>
                      <td>
                        {a.name}
                        {a.description === null ? null : <div className="small muted">{a.description}</div>}
                      </td>
                      <td>
                        <Badge tone="info">{a.role}</Badge>
                      </td>
                      <td>
                        {a.projectRoles.length === 0 ? <span className="muted small">none</span> : null}
                        {a.projectRoles.map((r) => (
                          <span key={r.project}>
                            <Badge tone="info">
                              {r.project}: {r.role}
                            </Badge>{' '}
                          </span>
                        ))}
                      </td>
                      <td>{a.disabled ? <Badge tone="bad">disabled</Badge> : <Badge tone="good">active</Badge>}</td>
                      <td className="small muted">{formatTime(a.createdAt)}</td>
                      {manages ? (
                        <td>
                          {mine ? (
                            <>
                              <button type="button" aria-expanded={tokensOf === a.id} aria-label={`Tokens of ${a.name}`} onClick={() => { setTokensOf((o) => (o === a.id ? null : a.id)); }}>
                                Tokens
                              </button>{' '}
                              <button type="button" aria-label={`Edit ${a.name}`} onClick={() => { setEditing(a); }}>
                                Edit…
                              </button>{' '}
                              {a.disabled ? (
                                <button type="button" aria-label={`Enable ${a.name}`} onClick={() => void setDisabled(a, false)}>
                                  Enable
                                </button>
                              ) : (
                                <button type="button" aria-label={`Disable ${a.name}`} onClick={() => { setDisabling(a); }}>
                                  Disable…
                                </button>
                              )}{' '}
                              <button type="button" className="danger" aria-label={`Delete ${a.name}`} onClick={() => { setDeleting(a); }}>
                                Delete…
                              </button>
                            </>
                          ) : (
                            <span className="small muted">An owner manages it</span>
                          )}
                        </td>
                      ) : null}
                    </tr>
                  );
                })}
              </tbody>
            </table>
          )
        }
      </AsyncView>
      {accounts.moreError === null ? null : <ErrorNote error={accounts.moreError} />}
      {accounts.loadMore === undefined || accounts.state.status !== 'ready' ? null : (
        <button type="button" onClick={() => void accounts.loadMore?.()}>
          Load more service accounts
        </button>
      )}
      {open === undefined ? null : <ServiceAccountTokens key={open.id} account={open} onClose={() => { setTokensOf(null); }} />}
      {editing === null ? null : (
        <ServiceAccountDialog
          {...(editing === 'new' ? {} : { account: editing })}
          onClose={() => { setEditing(null); }}
          onSaved={(saved) => {
            setEditing(null);
            setError(null);
            setDone(editing === 'new' ? `${saved.name} is created: open its Tokens to mint one.` : `${saved.name} is saved.`);
            accounts.reload();
          }}
        />
      )}
      {disabling === null ? null : (
        <Confirm
          title={`Disable ${disabling.name}?`}
          message={<p>Every token of {disabling.name} answers 401 at once. The tokens are kept: enabling it again brings them back.</p>}
          confirmLabel="Disable service account"
          onCancel={() => { setDisabling(null); }}
          onConfirm={() => {
            const a = disabling;
            setDisabling(null);
            void setDisabled(a, true);
          }}
        />
      )}
      {deleting === null ? null : (
        <Confirm
          title={`Delete ${deleting.name}?`}
          message={
            <p>
              Its tokens are revoked at once: every job using them gets 401 from now on. Its project roles go too; the audit log keeps naming it. This cannot be undone.
            </p>
          }
          confirmLabel="Delete and revoke its tokens"
          onCancel={() => { setDeleting(null); }}
          onConfirm={() => {
            const a = deleting;
            setDeleting(null);
            void remove(a);
          }}
        />
      )}
    </section>
  );
}
