import '../../../test/dom.js';
import { cleanup, render, screen, waitFor, within } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { afterEach, describe, expect, it } from 'vitest';
import type { AccessTokenView } from '@xp/shared';
import { ROLES, WithSession, fakeApi, user } from '../../../test/fake-api.js';
import Access from '../access.js';

afterEach(cleanup);

function key(id: string, name: string, revoked = false): AccessTokenView {
  return { id, name, prefix: `xpp_${id}`, createdAt: '2026-11-25T10:00:00Z', expiresAt: null, lastUsedAt: null, revokedAt: revoked ? '2026-11-25T11:00:00Z' : null };
}

/** The personal API key endpoints (every role manages its own keys), keeping the list as it changes. */
function keysApi(): ReturnType<typeof fakeApi> {
  let keys = [key('old', 'laptop')];
  return fakeApi((req) => {
    if (req.path === '/api/v1/roles') {
      return { status: 200, body: ROLES };
    }
    if (req.path === '/api/v1/me/tokens') {
      if (req.method === 'POST') {
        keys = [...keys, key('new', 'ci')];
        return { status: 201, body: { token: 'xpp_new_secret', accessToken: key('new', 'ci') } };
      }
      return { status: 200, body: { items: keys } };
    }
    const revoked = /^\/api\/v1\/me\/tokens\/(\w+)$/.exec(req.path)?.[1];
    if (req.method === 'DELETE' && revoked !== undefined) {
      keys = keys.map((k) => (k.id === revoked ? key(k.id, k.name, true) : k));
      return { status: 200, body: keys.find((k) => k.id === revoked) };
    }
    return undefined;
  });
}

async function revoke(u: ReturnType<typeof userEvent.setup>, name: string): Promise<void> {
  const row = screen.getByRole('cell', { name }).closest('tr')!;
  await u.click(within(row).getByRole('button', { name: 'Revoke' }));
  await u.click(within(screen.getByRole('dialog')).getByRole('button', { name: 'Revoke' }));
  await waitFor(() => { expect(within(row).queryByRole('button', { name: 'Revoke' })).toBeNull(); });
}

describe('API keys', () => {
  it('clears the "copy this key now" banner when that very key is revoked, not when another one is', async () => {
    const u = userEvent.setup();
    const { client } = keysApi();
    render(
      <WithSession client={client} me={user({ role: 'viewer' })}>
        <Access />
      </WithSession>,
    );

    await u.type(await screen.findByRole('textbox', { name: 'New key name' }), 'ci');
    await u.click(screen.getByRole('button', { name: 'Create key (90 days)' }));
    expect((await screen.findByText(/Copy this key now/)).textContent).toContain('xpp_new_secret');
    await screen.findByRole('cell', { name: 'ci' });

    await revoke(u, 'laptop');
    expect(screen.getByText(/Copy this key now/)).toBeTruthy();

    await revoke(u, 'ci');
    expect(screen.queryByText(/Copy this key now/)).toBeNull();
    expect(screen.queryByText(/xpp_new_secret/)).toBeNull();
  });
});
