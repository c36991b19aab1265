/**
 * fetchSnapshot asks the API for as many keys no flag has as it lists (5,000), not its default
 * (1,000): after a flood of generated keys, a key evaluated by mistake still hovers with its counts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { XpApiClient } from '@xp/shared';
import { fetchSnapshot } from '../flag-data.js';
import type { StandInApi } from './stand-in-api.js';
import { standInApi } from './stand-in-api.js';

describe('fetchSnapshot and the evaluation counts listing', () => {
  let api: StandInApi | undefined;
  afterEach(async () => {
    await api?.close();
  });

  it('asks GET …/flag-evaluations for the last 30 days with limit 5000, the most the API lists', async () => {
    api = standInApi();
    const stand = api;
    await new Promise<void>((resolve) => stand.server.listen(0, '127.0.0.1', resolve));
    stand.evaluations = { since: '2026-10-26T12:00:00.000Z', flags: [], apps: [], dropped: 0, undefinedOmitted: 0, countingSince: [] };
    const asked: URL[] = [];
    // The real fetch to the stand-in API; the URLs asked are kept to read the query.
    const client = new XpApiClient({
      apiUrl: stand.url(),
      token: 'xpp_good',
      fetch: (input, init) => {
        asked.push(new URL(input instanceof Request ? input.url : String(input)));
        return fetch(input, init);
      },
    });

    const snapshot = await fetchSnapshot(client, 'shop', 'production', new Date('2026-11-25T12:00:00Z'));

    expect(snapshot.evaluations?.since).toBe('2026-10-26T12:00:00.000Z');
    const listing = asked.filter((u) => u.pathname === '/api/v1/projects/shop/flag-evaluations');
    expect(listing.map((u) => Object.fromEntries(u.searchParams))).toEqual([{ days: '30', limit: '5000' }]);
  });
});
