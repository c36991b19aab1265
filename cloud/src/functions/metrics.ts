/**
 * CloudWatch Embedded Metric Format: one JSON line on stdout per flush, which CloudWatch Logs turns
 * into metrics without a PutMetricData call (no IAM, no latency on the request path). The metric
 * catalogue here is shared by the Lambdas, the Health view and the CDK alarms and dashboards.
 */

/** Namespace of every xp metric. */
export const METRICS_NAMESPACE = 'xp';

/** Every metric the Lambdas emit. */
export const MetricName = {
  /** Milliseconds to answer one POST /sdk/v1/evaluate (or any SDK request), per request. */
  EvaluationLatency: 'EvaluationLatency',
  /** Flags evaluated by POST /sdk/v1/evaluate. */
  Evaluations: 'Evaluations',
  /** Events POST /sdk/v1/events stored in Kinesis. */
  EventsAccepted: 'EventsAccepted',
  /** Events POST /sdk/v1/events refused as invalid (or that the sink refused). */
  EventsRejected: 'EventsRejected',
  /** Event batches POST /sdk/v1/events could not take (503: the stream unavailable or too many writes in flight; 429): the SDKs send them again. */
  EventBatchesRefused: 'EventBatchesRefused',
  /** Milliseconds between the oldest record of a batch reaching Kinesis and the aggregator applying it. */
  AggregationLag: 'AggregationLag',
  /** Records the aggregator moved to dead_letters. */
  DeadLetters: 'DeadLetters',
  /**
   * Valid events the aggregator skipped because their id was already applied (an SDK's retry, a
   * re-delivered batch, or a producer reusing ids: the first event with an id wins).
   */
  DuplicateEvents: 'DuplicateEvents',
  /** Flags switched off by a guardrail alarm. */
  Rollbacks: 'Rollbacks',
  /**
   * Exposures of /sdk/v1/evaluate and /r lost for good: the event sink refused them and the retry
   * buffer was full, or they still waited at shutdown (cloud/src/http/sdk/exposure-retry.ts).
   */
  ExposuresDropped: 'ExposuresDropped',
  /** Exposures the event sink refused at first and accepted on a retry. */
  ExposuresRecovered: 'ExposuresRecovered',
  /** Exposures waiting in the retry buffer: a sample whenever the number changes, and at every retry. */
  ExposuresRetrying: 'ExposuresRetrying',
} as const;
export type MetricName = (typeof MetricName)[keyof typeof MetricName];

/** The unit of each metric, as CloudWatch spells it. */
export const METRIC_UNITS: Readonly<Record<MetricName, 'Milliseconds' | 'Count'>> = {
  EvaluationLatency: 'Milliseconds',
  Evaluations: 'Count',
  EventsAccepted: 'Count',
  EventsRejected: 'Count',
  EventBatchesRefused: 'Count',
  AggregationLag: 'Milliseconds',
  DeadLetters: 'Count',
  DuplicateEvents: 'Count',
  Rollbacks: 'Count',
  ExposuresDropped: 'Count',
  ExposuresRecovered: 'Count',
  ExposuresRetrying: 'Count',
};

/** The function that emits each metric (its `Service` dimension). */
export const METRIC_SERVICE: Readonly<Record<MetricName, string>> = {
  EvaluationLatency: 'evaluation',
  Evaluations: 'evaluation',
  EventsAccepted: 'evaluation',
  EventsRejected: 'evaluation',
  EventBatchesRefused: 'evaluation',
  AggregationLag: 'aggregator',
  DeadLetters: 'aggregator',
  DuplicateEvents: 'aggregator',
  Rollbacks: 'alarm-rollback',
  ExposuresDropped: 'evaluation',
  ExposuresRecovered: 'evaluation',
  ExposuresRetrying: 'evaluation',
};

/** EMF allows at most 100 values per metric per line. */
const MAX_VALUES = 100;

export interface EmfOptions {
  /** `Service` dimension (evaluation, aggregator…). */
  readonly service: string;
  /** `Stage` dimension (prod, dev…). */
  readonly stage: string;
  /** Where lines go; default stdout (what Lambda ships to CloudWatch Logs). */
  readonly write?: (line: string) => void;
  readonly now?: () => number;
}

/** Builds one EMF line; pure, so tests read exactly what CloudWatch would. */
export function emfLine(dimensions: { readonly service: string; readonly stage: string }, values: ReadonlyMap<MetricName, readonly number[]>, timestamp: number): string {
  const names = [...values.keys()];
  const doc: Record<string, unknown> = {
    _aws: {
      Timestamp: timestamp,
      CloudWatchMetrics: [{ Namespace: METRICS_NAMESPACE, Dimensions: [['Service', 'Stage']], Metrics: names.map((Name) => ({ Name, Unit: METRIC_UNITS[Name] })) }],
    },
    Service: dimensions.service,
    Stage: dimensions.stage,
  };
  for (const name of names) {
    const v = values.get(name)!;
    doc[name] = v.length === 1 ? v[0] : v;
  }
  return JSON.stringify(doc);
}

/** Collects metric values during an invocation; `flush` writes them as EMF lines and clears. */
export class EmfMetrics {
  private values = new Map<MetricName, number[]>();
  private readonly write: (line: string) => void;
  private readonly now: () => number;

  constructor(private readonly options: EmfOptions) {
    this.write = options.write ?? ((line) => process.stdout.write(`${line}\n`));
    this.now = options.now ?? Date.now;
  }

  /** Adds one value (a count or a duration); non-finite values are dropped. */
  put(name: MetricName, value: number): void {
    if (!Number.isFinite(value)) {
      return;
    }
    const list = this.values.get(name);
    if (list === undefined) {
      this.values.set(name, [value]);
    } else {
      list.push(value);
    }
  }

  /** Writes everything collected (in lines of at most 100 values per metric) and clears. */
  flush(): void {
    if (this.values.size === 0) {
      return;
    }
    const pending = this.values;
    this.values = new Map();
    const timestamp = this.now();
    const dims = { service: this.options.service, stage: this.options.stage };
    for (let offset = 0; ; offset += MAX_VALUES) {
      const slice = new Map<MetricName, number[]>();
      for (const [name, list] of pending) {
        const part = list.slice(offset, offset + MAX_VALUES);
        if (part.length > 0) {
          slice.set(name, part);
        }
      }
      if (slice.size === 0) {
        return;
      }
      this.write(emfLine(dims, slice, timestamp));
    }
  }
}
