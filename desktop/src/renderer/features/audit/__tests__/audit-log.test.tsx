import '../../../test/dom.js';
import { readFileSync } from 'node:fs';
import { cleanup, render, screen, waitFor, within } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { WithSession, fakeApi, user } from '../../../test/fake-api.js';
import AuditLog, { DiffView } from '../audit-log.js';
import type * as ZonedTime from '../../../lib/zoned-time.js';

/** The browser's time zone as the screen sees it: a test sets `zone.viewer`; unset, the process's own. */
const zone = vi.hoisted(() => ({ viewer: undefined as string | undefined }));
vi.mock('../../../lib/zoned-time.js', async (importOriginal) => {
  const actual = await importOriginal<typeof ZonedTime>();
  return { ...actual, localTimeZone: () => zone.viewer ?? actual.localTimeZone() };
});

// The console's stylesheet, as the app loads it: jsdom computes the styles its rules give.
const style = document.createElement('style');
beforeAll(() => {
  style.textContent = readFileSync(new URL('../../../app/styles.css', import.meta.url), 'utf8');
  document.head.append(style);
});
afterAll(() => { style.remove(); });
afterEach(() => {
  cleanup();
  zone.viewer = undefined;
  vi.useRealTimers();
});

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
  it('lists service accounts in the User filter, by name, beside people', async () => {
    const u = userEvent.setup();
    const { client, sent } = fakeApi((req) => {
      if (req.method === 'GET' && req.path.startsWith('/api/v1/users')) {
        // As the API answers: people only, unless asked for kind=all.
        const people = [user({ id: 'u-ann', email: 'ann@example.com' })];
        const robot = user({ id: 'u-robot', kind: 'service', name: 'deploy-bot', email: 'u-robot@service-accounts.invalid', role: 'editor' });
        return { status: 200, body: { items: new URL(req.path, 'http://x').searchParams.get('kind') === 'all' ? [...people, robot] : people } };
      }
      if (req.method === 'GET' && req.path.startsWith('/api/v1/audit')) {
        return { status: 200, body: { items: [], nextCursor: null } };
      }
      return undefined;
    });
    render(
      <WithSession client={client} me={user({ role: 'admin' })}>
        <AuditLog />
      </WithSession>,
    );
    const filter = await screen.findByRole('combobox', { name: 'User' });
    expect(within(filter).getAllByRole('option').map((o) => o.textContent)).toEqual(['Anyone', 'ann@example.com', 'deploy-bot (service account)']);
    await u.selectOptions(filter, 'u-robot');
    await waitFor(() => { expect(sent.filter((r) => r.path.startsWith('/api/v1/audit')).at(-1)?.path).toContain('actor=u-robot'); });
  });

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

  it('finds who turned a flag off in an environment: the API filters by turned and environment, for the list and the export', async () => {
    const u = userEvent.setup();
    const { client, sent } = fakeApi((req) => {
      if (req.method === 'GET' && req.path.startsWith('/api/v1/users')) {
        return { status: 200, body: { items: [] } };
      }
      if (req.method === 'GET' && req.path.startsWith('/api/v1/audit/export')) {
        return { status: 200, body: 'id\n', headers: { 'content-type': 'text/csv' } };
      }
      if (req.method === 'GET' && req.path.startsWith('/api/v1/audit')) {
        const q = new URL(req.path, 'http://x').searchParams;
        const off = { ...entry(2, 'change-request.applied', 'flag', 'checkout', 'web'), environment: 'production' };
        return { status: 200, body: { items: q.get('turned') === 'off' ? [off] : [off, entry(1, 'flag.updated', 'flag', 'banner', 'web')], nextCursor: null } };
      }
      return undefined;
    });
    const environments = [
      { key: 'staging', name: 'Staging', production: false, requireApproval: false, version: 1, position: 0 },
      { key: 'production', name: 'Production', production: true, requireApproval: true, version: 1, position: 1 },
    ];
    render(
      <WithSession client={client} me={user({ role: 'admin' })} environments={environments}>
        <AuditLog />
      </WithSession>,
    );
    const table = await screen.findByRole('table', { name: 'Audit entries' });
    await waitFor(() => { expect(within(table).getAllByRole('row')).toHaveLength(3); });

    await u.selectOptions(screen.getByRole('combobox', { name: 'Flag turned on or off' }), 'off');
    await u.selectOptions(screen.getByRole('combobox', { name: 'Environment' }), 'production');
    await waitFor(() => { expect(within(screen.getByRole('table', { name: 'Audit entries' })).getAllByRole('row')).toHaveLength(2); });
    const listed = new URL(sent.filter((r) => r.path.startsWith('/api/v1/audit?')).at(-1)!.path, 'http://x').searchParams;
    expect([listed.get('turned'), listed.get('environment'), listed.get('project')]).toEqual(['off', 'production', 'web']);
    expect(screen.getByRole('table', { name: 'Audit entries' }).textContent).toContain('change-request.applied');

    await u.click(screen.getByRole('button', { name: 'Export CSV' }));
    await waitFor(() => { expect(sent.some((r) => r.path.startsWith('/api/v1/audit/export'))).toBe(true); });
    const exported = new URL(sent.find((r) => r.path.startsWith('/api/v1/audit/export'))!.path, 'http://x').searchParams;
    expect([exported.get('turned'), exported.get('environment'), exported.get('bom')]).toEqual(['off', 'production', '1']);
  });

  it('names targets whose key is an internal id by the label the API gives, keeping the id at hand', async () => {
    const labelled = (id: number, action: string, resourceType: string, resourceKey: string, resourceLabel: string) => ({ ...entry(id, action, resourceType, resourceKey, 'web'), resourceLabel });
    const { client } = fakeApi((req) => {
      if (req.method === 'GET' && req.path.startsWith('/api/v1/audit')) {
        return {
          status: 200,
          body: {
            items: [
              labelled(5, 'user.updated', 'user', '3f2a9c1e-0000-4000-8000-000000000001', 'alice@example.com'),
              labelled(4, 'webhook.updated', 'webhook', '3f2a9c1e-0000-4000-8000-000000000002', 'Slack alerts'),
              labelled(3, 'sdk-key.created', 'sdk-key', '3f2a9c1e-0000-4000-8000-000000000003', 'production server (xpk_srv_ab12cd34…)'),
              labelled(2, 'token.created', 'access-token', '3f2a9c1e-0000-4000-8000-000000000004', 'ci deploy (xpp_ab12cd34…)'),
              entry(1, 'flag.updated', 'flag', 'checkout', 'web'),
            ],
            nextCursor: null,
          },
        };
      }
      return req.method === 'GET' ? { status: 200, body: { items: [] } } : undefined;
    });
    render(
      <WithSession client={client} me={user({ role: 'admin' })}>
        <AuditLog />
      </WithSession>,
    );
    const table = await screen.findByRole('table', { name: 'Audit entries' });
    const what = within(table).getAllByRole<HTMLTableRowElement>('row').slice(1).map((r) => r.cells[2]!);

    expect(what.map((c) => c.textContent)).toEqual([
      'user.updated user alice@example.com 3f2a9c1e-0000-4000-8000-000000000001',
      'webhook.updated webhook Slack alerts 3f2a9c1e-0000-4000-8000-000000000002',
      'sdk-key.created sdk-key production server (xpk_srv_ab12cd34…) 3f2a9c1e-0000-4000-8000-000000000003',
      'token.created access-token ci deploy (xpp_ab12cd34…) 3f2a9c1e-0000-4000-8000-000000000004',
      'flag.updated flag checkout',
    ]);
    // The label carries the id as its title; the id itself follows, muted, to copy into the Resource key filter.
    expect(within(what[0]!).getByText('alice@example.com').title).toBe('user 3f2a9c1e-0000-4000-8000-000000000001');
    const id = within(what[0]!).getByText('3f2a9c1e-0000-4000-8000-000000000001');
    expect([id.tagName, id.classList.contains('muted')]).toEqual(['CODE', true]);
    // Other types are as before: the key, not muted.
    const key = within(what[4]!).getByText('checkout');
    expect([key.tagName, key.classList.contains('muted')]).toEqual(['CODE', false]);
  });

  it('says in an entry\'s details which token or session made the change, and from which address', async () => {
    const u = userEvent.setup();
    const { client } = fakeApi((req) => {
      if (req.method === 'GET' && req.path.startsWith('/api/v1/audit')) {
        return {
          status: 200,
          body: {
            items: [
              { ...entry(4, 'flag.updated', 'flag', 'checkout', 'web'), credential: { kind: 'token', id: '3f2a9c1e-0000-4000-8000-0000000000aa', prefix: 'xpp_ab12cd34' }, ip: '203.0.113.5' },
              { ...entry(3, 'flag.created', 'flag', 'banner', 'web'), credential: { kind: 'session', id: '3f2a9c1e-0000-4000-8000-0000000000bb', prefix: null }, ip: '198.51.100.7' },
              { ...entry(2, 'experiment.stopped', 'experiment', 'cta', 'web'), actorEmail: 'guardrails@xp', client: 'guardrails', credential: { kind: 'system', id: 'guardrails', prefix: null }, ip: null },
              // Written before credentials were recorded.
              { ...entry(1, 'flag.updated', 'flag', 'legacy', 'web'), credential: null, ip: null },
            ],
            nextCursor: null,
          },
        };
      }
      return req.method === 'GET' ? { status: 200, body: { items: [] } } : undefined;
    });
    render(
      <WithSession client={client} me={user({ role: 'admin' })}>
        <AuditLog />
      </WithSession>,
    );
    const table = await screen.findByRole('table', { name: 'Audit entries' });
    const details = within(table).getAllByRole<HTMLTableRowElement>('row').slice(1).map((r) => r.cells[3]!);
    await u.click(within(details[0]!).getByText('0 changes'));

    expect(within(details[0]!).getByText(/via token/).textContent).toBe('via token xpp_ab12cd34… (id 3f2a9c1e-0000-4000-8000-0000000000aa), from 203.0.113.5');
    expect(within(details[1]!).getByText(/session/).textContent).toBe('via a console session, from 198.51.100.7');
    expect(within(details[2]!).getByText(/platform/).textContent).toBe('by the platform (guardrails)');
    expect(details[3]!.textContent).toBe('0 changesNo field changed.');
    // The session's id is not shown: it is of no use to whoever reads the log, unlike a token's.
    expect(table.textContent).not.toContain('0000000000bb');
  });

  it('exports what the API filters match as a CSV file, and shows why an export is refused', async () => {
    const u = userEvent.setup();
    const saved: { name: string; blob: Blob | undefined }[] = [];
    const textOf = (blob: Blob | undefined): Promise<string> =>
      new Promise((resolve, reject) => {
        const reader = new FileReader();
        reader.onload = () => { resolve(typeof reader.result === 'string' ? reader.result : ''); };
        reader.onerror = () => { reject(new Error('unreadable')); };
        reader.readAsText(blob ?? new Blob([]));
      });
    let refuse = false;
    const { client, sent } = fakeApi((req) => {
      if (req.method === 'GET' && req.path.startsWith('/api/v1/audit/export')) {
        return refuse
          ? { status: 400, body: { error: { code: 'VALIDATION_FAILED', message: 'more than 100,000 entries match; export them in parts with from and to' } } }
          : { status: 200, text: 'id,created_at\r\n1,2026-11-25T12:00:00.000Z\r\n', contentType: 'text/csv; charset=utf-8' };
      }
      if (req.method === 'GET' && req.path.startsWith('/api/v1/audit')) {
        return { status: 200, body: { items: [entry(1, 'flag.updated', 'flag', 'checkout', 'web')], nextCursor: null } };
      }
      return req.method === 'GET' ? { status: 200, body: { items: [] } } : undefined;
    });
    const blobs = new Map<string, Blob>();
    vi.stubGlobal('URL', Object.assign(URL, {
      createObjectURL: (blob: Blob) => {
        const url = `blob:test/${blobs.size}`;
        blobs.set(url, blob);
        return url;
      },
      revokeObjectURL: () => undefined,
    }));
    const click = vi.spyOn(HTMLAnchorElement.prototype, 'click').mockImplementation(function (this: HTMLAnchorElement) {
      saved.push({ name: this.download, blob: blobs.get(this.href) });
    });
    render(
      <WithSession client={client} me={user({ role: 'admin' })}>
        <AuditLog />
      </WithSession>,
    );
    await screen.findByRole('table', { name: 'Audit entries' });
    await u.selectOptions(screen.getByRole('combobox', { name: 'Resource type' }), 'flag');
    await u.click(screen.getByRole('button', { name: 'Export CSV' }));

    await waitFor(() => { expect(saved).toHaveLength(1); });
    expect(saved[0]!.name).toMatch(/^xp-audit-web-\d{4}-\d{2}-\d{2}\.csv$/);
    expect(await textOf(saved[0]!.blob)).toBe('id,created_at\r\n1,2026-11-25T12:00:00.000Z\r\n');
    const request = sent.find((r) => r.path.startsWith('/api/v1/audit/export'))!;
    expect(Object.fromEntries(new URL(request.path, 'http://x').searchParams)).toEqual({ project: 'web', resourceType: 'flag', bom: '1' });

    refuse = true;
    await u.click(screen.getByRole('button', { name: 'Export CSV' }));
    expect((await screen.findByText(/more than 100,000 entries match/)).textContent).toContain('export them in parts with from and to');
    expect(saved).toHaveLength(1);
    click.mockRestore();
  });

  it('names the export after the user\'s own day, not the UTC one', async () => {
    const u = userEvent.setup();
    // 00:49 on Dec 6 in Kolkata: still Dec 5 in UTC.
    zone.viewer = 'Asia/Kolkata';
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.parse('2026-12-05T19:19:00Z'));
    const saved: string[] = [];
    const { client } = fakeApi((req) => {
      if (req.method === 'GET' && req.path.startsWith('/api/v1/audit/export')) {
        return { status: 200, text: 'id,created_at\r\n', contentType: 'text/csv; charset=utf-8' };
      }
      return req.method === 'GET' ? { status: 200, body: { items: [entry(1, 'flag.updated', 'flag', 'checkout', 'web')], nextCursor: null } } : undefined;
    });
    vi.stubGlobal('URL', Object.assign(URL, { createObjectURL: () => 'blob:test/0', revokeObjectURL: () => undefined }));
    const click = vi.spyOn(HTMLAnchorElement.prototype, 'click').mockImplementation(function (this: HTMLAnchorElement) {
      saved.push(this.download);
    });
    try {
      render(
        <WithSession client={client} me={user({ role: 'admin' })}>
          <AuditLog />
        </WithSession>,
      );
      await screen.findByRole('table', { name: 'Audit entries' });
      await u.click(screen.getByRole('button', { name: 'Export CSV' }));
      await waitFor(() => { expect(saved).toEqual(['xp-audit-web-2026-12-06.csv']); });
    } finally {
      click.mockRestore();
    }
  });

  it('labels its text filters visibly and makes them wide enough for their whole placeholder', async () => {
    const { client } = fakeApi((req) => (req.method === 'GET' ? { status: 200, body: { items: [], nextCursor: null } } : undefined));
    render(
      <WithSession client={client} me={user({ role: 'admin' })}>
        <AuditLog />
      </WithSession>,
    );

    const boxes = within(await screen.findByRole('search')).getAllByRole<HTMLInputElement>('searchbox');
    expect(boxes.map((b) => b.closest('label')?.textContent.trim())).toEqual(['Action', 'Resource key']);
    for (const box of boxes) {
      expect(screen.getByRole('searchbox', { name: box.closest('label')?.textContent.trim() ?? '' })).toBe(box);
      // An input is `size` average characters wide unless a style sets its width: two to spare, for
      // placeholder letters wider than the average.
      expect({ placeholder: box.placeholder, fits: box.placeholder.length + 2 <= box.size }).toEqual({ placeholder: box.placeholder, fits: true });
      expect(['', 'auto']).toContain(getComputedStyle(box).width);
      expect(['', 'none']).toContain(getComputedStyle(box).maxWidth);
    }
  });

  it('shows a rule moved by its id and positions, next to entries stored before that addressed rules by position', () => {
    render(
      <DiffView
        diff={[
          { op: 'move', path: '/environments/production/rules/germany-ramp', from: 1, to: 0 },
          { op: 'replace', path: '/environments/production/rules/beta/coverage', from: 0.1, to: 0.25 },
          { op: 'replace', path: '/environments/production/rules/0/id', from: 'beta', to: 'germany-ramp' },
        ]}
      />,
    );
    const lines = screen.getAllByRole('listitem').map((li) => li.textContent);
    expect(lines).toEqual([
      '/environments/production/rules/germany-ramp moved from position 2 to 1',
      '/environments/production/rules/beta/coverage 0.1 → 0.25',
      '/environments/production/rules/0/id "beta" → "germany-ramp"',
    ]);
  });
});
