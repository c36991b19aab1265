import '../../../test/dom.js';
import { act, cleanup, render, screen, within } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { afterEach, describe, expect, it } from 'vitest';
import { WithSession, fakeApi, user } from '../../../test/fake-api.js';
import { InviteUser, UsersTable, assignableRoles, roleChangeMessage, signedOutMessage } from '../users-admin.js';

afterEach(cleanup);

const admin = user({ id: 'u-admin', email: 'admin@example.com', role: 'admin' });
const owner = user({ id: 'u-owner', email: 'owner@example.com', role: 'owner' });
const editor = user({ id: 'u-ed', email: 'ed@example.com', role: 'editor', version: 7 });

describe('users administration', () => {
  it('offers only the roles the caller may grant', () => {
    expect(assignableRoles('owner')).toEqual(['owner', 'admin', 'editor', 'analyst', 'viewer']);
    expect(assignableRoles('admin')).toEqual(['admin', 'editor', 'analyst', 'viewer']);
    expect(assignableRoles('admin', 'owner')).toEqual([]);
    expect(assignableRoles('editor')).toEqual([]);
  });

  it('invites a user and shows the generated password once', async () => {
    const u = userEvent.setup();
    const { client, sent } = fakeApi((req) => (req.method === 'POST' ? { status: 201, body: { user: user({ id: 'u-new', email: 'new@example.com', role: 'analyst' }), initialPassword: 'Generated-pass-123' } } : undefined));
    render(
      <WithSession client={client} me={admin}>
        <InviteUser onClose={() => undefined} onInvited={() => undefined} />
      </WithSession>,
    );

    const role = screen.getByRole('combobox', { name: 'Role' });
    expect(within(role).getAllByRole('option').map((o) => o.textContent)).toEqual(['admin', 'editor', 'analyst', 'viewer']);
    await u.type(screen.getByRole('textbox', { name: 'Email' }), 'new@example.com');
    await u.type(screen.getByRole('textbox', { name: 'Name' }), 'New Analyst');
    await u.selectOptions(role, 'analyst');
    await u.click(screen.getByRole('button', { name: 'Invite user' }));

    expect(sent).toEqual([{ method: 'POST', path: '/api/v1/users', ifMatch: null, body: { email: 'new@example.com', name: 'New Analyst', role: 'analyst' } }]);
    expect(screen.getByText(/can sign in now/).textContent).toContain('shown only now');
    expect(screen.getByLabelText('Initial password').textContent).toBe('Generated-pass-123');
    // Copied as the other secrets shown once are.
    expect(screen.getByRole('button', { name: 'Copy password' })).toBeTruthy();
  });

  it("says what is wrong with a field in plain words, not the validator's text, tied to the field", async () => {
    const u = userEvent.setup();
    const issues = [{ path: 'body.name', message: 'Too small: expected string to have >=1 characters' }];
    const { client } = fakeApi((req) => (req.method === 'POST' ? { status: 400, body: { error: { code: 'VALIDATION_FAILED', message: 'invalid request', details: { issues } } } } : undefined));
    render(
      <WithSession client={client} me={admin}>
        <InviteUser onClose={() => undefined} onInvited={() => undefined} />
      </WithSession>,
    );

    await u.type(screen.getByRole('textbox', { name: 'Email' }), 'new@example.com');
    await u.click(screen.getByRole('button', { name: 'Invite user' }));

    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toBe('Name is required');
    expect(document.body.textContent).not.toContain('Too small');
    const name = screen.getByRole('textbox', { name: /^Name/ });
    expect(name.getAttribute('aria-invalid')).toBe('true');
    expect(name.getAttribute('aria-describedby')).toBe(alert.id);
  });

  it('changes a role with the listed version and shows a refusal clearly', async () => {
    const u = userEvent.setup();
    const { client, sent } = fakeApi((req) => (req.method === 'PATCH' ? { status: 403, body: { error: { code: 'FORBIDDEN', message: 'an admin cannot change an owner to viewer' } } } : undefined));
    let reloads = 0;
    render(
      <WithSession client={client} me={admin}>
        <UsersTable users={[owner, admin, editor]} onChanged={() => { reloads++; }} />
      </WithSession>,
    );

    expect(screen.queryByRole('combobox', { name: 'Role of owner@example.com' })).toBeNull();
    expect(screen.queryByRole('combobox', { name: 'Role of admin@example.com' })).toBeNull();
    await u.selectOptions(screen.getByRole('combobox', { name: 'Role of ed@example.com' }), 'viewer');
    await u.click(screen.getByRole('button', { name: 'Make a viewer' }));

    expect(sent).toEqual([{ method: 'PATCH', path: '/api/v1/users/u-ed', ifMatch: '"7"', body: { role: 'viewer' } }]);
    expect(screen.getByRole('alert').textContent).toBe('You do not have permission to do this: an admin cannot change an owner to viewer');
    expect(reloads).toBe(1);
  });

  it('disables a user after confirmation', async () => {
    const u = userEvent.setup();
    const { client, sent } = fakeApi((req) => (req.method === 'PATCH' ? { status: 200, body: { ...editor, disabled: true, version: 8 } } : undefined));
    render(
      <WithSession client={client} me={owner}>
        <UsersTable users={[owner, editor]} onChanged={() => undefined} />
      </WithSession>,
    );

    expect(screen.queryByRole('button', { name: 'Disable owner@example.com' })).toBeNull();
    await u.click(screen.getByRole('button', { name: 'Disable ed@example.com' }));
    expect(sent).toHaveLength(0);
    await u.click(screen.getByRole('button', { name: 'Disable user' }));
    expect(sent).toEqual([{ method: 'PATCH', path: '/api/v1/users/u-ed', ifMatch: '"7"', body: { disabled: true } }]);
  });

  it('asks before changing a role, keeps it on Cancel, and says when the change is made', async () => {
    const u = userEvent.setup();
    const { client, sent } = fakeApi((req) => (req.method === 'PATCH' ? { status: 200, body: { ...editor, role: 'owner', version: 8 } } : undefined));
    let reloads = 0;
    render(
      <WithSession client={client} me={owner}>
        <UsersTable users={[owner, editor]} onChanged={() => { reloads++; }} />
      </WithSession>,
    );

    const select = screen.getByRole('combobox', { name: 'Role of ed@example.com' });
    await u.selectOptions(select, 'owner');
    const dialog = screen.getByRole('dialog', { name: 'Change the role of ed@example.com from editor to owner?' });
    expect(dialog.textContent).toMatch(/ed@example.com becomes an owner: owners hold every permission/);
    await u.click(within(dialog).getByRole('button', { name: 'Cancel' }));
    expect(sent).toHaveLength(0);
    expect(select).toHaveProperty('value', 'editor');

    await u.selectOptions(select, 'owner');
    await u.click(screen.getByRole('button', { name: 'Make an owner' }));
    expect(sent).toEqual([{ method: 'PATCH', path: '/api/v1/users/u-ed', ifMatch: '"7"', body: { role: 'owner' } }]);
    expect(screen.getByRole('status').textContent).toBe('ed@example.com is now an owner.');
    expect(reloads).toBe(1);
  });

  it("names every row action so that its accessible name holds its visible label (WCAG 2.5.3: voice control users say what they see)", () => {
    const { client } = fakeApi(() => undefined);
    render(
      <WithSession client={client} me={owner}>
        <UsersTable users={[owner, admin, editor, user({ id: 'u-gone', email: 'gone@example.com', role: 'viewer', disabled: true })]} onChanged={() => undefined} />
      </WithSession>,
    );

    const buttons = within(screen.getByRole('table', { name: 'Users' })).getAllByRole('button');
    expect(buttons.length).toBeGreaterThan(4);
    const mismatched = buttons
      .map((b) => ({ visible: b.textContent.replace(/…$/, '').trim().toLowerCase(), name: (b.getAttribute('aria-label') ?? b.textContent).toLowerCase() }))
      .filter((b) => !b.name.includes(b.visible));
    expect(mismatched).toEqual([]);
  });

  it('signs a user out everywhere after confirmation, busy while it runs, and says how many sessions ended', async () => {
    const u = userEvent.setup();
    const { client } = fakeApi(() => undefined);
    const calls: unknown[][] = [];
    let answer: (r: { sessionsRevoked: number; accessTokensRevoked: number }) => void = () => undefined;
    client.revokeUserSessions = (...args) => {
      calls.push(args);
      return new Promise((resolve) => { answer = resolve; });
    };
    render(
      <WithSession client={client} me={admin}>
        <UsersTable users={[owner, admin, editor, user({ id: 'u-gone', email: 'gone@example.com', role: 'viewer', disabled: true })]} onChanged={() => undefined} />
      </WithSession>,
    );

    // As the other actions: not on an owner by an admin, not on yourself, not on a disabled user (they have no sessions).
    for (const email of ['owner@example.com', 'admin@example.com', 'gone@example.com']) {
      expect(screen.queryByRole('button', { name: `Sign out everywhere: ${email}` })).toBeNull();
    }
    const button = screen.getByRole('button', { name: 'Sign out everywhere: ed@example.com' });
    await u.click(button);
    const dialog = screen.getByRole('dialog', { name: 'Sign ed@example.com out everywhere?' });
    await u.click(within(dialog).getByRole('button', { name: 'Cancel' }));
    expect(calls).toHaveLength(0);

    await u.click(button);
    await u.click(screen.getByRole('button', { name: 'Sign out everywhere' }));

    expect(calls).toEqual([['u-ed', {}]]);
    expect(button.textContent).toBe('Signing out…');
    expect(button.getAttribute('aria-disabled')).toBe('true');
    await u.click(button);
    expect(screen.queryByRole('dialog')).toBeNull();
    await act(async () => { answer({ sessionsRevoked: 3, accessTokensRevoked: 0 }); await Promise.resolve(); });
    expect((await screen.findByRole('status')).textContent).toBe('Ended 3 sessions of ed@example.com.');
    expect(button.hasAttribute('aria-disabled')).toBe(false);
  });

  it('revokes the access tokens too when asked in the confirmation, and shows a refusal', async () => {
    const u = userEvent.setup();
    const { client, sent } = fakeApi((req) => (req.method === 'POST' ? { status: 403, body: { error: { code: 'FORBIDDEN', message: 'an admin cannot sign out an owner' } } } : undefined));
    render(
      <WithSession client={client} me={owner}>
        <UsersTable users={[owner, editor]} onChanged={() => undefined} />
      </WithSession>,
    );

    await u.click(screen.getByRole('button', { name: 'Sign out everywhere: ed@example.com' }));
    await u.click(screen.getByRole('checkbox', { name: /Also revoke their personal access tokens/ }));
    await u.click(screen.getByRole('button', { name: 'Sign out everywhere' }));

    expect(sent).toEqual([{ method: 'POST', path: '/api/v1/users/u-ed/sessions/revoke', ifMatch: null, body: { accessTokens: true } }]);
    expect((await screen.findByRole('alert')).textContent).toBe('You do not have permission to do this: an admin cannot sign out an owner');
    expect(signedOutMessage('ed@example.com', { sessionsRevoked: 1, accessTokensRevoked: 2 })).toBe('Ended 1 session of ed@example.com and revoked 2 personal access tokens.');
    expect(signedOutMessage('ed@example.com', { sessionsRevoked: 0, accessTokensRevoked: 1 })).toBe('Ended 0 sessions of ed@example.com and revoked 1 personal access token.');
  });

  it('says what a demoted owner or admin loses', () => {
    expect(roleChangeMessage(admin, 'editor')).toBe(
      'admin@example.com becomes an editor and loses managing users, environments, projects, SDK keys and webhooks, and reviewing change requests. Approvals they gave to open change requests no longer count.',
    );
    expect(roleChangeMessage(owner, 'admin')).toBe("owner@example.com becomes an admin and loses the organisation's settings and ownership.");
    expect(roleChangeMessage(editor, 'viewer')).toBe('ed@example.com becomes a viewer: the Roles table below lists what a viewer may do.');
  });
  it('shows who signs in with SSO (explained), and says in the reset confirmation that a reset adds a break-glass password', async () => {
    const u = userEvent.setup();
    const sam = user({ id: 'u-sam', email: 'sam@example.com', role: 'viewer', sso: true });
    const { client, sent } = fakeApi((req) => (req.method === 'POST' ? { status: 200, body: { temporaryPassword: 'Temp-pass-123456', user: { ...sam, passwordChangeRequired: true } } } : undefined));
    render(
      <WithSession client={client} me={owner}>
        <UsersTable users={[owner, editor, sam]} onChanged={() => undefined} />
      </WithSession>,
    );

    const rows = screen.getAllByRole('row');
    const samRow = rows.find((r) => r.textContent.includes('sam@example.com'))!;
    const badge = within(samRow).getByRole('button', { name: 'SSO' });
    expect(badge.getAttribute('aria-describedby')).not.toBeNull();
    expect(document.getElementById(badge.getAttribute('aria-describedby')!)?.textContent).toContain('signs in with single sign-on');
    // Nobody else's row says SSO.
    expect(rows.filter((r) => within(r).queryByRole('button', { name: 'SSO' }) !== null)).toEqual([samRow]);

    // Reset stays possible: it gives them a password as well.
    await u.click(within(samRow).getByRole('button', { name: 'Reset password of sam@example.com' }));
    const confirm = screen.getByRole('dialog', { name: 'Reset the password of sam@example.com?' });
    expect(confirm.textContent).toContain('They sign in with single sign-on: a reset gives them a password as well (break-glass');
    await u.click(within(confirm).getByRole('button', { name: 'Reset password' }));
    expect(sent.map((r) => `${r.method} ${r.path}`)).toEqual(['POST /api/v1/users/u-sam/password-reset']);
    expect(await screen.findByText('Temp-pass-123456')).toBeTruthy();
  });

  it('says nothing of SSO in the reset confirmation of a user who is not linked', async () => {
    const u = userEvent.setup();
    const { client } = fakeApi(() => undefined);
    render(
      <WithSession client={client} me={owner}>
        <UsersTable users={[owner, editor]} onChanged={() => undefined} />
      </WithSession>,
    );

    await u.click(screen.getByRole('button', { name: 'Reset password of ed@example.com' }));
    expect(screen.getByRole('dialog', { name: 'Reset the password of ed@example.com?' }).textContent).not.toContain('single sign-on');
  });
});
