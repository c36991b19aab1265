import { describe, expect, it } from 'vitest';
import { EmfMetrics, MetricName, emfLine } from '../metrics.js';

describe('Embedded Metric Format', () => {
  it('writes one line CloudWatch turns into metrics: namespace, dimension set, units, values', () => {
    const line = emfLine({ service: 'evaluation', stage: 'prod' }, new Map([[MetricName.EvaluationLatency, [1.5, 2]], [MetricName.Evaluations, [3]]]), 1_764_072_000_000);

    expect(JSON.parse(line)).toEqual({
      _aws: {
        Timestamp: 1_764_072_000_000,
        CloudWatchMetrics: [
          {
            Namespace: 'xp',
            Dimensions: [['Service', 'Stage']],
            Metrics: [
              { Name: 'EvaluationLatency', Unit: 'Milliseconds' },
              { Name: 'Evaluations', Unit: 'Count' },
            ],
          },
        ],
      },
      Service: 'evaluation',
      Stage: 'prod',
      EvaluationLatency: [1.5, 2],
      Evaluations: 3,
    });
  });

  it('splits more than 100 values into several lines, drops non-finite values and clears on flush', () => {
    const lines: string[] = [];
    const metrics = new EmfMetrics({ service: 'aggregator', stage: 'dev', write: (l) => lines.push(l), now: () => 5 });
    for (let i = 0; i < 250; i++) {
      metrics.put(MetricName.AggregationLag, i);
    }
    metrics.put(MetricName.DeadLetters, Number.NaN);

    metrics.flush();
    metrics.flush();

    const parsed = lines.map((l) => JSON.parse(l) as { AggregationLag: number[]; DeadLetters?: unknown });
    expect(parsed.map((p) => p.AggregationLag.length)).toEqual([100, 100, 50]);
    expect(parsed.some((p) => 'DeadLetters' in p)).toBe(false);
  });
});
