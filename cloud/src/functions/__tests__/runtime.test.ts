import { describe, expect, it } from 'vitest';
import { InProcessCounters, inProcessHealthSource } from '../../http/routes/health.js';
import { cloudWatchHealthSource } from '../cloudwatch-health.js';
import type { MetricDataClient } from '../cloudwatch-health.js';
import { alarmEvent } from './lambda-events.js';
import { parseRollbackLink, rollbackDescription } from '../alarm-rollback.js';
import { connectionString, lazy, parseDatabaseSecret, parseDatabaseUser } from '../runtime.js';

describe('database credentials', () => {
  it('turns the RDS secret into a TLS-verified connection string, escaping credentials', () => {
    const secret = parseDatabaseSecret(JSON.stringify({ username: 'xp_admin', password: 'p@ss/w:rd', host: 'db.cluster-x.eu-west-1.rds.amazonaws.com', port: 5432, dbname: 'xp', engine: 'postgres' }));

    expect(connectionString(secret)).toBe('postgres://xp_admin:p%40ss%2Fw%3Ard@db.cluster-x.eu-west-1.rds.amazonaws.com:5432/xp?sslmode=verify-full');
    expect(connectionString(secret, 'proxy.endpoint')).toContain('@proxy.endpoint:5432/');
  });

  it('refuses a secret without credentials', () => {
    expect(() => parseDatabaseSecret('{"username":"u"}')).toThrow('lacks username or password');
    expect(() => parseDatabaseSecret('{"username":"u","password":"p"}')).toThrow('the database secret lacks host');
    expect(() => parseDatabaseUser('null', 'the application database secret')).toThrow('the application database secret lacks username or password');
  });

  it('never echoes a secret that is not JSON', () => {
    const attempt = (): unknown => parseDatabaseSecret('password=hunter2-very-secret');
    expect(attempt).toThrow('the database secret is not JSON');
    expect(attempt).not.toThrow(/hunter2/);
  });

  it('memoises a factory but forgets a failure', async () => {
    let calls = 0;
    const get = lazy(() => (++calls === 1 ? Promise.reject(new Error('cold')) : Promise.resolve(calls)));

    await expect(get()).rejects.toThrow('cold');
    expect(await get()).toBe(2);
    expect(await get()).toBe(2);
  });
});

describe('rollback links', () => {
  it('round-trips through an alarm description and ignores descriptions without one', () => {
    const link = { project: 'shop', flag: 'new-checkout', environment: 'production', org: 'org-1' };

    expect(parseRollbackLink(`Errors on checkout\n${rollbackDescription(link)}`)).toEqual(link);
    expect(parseRollbackLink('xp:rollback project=shop flag=x')).toBeUndefined();
    expect(parseRollbackLink(null)).toBeUndefined();
    expect(JSON.parse(alarmEvent({ name: 'a', description: rollbackDescription(link), state: 'ALARM' }).Records[0]!.Sns.Message).AlarmDescription).toContain('flag=new-checkout');
  });
});

describe('CloudWatch health source', () => {
  it('asks for every figure in one GetMetricData call over the window and maps the answers back', async () => {
    const sent: any[] = [];
    const client: MetricDataClient = {
      send: (command) => {
        sent.push(command.input);
        return Promise.resolve({ MetricDataResults: [{ Id: 'm0', Values: [10, 5] }, { Id: 'm2', Values: [80] }] });
      },
    };
    const source = cloudWatchHealthSource({ client, stage: 'prod' });

    const figures = await source.read({ start: new Date('2026-11-25T11:00:00Z'), end: new Date('2026-11-25T12:00:00Z') });

    expect(sent).toHaveLength(1);
    expect(sent[0].MetricDataQueries[0].MetricStat).toEqual({
      Metric: { Namespace: 'xp', MetricName: 'Evaluations', Dimensions: [{ Name: 'Service', Value: 'evaluation' }, { Name: 'Stage', Value: 'prod' }] },
      Period: 3600,
      Stat: 'Sum',
    });
    expect(figures.find((f) => f.name === 'Evaluations')?.value).toBe(15);
    expect(figures.find((f) => f.statistic === 'p99')?.value).toBe(80);
    // No datapoints: a count is 0 (nothing was counted), a latency has no value.
    expect(figures.find((f) => f.name === 'DeadLetters')?.value).toBe(0);
    expect(figures[1]).toMatchObject({ statistic: 'p50', value: null });
  });

  it('keeps the local counters in one summary per metric and minute: memory does not grow with requests, percentiles within 1%', async () => {
    let now = Date.parse('2026-11-25T11:00:00Z');
    const counters = new InProcessCounters(() => now);
    // 200,000 latencies over 10 minutes, 1 ms to 200 ms evenly.
    for (let i = 0; i < 200_000; i++) {
      now = Date.parse('2026-11-25T11:00:00Z') + Math.floor(i / 20_000) * 60_000;
      counters.record('EvaluationLatency', 1 + (i % 200));
    }
    expect(counters.storedMinutes()).toBe(10);
    const figures = await inProcessHealthSource(counters).read({ start: new Date('2026-11-25T11:00:00Z'), end: new Date('2026-11-25T11:10:00Z') });
    const p50 = figures.find((f) => f.name === 'EvaluationLatency' && f.statistic === 'p50')!.value!;
    const p99 = figures.find((f) => f.name === 'EvaluationLatency' && f.statistic === 'p99')!.value!;
    expect(Math.abs(p50 - 100) / 100).toBeLessThanOrEqual(0.01);
    expect(Math.abs(p99 - 198) / 198).toBeLessThanOrEqual(0.01);
    expect(p99).toBeLessThanOrEqual(200);
    // A minute outside the window is not read; a day later the old minutes are gone.
    const late = await inProcessHealthSource(counters).read({ start: new Date('2026-11-25T11:05:00Z'), end: new Date('2026-11-25T11:05:30Z') });
    expect(late.find((f) => f.name === 'EvaluationLatency' && f.statistic === 'p50')!.value).not.toBeNull();
    now = Date.parse('2026-11-26T11:30:00Z');
    counters.record('EventsAccepted', 1);
    expect(counters.storedMinutes()).toBe(1);
  });

  it('reads the local counters the same way: a count with no samples is 0, a latency with none has no value', async () => {
    const counters = new InProcessCounters(() => Date.parse('2026-11-25T11:30:00Z'));
    counters.record('EventsAccepted', 3);
    counters.record('EventsAccepted', 4);

    const figures = await inProcessHealthSource(counters).read({ start: new Date('2026-11-25T11:00:00Z'), end: new Date('2026-11-25T12:00:00Z') });

    expect(figures.find((f) => f.name === 'EventsAccepted')?.value).toBe(7);
    expect(figures.find((f) => f.name === 'EventsRejected')?.value).toBe(0);
    expect(figures.find((f) => f.name === 'EvaluationLatency' && f.statistic === 'p99')?.value).toBeNull();
  });
});
