import '../../../test/dom.js';
import { cleanup, render, screen } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { afterEach, describe, expect, it } from 'vitest';
import type { Flag, Stored, StoredEnvironment } from '@xp/shared';
import { WithSession, fakeApi, user } from '../../../test/fake-api.js';
import { booleanFlag, storedOf } from '../../../test/fixtures.js';
import FlagEditor from '../flag-editor.js';

afterEach(cleanup);

const DEVELOPMENT: StoredEnvironment = { key: 'development', name: 'Development', production: false, requireApproval: false, version: 1, position: 0 };
const LABEL = 'Temporary flag (remove from code once rolled out; stale detection applies)';

describe('the flag editor\'s temporary setting', () => {
  it('shows whether the flag is temporary and saves a change with the other settings', async () => {
    const u = userEvent.setup();
    let current: Stored<Flag> = storedOf(booleanFlag('kill-switch', { name: 'Kill switch', temporary: true }), { version: 3 });
    const { client, sent } = fakeApi((req) => {
      if (req.method === 'GET' && req.path === '/api/v1/projects/web/flags/kill-switch') {
        return { status: 200, body: current };
      }
      if (req.method === 'PUT') {
        current = { ...current, version: current.version + 1, definition: req.body as Flag };
        return { status: 200, body: current };
      }
      return req.method === 'GET' ? { status: 200, body: { items: [] } } : undefined;
    });
    render(
      <WithSession client={client} me={user({ role: 'editor' })} environments={[DEVELOPMENT]}>
        <FlagEditor flagKey="kill-switch" />
      </WithSession>,
    );

    await u.click(await screen.findByRole('tab', { name: 'Settings' }));
    const box = screen.getByRole('checkbox', { name: LABEL });
    expect(box).toHaveProperty('checked', true);
    await u.click(box);
    await u.click(screen.getByRole('button', { name: 'Save settings' }));

    await screen.findByText('Saved.');
    const put = sent.filter((r) => r.method === 'PUT');
    expect(put).toHaveLength(1);
    expect(put[0]!.path).toBe('/api/v1/projects/web/flags/kill-switch');
    expect(put[0]!.ifMatch).toBe('"3"');
    expect(put[0]!.body).toMatchObject({ key: 'kill-switch', name: 'Kill switch', temporary: false });
    expect(screen.getByRole('checkbox', { name: LABEL })).toHaveProperty('checked', false);
    // The header's badge follows the saved flag.
    expect(screen.getByText('permanent')).toBeTruthy();
  });

  it('is read-only for a viewer', async () => {
    const u = userEvent.setup();
    const permanent = storedOf(booleanFlag('ops', { temporary: false }), { version: 1 });
    const { client } = fakeApi((req) => (req.method === 'GET' && req.path === '/api/v1/projects/web/flags/ops' ? { status: 200, body: permanent } : req.method === 'GET' ? { status: 200, body: { items: [] } } : undefined));
    render(
      <WithSession client={client} me={user({ role: 'viewer' })} environments={[DEVELOPMENT]}>
        <FlagEditor flagKey="ops" />
      </WithSession>,
    );
    await u.click(await screen.findByRole('tab', { name: 'Settings' }));
    const box = screen.getByRole('checkbox', { name: LABEL });
    expect(box).toHaveProperty('checked', false);
    expect((box as HTMLInputElement).matches(':disabled')).toBe(true);
  });
});
