/** Real Lambda event shapes (API Gateway HTTP API payload 2.0, Kinesis, SNS) for the entry-point tests. */
import type { HttpEvent } from '../lambda-http.js';
import type { KinesisStreamEvent } from '../../pipeline/lambda-handler.js';
import type { SnsEvent } from '../alarm-rollback.js';

export function httpEvent(method: string, target: string, options: { headers?: Record<string, string>; body?: unknown; sourceIp?: string } = {}): HttpEvent {
  const url = new URL(target, 'https://abc123.execute-api.eu-west-1.amazonaws.com');
  const now = new Date('2026-11-25T12:00:00Z');
  const routeKey = url.pathname.startsWith('/sdk/v1/') ? 'ANY /sdk/v1/{proxy+}' : '$default';
  return {
    version: '2.0',
    routeKey,
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    headers: {
      accept: 'application/json',
      host: url.host,
      'user-agent': 'vitest',
      'x-forwarded-proto': 'https',
      ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...options.headers,
    },
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc123',
      domainName: url.host,
      domainPrefix: 'abc123',
      http: { method, path: url.pathname, protocol: 'HTTP/1.1', sourceIp: options.sourceIp ?? '203.0.113.7', userAgent: 'vitest' },
      requestId: 'req-1',
      routeKey,
      stage: '$default',
      time: '25/Nov/2026:12:00:00 +0000',
      timeEpoch: now.getTime(),
    },
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
    isBase64Encoded: false,
    // Hono types authorizer fields that API Gateway omits on routes without an authorizer.
  } as unknown as HttpEvent;
}

export interface RawKinesisRecord {
  readonly data: Uint8Array;
  readonly sequenceNumber: string;
  readonly partitionKey: string;
  readonly arrivedAt: Date;
}

export function kinesisEvent(shardId: string, streamArn: string, records: readonly RawKinesisRecord[]): KinesisStreamEvent {
  return {
    Records: records.map((r) => ({
      kinesis: {
        kinesisSchemaVersion: '1.0',
        partitionKey: r.partitionKey,
        sequenceNumber: r.sequenceNumber,
        data: Buffer.from(r.data).toString('base64'),
        approximateArrivalTimestamp: r.arrivedAt.getTime() / 1000,
      },
      eventSource: 'aws:kinesis',
      eventVersion: '1.0',
      eventID: `${shardId}:${r.sequenceNumber}`,
      eventName: 'aws:kinesis:record',
      invokeIdentityArn: 'arn:aws:iam::123456789012:role/xp-aggregator',
      awsRegion: 'eu-west-1',
      eventSourceARN: streamArn,
    })),
  };
}

export function alarmEvent(alarm: { name: string; description: string; state: 'ALARM' | 'OK' }): SnsEvent {
  const message = {
    AlarmName: alarm.name,
    AlarmDescription: alarm.description,
    AWSAccountId: '123456789012',
    NewStateValue: alarm.state,
    NewStateReason: 'Threshold Crossed: 3 out of the last 3 datapoints were greater than the threshold (5.0).',
    StateChangeTime: '2026-11-25T12:00:00.000+0000',
    Region: 'EU (Ireland)',
    AlarmArn: `arn:aws:cloudwatch:eu-west-1:123456789012:alarm:${alarm.name}`,
    OldStateValue: alarm.state === 'ALARM' ? 'OK' : 'ALARM',
    Trigger: { MetricName: 'Errors', Namespace: 'checkout', Statistic: 'SUM', Period: 60, EvaluationPeriods: 3, ComparisonOperator: 'GreaterThanThreshold', Threshold: 5 },
  };
  return {
    Records: [
      {
        EventSource: 'aws:sns',
        Sns: { Message: JSON.stringify(message), TopicArn: 'arn:aws:sns:eu-west-1:123456789012:xp-guardrails', MessageId: '95df01b4-ee98-5cb9-9903-4c221d41eb5e' },
      },
    ],
  };
}
