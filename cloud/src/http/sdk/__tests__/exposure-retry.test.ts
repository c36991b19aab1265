import { describe, expect, it } from 'vitest';
import type { PipelineEvent, PipelineRecord } from '@xp/shared';
import { AppError, AppErrorCode } from '../../../errors.js';
import type { EventSink } from '../../../store/event-sink.js';
import { ExposureRetryBuffer } from '../exposure-retry.js';
import type { ExposureRetryMetrics } from '../exposure-retry.js';
import type { MetricSink } from '../sdk-outcomes.js';
import { eventually } from './sdk-fixture.js';

/** The buffer alone, against a sink the test switches between refusing, storing and hanging. */

const exposure = (n: number, pad = 0): PipelineEvent => ({
  v: 1,
  projectId: 'p1',
  environment: 'development',
  receivedAt: 1,
  occurredAt: 1,
  event: { type: 'exposure', id: `exp-${String(n).padStart(6, '0')}`, timestamp: 1, unitId: `u-${n}`, experiment: 'e', variation: 'a', ...(pad > 0 ? { attributes: { pad: 'x'.repeat(pad) } } : {}) },
});
const range = (from: number, count: number): PipelineEvent[] => Array.from({ length: count }, (_, i) => exposure(from + i));
const refused = (): AppError => new AppError(AppErrorCode.Unavailable, 'Kinesis did not accept 1 of 1 events in time; retry later', { retryAfterSeconds: 2 });

interface FakeSink extends EventSink {
  mode: 'refuse' | 'store' | 'hang' | 'half';
  readonly stored: PipelineRecord[];
  readonly calls: number[];
}

function fakeSink(): FakeSink {
  const sink: FakeSink = {
    mode: 'refuse',
    stored: [],
    calls: [],
    put: async (events, stored) => {
      sink.calls.push(events.length);
      await Promise.resolve();
      if (sink.mode === 'hang') {
        return new Promise<void>(() => undefined);
      }
      if (sink.mode === 'half') {
        // The first half is stored, then the put fails for the rest (as the Kinesis sink reports it).
        const half = events.slice(0, Math.floor(events.length / 2));
        sink.stored.push(...half);
        stored?.(half);
        throw refused();
      }
      if (sink.mode === 'refuse') {
        throw refused();
      }
      sink.stored.push(...events);
      stored?.(events);
      return undefined;
    },
  };
  return sink;
}

function setup(options: { maxEvents?: number; delayMs?: { min: number; max: number }; logEveryMs?: number; now?: () => number; metricSink?: MetricSink } = {}) {
  const sink = fakeSink();
  const logs: { level: string; message: string; fields: Record<string, unknown> }[] = [];
  const logger = {
    info: (message: string, fields: Record<string, unknown> = {}) => logs.push({ level: 'info', message, fields }),
    warn: (message: string, fields: Record<string, unknown> = {}) => logs.push({ level: 'warn', message, fields }),
    error: (message: string, fields: Record<string, unknown> = {}) => logs.push({ level: 'error', message, fields }),
  };
  const metrics: ExposureRetryMetrics = { exposuresLogged: 0, exposuresDropped: 0, exposuresRetrying: 0, exposuresRecovered: 0 };
  const buffer = new ExposureRetryBuffer({ sink, logger, metrics, delayMs: options.delayMs ?? { min: 5, max: 20 }, ...options });
  return { sink, logs, metrics, buffer };
}

const ids = (events: readonly PipelineRecord[]): string[] => events.map((e) => e.event.id);

describe('ExposureRetryBuffer', () => {
  it('keeps refused exposures and sends them again once the sink takes them, each once, in batches within the Kinesis limits', async () => {
    const { sink, metrics, buffer } = setup();
    buffer.add(range(0, 1_200), refused());
    expect(metrics.exposuresRetrying).toBe(1_200);
    // Several retries refused, then the sink is back.
    await eventually(() => (sink.calls.length >= 3 ? true : undefined));
    sink.mode = 'store';
    await eventually(() => (metrics.exposuresRetrying === 0 ? true : undefined));

    expect(ids(sink.stored)).toEqual(ids(range(0, 1_200)));
    expect(sink.calls.every((n) => n <= 500)).toBe(true);
    expect(metrics).toEqual({ exposuresLogged: 1_200, exposuresDropped: 0, exposuresRetrying: 0, exposuresRecovered: 1_200 });
  });

  it('splits a retry by bytes too: at most 5 MiB per PutRecords call', async () => {
    const { sink, metrics, buffer } = setup();
    sink.mode = 'store';
    // ~15 KB each (the largest an exposure gets): 500 would be ~7.5 MB.
    const big = Array.from({ length: 500 }, (_, i) => exposure(i, 15_000));
    buffer.add(big, refused());
    await eventually(() => (metrics.exposuresRetrying === 0 ? true : undefined));

    expect(sink.calls.length).toBeGreaterThan(1);
    expect(sink.calls.reduce((a, b) => a + b, 0)).toBe(500);
    expect(sink.calls[0]! * 15_100).toBeLessThanOrEqual(5 * 1024 * 1024);
    expect(ids(sink.stored)).toEqual(ids(big));
  });

  it('does not send again what the sink stored before it failed', async () => {
    const { sink, metrics, buffer } = setup();
    sink.mode = 'half';
    buffer.add(range(0, 100), refused());
    await eventually(() => (sink.calls.length >= 1 ? true : undefined));
    sink.mode = 'store';
    await eventually(() => (metrics.exposuresRetrying === 0 ? true : undefined));

    expect(sink.calls).toEqual([100, 50]);
    expect(ids(sink.stored).sort()).toEqual(ids(range(0, 100)));
    expect(metrics.exposuresRecovered).toBe(100);
  });

  it('drops the oldest beyond its size, counting them, and keeps the newest', async () => {
    const { sink, metrics, logs, buffer } = setup({ maxEvents: 100, delayMs: { min: 60_000, max: 60_000 } });
    buffer.add(range(0, 80), refused());
    buffer.add(range(80, 40), refused());
    buffer.add(range(120, 10), refused());

    expect(metrics.exposuresRetrying).toBe(100);
    expect(metrics.exposuresDropped).toBe(30);
    // One line for the full buffer, not one per refused batch.
    expect(logs.filter((l) => l.message.startsWith('exposure retry buffer full'))).toHaveLength(1);
    sink.mode = 'store';
    buffer.sinkAccepted();
    await eventually(() => (metrics.exposuresRetrying === 0 ? true : undefined));
    expect(ids(sink.stored)).toEqual(ids(range(30, 100)));
  });

  it('reports what it drops, recovers and holds as metrics (EMF in the Lambda, the Health view locally), each drop once', async () => {
    const puts: [string, number][] = [];
    const { sink, metrics, buffer } = setup({ maxEvents: 100, delayMs: { min: 5, max: 5 }, metricSink: { put: (name, value) => puts.push([name, value]) } });
    const sum = (name: string): number => puts.filter(([n]) => n === name).reduce((a, [, v]) => a + v, 0);
    const samples = (name: string): number[] => puts.filter(([n]) => n === name).map(([, v]) => v);
    buffer.add(range(0, 80), refused());
    buffer.add(range(80, 40), refused());
    // Refused retries sample the gauge although it did not change: a waiting buffer shows in every window.
    await eventually(() => (sink.calls.length >= 3 ? true : undefined));
    expect(samples('ExposuresRetrying').filter((v) => v === 100).length).toBeGreaterThanOrEqual(3);
    sink.mode = 'store';
    await eventually(() => (metrics.exposuresRetrying === 0 ? true : undefined));
    buffer.add(range(200, 5), refused());
    sink.mode = 'refuse';
    await buffer.close(50);

    expect(sum('ExposuresDropped')).toBe(metrics.exposuresDropped);
    expect(sum('ExposuresDropped')).toBe(20 + 5);
    expect(sum('ExposuresRecovered')).toBe(100);
    expect(samples('ExposuresRetrying')[0]).toBe(80);
    expect(samples('ExposuresRetrying').at(-1)).toBe(0);
  });

  it('logs one warning when retrying starts, one line a minute while it lasts and one when the buffer drains', async () => {
    const clock = { value: 1_000_000 };
    const { sink, metrics, logs, buffer } = setup({ now: () => clock.value, delayMs: { min: 1, max: 2 } });
    buffer.add(range(0, 10), refused());
    buffer.add(range(10, 5), refused());
    // Many refused retries within the minute: no line for any of them.
    await eventually(() => (sink.calls.length >= 20 ? true : undefined));
    const withinMinute = logs.length;
    clock.value += 61_000;
    await eventually(() => (logs.length > withinMinute ? true : undefined));
    const afterMinute = sink.calls.length;
    await eventually(() => (sink.calls.length >= afterMinute + 20 ? true : undefined));
    clock.value += 5_000;
    sink.mode = 'store';
    await eventually(() => (metrics.exposuresRetrying === 0 ? true : undefined));

    expect(withinMinute).toBe(1);
    expect(logs.map((l) => [l.level, l.message])).toEqual([
      ['warn', 'exposures not logged yet: the event sink refused them; retrying in the background'],
      ['warn', 'exposures still waiting for the event sink'],
      ['info', 'exposures recovered: the event sink accepted every exposure waiting for retry'],
    ]);
    expect(logs[0]!.fields).toMatchObject({ count: 10, error: expect.stringContaining('Kinesis did not accept') });
    expect(logs[1]!.fields).toMatchObject({ waiting: 15 });
    expect(logs[2]!.fields).toMatchObject({ recovered: 15, dropped: 0, seconds: 66 });
  });

  it('a direct write accepted ends the backoff at once', async () => {
    const { sink, metrics, buffer } = setup({ delayMs: { min: 60_000, max: 60_000 } });
    buffer.add(range(0, 3), refused());
    sink.mode = 'store';
    buffer.sinkAccepted();
    await eventually(() => (metrics.exposuresRetrying === 0 ? true : undefined));
    expect(metrics.exposuresRecovered).toBe(3);
  });

  describe('close', () => {
    it('sends what waits one last time', async () => {
      const { sink, metrics, logs, buffer } = setup({ delayMs: { min: 60_000, max: 60_000 } });
      buffer.add(range(0, 700), refused());
      sink.mode = 'store';
      await buffer.close(1_000);

      expect(ids(sink.stored)).toEqual(ids(range(0, 700)));
      expect(metrics).toMatchObject({ exposuresRetrying: 0, exposuresDropped: 0, exposuresRecovered: 700 });
      expect(logs.at(-1)!.message).toBe('exposures recovered at shutdown: the event sink accepted every exposure waiting for retry');
    });

    it('counts what the sink still refuses as dropped, with one line', async () => {
      const { metrics, logs, buffer } = setup({ delayMs: { min: 60_000, max: 60_000 } });
      buffer.add(range(0, 700), refused());
      await buffer.close(1_000);

      expect(metrics).toMatchObject({ exposuresRetrying: 0, exposuresDropped: 700, exposuresRecovered: 0 });
      expect(logs.map((l) => l.message)).toEqual([
        'exposures not logged yet: the event sink refused them; retrying in the background',
        'exposures dropped at shutdown: the event sink did not accept them in time',
      ]);
      expect(logs[1]!.fields).toMatchObject({ dropped: 700, waiting: 700 });
    });

    it('gives up at its deadline on a sink that does not answer, also during a retry', async () => {
      const { sink, metrics, logs, buffer } = setup({ delayMs: { min: 1, max: 1 } });
      buffer.add(range(0, 10), refused());
      sink.mode = 'hang';
      // A retry is on its way and never answered.
      await eventually(() => (sink.calls.length >= 1 ? true : undefined));
      const t0 = performance.now();
      await buffer.close(100);

      expect(performance.now() - t0).toBeLessThan(1_000);
      expect(metrics).toMatchObject({ exposuresRetrying: 0, exposuresDropped: 10 });
      expect(logs.filter((l) => l.message.startsWith('exposures dropped at shutdown'))).toHaveLength(1);
      // Refused after the close: dropped at once, one line.
      buffer.add(range(10, 2), refused());
      buffer.add(range(12, 2), refused());
      expect(metrics.exposuresDropped).toBe(14);
      expect(logs.filter((l) => l.message.startsWith('exposures dropped: the event sink refused them after shutdown'))).toHaveLength(1);
    });

    it('says nothing when nothing waits', async () => {
      const { logs, buffer } = setup();
      await buffer.close();
      expect(logs).toEqual([]);
    });
  });
});
