/**
 * The log forwarder: CloudWatch Logs subscription filters on every function's log group send it
 * their matching lines, and it writes them to the platform's shared groups — `<prefix>/errors`
 * (every line at level "error", with its stack, from every function) and `<prefix>/services` (every
 * line of the background services: aggregator, migrations, alarm rollback, guardrail check, webhook
 * dispatcher). A subscription filter named `xp-<route>-<function>` routes to the group of that route.
 */
import { gunzipSync } from 'node:zlib';
import { CloudWatchLogsClient, CreateLogStreamCommand, PutLogEventsCommand, ResourceAlreadyExistsException } from '@aws-sdk/client-cloudwatch-logs';
import type { Logger } from '../domain/context.js';
import { LOG_ROUTES_VARIABLE, subscriptionFilterName } from './log-routes.js';
import { functionLogger } from './runtime.js';

/** Lambda's CloudWatch Logs subscription event. */
export interface LogsSubscriptionEvent {
  readonly awslogs: { readonly data: string };
}

/** The decoded payload (base64 of gzip of this JSON). */
export interface LogsPayload {
  readonly messageType: 'DATA_MESSAGE' | 'CONTROL_MESSAGE';
  readonly owner?: string;
  readonly logGroup: string;
  readonly logStream: string;
  readonly subscriptionFilters: readonly string[];
  readonly logEvents: readonly { readonly id?: string; readonly timestamp: number; readonly message: string }[];
}

/** The two calls the forwarder makes; a CloudWatchLogsClient satisfies it. */
export interface LogsWriter {
  send(command: CreateLogStreamCommand | PutLogEventsCommand): Promise<unknown>;
}

export { LOG_ROUTES_VARIABLE, subscriptionFilterName };

/** PutLogEvents limits: 10,000 events and 1,048,576 bytes (each event counts 26 bytes more). */
const MAX_EVENTS = 10_000;
const MAX_BYTES = 1_048_576;
const EVENT_OVERHEAD = 26;
/** One event's message is cut to what PutLogEvents accepts (256 KB). */
const MAX_MESSAGE_BYTES = 256 * 1024 - EVENT_OVERHEAD;

export function decodePayload(event: LogsSubscriptionEvent): LogsPayload {
  return JSON.parse(gunzipSync(Buffer.from(event.awslogs.data, 'base64')).toString('utf8')) as LogsPayload;
}

function cut(message: string): string {
  if (Buffer.byteLength(message, 'utf8') <= MAX_MESSAGE_BYTES) {
    return message;
  }
  return `${Buffer.from(message, 'utf8').subarray(0, MAX_MESSAGE_BYTES - 16).toString('utf8')}… [truncated]`;
}

/** Events in time order, split into PutLogEvents-sized batches. */
export function batches(events: readonly { readonly timestamp: number; readonly message: string }[]): { timestamp: number; message: string }[][] {
  const sorted = events.map((e) => ({ timestamp: e.timestamp, message: cut(e.message) })).sort((a, b) => a.timestamp - b.timestamp);
  const out: { timestamp: number; message: string }[][] = [];
  let current: { timestamp: number; message: string }[] = [];
  let bytes = 0;
  for (const e of sorted) {
    const size = Buffer.byteLength(e.message, 'utf8') + EVENT_OVERHEAD;
    if (current.length > 0 && (current.length >= MAX_EVENTS || bytes + size > MAX_BYTES)) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(e);
    bytes += size;
  }
  if (current.length > 0) {
    out.push(current);
  }
  return out;
}

/** Log stream names may not contain ':' or '*'; the source group and stream identify the origin. */
export function targetStreamName(payload: Pick<LogsPayload, 'logGroup' | 'logStream'>): string {
  return `${payload.logGroup.replace(/^\/aws\/lambda\//, '')}/${payload.logStream}`.replace(/[:*]/g, '_').slice(0, 512);
}

export interface ForwarderOptions {
  /** Route name → target log group. */
  readonly routes: Readonly<Record<string, string>>;
  readonly client: LogsWriter;
  readonly logger?: Logger;
}

/** The handler; a factory so tests can give it a fake client (CloudWatch Logs cannot run locally). */
export function createLogForwarder(options: ForwarderOptions): (event: LogsSubscriptionEvent) => Promise<{ forwarded: number }> {
  const created = new Set<string>();
  const ensureStream = async (group: string, stream: string): Promise<void> => {
    const key = `${group}\u0000${stream}`;
    if (created.has(key)) {
      return;
    }
    try {
      await options.client.send(new CreateLogStreamCommand({ logGroupName: group, logStreamName: stream }));
    } catch (error) {
      if (!(error instanceof ResourceAlreadyExistsException)) {
        throw error;
      }
    }
    created.add(key);
  };
  return async (event) => {
    let payload: LogsPayload;
    try {
      payload = decodePayload(event);
    } catch (error) {
      // A retry would fail the same way: say so and drop it.
      options.logger?.warn('log forwarder: undecodable subscription payload dropped', { error: error instanceof Error ? error.message : String(error) });
      return { forwarded: 0 };
    }
    if (payload.messageType !== 'DATA_MESSAGE' || payload.logEvents.length === 0) {
      return { forwarded: 0 };
    }
    const groups = new Set<string>();
    for (const filter of payload.subscriptionFilters) {
      const route = /^xp-([a-z]+)-/.exec(filter)?.[1];
      const group = route === undefined ? undefined : options.routes[route];
      if (group !== undefined && group !== payload.logGroup) {
        groups.add(group);
      }
    }
    const stream = targetStreamName(payload);
    let forwarded = 0;
    for (const group of groups) {
      await ensureStream(group, stream);
      for (const batch of batches(payload.logEvents)) {
        await options.client.send(new PutLogEventsCommand({ logGroupName: group, logStreamName: stream, logEvents: batch }));
        forwarded += batch.length;
      }
    }
    return { forwarded };
  };
}

function routesFromEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const raw = env[LOG_ROUTES_VARIABLE];
  if (raw === undefined) {
    return {};
  }
  const parsed = JSON.parse(raw) as unknown;
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || !Object.values(parsed).every((v) => typeof v === 'string')) {
    throw new Error(`${LOG_ROUTES_VARIABLE} must be a JSON object of route → log group name`);
  }
  return parsed as Record<string, string>;
}

let forward: ((event: LogsSubscriptionEvent) => Promise<{ forwarded: number }>) | undefined;

export const handler = (event: LogsSubscriptionEvent): Promise<{ forwarded: number }> => {
  forward ??= createLogForwarder({ routes: routesFromEnv(process.env), client: new CloudWatchLogsClient({}), logger: functionLogger() });
  return forward(event);
};
