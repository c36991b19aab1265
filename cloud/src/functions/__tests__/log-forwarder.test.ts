import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { CreateLogStreamCommand, PutLogEventsCommand, ResourceAlreadyExistsException } from '@aws-sdk/client-cloudwatch-logs';
import { batches, createLogForwarder, subscriptionFilterName, targetStreamName } from '../log-forwarder.js';
import type { LogsPayload, LogsWriter } from '../log-forwarder.js';

// CloudWatch Logs is an AWS-only service with no local stand-in: the client is faked at its
// boundary (the two commands the forwarder sends); the subscription payload is the real encoding.
function fakeLogs(existing: readonly string[] = []): LogsWriter & { calls: (CreateLogStreamCommand | PutLogEventsCommand)[] } {
  const streams = new Set(existing);
  const calls: (CreateLogStreamCommand | PutLogEventsCommand)[] = [];
  return {
    calls,
    send(command) {
      calls.push(command);
      if (command instanceof CreateLogStreamCommand) {
        const key = `${command.input.logGroupName}/${command.input.logStreamName}`;
        if (streams.has(key)) {
          return Promise.reject(new ResourceAlreadyExistsException({ message: 'exists', $metadata: {} }));
        }
        streams.add(key);
      }
      return Promise.resolve({});
    },
  };
}

const encode = (payload: LogsPayload): { awslogs: { data: string } } => ({ awslogs: { data: gzipSync(JSON.stringify(payload)).toString('base64') } });

const ROUTES = { errors: '/experimentation-platform/errors', services: '/experimentation-platform/services' };

const payload = (filters: string[], events: { timestamp: number; message: string }[]): LogsPayload => ({
  messageType: 'DATA_MESSAGE',
  owner: '123456789012',
  logGroup: '/aws/lambda/xp-prod-aggregator',
  logStream: '2026/11/25/[$LATEST]abcdef',
  subscriptionFilters: filters,
  logEvents: events.map((e, i) => ({ id: String(i), ...e })),
});

describe('log forwarder', () => {
  it('writes the matched lines to the routed group, in time order, creating the stream once', async () => {
    const logs = fakeLogs();
    const forward = createLogForwarder({ routes: ROUTES, client: logs });
    const error = JSON.stringify({ level: 'error', message: 'aggregator batch failed', stack: 'Error: boom\n    at x (a.js:1:1)' });

    const first = await forward(encode(payload([subscriptionFilterName('errors', 'aggregator')], [{ timestamp: 2_000, message: error }, { timestamp: 1_000, message: 'earlier' }])));
    const second = await forward(encode(payload([subscriptionFilterName('errors', 'aggregator')], [{ timestamp: 3_000, message: error }])));

    expect([first.forwarded, second.forwarded]).toEqual([2, 1]);
    expect(logs.calls.filter((c) => c instanceof CreateLogStreamCommand)).toHaveLength(1);
    const puts = logs.calls.filter((c) => c instanceof PutLogEventsCommand);
    expect(puts[0]!.input).toEqual({
      logGroupName: ROUTES.errors,
      logStreamName: 'xp-prod-aggregator/2026/11/25/[$LATEST]abcdef',
      logEvents: [{ timestamp: 1_000, message: 'earlier' }, { timestamp: 2_000, message: error }],
    });
  });

  it('routes by the subscription filter name, ignores unknown routes and control messages', async () => {
    const logs = fakeLogs(['/experimentation-platform/services/xp-prod-aggregator/2026/11/25/[$LATEST]abcdef']);
    const forward = createLogForwarder({ routes: ROUTES, client: logs });

    const services = await forward(encode(payload([subscriptionFilterName('services', 'aggregator')], [{ timestamp: 1, message: 'batch applied' }])));
    const unknown = await forward(encode(payload(['someone-elses-filter'], [{ timestamp: 1, message: 'x' }])));
    const control = await forward(encode({ ...payload([subscriptionFilterName('errors', 'api')], []), messageType: 'CONTROL_MESSAGE' }));

    expect([services.forwarded, unknown.forwarded, control.forwarded]).toEqual([1, 0, 0]);
    // The stream already existed: the forwarder carries on.
    expect(logs.calls.map((c) => c.constructor.name)).toEqual(['CreateLogStreamCommand', 'PutLogEventsCommand']);
    expect((logs.calls[1] as PutLogEventsCommand).input.logGroupName).toBe(ROUTES.services);
  });

  it('drops an undecodable payload with a warning instead of failing forever', async () => {
    const warnings: string[] = [];
    const forward = createLogForwarder({
      routes: ROUTES,
      client: fakeLogs(),
      logger: { info: () => undefined, warn: (m) => warnings.push(m), error: () => undefined },
    });

    await expect(forward({ awslogs: { data: 'bm90IGd6aXA=' } })).resolves.toEqual({ forwarded: 0 });
    expect(warnings).toEqual(['log forwarder: undecodable subscription payload dropped']);
  });

  it('splits batches at the PutLogEvents limits and cuts oversized lines', () => {
    const many = Array.from({ length: 10_001 }, (_, i) => ({ timestamp: i, message: 'x' }));
    const big = Array.from({ length: 5 }, (_, i) => ({ timestamp: i, message: 'y'.repeat(300 * 1024) }));

    expect(batches(many).map((b) => b.length)).toEqual([10_000, 1]);
    const split = batches(big);
    expect(split.map((b) => b.length)).toEqual([4, 1]);
    expect(split[0]![0]!.message.endsWith('… [truncated]')).toBe(true);
    expect(Buffer.byteLength(split[0]![0]!.message)).toBeLessThanOrEqual(256 * 1024);
  });

  it('names target streams after the source without characters CloudWatch refuses', () => {
    expect(targetStreamName({ logGroup: '/aws/lambda/fn', logStream: 'a:b*c' })).toBe('fn/a_b_c');
  });
});
