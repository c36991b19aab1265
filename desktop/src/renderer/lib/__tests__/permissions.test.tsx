import '../../test/dom.js';
import { cleanup, fireEvent, render, renderHook, screen } from '@testing-library/react';
import type { ReactNode } from 'react';
import { afterEach, describe, expect, it } from 'vitest';
import type { User } from '@xp/shared';
import { DEFAULT_ENVIRONMENTS, WithSession, fakeApi, user } from '../../test/fake-api.js';
import { allowanceIn, allowanceProps, needsApprovalIn, pendingProps, sessionRole, usePermission } from '../permissions.js';
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

describe('controls held back while busy', () => {
  it('stay focusable (aria-disabled, not disabled) and swallow clicks and the submit they would send', () => {
    let clicks = 0;
    let submits = 0;
    const view = (busy: boolean): ReactNode => (
      <form onSubmit={(e) => { e.preventDefault(); submits++; }}>
        <button type="submit" {...pendingProps(busy)}>Save</button>
        <button type="button" {...allowanceProps({ allowed: true, reason: undefined }, busy)} onClick={() => { clicks++; }}>Evaluate</button>
      </form>
    );
    const { rerender } = render(view(false));
    const save = screen.getByRole('button', { name: 'Save' });
    const evaluate = screen.getByRole('button', { name: 'Evaluate' });
    save.focus();
    rerender(view(true));
    expect(document.activeElement).toBe(save);
    for (const b of [save, evaluate]) {
      expect(b).toHaveProperty('disabled', false);
      expect(b.getAttribute('aria-disabled')).toBe('true');
      fireEvent.click(b);
    }
    expect([clicks, submits]).toEqual([0, 0]);
    rerender(view(false));
    fireEvent.click(save);
    fireEvent.click(evaluate);
    expect([clicks, submits]).toEqual([1, 1]);
    expect(evaluate.hasAttribute('aria-disabled')).toBe(false);
    // A role that may not act is still disabled outright, with the reason.
    expect(allowanceProps({ allowed: false, reason: 'Viewers cannot change flags' }, true)).toEqual({ disabled: true, title: 'Viewers cannot change flags', 'aria-description': 'Viewers cannot change flags' });
  });
});
