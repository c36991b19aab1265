import '../../../test/dom.js';
import { cleanup, render, screen, within } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { afterEach, describe, expect, it } from 'vitest';
import type { ExplorerEventView } from '@xp/shared';
import { WithSession, fakeApi, user } from '../../../test/fake-api.js';
import type { Responder } from '../../../test/fake-api.js';
import Events from '../events.js';

afterEach(cleanup);

const EVENTS = '/api/v1/projects/web/events';

function event(seq: number, unitId: string, name: string): ExplorerEventView {
  const at = new Date(Date.UTC(2026, 10, 25, 10, 0, seq)).toISOString();
  return { id: `e${String(seq)}`, type: 'track', environment: 'production', unitId, name, occurredAt: at, receivedAt: at, seq };
}

function renderEvents(respond: Responder): ReturnType<typeof fakeApi> {
  const api = fakeApi(respond);
  render(
    <WithSession client={api.client} me={user()}>
      <Events />
    </WithSession>,
  );
  return api;
}

describe('the explorer unit id search', () => {
  it('searches the id exactly as typed, spaces included, and says it has spaces', async () => {
    const padded = event(1, ' padded ', 'signup');
    const api = renderEvents((req) => {
      const url = new URL(req.path, 'http://x');
      if (url.pathname === EVENTS) {
        return { status: 200, body: { items: url.searchParams.get('unitId') === ' padded ' || !url.searchParams.has('unitId') ? [padded] : [] } };
      }
      return undefined;
    });
    await screen.findByRole('table', { name: 'Events' });
    const field = screen.getByRole('textbox', { name: 'Unit id' });
    expect(field.getAttribute('aria-describedby')).toBeNull();

    await userEvent.type(field, ' padded {Enter}');

    expect(field.getAttribute('aria-describedby')).toBe('unit-id-spaces');
    expect(document.getElementById('unit-id-spaces')?.textContent).toContain('starts or ends with spaces');
    await within(screen.getByRole('table', { name: 'Events' })).findByText('signup');
    expect(screen.queryByText(/No events match/)).toBeNull();
    const searched = api.sent.map((r) => new URL(r.path, 'http://x').searchParams).filter((q) => q.has('unitId'));
    // Live refreshes may repeat the search: always with the id as typed.
    expect([searched.length > 0, [...new Set(searched.map((q) => q.get('unitId')))]]).toEqual([true, [' padded ']]);
  });
});

describe('the unit timeline', () => {
  it('shows the newest events first and loads older pages with the next cursor, no dead end', async () => {
    const UNIT = 'u-7';
    // 210 events: the newest page of 200, then the 10 oldest.
    const all = Array.from({ length: 210 }, (_, i) => event(i, UNIT, `event-${String(i)}`)).reverse();
    const api = renderEvents((req) => {
      const url = new URL(req.path, 'http://x');
      if (url.pathname === EVENTS) {
        return { status: 200, body: { items: all.slice(0, 1) } };
      }
      if (url.pathname === '/api/v1/projects/web/unit-timeline' && url.searchParams.get('unitId') === UNIT) {
        const start = url.searchParams.get('after') === 'cursor-1' ? 200 : 0;
        const items = all.slice(start, start + Number(url.searchParams.get('limit')));
        const more = start + items.length < all.length;
        return { status: 200, body: { unitId: UNIT, items, truncated: more, ...(more ? { next: 'cursor-1' } : {}) } };
      }
      return undefined;
    });
    await userEvent.click(within(await screen.findByRole('table', { name: 'Events' })).getByRole('button', { name: `Timeline of ${UNIT}` }));
    const timeline = screen.getByRole('region', { name: `Timeline of ${UNIT}` });
    await within(timeline).findByText('event-209');

    const names = (): string[] => within(timeline).getAllByRole('listitem').map((li) => li.querySelector('code')?.textContent ?? '');
    expect(names().slice(0, 2)).toEqual(['event-209', 'event-208']);
    expect(names()).toHaveLength(200);
    expect(timeline.textContent).not.toContain('narrow the window');

    await userEvent.click(within(timeline).getByRole('button', { name: 'Older events' }));
    await within(timeline).findByText('event-0');
    expect(names()).toEqual(all.map((e) => e.name));
    expect(within(timeline).queryByRole('button', { name: 'Older events' })).toBeNull();
    const asked = api.sent.filter((r) => r.path.includes('/unit-timeline')).map((r) => Object.fromEntries(new URL(r.path, 'http://x').searchParams));
    expect(asked).toEqual([
      { environment: 'production', order: 'desc', limit: '200', unitId: UNIT },
      { environment: 'production', order: 'desc', limit: '200', after: 'cursor-1', unitId: UNIT },
    ]);
  });
});
