/** The Health view's figures from CloudWatch: one GetMetricData call over the Lambdas' EMF metrics. */
import { GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import type { GetMetricDataCommandOutput } from '@aws-sdk/client-cloudwatch';
import { HEALTH_FIGURES } from '../http/routes/health.js';
import type { HealthFigure, HealthSource } from '../http/routes/health.js';
import { METRICS_NAMESPACE, METRIC_SERVICE } from './metrics.js';
import type { MetricName } from './metrics.js';

/** The call the source makes; a CloudWatchClient satisfies it. */
export interface MetricDataClient {
  send(command: GetMetricDataCommand): Promise<Pick<GetMetricDataCommandOutput, 'MetricDataResults'>>;
}

const STAT: Readonly<Record<HealthFigure['statistic'], string>> = { sum: 'Sum', p50: 'p50', p99: 'p99', max: 'Maximum' };

export function cloudWatchHealthSource(options: { readonly client: MetricDataClient; readonly stage: string }): HealthSource {
  return {
    kind: 'cloudwatch',
    async read({ start, end }) {
      // One period covering the whole window (a multiple of 60 s, as GetMetricData requires).
      const period = Math.max(60, Math.ceil((end.getTime() - start.getTime()) / 60_000) * 60);
      const out = await options.client.send(
        new GetMetricDataCommand({
          StartTime: start,
          EndTime: end,
          ScanBy: 'TimestampDescending',
          MetricDataQueries: HEALTH_FIGURES.map((f, i) => ({
            Id: `m${i}`,
            ReturnData: true,
            MetricStat: {
              Metric: {
                Namespace: METRICS_NAMESPACE,
                MetricName: f.name,
                Dimensions: [
                  { Name: 'Service', Value: METRIC_SERVICE[f.name as MetricName] },
                  { Name: 'Stage', Value: options.stage },
                ],
              },
              Period: period,
              Stat: STAT[f.statistic],
            },
          })),
        }),
      );
      const byId = new Map((out.MetricDataResults ?? []).map((r) => [r.Id, r.Values ?? []]));
      return HEALTH_FIGURES.map((f, i) => {
        const values = byId.get(`m${i}`) ?? [];
        // A count with no datapoints counted nothing (0); a latency with none has no value.
        const value = f.statistic === 'sum' ? values.reduce((a, b) => a + b, 0) : values.length === 0 ? null : f.statistic === 'max' ? Math.max(...values) : values[0]!;
        return { ...f, value };
      });
    },
  };
}
