import '../../../test/dom.js';
import { cleanup, render, screen, within } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { afterEach, describe, expect, it } from 'vitest';
import type { ChangeRequest } from '@xp/shared';
import { WithSession, fakeApi, user } from '../../../test/fake-api.js';
import ChangeRequests, { ChangeDiff, allowedActions } from '../change-requests.js';

afterEach(cleanup);

function cr(overrides: Partial<ChangeRequest>): ChangeRequest {
  return {
    id: '0b5e7c1a-0000-4000-8000-000000000001',
    resourceType: 'flag',
    resourceKey: 'checkout',
    environment: 'production',
    status: 'open',
    baseVersion: 4,
    proposed: {},
    diff: [{ op: 'replace', path: 'enabled', from: false, to: true }],
    comment: 'ship it',
    proposedBy: 'u-editor',
    approvedBy: null,
    createdAt: '2026-11-25T12:00:00Z',
    ...overrides,
  };
}

const ALL = new Set(['change-requests:approve', 'change-requests:reject', 'change-requests:apply']);

describe('change requests', () => {
  it('never offers to approve one’s own request', () => {
    expect(allowedActions(cr({ proposedBy: 'me' }), { id: 'me' }, ALL)).toEqual(['cancel']);
    expect(allowedActions(cr({}), { id: 'me' }, ALL)).toEqual(['approve', 'reject']);
    expect(allowedActions(cr({ approvedBy: 'someone' }), { id: 'me' }, ALL)).toEqual(['apply', 'reject']);
    expect(allowedActions(cr({}), { id: 'me' }, new Set())).toEqual([]);
    expect(allowedActions(cr({ status: 'applied' }), { id: 'me' }, ALL)).toEqual([]);
    // An approval whose reviewer lost the right does not count: approve again, do not apply.
    expect(allowedActions(cr({ approvedBy: 'someone', approvalVoid: 'Ada is now an editor and cannot approve' }), { id: 'me' }, ALL)).toEqual(['approve', 'reject']);
  });

  it('leaves a request with a time to the scheduler: no Apply, and no Approve once its time has passed', () => {
    const now = Date.parse('2026-12-24T08:00:00Z');
    const timed = (applyAt: string, approvedBy: string | null): ChangeRequest => cr({ applyAt, approvedBy });
    expect(allowedActions(timed('2026-12-24T09:00:00Z', null), { id: 'me' }, ALL, now)).toEqual(['approve', 'reject']);
    expect(allowedActions(timed('2026-12-24T09:00:00Z', 'someone'), { id: 'me' }, ALL, now)).toEqual(['reject']);
    expect(allowedActions(timed('2026-12-24T07:00:00Z', null), { id: 'me' }, ALL, now)).toEqual(['reject']);
  });

  it('shows when a timed request applies, and why a failed one was not applied; failed requests can be listed', async () => {
    const u = userEvent.setup();
    const scheduled = cr({ applyAt: '2099-12-24T08:00:00.000Z' });
    const failed = cr({ id: '0b5e7c1a-0000-4000-8000-000000000002', status: 'failed', applyAt: '2026-11-26T08:00:00.000Z', failure: 'it was not approved by its time (2026-11-26T08:00:00.000Z)' });
    const { client, sent } = fakeApi((req) => {
      if (req.path.startsWith('/api/v1/users')) {
        return { status: 200, body: { items: [] } };
      }
      if (!req.path.startsWith('/api/v1/projects/web/change-requests')) {
        return undefined;
      }
      return { status: 200, body: { items: req.path.includes('status=failed') ? [failed] : [scheduled] } };
    });
    render(
      <WithSession client={client} me={user({ id: 'u-admin', role: 'admin' })}>
        <ChangeRequests />
      </WithSession>,
    );

    const card = await screen.findByRole('listitem', { name: 'Change request 0b5e7c1a' });
    expect(within(card).getByText(/Scheduled: the platform applies it at .*\(2099-12-24T08:00:00.000Z\) if it is approved by then/)).toBeTruthy();
    await u.selectOptions(screen.getByRole('combobox', { name: 'Status' }), 'failed');
    expect(await screen.findByText('Not applied: it was not approved by its time (2026-11-26T08:00:00.000Z)')).toBeTruthy();
    expect(sent.some((r) => r.path === '/api/v1/projects/web/change-requests?limit=50&status=failed')).toBe(true);
  });

  it('lists requests with their diff and approves one', async () => {
    const u = userEvent.setup();
    const open = cr({});
    const { client, sent } = fakeApi((req) => {
      if (req.path.startsWith('/api/v1/users')) {
        return { status: 200, body: { items: [user({ id: 'u-editor', name: 'Ed', email: 'ed@example.com', role: 'editor' })] } };
      }
      if (req.method === 'POST' && req.path.endsWith('/approve')) {
        return { status: 200, body: { ...open, approvedBy: 'u-admin' } };
      }
      return req.path.startsWith('/api/v1/projects/web/change-requests') ? { status: 200, body: { items: [open] } } : undefined;
    });
    render(
      <WithSession client={client} me={user({ id: 'u-admin', role: 'admin' })}>
        <ChangeRequests />
      </WithSession>,
    );

    const card = await screen.findByRole('listitem', { name: 'Change request 0b5e7c1a' });
    expect(within(card).getByRole('table', { name: 'Proposed changes' }).textContent).toBe('enabledfalsetrue');
    expect(await within(card).findByText(/Proposed by Ed \(ed@example.com\)/)).toBeTruthy();
    await u.click(await within(card).findByRole('button', { name: 'Approve checkout in production' }));

    expect(sent.filter((r) => r.method === 'POST').map((r) => r.path)).toEqual([`/api/v1/projects/web/change-requests/${open.id}/approve`]);
    expect(screen.getByRole('status').textContent).toMatch(/approved; it can be applied now/);
    expect(sent.some((r) => r.path === '/api/v1/projects/web/change-requests?limit=50&status=open')).toBe(true);
  });

  it('pages through more requests than fit one page, newest first', async () => {
    const u = userEvent.setup();
    const id = (n: number): string => `0b5e7c1a-0000-4000-8000-${String(n).padStart(12, '0')}`;
    const { client, sent } = fakeApi((req) => {
      if (req.path.startsWith('/api/v1/users')) {
        return { status: 200, body: { items: [] } };
      }
      if (!req.path.startsWith('/api/v1/projects/web/change-requests')) {
        return undefined;
      }
      const older = req.path.includes('cursor=page2');
      const items = older ? [cr({ id: id(51), resourceKey: 'oldest' })] : Array.from({ length: 50 }, (_, i) => cr({ id: id(i + 1), resourceKey: `flag-${i + 1}` }));
      return { status: 200, body: { items, ...(older ? {} : { nextCursor: 'page2' }) } };
    });
    render(
      <WithSession client={client} me={user({ id: 'u-admin', role: 'admin' })}>
        <ChangeRequests />
      </WithSession>,
    );

    expect(await screen.findAllByRole('listitem', { name: /^Change request/ })).toHaveLength(50);
    await u.click(screen.getByRole('button', { name: 'Load older requests' }));

    expect(await screen.findByRole('link', { name: 'oldest' })).toBeTruthy();
    expect(screen.getAllByRole('listitem', { name: /^Change request/ })).toHaveLength(51);
    expect(screen.queryByRole('button', { name: 'Load older requests' })).toBeNull();
    expect(sent.filter((r) => r.path.includes('change-requests')).map((r) => r.path)).toEqual([
      '/api/v1/projects/web/change-requests?limit=50&status=open',
      '/api/v1/projects/web/change-requests?limit=50&status=open&cursor=page2',
    ]);
  });

  it('says when an approval no longer counts, and offers approving it again', async () => {
    const voided = cr({ approvedBy: 'u-ada', approvalVoid: 'Ada is now an editor and cannot approve' });
    const { client } = fakeApi((req) => {
      if (req.path.startsWith('/api/v1/users')) {
        return { status: 200, body: { items: [] } };
      }
      return req.path.startsWith('/api/v1/projects/web/change-requests') ? { status: 200, body: { items: [voided] } } : undefined;
    });
    render(
      <WithSession client={client} me={user({ id: 'u-admin', role: 'admin' })}>
        <ChangeRequests />
      </WithSession>,
    );

    const card = await screen.findByRole('listitem', { name: 'Change request 0b5e7c1a' });
    expect(within(card).getByText('approval no longer counts')).toBeTruthy();
    expect(card.textContent).toContain('that approval no longer counts: Ada is now an editor and cannot approve; another reviewer must approve');
    expect(within(card).getByRole('button', { name: 'Approve checkout in production' })).toBeTruthy();
    expect(within(card).queryByRole('button', { name: 'Apply checkout in production' })).toBeNull();
  });

  it('explains why one cannot approve one’s own request and shows refusals', async () => {
    const u = userEvent.setup();
    const mine = cr({ proposedBy: 'u-admin' });
    const { client } = fakeApi((req) => {
      if (req.path.startsWith('/api/v1/users')) {
        return { status: 200, body: { items: [] } };
      }
      if (req.method === 'POST') {
        return { status: 409, body: { error: { code: 'INVALID_STATE', message: 'change request is not open' } } };
      }
      return { status: 200, body: { items: [mine] } };
    });
    render(
      <WithSession client={client} me={user({ id: 'u-admin', role: 'admin' })}>
        <ChangeRequests />
      </WithSession>,
    );

    const card = await screen.findByRole('listitem', { name: 'Change request 0b5e7c1a' });
    expect(within(card).getByText(/you cannot approve your own request/)).toBeTruthy();
    expect(within(card).queryByRole('button', { name: /^Approve/ })).toBeNull();
    await u.click(within(card).getByRole('button', { name: 'Withdraw checkout in production' }));
    expect((await within(card).findByRole('alert')).textContent).toMatch(/change request is not open/);
  });

  it('names proposers and approvers for every role that may read users, with the id as the fallback for an unknown one', async () => {
    const approved = cr({ approvedBy: 'dafa4dc1-0000-4000-8000-000000000009' });
    const { client, sent } = fakeApi((req) => {
      if (req.path.startsWith('/api/v1/users')) {
        return { status: 200, body: { items: [user({ id: 'u-editor', name: 'Ed', email: 'ed@example.com', role: 'editor' })] } };
      }
      return req.path.startsWith('/api/v1/projects/web/change-requests') ? { status: 200, body: { items: [approved] } } : undefined;
    });
    render(
      <WithSession client={client} me={user({ id: 'u-viewer', role: 'viewer' })}>
        <ChangeRequests />
      </WithSession>,
    );

    const card = await screen.findByRole('listitem', { name: 'Change request 0b5e7c1a' });
    expect((await within(card).findByText(/Proposed by Ed \(ed@example.com\)/)).textContent).toMatch(/; approved by dafa4dc1$/);
    expect(sent.some((r) => r.method === 'GET' && r.path === '/api/v1/users?limit=200&kind=all')).toBe(true);
  });

  it('names a service account that proposed a request by its name, as the audit log does (the users list asked for kind=all)', async () => {
    const fromCi = cr({ proposedBy: 'u-robot' });
    const { client } = fakeApi((req) => {
      if (req.path.startsWith('/api/v1/users')) {
        // As the API answers: people only, unless asked for kind=all.
        const robot = user({ id: 'u-robot', kind: 'service', name: 'deploy-bot', email: 'u-robot@service-accounts.invalid', role: 'editor' });
        return { status: 200, body: { items: new URL(req.path, 'http://x').searchParams.get('kind') === 'all' ? [robot] : [] } };
      }
      return req.path.startsWith('/api/v1/projects/web/change-requests') ? { status: 200, body: { items: [fromCi] } } : undefined;
    });
    render(
      <WithSession client={client} me={user({ id: 'u-admin', role: 'admin' })}>
        <ChangeRequests />
      </WithSession>,
    );
    const card = await screen.findByRole('listitem', { name: 'Change request 0b5e7c1a' });
    expect((await within(card).findByText(/Proposed by deploy-bot \(service account\)/)).textContent).not.toContain('service-accounts.invalid');
  });

  it('explains that an approved request the flag outgrew can no longer be applied, and leaves the proposer Withdraw', async () => {
    const u = userEvent.setup();
    const approved = cr({ proposedBy: 'u-editor', approvedBy: 'u-admin', baseVersion: 6 });
    const { client } = fakeApi((req) => {
      if (req.path.startsWith('/api/v1/users')) {
        return { status: 200, body: { items: [user({ id: 'u-editor', name: 'Ed', email: 'ed@example.com', role: 'editor' })] } };
      }
      if (req.method === 'POST' && req.path.endsWith('/apply')) {
        return { status: 409, body: { error: { code: 'VERSION_CONFLICT', message: 'flag "checkout" changed since the request was made (version 7, request based on 6); propose again', details: { currentVersion: 7 } } } };
      }
      return req.path.startsWith('/api/v1/projects/web/change-requests') ? { status: 200, body: { items: [approved] } } : undefined;
    });
    const { unmount } = render(
      <WithSession client={client} me={user({ id: 'u-editor', role: 'editor' })}>
        <ChangeRequests />
      </WithSession>,
    );

    const card = await screen.findByRole('listitem', { name: 'Change request 0b5e7c1a' });
    await u.click(within(card).getByRole('button', { name: 'Apply checkout in production' }));
    const alert = await within(card).findByRole('alert');
    expect(alert.textContent).toMatch(/^checkout changed since this request was made \(it is at version 7; the request is based on version 6\), so the request can no longer be applied\. Withdraw it, then propose the change again/);
    expect(alert.textContent).not.toMatch(/Someone else changed|Reload/);
    expect(within(alert).getByRole('link', { name: 'Open checkout' }).getAttribute('href')).toBe('#/flags/checkout');
    // Applying again would fail the same way: only Withdraw is left.
    expect(within(card).queryByRole('button', { name: 'Apply checkout in production' })).toBeNull();
    expect(within(card).getByRole('button', { name: 'Withdraw checkout in production' })).toBeTruthy();
    unmount();

    // A reviewer applying someone else's request is told who should withdraw it.
    render(
      <WithSession client={client} me={user({ id: 'u-admin', role: 'admin' })}>
        <ChangeRequests />
      </WithSession>,
    );
    const theirs = await screen.findByRole('listitem', { name: 'Change request 0b5e7c1a' });
    await within(theirs).findByText(/Proposed by Ed/);
    await u.click(within(theirs).getByRole('button', { name: 'Apply checkout in production' }));
    expect((await within(theirs).findByRole('alert')).textContent).toMatch(/can no longer be applied\. The proposer \(Ed \(ed@example.com\)\) should withdraw it and propose the change again/);
  });

  it("explains why a request whose environment's state changed can no longer be approved, with what changed, and offers neither Approve nor Apply", async () => {
    const u = userEvent.setup();
    const open = cr({ proposedBy: 'u-editor', baseVersion: 24 });
    const why = 'flag "checkout" changed since the request was made: its state in "production" changed (rules) (version 25, request based on 24); the request would undo or misapply that change, so propose again';
    const { client } = fakeApi((req) => {
      if (req.path.startsWith('/api/v1/users')) {
        return { status: 200, body: { items: [user({ id: 'u-editor', name: 'Ed', email: 'ed@example.com', role: 'editor' })] } };
      }
      if (req.method === 'POST' && req.path.endsWith('/approve')) {
        return { status: 409, body: { error: { code: 'VERSION_CONFLICT', message: why, details: { currentVersion: 25 } } } };
      }
      return req.path.startsWith('/api/v1/projects/web/change-requests') ? { status: 200, body: { items: [open] } } : undefined;
    });
    render(
      <WithSession client={client} me={user({ id: 'u-admin', role: 'admin' })}>
        <ChangeRequests />
      </WithSession>,
    );

    const card = await screen.findByRole('listitem', { name: 'Change request 0b5e7c1a' });
    await within(card).findByText(/Proposed by Ed/);
    await u.click(within(card).getByRole('button', { name: 'Approve checkout in production' }));
    const alert = await within(card).findByRole('alert');
    expect(alert.textContent).toMatch(/^checkout changed since this request was made \(it is at version 25; the request is based on version 24\), so the request can no longer be applied\. The proposer \(Ed \(ed@example.com\)\) should withdraw it/);
    expect(alert.textContent).toContain(why);
    expect(within(card).queryByRole('button', { name: 'Approve checkout in production' })).toBeNull();
    expect(within(card).getByRole('button', { name: 'Reject checkout in production' })).toBeTruthy();
  });

  it('says withdrawn, the word of the button and the filter, when the proposer withdraws a request', async () => {
    const u = userEvent.setup();
    const mine = cr({ proposedBy: 'u-editor' });
    const { client } = fakeApi((req) => {
      if (req.path.startsWith('/api/v1/users')) {
        return { status: 200, body: { items: [] } };
      }
      if (req.method === 'POST' && req.path.endsWith('/cancel')) {
        return { status: 200, body: { ...mine, status: 'cancelled' } };
      }
      return req.path.startsWith('/api/v1/projects/web/change-requests') ? { status: 200, body: { items: [mine] } } : undefined;
    });
    render(
      <WithSession client={client} me={user({ id: 'u-editor', role: 'editor' })}>
        <ChangeRequests />
      </WithSession>,
    );

    const card = await screen.findByRole('listitem', { name: 'Change request 0b5e7c1a' });
    await u.click(within(card).getByRole('button', { name: 'Withdraw checkout in production' }));
    expect((await screen.findByRole('status')).textContent).toBe('Change request 0b5e7c1a on checkout (production): withdrawn.');
  });
});

describe('ChangeDiff', () => {
  it('shows a moved rule by its positions, counted from 1, beside the usual values', () => {
    render(
      <ChangeDiff
        diff={[
          { op: 'move', path: '/rules/beta', from: 0, to: 1 },
          { op: 'replace', path: '/rules/beta/coverage', from: 0.1, to: 0.2 },
        ]}
      />,
    );
    const rows = screen.getAllByRole('row').map((r) => r.textContent);
    expect(rows).toEqual(['/rules/betaposition 1position 2', '/rules/beta/coverage0.10.2']);
  });
});
