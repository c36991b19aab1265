import { useState } from 'react';
import type { ReactNode } from 'react';
import { ROLE_RANK, roleSchema } from '@xp/shared';
import type { Role } from '@xp/shared';
import { useSession } from '../../app/session.js';
import { FieldError, FormErrorNote, fieldErrors, invalidProps } from '../../lib/field-errors.js';
import { useAsync } from '../../lib/use-async.js';
import { AsyncView, Confirm, Empty } from '../../lib/ui.js';
import { pendingProps } from '../../lib/permissions.js';
import { ExpiryField, TokenTable, useTokenLifetime } from './token-table.js';

export { tokenAccess } from './token-table.js';

/** The most projects one key may be limited to (the API's bound). */
export const MAX_PROJECTS = 50;

/** Why a new key's or token's projects choice cannot be sent, or null: "Only these projects" with none ticked, or more than MAX_PROJECTS. */
export function projectsChoiceProblem(limited: boolean, projects: readonly string[], noun: 'key' | 'token'): string | null {
  if (!limited) {
    return null;
  }
  if (projects.length === 0) {
    return 'Tick at least one project, or choose All projects.';
  }
  return projects.length > MAX_PROJECTS ? `A ${noun} is limited to at most ${MAX_PROJECTS} projects; choose All projects or fewer.` : null;
}

/** The roles a key of `mine` may be capped at: the API refuses one above the caller's own (403). */
export function tokenRoles(mine: Role): Role[] {
  return roleSchema.options.filter((r) => ROLE_RANK[r] <= ROLE_RANK[mine]);
}

/**
 * The organisation's projects as checkboxes, loaded when the key is to be limited to some (here and
 * for a service account's token); `errorId` is the id of the message shown when `invalid`.
 */
export function ProjectChoices({ chosen, onChange, invalid, errorId = 'api-key-projects-error' }: { chosen: readonly string[]; onChange: (next: string[]) => void; invalid: boolean; errorId?: string }): ReactNode {
  const { client } = useSession();
  const projects = useAsync(() => client.projects(), [client]);
  return (
    <AsyncView state={projects.state} onRetry={projects.reload}>
      {(list) =>
        list.length === 0 ? (
          <p className="muted small">There are no projects yet.</p>
        ) : (
          <fieldset className="bare" aria-label="Only these projects" {...(invalid ? { 'aria-describedby': errorId } : {})}>
            {list.map((p) => (
              <label key={p.key} className="check">
                <input
                  type="checkbox"
                  checked={chosen.includes(p.key)}
                  onChange={(e) => {
                    onChange(e.target.checked ? [...chosen, p.key] : chosen.filter((k) => k !== p.key));
                  }}
                />{' '}
                {p.key}
                {p.name === p.key ? null : <span className="muted small">({p.name})</span>}
              </label>
            ))}
          </fieldset>
        )
      }
    </AsyncView>
  );
}

/**
 * The signed-in user's personal API keys (scripts, CI, the VS Code extension): create one — its
 * secret shown once — optionally capped at a role at or below the user's and limited to some
 * projects; the list says what each key may do; revoke one after a confirmation.
 */
export function ApiKeys(): ReactNode {
  const { client, user, refreshTick } = useSession();
  const tokens = useAsync(() => client.accessTokens(), [client], { refreshKey: refreshTick });
  const roles = tokenRoles(user.role);
  const [tokenName, setTokenName] = useState('');
  const { expiry, choices: lifetimes, setExpiry } = useTokenLifetime();
  /** '' follows the user's role, whatever it becomes. */
  const [role, setRole] = useState<Role | ''>('');
  const [limited, setLimited] = useState(false);
  const [projects, setProjects] = useState<string[]>([]);
  /** The projects choice's own problem, found before anything is sent. */
  const [projectsProblem, setProjectsProblem] = useState<string | null>(null);
  /** The key just created, shown once: its secret, and its id so revoking that key clears it. */
  const [created, setCreated] = useState<{ id: string; token: string } | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [revoking, setRevoking] = useState<{ id: string; name: string } | null>(null);
  const fields = fieldErrors(error);
  const projectsMessage = projectsProblem ?? fields.get('projects');

  const submit = async (): Promise<void> => {
    setError(null);
    const problem = projectsChoiceProblem(limited, projects, 'key');
    setProjectsProblem(problem);
    if (problem !== null) {
      return;
    }
    setBusy(true);
    try {
      const res = await client.createAccessToken({
        name: tokenName.trim(),
        ...(expiry === '' ? {} : { expiresInDays: Number(expiry) }),
        ...(role === '' ? {} : { role }),
        ...(limited ? { projects } : {}),
      });
      setCreated({ id: res.accessToken.id, token: res.token });
      setTokenName('');
      setRole('');
      setLimited(false);
      setProjects([]);
      tokens.reload();
    } catch (err: unknown) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="api-keys-heading">
      <h2 id="api-keys-heading">Your API keys</h2>
      <form
        className="panel"
        aria-label="New API key"
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        <label>
          New key name
          <input placeholder="e.g. ci" required maxLength={100} value={tokenName} onChange={(e) => { setTokenName(e.target.value); }} {...invalidProps('api-key-name-error', fields.get('name'))} />
        </label>
        <FieldError id="api-key-name-error" message={fields.get('name')} />
        <ExpiryField id="api-key" value={expiry} onChange={setExpiry} choices={lifetimes} error={fields.get('expiresInDays')} />
        <label>
          Role
          <select
            value={role}
            onChange={(e) => { setRole(e.target.value as Role | ''); }}
            {...invalidProps('api-key-role-error', fields.get('role'))}
            aria-describedby={fields.get('role') === undefined ? 'api-key-role-help' : 'api-key-role-error api-key-role-help'}
          >
            <option value="">Same as mine (follows my role)</option>
            {roles.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </label>
        <FieldError id="api-key-role-error" message={fields.get('role')} />
        <span id="api-key-role-help" className="small muted">
          A key never does more than your own role ({user.role}) allows, now or after it changes; a role chosen here caps it there.
        </span>
        <fieldset aria-describedby={projectsMessage === undefined ? 'api-key-projects-help' : 'api-key-projects-error api-key-projects-help'}>
          <legend>Projects</legend>
          <label className="check">
            <input
              type="radio"
              name="api-key-projects"
              checked={!limited}
              onChange={() => {
                setLimited(false);
                setProjectsProblem(null);
              }}
            />{' '}
            All projects
          </label>
          <label className="check">
            <input type="radio" name="api-key-projects" checked={limited} onChange={() => { setLimited(true); }} /> Only these projects
          </label>
          {limited ? (
            <ProjectChoices
              chosen={projects}
              invalid={projectsMessage !== undefined}
              onChange={(next) => {
                setProjects(next);
                setProjectsProblem(null);
              }}
            />
          ) : null}
          <FieldError id="api-key-projects-error" message={projectsMessage} />
          <span id="api-key-projects-help" className="small muted">
            A key limited to some projects can do nothing outside them, and cannot manage users or organisation settings, nor create projects.
          </span>
        </fieldset>
        <div className="actions">
          <button type="submit" className="primary" {...pendingProps(busy)}>
            Create key (90 days)
          </button>
        </div>
      </form>
      {created === null ? null : (
        <p className="banner banner-good" role="status">
          Copy this key now; it is not shown again: <code>{created.token}</code>
        </p>
      )}
      <FormErrorNote error={error} shown={['name', 'expiresInDays', 'role', 'projects']} />
      <AsyncView state={tokens.state} onRetry={tokens.reload}>
        {(list) =>
          list.length === 0 ? (
            <Empty>No personal API keys. Create one for scripts, CI or the VS Code extension.</Empty>
          ) : (
            <TokenTable label="API keys" tokens={list} onRevoke={(t) => { setRevoking({ id: t.id, name: t.name }); }} />
          )
        }
      </AsyncView>
      {revoking === null ? null : (
        <Confirm
          title={`Revoke ${revoking.name}?`}
          message={<p>Anything using this key stops working at once.</p>}
          confirmLabel="Revoke"
          onCancel={() => { setRevoking(null); }}
          onConfirm={() => {
            const id = revoking.id;
            setRevoking(null);
            client.revokeAccessToken(id).then(
              () => {
                // A revoked key's secret is useless: no banner invites copying it.
                setCreated((c) => (c?.id === id ? null : c));
                tokens.reload();
              },
              (e: unknown) => { setError(e); },
            );
          }}
        />
      )}
    </section>
  );
}
