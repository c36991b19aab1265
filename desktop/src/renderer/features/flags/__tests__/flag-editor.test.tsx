import '../../../test/dom.js';
import { cleanup, render, screen } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { afterEach, describe, expect, it } from 'vitest';
import type { Flag, Stored, StoredEnvironment } from '@xp/shared';
import { SessionContext } from '../../../app/session.js';
import { fakeApi, user } from '../../../test/fake-api.js';
import FlagEditor from '../flag-editor.js';

afterEach(cleanup);

const DEVELOPMENT: StoredEnvironment = { key: 'development', name: 'Development', production: false, requireApproval: false, version: 1, position: 0 };

function stored(version: number, enabled: boolean): Stored<Flag> {
  return {
    key: 'checkout',
    version,
    archived: false,
    createdAt: '2026-11-25T10:00:00Z',
    updatedAt: '2026-11-25T10:00:00Z',
    createdBy: null,
    updatedBy: null,
    definition: {
      key: 'checkout',
      name: 'Checkout',
      type: 'boolean',
      archived: false,
      temporary: true,
      tags: [],
      variations: [
        { key: 'off', value: false },
        { key: 'on', value: true },
      ],
      environments: { development: { enabled, defaultVariation: 'off', offVariation: 'off', prerequisites: [], rules: [] } },
    },
  };
}

describe('flag editor', () => {
  it('keeps a draft saveable after the user turns the flag on while editing it', async () => {
    const u = userEvent.setup();
    const { client, sent } = fakeApi((req) => {
      if (req.method === 'GET' && req.path === '/api/v1/projects/web/flags/checkout') {
        return { status: 200, body: stored(3, false) };
      }
      if (req.method === 'GET') {
        return { status: 200, body: { items: [] } };
      }
      if (req.method === 'POST' && req.path.endsWith('/environments/development/toggle')) {
        return { status: 200, body: stored(4, true) };
      }
      return req.method === 'PUT' ? { status: 200, body: stored(5, true) } : undefined;
    });
    render(
      <SessionContext.Provider value={{ client, user: user(), project: 'web', environments: [DEVELOPMENT], environment: 'development', setEnvironment: () => undefined, refreshTick: 0 }}>
        <FlagEditor flagKey="checkout" />
      </SessionContext.Provider>,
    );

    await u.click(await screen.findByRole('button', { name: '+ Targeting rule' }));
    await u.click(screen.getByRole('switch', { name: 'Flag on in Development' }));
    await u.click(screen.getByRole('button', { name: 'Turn on' }));
    await screen.findByText('Turned on in Development (version 4).');

    expect(screen.queryByText(/while you were editing/)).toBeNull();
    await u.click(screen.getByRole('button', { name: 'Save' }));
    await screen.findByText('Saved the targeting in Development (version 5).');
    expect(sent.filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.ifMatch ?? ''}`)).toEqual(['POST "3"', 'PUT "4"']);
    expect(sent.find((r) => r.method === 'PUT')?.body).toMatchObject({ enabled: true, rules: [{ id: 'rule-1', type: 'force', variation: 'on' }] });
  });

  it('keeps a space between the update time and the temporary badge', async () => {
    const { client } = fakeApi((req) => {
      if (req.method === 'GET' && req.path === '/api/v1/projects/web/flags/checkout') {
        return { status: 200, body: stored(3, false) };
      }
      return req.method === 'GET' ? { status: 200, body: { items: [] } } : undefined;
    });
    render(
      <SessionContext.Provider value={{ client, user: user(), project: 'web', environments: [DEVELOPMENT], environment: 'development', setEnvironment: () => undefined, refreshTick: 0 }}>
        <FlagEditor flagKey="checkout" />
      </SessionContext.Provider>,
    );

    const badge = await screen.findByText('temporary');
    expect(badge.parentElement?.textContent).toMatch(/\S temporary$/);
  });
});
