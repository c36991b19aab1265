import '../../../test/dom.js';
import { cleanup, render, screen, waitFor, within } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { afterEach, describe, expect, it } from 'vitest';
import { WithSession, fakeApi, user } from '../../../test/fake-api.js';
import AuditLog from '../audit-log.js';

afterEach(cleanup);

const entry = (id: number, action: string, resourceType: string, resourceKey: string, projectId: string | null) => ({
  id,
  projectId,
  actorEmail: 'ann@example.com',
  client: 'console',
  action,
  resourceType,
  resourceKey,
  environment: null,
  diff: [],
  createdAt: '2026-11-25T12:00:00Z',
});

describe('audit log (F5)', () => {
  it('shows organisation-wide entries (invites, sign-ins) across projects, and filters by resource type, user and action', async () => {
    const u = userEvent.setup();
    const { client, sent } = fakeApi((req) => {
      if (req.method === 'GET' && req.path.startsWith('/api/v1/users')) {
        return { status: 200, body: { items: [user({ id: 'u-ann', email: 'ann@example.com' })] } };
      }
      if (req.method === 'GET' && req.path.startsWith('/api/v1/audit')) {
        const q = new URL(req.path, 'http://x').searchParams;
        const all = [
          entry(3, 'user.login-failed', 'user', 'ann@example.com', null),
          entry(2, 'user.created', 'user', 'bob@example.com', null),
          entry(1, 'flag.updated', 'flag', 'checkout', 'web'),
        ];
        return { status: 200, body: { items: all.filter((e) => (!q.has('project') || e.projectId === q.get('project')) && (!q.has('resourceType') || e.resourceType === q.get('resourceType'))), nextCursor: null } };
      }
      return undefined;
    });
    render(
      <WithSession client={client} me={user({ role: 'admin' })}>
        <AuditLog />
      </WithSession>,
    );
    const rows = async (): Promise<string[]> => {
      const table = await screen.findByRole('table', { name: 'Audit entries' });
      return within(table).getAllByRole('row').slice(1).map((r) => r.textContent);
    };

    // The project's entries by default.
    expect(await rows()).toHaveLength(1);
    expect(sent.filter((r) => r.path.startsWith('/api/v1/audit')).at(-1)?.path).toContain('project=web');

    await u.selectOptions(screen.getByRole('combobox', { name: 'Scope' }), 'all');
    await waitFor(async () => { expect(await rows()).toHaveLength(3); });
    expect(sent.filter((r) => r.path.startsWith('/api/v1/audit')).at(-1)?.path).not.toContain('project=');
    expect((await rows())[0]).toContain('organisation');
    expect((await rows())[0]).toContain('user.login-failed');
    expect((await rows())[2]).toContain('web');

    await u.selectOptions(screen.getByRole('combobox', { name: 'Resource type' }), 'user');
    await waitFor(async () => { expect(await rows()).toHaveLength(2); });
    expect(sent.filter((r) => r.path.startsWith('/api/v1/audit')).at(-1)?.path).toContain('resourceType=user');

    await u.selectOptions(screen.getByRole('combobox', { name: 'User' }), 'u-ann');
    await waitFor(() => { expect(sent.filter((r) => r.path.startsWith('/api/v1/audit')).at(-1)?.path).toContain('actor=u-ann'); });

    await u.type(screen.getByRole('searchbox', { name: 'Action' }), 'login');
    await waitFor(async () => { expect(await rows()).toHaveLength(1); });
    expect((await rows())[0]).toContain('user.login-failed');
  });
});
