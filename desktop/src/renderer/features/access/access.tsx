import { useState } from 'react';
import type { ReactNode } from 'react';
import { useSession } from '../../app/session.js';
import { formatTime } from '../../lib/format.js';
import { useAsync } from '../../lib/use-async.js';
import { usePages } from '../../lib/use-pages.js';
import { AsyncView, Badge, Confirm, Empty, ErrorNote, VisuallyHidden } from '../../lib/ui.js';
import { SdkKeys } from './sdk-keys.js';
import { InviteUser, UsersTable } from './users-admin.js';

/** Users and their roles, the project's SDK keys, what each role may do, and the signed-in user's API keys. */
export default function Access(): ReactNode {
  const { client, user, refreshTick } = useSession();
  // Every role may list users (`read`); only owners and admins manage them (`users:manage`).
  const canManageUsers = user.role === 'owner' || user.role === 'admin';
  // 200 at a time, the rest a click away.
  const users = usePages(
    (cursor) => client.users({ limit: 200, ...(cursor === undefined ? {} : { cursor }) }),
    [client],
    { keyOf: (u) => u.id, refreshKey: refreshTick },
  );
  const roles = useAsync(() => client.roles(), [client]);
  const tokens = useAsync(() => client.accessTokens(), [client], { refreshKey: refreshTick });
  const [tokenName, setTokenName] = useState('');
  /** The key just created, shown once: its secret, and its id so revoking that key clears it. */
  const [created, setCreated] = useState<{ id: string; token: string } | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [inviting, setInviting] = useState(false);
  const [revoking, setRevoking] = useState<{ id: string; name: string } | null>(null);

  return (
    <>
      <h1>Users, roles and keys</h1>
      <div className="page-head">
        <h2>Users</h2>
        {canManageUsers ? (
          <button type="button" className="primary" onClick={() => { setInviting(true); }}>
            Invite user
          </button>
        ) : null}
      </div>
      {canManageUsers ? null : (
        <p className="muted">
          Read only: owners and admins invite users, change roles and disable users. You are signed in as {user.email} ({user.role}).
        </p>
      )}
      <AsyncView state={users.state} onRetry={users.reload}>
        {(list) => <UsersTable users={list} onChanged={users.reload} />}
      </AsyncView>
      {users.moreError === null ? null : <ErrorNote error={users.moreError} />}
      {users.loadMore === undefined || users.state.status !== 'ready' ? null : (
        <button type="button" onClick={() => void users.loadMore?.()}>
          Load more users
        </button>
      )}
      <SdkKeys />
      <h2>Roles</h2>
      <AsyncView state={roles.state} onRetry={roles.reload}>
        {(r) => (
          <table aria-label="Permissions by role">
            <thead>
              <tr>
                <th>Permission</th>
                {r.roles.map((role) => (
                  <th key={role}>{role}</th>
                ))}
              </tr>
            </thead>
            <tbody>
              {r.permissions.map((p) => (
                <tr key={p.permission}>
                  <td>
                    <code>{p.permission}</code>
                    <div className="small muted">{p.description}</div>
                  </td>
                  {r.roles.map((role) => (
                    <td key={role} aria-label={p.roles.includes(role) ? `${role} may` : `${role} may not`}>
                      {p.roles.includes(role) ? '✓' : ''}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </AsyncView>
      <h2>Your API keys</h2>
      <form
        className="toolbar"
        onSubmit={(e) => {
          e.preventDefault();
          setError(null);
          client.createAccessToken({ name: tokenName.trim(), expiresInDays: 90 }).then(
            (res) => {
              setCreated({ id: res.accessToken.id, token: res.token });
              setTokenName('');
              tokens.reload();
            },
            (err: unknown) => { setError(err); },
          );
        }}
      >
        <input aria-label="New key name" placeholder="Key name, e.g. ci" required value={tokenName} onChange={(e) => { setTokenName(e.target.value); }} />
        <button type="submit">Create key (90 days)</button>
      </form>
      {created === null ? null : (
        <p className="banner banner-good" role="status">
          Copy this key now; it is not shown again: <code>{created.token}</code>
        </p>
      )}
      {error === null ? null : <ErrorNote error={error} />}
      <AsyncView state={tokens.state} onRetry={tokens.reload}>
        {(list) =>
          list.length === 0 ? (
            <Empty>No personal API keys. Create one for scripts, CI or the VS Code extension.</Empty>
          ) : (
            <table aria-label="API keys">
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Prefix</th>
                  <th>Created</th>
                  <th>Expires</th>
                  <th>Last used</th>
                  <th><VisuallyHidden>Actions</VisuallyHidden></th>
                </tr>
              </thead>
              <tbody>
                {list.map((t) => (
                  <tr key={t.id}>
                    <td>{t.name}</td>
                    <td>
                      <code>{t.prefix}…</code>
                    </td>
                    <td className="small">{formatTime(t.createdAt)}</td>
                    <td className="small">{formatTime(t.expiresAt)}</td>
                    <td className="small">{formatTime(t.lastUsedAt)}</td>
                    <td>
                      {t.revokedAt === null ? (
                        <button type="button" className="danger" onClick={() => { setRevoking({ id: t.id, name: t.name }); }}>
                          Revoke
                        </button>
                      ) : (
                        <Badge tone="bad">revoked</Badge>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
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
      {inviting ? (
        <InviteUser
          onClose={() => { setInviting(false); }}
          onInvited={users.reload}
        />
      ) : null}
    </>
  );
}
