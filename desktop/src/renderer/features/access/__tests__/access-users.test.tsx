import '../../../test/dom.js';
import { cleanup, render, screen, within } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { afterEach, describe, expect, it } from 'vitest';
import { ROLES, WithSession, fakeApi, user } from '../../../test/fake-api.js';
import Access from '../access.js';

afterEach(cleanup);

describe('users on the Users & keys screen', () => {
  it('pages through more users than fit one page', async () => {
    const u = userEvent.setup();
    const { client, sent } = fakeApi((req) => {
      if (req.path === '/api/v1/roles') {
        return { status: 200, body: ROLES };
      }
      if (req.path.startsWith('/api/v1/users')) {
        const second = req.path.includes('cursor=next');
        const items = second ? [user({ id: 'u-last', email: 'zed@example.com' })] : Array.from({ length: 200 }, (_, i) => user({ id: `u-${i}`, email: `user${i}@example.com` }));
        return { status: 200, body: { items, ...(second ? {} : { nextCursor: 'next' }) } };
      }
      if (req.path.startsWith('/api/v1/me/tokens') || req.path.includes('/sdk-keys')) {
        return { status: 200, body: { items: [] } };
      }
      return undefined;
    });
    render(
      <WithSession client={client} me={user({ id: 'u-admin', role: 'admin' })}>
        <Access />
      </WithSession>,
    );

    const table = await screen.findByRole('table', { name: 'Users' });
    expect(within(table).getAllByRole('row')).toHaveLength(201);
    await u.click(screen.getByRole('button', { name: 'Load more users' }));

    expect(await within(table).findByText('zed@example.com')).toBeTruthy();
    expect(screen.queryByRole('button', { name: 'Load more users' })).toBeNull();
    expect(sent.filter((r) => r.path.startsWith('/api/v1/users')).map((r) => r.path)).toEqual(['/api/v1/users?limit=200', '/api/v1/users?limit=200&cursor=next']);
  });

  it('shows the user list read only to a role that may read it but not manage users', async () => {
    const { client, sent } = fakeApi((req) => {
      if (req.path === '/api/v1/roles') {
        return { status: 200, body: ROLES };
      }
      if (req.path.startsWith('/api/v1/users')) {
        return { status: 200, body: { items: [user({ id: 'u-owner', name: 'Olga', email: 'olga@example.com' }), user({ id: 'u-ed', name: 'Ed', email: 'ed@example.com', role: 'editor' })] } };
      }
      return { status: 200, body: { items: [] } };
    });
    render(
      <WithSession client={client} me={user({ id: 'u-viewer', role: 'viewer', email: 'v@example.com' })}>
        <Access />
      </WithSession>,
    );

    const table = await screen.findByRole('table', { name: 'Users' });
    expect(within(table).getByText('olga@example.com')).toBeTruthy();
    expect(within(table).getByText('editor')).toBeTruthy();
    expect(screen.getByText(/^Read only: owners and admins invite users, change roles and disable users\. You are signed in as v@example.com \(viewer\)\.$/)).toBeTruthy();
    expect(screen.queryByText(/Only owners and admins see the user list/)).toBeNull();
    // No management controls: no role selects, no Disable, no Invite, no Actions column.
    expect(within(table).queryByRole('combobox')).toBeNull();
    expect(within(table).queryByRole('button')).toBeNull();
    expect(within(table).queryByRole('columnheader', { name: 'Actions' })).toBeNull();
    expect(screen.queryByRole('button', { name: 'Invite user' })).toBeNull();
    expect(sent.filter((r) => r.path.startsWith('/api/v1/users')).map((r) => `${r.method} ${r.path}`)).toEqual(['GET /api/v1/users?limit=200']);
  });
});
