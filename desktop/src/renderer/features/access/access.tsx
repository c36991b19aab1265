import { useState } from 'react';
import type { ReactNode } from 'react';
import { useSession } from '../../app/session.js';
import { useAsync } from '../../lib/use-async.js';
import { usePages } from '../../lib/use-pages.js';
import { AsyncView, ErrorNote } from '../../lib/ui.js';
import { ApiKeys } from './api-keys.js';
import { SdkKeys } from './sdk-keys.js';
import { ServiceAccounts } from './service-accounts.js';
import { TokenPolicySection } from './token-policy.js';
import { InviteUser, UsersTable } from './users-admin.js';

/** Users and their roles, the organisation's service accounts, the project's SDK keys, what each role may do, the organisation's token policy, and the signed-in user's API keys. */
export default function Access(): ReactNode {
  const { client, user, project, refreshTick } = useSession();
  // Every role may list users (`read`); only owners and admins manage them (`users:manage`).
  const canManageUsers = user.role === 'owner' || user.role === 'admin';
  // 200 at a time, the rest a click away.
  const users = usePages(
    (cursor) => client.users({ limit: 200, ...(cursor === undefined ? {} : { cursor }) }),
    [client],
    { keyOf: (u) => u.id, refreshKey: refreshTick },
  );
  const roles = useAsync(() => client.roles(), [client]);
  const [inviting, setInviting] = useState(false);

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
      <ServiceAccounts />
      {/* SDK keys are a project's: none without one. */}
      {project === '' ? null : <SdkKeys />}
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
      <TokenPolicySection />
      <ApiKeys />
      {inviting ? (
        <InviteUser
          onClose={() => { setInviting(false); }}
          onInvited={users.reload}
        />
      ) : null}
    </>
  );
}
