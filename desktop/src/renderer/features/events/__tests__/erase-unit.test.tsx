import '../../../test/dom.js';
import { cleanup, render, screen, waitFor, within } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { afterEach, describe, expect, it } from 'vitest';
import type { ExplorerEventView, Role, XpApiClient } from '@xp/shared';
import { WithSession, fakeApi, user } from '../../../test/fake-api.js';
import type { Responder } from '../../../test/fake-api.js';
import Events from '../events.js';

afterEach(cleanup);

const UNIT = 'u-42';
const ERASE = '/api/v1/projects/web/units/erase';
const COUNTS: Awaited<ReturnType<XpApiClient['eraseUnits']>> = { units: 1, exposures: 1, unitMetricTotals: 2, unitEvents: 3, explorerEvents: 4, stickyAssignments: 1, deadLetters: 0 };

function event(id: string, type: ExplorerEventView['type'], name: string): ExplorerEventView {
  const at = '2026-11-25T10:00:00Z';
  return { id, type, environment: 'production', unitId: UNIT, name, ...(type === 'exposure' ? { experiment: name, variation: 'treatment' } : {}), occurredAt: at, receivedAt: at, seq: Number(id) };
}

/**
 * The explorer's endpoints for project "web": one unit with an exposure and a purchase, until it is
 * erased. `refuse` answers the erasure with that error instead.
 */
function explorerApi(refuse?: { status: number; body: unknown }): ReturnType<typeof fakeApi> {
  let items = [event('1', 'exposure', 'checkout'), event('2', 'track', 'purchase')];
  const respond: Responder = (req) => {
    const path = req.path.split('?')[0];
    if (path === '/api/v1/projects/web/events' && req.method === 'GET') {
      return { status: 200, body: { items } };
    }
    if (path === '/api/v1/projects/web/unit-timeline' && new URL(req.path, 'http://x').searchParams.get('unitId') === UNIT && req.method === 'GET') {
      return { status: 200, body: { unitId: UNIT, items, truncated: false } };
    }
    if (path === ERASE && req.method === 'POST') {
      if (refuse !== undefined) {
        return refuse;
      }
      items = [];
      return { status: 200, body: { erased: COUNTS } };
    }
    return undefined;
  };
  return fakeApi(respond);
}

async function openTimeline(api: ReturnType<typeof fakeApi>, role: Role): Promise<HTMLElement> {
  render(
    <WithSession client={api.client} me={user({ role })}>
      <Events />
    </WithSession>,
  );
  await userEvent.click(within(await screen.findByRole('table', { name: 'Events' })).getAllByRole('button', { name: `Timeline of ${UNIT}` })[0]!);
  const timeline = screen.getByRole('region', { name: `Timeline of ${UNIT}` });
  await within(timeline).findByText('purchase');
  return timeline;
}

const ERASE_BUTTON = { name: "Erase this unit's data…" };

describe("the unit timeline's erasure", () => {
  it('is offered to owners and admins only (units:erase)', async () => {
    for (const role of ['editor', 'analyst', 'viewer'] as const) {
      const timeline = await openTimeline(explorerApi(), role);
      expect([role, within(timeline).queryByRole('button', ERASE_BUTTON)]).toEqual([role, null]);
      cleanup();
    }
    for (const role of ['owner', 'admin'] as const) {
      const timeline = await openTimeline(explorerApi(), role);
      expect([role, within(timeline).queryByRole('button', ERASE_BUTTON) !== null]).toEqual([role, true]);
      cleanup();
    }
  });

  it('asks to type the unit id, names the unit and project, then erases it, shows the counts and reloads the empty timeline', async () => {
    const api = explorerApi();
    const timeline = await openTimeline(api, 'admin');

    await userEvent.click(within(timeline).getByRole('button', ERASE_BUTTON));
    const dialog = screen.getByRole('dialog', { name: `Erase unit ${UNIT}'s data?` });
    const text = dialog.textContent;
    expect(text).toContain(`project web stores about unit ${UNIT}`);
    expect(text).toContain('exposures, metric totals, tracked events');
    expect(text).toContain('cannot be undone');
    expect(text).toContain('results change');
    const confirm = within(dialog).getByRole('button', { name: 'Erase unit data' });
    expect(confirm).toHaveProperty('disabled', true);
    const field = within(dialog).getByRole('textbox', { name: `Type the unit id, ${UNIT}, to confirm` });
    await userEvent.type(field, 'u-4');
    expect(confirm).toHaveProperty('disabled', true);
    await userEvent.type(field, '{Enter}');
    expect(api.sent.filter((r) => r.method === 'POST')).toEqual([]);

    await userEvent.type(field, '2');
    expect(confirm).toHaveProperty('disabled', false);
    await userEvent.click(confirm);

    await waitFor(() => {
      expect(screen.queryByRole('dialog')).toBeNull();
    });
    expect(api.sent.filter((r) => r.method === 'POST')).toEqual([{ method: 'POST', path: ERASE, ifMatch: null, body: { unitIds: [UNIT] } }]);
    expect(within(timeline).getByRole('status').textContent).toBe(
      `Erased unit ${UNIT} of project web: 1 exposure, 2 metric totals, 3 tracked events, 4 explorer events, 1 sticky assignment, 0 dead letters.`,
    );
    await within(timeline).findByText(/Nothing from this unit in production/);
  });

  it("shows the API's refusal in the dialog and keeps the timeline", async () => {
    const api = explorerApi({ status: 403, body: { error: { code: 'FORBIDDEN', message: 'your role cannot units:erase', details: { permission: 'units:erase' } } } });
    const timeline = await openTimeline(api, 'owner');

    await userEvent.click(within(timeline).getByRole('button', ERASE_BUTTON));
    const dialog = screen.getByRole('dialog');
    await userEvent.type(within(dialog).getByRole('textbox'), UNIT);
    await userEvent.click(within(dialog).getByRole('button', { name: 'Erase unit data' }));

    expect((await within(dialog).findByRole('alert')).textContent).toContain('You do not have permission to do this: your role cannot units:erase');
    expect(screen.getByRole('dialog')).toBe(dialog);
    expect(within(timeline).getByRole('status').textContent).toBe('');
    expect(within(timeline).getByText('purchase')).toBeTruthy();
  });
});
