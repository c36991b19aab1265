import '../../../test/dom.js';
import { cleanup, render, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import type { HealthView } from '@xp/shared';
import { WithSession, fakeApi, user } from '../../../test/fake-api.js';
import Health from '../health.js';

afterEach(cleanup);

const HEALTH: HealthView = {
  status: 'ok',
  source: 'in-process',
  window: { start: '2026-11-25T11:00:00Z', end: '2026-11-25T12:00:00Z', minutes: 60 },
  database: 'ok',
  metricsAvailable: true,
  figures: [
    { name: 'Evaluations', statistic: 'sum', unit: 'Count', value: 0 },
    { name: 'EvaluationLatency', statistic: 'p50', unit: 'Milliseconds', value: 23.95 },
    { name: 'EvaluationLatency', statistic: 'p99', unit: 'Milliseconds', value: 72.94 },
    { name: 'EventsAccepted', statistic: 'sum', unit: 'Count', value: 12_345 },
    { name: 'SomethingNew', statistic: 'avg', unit: 'Count', value: 3 },
  ],
  pipeline: { deadLetters: 0, retryingRecords: 0 },
};

describe('health', () => {
  it('labels the latency figure as what it measures, every SDK request, not evaluations', async () => {
    const { client } = fakeApi((req) => (req.path.startsWith('/api/v1/health') ? { status: 200, body: HEALTH } : undefined));
    render(
      <WithSession client={client} me={user()}>
        <Health />
      </WithSession>,
    );

    const table = await screen.findByRole('table', { name: 'Health figures' });
    const rows = within(table).getAllByRole('row').slice(1);
    const cells = rows.map((r) => within(r).getAllByRole('cell').map((c) => c.textContent));
    expect(cells[0]?.[0]).toMatch(/^Flags evaluated by the API/);
    expect(cells[1]?.[0]).toMatch(/^SDK request latency.*ruleset downloads.*not only evaluations.*EvaluationLatency$/);
    expect(cells[1]?.slice(1)).toEqual(['median (p50)', '23.95 ms']);
    expect(cells[2]?.slice(1)).toEqual(['p99', '72.94 ms']);
    expect(cells[3]?.slice(1)).toEqual(['total', '12,345']);
    // A figure the console does not know yet keeps the API's name.
    expect(cells[4]).toEqual(['SomethingNew', 'avg', '3']);
  });

  it('says the figures begin at the process start when the counters are younger than the window, not "60 minutes"', async () => {
    const restarted: HealthView = { ...HEALTH, countingSince: '2026-11-25T11:50:00Z' };
    const { client } = fakeApi((req) => (req.path.startsWith('/api/v1/health') ? { status: 200, body: restarted } : undefined));
    render(
      <WithSession client={client} me={user()}>
        <Health />
      </WithSession>,
    );

    await screen.findByRole('table', { name: 'Health figures' });
    expect(screen.getByText(/^Since .*when this process started/)).toBeTruthy();
    expect(screen.queryByText(/60 minutes to/)).toBeNull();
  });

  it('says when the aggregator has been failing: events are accepted but not counted', async () => {
    const failing: HealthView = {
      ...HEALTH,
      status: 'degraded',
      pipeline: { deadLetters: 0, retryingRecords: 0, aggregator: { failingSince: '2026-11-25T11:50:00Z', lastError: 'InvalidArgumentException: … did not come from this stream.' } },
    };
    const { client } = fakeApi((req) => (req.path.startsWith('/api/v1/health') ? { status: 200, body: failing } : undefined));
    render(
      <WithSession client={client} me={user()}>
        <Health />
      </WithSession>,
    );

    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('aggregator failing');
    expect(alert.textContent).toContain('events are accepted but not counted');
    expect(alert.textContent).toContain('did not come from this stream');
  });

  it('gives every reason the API counts toward degraded: archive, unpublished rulesets, stalled aggregator, aggregation lag, dead letters, lost exposures, database', async () => {
    const degraded: HealthView = {
      ...HEALTH,
      status: 'degraded',
      database: 'unreachable',
      figures: [...HEALTH.figures, { name: 'DeadLetters', statistic: 'sum', unit: 'Count', value: 2 }, { name: 'ExposuresDropped', statistic: 'sum', unit: 'Count', value: 1_250 }],
      pipeline: {
        deadLetters: null,
        retryingRecords: null,
        aggregator: { failingSince: null, lastError: null, stalledSince: '2026-11-25T11:55:00Z' },
        aggregationLag: { maxMs: 659_273, limitMs: 60_000, minutes: 5, exceeded: true },
        archive: { failingSince: '2026-11-25T11:35:52Z', lastError: 'EROFS: read-only file system' },
      },
      unpublishedRulesets: [{ project: 'demo', environment: 'production', version: 7, since: '2026-11-25T11:50:00Z', error: 'DynamoDB did not answer' }],
    };
    const { client } = fakeApi((req) => (req.path.startsWith('/api/v1/health') ? { status: 200, body: degraded } : undefined));
    render(
      <WithSession client={client} me={user()}>
        <Health />
      </WithSession>,
    );

    const alert = await screen.findByRole('alert', { name: 'Why the platform is degraded' });
    const lines = within(alert).getAllByRole('listitem').map((li) => li.textContent);
    expect(lines).toHaveLength(7);
    expect(lines[0]).toMatch(/^database unreachable Database: the API cannot reach it/);
    expect(lines[1]).toMatch(/^dead letters Dead letters: 2 records set aside in the last 60 minutes/);
    expect(lines[2]).toBe('exposures lost Exposures: 1,250 exposures of remote evaluations or redirects lost in the last 60 minutes: the event stream refused them and they could not be kept for a retry (those units are missing from the results).');
    expect(lines[3]).toMatch(/^aggregator stalled Aggregator: a poll has not ended since .+: new events are not counted yet\.$/);
    expect(lines[4]).toBe('aggregation behind Aggregation: events waited up to 11 minutes to be counted in the last 5 minutes (the limit is 60 s): results are behind what the SDKs sent.');
    expect(lines[5]).toMatch(/^ruleset not published Rulesets: version 7 of demo \/ production could not be published since .+ \(DynamoDB did not answer\): its SDKs keep the previous ruleset, kill switches included/);
    expect(lines[6]).toMatch(/^archive failing Raw event archive: cannot be written since .+ — EROFS: read-only file system \(events are still counted; a replay would miss them\)\.$/);
  });

  it('says the database disk is full when the API reports the database degraded for lack of space', async () => {
    const full: HealthView = { ...HEALTH, status: 'degraded', database: 'degraded', databaseIssue: { reason: 'disk-full', since: '2026-11-25T11:40:00Z', lastError: '53100: could not extend file' } };
    const { client } = fakeApi((req) => (req.path.startsWith('/api/v1/health') ? { status: 200, body: full } : undefined));
    render(
      <WithSession client={client} me={user()}>
        <Health />
      </WithSession>,
    );

    const alert = await screen.findByRole('alert', { name: 'Why the platform is degraded' });
    const lines = within(alert).getAllByRole('listitem').map((li) => li.textContent);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^database disk full Database: its disk is full, so changes cannot be saved \(since .+\); free space on that disk\. Nothing saved before is lost\.$/);
  });

  it('still says the platform is degraded when the API gives a reason this console does not know', async () => {
    const { client } = fakeApi((req) => (req.path.startsWith('/api/v1/health') ? { status: 200, body: { ...HEALTH, status: 'degraded' } } : undefined));
    render(
      <WithSession client={client} me={user()}>
        <Health />
      </WithSession>,
    );

    const alert = await screen.findByRole('alert', { name: 'Why the platform is degraded' });
    expect(alert.textContent).toContain('without a reason this console knows');
  });

  it('shows the archive state when it works', async () => {
    const healthy: HealthView = { ...HEALTH, pipeline: { deadLetters: 0, retryingRecords: 0, archive: { failingSince: null, lastError: null } } };
    const { client } = fakeApi((req) => (req.path.startsWith('/api/v1/health') ? { status: 200, body: healthy } : undefined));
    render(
      <WithSession client={client} me={user()}>
        <Health />
      </WithSession>,
    );

    expect((await screen.findByText(/^Raw event archive:/)).textContent).toBe('Raw event archive: ok');
    expect(screen.queryByRole('alert')).toBeNull();
  });
});
