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

  it('asks nothing of the user list for a role that may not read it', async () => {
    const { client, sent } = fakeApi((req) => (req.path === '/api/v1/roles' ? { status: 200, body: ROLES } : { status: 200, body: { items: [] } }));
    render(
      <WithSession client={client} me={user({ role: 'viewer', email: 'v@example.com' })}>
        <Access />
      </WithSession>,
    );

    expect(await screen.findByText(/Only owners and admins see the user list/)).toBeTruthy();
    expect(sent.some((r) => r.path.startsWith('/api/v1/users'))).toBe(false);
    expect(screen.queryByRole('button', { name: 'Load more users' })).toBeNull();
  });
});
