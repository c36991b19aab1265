import '../../test/dom.js';
import { cleanup, renderHook } from '@testing-library/react';
import type { ReactNode } from 'react';
import { afterEach, describe, expect, it } from 'vitest';
import type { User } from '@xp/shared';
import { DEFAULT_ENVIRONMENTS, WithSession, fakeApi, user } from '../../test/fake-api.js';
import { allowanceIn, needsApprovalIn, sessionRole, usePermission } from '../permissions.js';
import { ROLES } from '../../test/fake-api.js';
import { permissionsOf } from '../permissions.js';

afterEach(cleanup);

/** The session's project is "web" (WithSession). */
function permissionAs(me: User, ...args: Parameters<typeof usePermission>): ReturnType<typeof usePermission> {
  const { client } = fakeApi(() => ({ status: 200, body: {} }));
  const wrapper = ({ children }: { children: ReactNode }): ReactNode => (
    <WithSession client={client} me={me} environments={DEFAULT_ENVIRONMENTS}>
      {children}
    </WithSession>
  );
  return renderHook(() => usePermission(...args), { wrapper }).result.current;
}

describe('console permissions with project roles', () => {
  const viewerEditorOfWeb = user({ id: 'u-vic', email: 'vic@example.com', role: 'viewer', projectRoles: [{ project: 'web', role: 'editor' }] });
  const editorViewerOfWeb = user({ id: 'u-eddie', email: 'eddie@example.com', role: 'editor', projectRoles: [{ project: 'web', role: 'viewer' }, { project: 'shop', role: 'admin' }] });

  it("uses the role in the current project: a viewer made editor of it may change flags, an editor made viewer may not", () => {
    expect(permissionAs(viewerEditorOfWeb, 'flags:write')).toEqual({ allowed: true, reason: undefined });
    expect(permissionAs(editorViewerOfWeb, 'flags:write')).toEqual({ allowed: false, reason: 'Viewers in project web cannot change flags' });
    // Without project roles nothing changes.
    expect(permissionAs(user({ role: 'viewer' }), 'flags:write')).toEqual({ allowed: false, reason: 'Viewers cannot change flags' });
  });

  it('checks another project with its role there, and the organisation with the organisation role', () => {
    expect(permissionAs(editorViewerOfWeb, 'projects:manage', { project: 'shop' }).allowed).toBe(true);
    expect(permissionAs(editorViewerOfWeb, 'environments:manage', { project: 'other' })).toEqual({ allowed: false, reason: 'Editors cannot add, change or delete environments' });
    expect(permissionAs(editorViewerOfWeb, 'projects:manage', 'organisation')).toEqual({ allowed: false, reason: 'Editors cannot create, change or delete projects' });
    expect(permissionAs(viewerEditorOfWeb, 'flags:write', 'organisation').allowed).toBe(false);
  });

  it('asks for approval by the role in the project, and owners are owners everywhere', () => {
    const session = { user: editorViewerOfWeb, project: 'shop', environments: DEFAULT_ENVIRONMENTS };
    expect(sessionRole(session)).toBe('admin');
    expect(needsApprovalIn(session, 'production')).toBe(false);
    expect(needsApprovalIn({ ...session, project: 'web' }, 'production')).toBe(true);

    const owner = user({ role: 'owner', projectRoles: [{ project: 'web', role: 'viewer' }] });
    expect(allowanceIn({ user: owner, project: 'web', permissions: permissionsOf(ROLES, sessionRole({ user: owner, project: 'web' })), matrix: ROLES }, 'flags:write')).toEqual({ allowed: true, reason: undefined });
  });
});
