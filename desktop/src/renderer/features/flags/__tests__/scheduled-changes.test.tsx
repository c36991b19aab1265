import '../../../test/dom.js';
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { afterEach, describe, expect, it } from 'vitest';
import type { ScheduledChange, StoredEnvironment } from '@xp/shared';
import { WithSession, fakeApi, user } from '../../../test/fake-api.js';
import type { SentRequest } from '../../../test/fake-api.js';
import { booleanFlag, storedOf } from '../../../test/fixtures.js';
import { ScheduledChanges } from '../scheduled-changes.js';

afterEach(cleanup);

const DEVELOPMENT: StoredEnvironment = { key: 'development', name: 'Development', production: false, requireApproval: false, version: 1, position: 0 };
const PRODUCTION: StoredEnvironment = { key: 'production', name: 'Production', production: true, requireApproval: true, version: 1, position: 1 };
const FLAG = storedOf(booleanFlag('checkout'), { version: 3 });

const SCHEDULED: ScheduledChange = {
  id: 'sc-1',
  flag: 'checkout',
  environment: 'development',
  at: '2026-12-24T08:00:00.000Z',
  state: { enabled: true },
  comment: 'launch',
  createdBy: 'u-editor',
  createdAt: '2026-11-25T10:00:00.000Z',
  status: 'scheduled',
  finishedAt: null,
  cancelledBy: null,
  failure: null,
  appliedVersion: null,
};

function api(scheduled: ScheduledChange[]): ReturnType<typeof fakeApi> {
  return fakeApi((req: SentRequest) => {
    if (req.method === 'GET' && req.path === '/api/v1/projects/web/flags/checkout/scheduled-changes?status=scheduled') {
      return { status: 200, body: { items: scheduled } };
    }
    if (req.method === 'POST' && req.path === '/api/v1/projects/web/flags/checkout/scheduled-changes') {
      const body = req.body as { environment: string; at: string; state: Record<string, unknown> };
      return { status: 201, body: { ...SCHEDULED, id: 'sc-2', ...body } };
    }
    if (req.method === 'DELETE' && req.path === '/api/v1/projects/web/flags/checkout/scheduled-changes/sc-1') {
      return { status: 200, body: { ...SCHEDULED, status: 'cancelled' } };
    }
    if (req.method === 'POST' && req.path === '/api/v1/projects/web/change-requests') {
      return { status: 201, body: { id: 'cr-123456789', applyAt: (req.body as { applyAt: string }).applyAt } };
    }
    return req.method === 'GET' ? { status: 200, body: { items: [] } } : undefined;
  });
}

describe('ScheduledChanges', () => {
  it("lists the flag's scheduled changes with their UTC instant, and cancels one", async () => {
    const { client, sent } = api([SCHEDULED]);
    render(
      <WithSession client={client} me={user({ id: 'u-editor', role: 'editor' })} environments={[DEVELOPMENT]}>
        <ScheduledChanges flag={FLAG} environment="development" />
      </WithSession>,
    );

    const list = await screen.findByRole('list', { name: 'Scheduled changes of this flag' });
    await userEvent.click(screen.getByRole('button', { name: /^Cancel the change scheduled for/ }));

    expect(list.textContent).toContain('Development: Turn on at');
    expect(list.textContent).toContain('(2026-12-24T08:00:00.000Z)');
    expect(list.textContent).toContain('by you');
    await waitFor(() => {
      expect(sent.some((r) => r.method === 'DELETE' && r.path === '/api/v1/projects/web/flags/checkout/scheduled-changes/sc-1')).toBe(true);
    });
    expect(await screen.findByText(/^Cancelled the change scheduled for/)).toBeTruthy();
  });

  it('schedules turning the flag off at a time in the user’s time zone, shown and sent as its UTC instant', async () => {
    const { client, sent } = api([]);
    render(
      <WithSession client={client} me={user({ role: 'editor' })} environments={[DEVELOPMENT]}>
        <ScheduledChanges flag={FLAG} environment="development" />
      </WithSession>,
    );
    const instant = new Date('2026-12-27T18:30').toISOString();

    await userEvent.click(await screen.findByRole('button', { name: 'Schedule this change…' }));
    await userEvent.selectOptions(screen.getByRole('combobox', { name: 'Change' }), 'off');
    fireEvent.change(screen.getByLabelText(/^When/), { target: { value: '2026-12-27T18:30' } });
    const shown = screen.getByText(/^That is /).textContent;
    await userEvent.click(screen.getByRole('button', { name: 'Schedule' }));

    expect(shown).toBe(`That is ${instant} (UTC); applied within about a minute after.`);
    await waitFor(() => {
      expect(sent.find((r) => r.method === 'POST')?.body).toEqual({ environment: 'development', at: instant, state: { enabled: false } });
    });
    expect(await screen.findByText(/^Scheduled for /)).toBeTruthy();
  });

  it('proposes a change request with that time where the user’s changes need approval', async () => {
    const { client, sent } = api([]);
    render(
      <WithSession client={client} me={user({ role: 'editor' })} environments={[PRODUCTION]}>
        <ScheduledChanges flag={FLAG} environment="production" />
      </WithSession>,
    );
    const instant = new Date('2026-12-24T09:00').toISOString();

    await userEvent.click(await screen.findByRole('button', { name: 'Schedule this change…' }));
    fireEvent.change(screen.getByLabelText(/^When/), { target: { value: '2026-12-24T09:00' } });
    await userEvent.click(screen.getByRole('button', { name: 'Propose for that time' }));

    await waitFor(() => {
      expect(sent.find((r) => r.method === 'POST')).toMatchObject({
        path: '/api/v1/projects/web/change-requests',
        body: { resourceType: 'flag', resourceKey: 'checkout', environment: 'production', state: { enabled: true }, baseVersion: 3, applyAt: instant },
      });
    });
    expect(await screen.findByText(/change request cr-12345 was proposed for/)).toBeTruthy();
  });
});
