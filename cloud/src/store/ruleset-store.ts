/**
 * Where compiled rulesets are published: versioned, immutable per (project, environment, version).
 * DynamoDB is a projection of Postgres, so everything here can be rebuilt by publishing again.
 */
import { createHash } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type * as Zlib from 'node:zlib';
import type {
  AttributeValue,
  BatchWriteItemInput,
  BatchWriteItemOutput,
  DescribeTableOutput,
  GetItemInput,
  GetItemOutput,
  PutItemInput,
  QueryInput,
  QueryOutput,
  WriteRequest,
} from '@aws-sdk/client-dynamodb';
import type { Ruleset } from '@xp/shared';
import { checkRuleset, hasServerOnlyKeys } from '@xp/shared/edge';
import type { ServerOnlyKeys } from '@xp/shared/edge';
import { AppError, AppErrorCode, conflict, invalid } from '../errors.js';
import { awsAppError } from './aws-errors.js';
import { createAwsJsonClient, isAwsError } from './aws-json.js';
import type { AwsJsonClient, AwsJsonClientOptions } from './aws-json.js';

export interface PublishedRuleset {
  projectId: string;
  environment: string;
  version: number;
  /** Hex SHA-256 of the canonical JSON (without `generatedAt`); quote it for an HTTP ETag. */
  etag: string;
  publishedAt: string;
  ruleset: Ruleset;
  /** Flags and experiments left out of what client-side SDK keys get (`clientRuleset`); absent when none. */
  serverOnly?: ServerOnlyKeys;
}

export interface RulesetVersion {
  version: number;
  etag: string;
  publishedAt: string;
}

export interface RulesetStore {
  /**
   * Publishes `ruleset.version` of `ruleset.environment`, with the keys client-side SDK keys do not
   * get; re-putting identical content is a no-op.
   */
  put(projectId: string, ruleset: Ruleset, serverOnly?: ServerOnlyKeys): Promise<PublishedRuleset>;
  latest(projectId: string, environment: string): Promise<PublishedRuleset | undefined>;
  /**
   * The newest version above `version`; undefined when there is none. Reads (and is billed for)
   * nothing but that version: checking a cached ruleset that is still the newest reads no item, where
   * `latest` reads, and is billed by the size of, the whole newest ruleset.
   */
  newerThan(projectId: string, environment: string, version: number): Promise<PublishedRuleset | undefined>;
  get(projectId: string, environment: string, version: number): Promise<PublishedRuleset | undefined>;
  /** Newest first; `limit` defaults to 20. */
  versions(projectId: string, environment: string, limit?: number): Promise<RulesetVersion[]>;
  /** Creates the table (on-demand) if missing and waits until it is ACTIVE; in AWS the CDK stack owns it. */
  ensureTable(): Promise<void>;
}

export interface DynamoRulesetStoreOptions {
  readonly client: DynamoClient;
  readonly tableName: string;
  /** Versions kept per environment: older version numbers are deleted on publish. Default 100; `Infinity` keeps all. */
  readonly retainVersions?: number;
  /** Clock for `publishedAt`. Default: the system clock. */
  readonly now?: () => Date;
  /** Bound on `ensureTable`'s wait for ACTIVE. Default 60 s. */
  readonly tableTimeoutMs?: number;
}

/** How the `ruleset` attribute is stored. */
export const RulesetEncoding = {
  /** Canonical JSON in a String attribute. */
  Json: 'json',
  /** Gzipped canonical JSON in a Binary attribute, for documents above the compression threshold. */
  Gzip: 'gzip',
} as const;
export type RulesetEncoding = (typeof RulesetEncoding)[keyof typeof RulesetEncoding];

/** JSON larger than this is gzipped before it is stored. */
export const COMPRESS_ABOVE_BYTES = 300 * 1024;
/** DynamoDB's item size limit (attribute names included). */
export const MAX_ITEM_BYTES = 400 * 1024;
/** Refuses to inflate stored documents beyond this, whatever the item claims. */
const MAX_INFLATED_BYTES = 32 * 1024 * 1024;
const DEFAULT_RETAIN = 100;
const DEFAULT_VERSIONS_LIMIT = 20;
const MAX_VERSIONS_LIMIT = 1_000;

/** DynamoDB over its JSON protocol (see aws-json.ts: the SDK client's import alone exceeds the evaluation Lambda's cold-start budget). */
export type DynamoClient = AwsJsonClient;

/**
 * A DynamoDB client. With an endpoint (dynalite or DynamoDB Local) it uses dummy credentials; without
 * one, the execution role's (or the default chain's) and the region from the environment. `overrides`
 * is applied last (retries, timeouts).
 */
export function createDynamoClient(endpoint?: string, region?: string, overrides: Partial<Pick<AwsJsonClientOptions, 'maxAttempts' | 'timeoutMs' | 'credentials'>> = {}): DynamoClient {
  return createAwsJsonClient({ service: 'dynamodb', targetPrefix: 'DynamoDB_20120810', jsonVersion: '1.0', binaryAttributes: true, endpoint, region, ...overrides });
}

/**
 * Table: `pk` = `${projectId}#${environment}` (S, hash), `version` (N, range); attributes `etag`,
 * `publishedAt`, `encoding`, `bytes` and `ruleset` (S for JSON, B for gzip).
 */
export function createDynamoRulesetStore(options: DynamoRulesetStoreOptions): RulesetStore {
  const { client, tableName } = options;
  const retain = options.retainVersions ?? DEFAULT_RETAIN;
  if (!(retain === Infinity || (Number.isInteger(retain) && retain >= 1))) {
    throw new TypeError(`retainVersions must be a positive integer or Infinity, got ${retain}`);
  }
  const now = options.now ?? ((): Date => new Date());
  const tableTimeoutMs = options.tableTimeoutMs ?? 60_000;

  const send = async <T>(run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (error) {
      throw dynamoError(error, tableName);
    }
  };

  const readItem = async (pk: string, version: number): Promise<Record<string, AttributeValue> | undefined> => {
    const out = await send(() =>
      client.call<GetItemOutput>('GetItem', { TableName: tableName, Key: { pk: { S: pk }, version: { N: String(version) } }, ConsistentRead: true } satisfies GetItemInput),
    );
    return out.Item;
  };

  const prune = async (pk: string, newest: number): Promise<void> => {
    const cut = newest - retain;
    if (!Number.isFinite(cut) || cut < 0) {
      return;
    }
    const stale: number[] = [];
    let startKey: Record<string, AttributeValue> | undefined;
    do {
      const page = await send(() =>
        client.call<QueryOutput>(
          'Query',
          {
            TableName: tableName,
            KeyConditionExpression: 'pk = :pk AND #v <= :cut',
            ExpressionAttributeNames: { '#v': 'version' },
            ExpressionAttributeValues: { ':pk': { S: pk }, ':cut': { N: String(cut) } },
            ProjectionExpression: '#v',
            ExclusiveStartKey: startKey,
          } satisfies QueryInput,
        ),
      );
      for (const item of page.Items ?? []) {
        const v = Number(item.version?.N);
        if (Number.isInteger(v)) {
          stale.push(v);
        }
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined);
    for (let i = 0; i < stale.length; i += 25) {
      let requests: WriteRequest[] = stale.slice(i, i + 25).map((v) => ({ DeleteRequest: { Key: { pk: { S: pk }, version: { N: String(v) } } } }));
      for (let attempt = 0; requests.length > 0; attempt++) {
        if (attempt === 5) {
          throw new AppError(AppErrorCode.Unavailable, 'DynamoDB is throttling; old ruleset versions were not pruned');
        }
        if (attempt > 0) {
          await delay(50 * 2 ** attempt);
        }
        const batch = requests;
        const out = await send(() => client.call<BatchWriteItemOutput>('BatchWriteItem', { RequestItems: { [tableName]: batch } } satisfies BatchWriteItemInput));
        requests = out.UnprocessedItems?.[tableName] ?? [];
      }
    }
  };

  const put = async (projectId: string, input: Ruleset, hidden?: ServerOnlyKeys): Promise<PublishedRuleset> => {
    checkProjectId(projectId);
    // The zod-free twin of rulesetSchema: this module is in the evaluation Lambda, which skips zod.
    const issues = checkRuleset(input);
    if (issues.length > 0) {
      throw invalid('the ruleset does not match the ruleset schema', { issues });
    }
    const ruleset = input;
    const serverOnly = sortedServerOnly(hidden);
    const { environment, version } = ruleset;
    const pk = partitionKey(projectId, environment);
    const etag = etagOf(ruleset, serverOnly);
    const json = canonicalJson(ruleset);
    const publishedAt = now().toISOString();
    const item = await encodeItem(pk, version, etag, publishedAt, json, serverOnly);
    const size = itemSize(item);
    if (size > MAX_ITEM_BYTES) {
      throw new AppError(
        AppErrorCode.PayloadTooLarge,
        `ruleset ${projectId}/${environment} v${version} is too large to publish: ${size} bytes after compression, the limit is ${MAX_ITEM_BYTES}`,
        { projectId, environment, version, bytes: size, limit: MAX_ITEM_BYTES },
      );
    }
    try {
      await client.call('PutItem', { TableName: tableName, Item: item, ConditionExpression: 'attribute_not_exists(pk)' } satisfies PutItemInput);
    } catch (error) {
      if (!isAwsError(error, 'ConditionalCheckFailedException')) {
        throw dynamoError(error, tableName);
      }
      const existing = await readItem(pk, version);
      if (existing === undefined) {
        // Pruned between our write and read: the version is too old to keep anyway.
        throw conflict(`ruleset ${projectId}/${environment} v${version} was published and pruned concurrently; publish a newer version`);
      }
      if (existing.etag?.S !== etag) {
        throw conflict(`ruleset ${projectId}/${environment} v${version} is already published with different content; published versions are immutable`, {
          projectId,
          environment,
          version,
          publishedEtag: existing.etag?.S,
          etag,
        });
      }
      await prune(pk, version);
      return decodeItem(existing, projectId, environment);
    }
    await prune(pk, version);
    return { projectId, environment, version, etag, publishedAt, ruleset, ...(serverOnly === undefined ? {} : { serverOnly }) };
  };

  /** The newest version, or with `above` the newest above it: one item at most is read (a Query's cost is the size of what its key condition matches). */
  const newest = async (projectId: string, environment: string, above?: number): Promise<PublishedRuleset | undefined> => {
    checkProjectId(projectId);
    const out = await send(() =>
      client.call<QueryOutput>(
        'Query', {
          TableName: tableName,
          KeyConditionExpression: above === undefined ? 'pk = :pk' : 'pk = :pk AND #v > :above',
          ...(above === undefined ? {} : { ExpressionAttributeNames: { '#v': 'version' } }),
          ExpressionAttributeValues: { ':pk': { S: partitionKey(projectId, environment) }, ...(above === undefined ? {} : { ':above': { N: String(above) } }) },
          ScanIndexForward: false,
          Limit: 1,
          ConsistentRead: true,
        } satisfies QueryInput,
      ),
    );
    const item = out.Items?.[0];
    return item === undefined ? undefined : decodeItem(item, projectId, environment);
  };
  const latest = (projectId: string, environment: string): Promise<PublishedRuleset | undefined> => newest(projectId, environment);
  const newerThan = async (projectId: string, environment: string, version: number): Promise<PublishedRuleset | undefined> => {
    if (!Number.isSafeInteger(version)) {
      throw new TypeError(`a ruleset version is an integer, got ${version}`);
    }
    return newest(projectId, environment, version);
  };

  const get = async (projectId: string, environment: string, version: number): Promise<PublishedRuleset | undefined> => {
    checkProjectId(projectId);
    if (!Number.isSafeInteger(version) || version < 0) {
      return undefined;
    }
    const item = await readItem(partitionKey(projectId, environment), version);
    return item === undefined ? undefined : decodeItem(item, projectId, environment);
  };

  const versions = async (projectId: string, environment: string, limit = DEFAULT_VERSIONS_LIMIT): Promise<RulesetVersion[]> => {
    checkProjectId(projectId);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_VERSIONS_LIMIT) {
      throw invalid(`limit must be an integer from 1 to ${MAX_VERSIONS_LIMIT}`);
    }
    const result: RulesetVersion[] = [];
    let startKey: Record<string, AttributeValue> | undefined;
    do {
      const page = await send(() =>
        client.call<QueryOutput>(
          'Query',
          {
            TableName: tableName,
            KeyConditionExpression: 'pk = :pk',
            ExpressionAttributeNames: { '#v': 'version', '#e': 'etag', '#p': 'publishedAt' },
            ExpressionAttributeValues: { ':pk': { S: partitionKey(projectId, environment) } },
            ProjectionExpression: '#v, #e, #p',
            ScanIndexForward: false,
            Limit: limit - result.length,
            ExclusiveStartKey: startKey,
          } satisfies QueryInput,
        ),
      );
      for (const item of page.Items ?? []) {
        result.push({ version: Number(item.version?.N), etag: item.etag?.S ?? '', publishedAt: item.publishedAt?.S ?? '' });
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined && result.length < limit);
    return result;
  };

  const ensureTable = async (): Promise<void> => {
    const deadline = Date.now() + tableTimeoutMs;
    for (let wait = 20; ; wait = Math.min(wait * 2, 1_000)) {
      const status = await tableStatus(client, tableName);
      if (status === 'ACTIVE') {
        return;
      }
      if (status === undefined) {
        await createTable(client, tableName);
        continue;
      }
      if (Date.now() >= deadline) {
        throw new AppError(AppErrorCode.Unavailable, `DynamoDB table "${tableName}" is still ${status} after ${tableTimeoutMs} ms`);
      }
      await delay(wait);
    }
  };

  return { put, latest, newerThan, get, versions, ensureTable };
}

/** JSON with object keys sorted at every level, so equal documents hash and store identically. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) {
    return `[${value.map((v: unknown) => canonicalJson(v ?? null)).join(',')}]`;
  }
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    const members = Object.keys(record)
      .sort()
      .filter((key) => record[key] !== undefined)
      .map((key) => `${JSON.stringify(key)}:${canonicalJson(record[key])}`);
    return `{${members.join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * `generatedAt` is left out so recompiling unchanged definitions yields the same etag; the
 * server-only keys, when there are any, are in it (they change what client-side keys get).
 */
function etagOf(ruleset: Ruleset, serverOnly: ServerOnlyKeys | undefined): string {
  const { generatedAt: _generatedAt, ...content } = ruleset;
  return createHash('sha256')
    .update(canonicalJson(serverOnly === undefined ? content : { content, serverOnly }))
    .digest('hex');
}

function partitionKey(projectId: string, environment: string): string {
  // Environment keys cannot contain '#', so the split point is unambiguous.
  return `${projectId}#${environment}`;
}

function checkProjectId(projectId: string): void {
  if (projectId === '' || projectId.length > 256) {
    throw invalid('project id must be 1 to 256 characters');
  }
}

/** Stands for a SHA-256 etag (64 hex characters) where only the item's size matters. */
const SIZED_ETAG = '0'.repeat(64);

function sortedServerOnly(hidden: ServerOnlyKeys | undefined): ServerOnlyKeys | undefined {
  return hasServerOnlyKeys(hidden) ? { flags: [...hidden.flags].sort(), experiments: [...hidden.experiments].sort() } : undefined;
}

/**
 * The size `put` would find for `ruleset`'s item when it is over MAX_ITEM_BYTES (after compression),
 * else undefined: checked before a change commits, so a change whose ruleset could never be published
 * is refused rather than saved unpublished. Compresses only a ruleset that could be over the limit.
 */
export async function oversizedRulesetBytes(projectId: string, ruleset: Ruleset, hidden?: ServerOnlyKeys): Promise<number | undefined> {
  const serverOnly = sortedServerOnly(hidden);
  const json = canonicalJson(ruleset);
  // The item holds the ruleset (raw or compressed, never larger), the server-only keys and under 1 KB else.
  if (Buffer.byteLength(json, 'utf8') + (serverOnly === undefined ? 0 : Buffer.byteLength(JSON.stringify(serverOnly), 'utf8')) + 1024 <= MAX_ITEM_BYTES) {
    return undefined;
  }
  // Sized as `put` would store it: an etag is always 64 hex characters, so none is worked out here.
  const item = await encodeItem(partitionKey(projectId, ruleset.environment), ruleset.version, SIZED_ETAG, new Date(0).toISOString(), json, serverOnly);
  const size = itemSize(item);
  return size > MAX_ITEM_BYTES ? size : undefined;
}

/** zlib, loaded only for rulesets above the compression threshold (the evaluation Lambda's init skips it). */
const zlib = (): Promise<typeof Zlib> => import('node:zlib');

async function encodeItem(pk: string, version: number, etag: string, publishedAt: string, json: string, serverOnly: ServerOnlyKeys | undefined): Promise<Record<string, AttributeValue>> {
  const bytes = Buffer.byteLength(json, 'utf8');
  const base = {
    pk: { S: pk },
    version: { N: String(version) },
    etag: { S: etag },
    publishedAt: { S: publishedAt },
    bytes: { N: String(bytes) },
    ...(serverOnly === undefined ? {} : { serverOnly: { S: JSON.stringify(serverOnly) } }),
  };
  return bytes > COMPRESS_ABOVE_BYTES
    ? { ...base, encoding: { S: RulesetEncoding.Gzip }, ruleset: { B: (await zlib()).gzipSync(json) } }
    : { ...base, encoding: { S: RulesetEncoding.Json }, ruleset: { S: json } };
}

/** DynamoDB's item size rule: names plus values; numbers count at their 21-byte maximum. */
function itemSize(item: Record<string, AttributeValue>): number {
  let size = 0;
  for (const [name, value] of Object.entries(item)) {
    size += Buffer.byteLength(name, 'utf8');
    if (value.S !== undefined) {
      size += Buffer.byteLength(value.S, 'utf8');
    } else if (value.B !== undefined) {
      size += value.B.byteLength;
    } else {
      size += 21;
    }
  }
  return size;
}

/** A stored item back to a validated ruleset; anything unreadable is reported, never served. */
async function decodeItem(item: Record<string, AttributeValue>, projectId: string, environment: string): Promise<PublishedRuleset> {
  const version = Number(item.version?.N);
  const corrupt = (reason: string, cause?: unknown): AppError =>
    new AppError(
      AppErrorCode.Internal,
      `published ruleset ${projectId}/${environment} v${version} is unreadable; publish it again`,
      { projectId, environment, version, reason },
      { cause },
    );
  const etag = item.etag?.S;
  const publishedAt = item.publishedAt?.S;
  if (etag === undefined || publishedAt === undefined) {
    throw corrupt('missing etag or publishedAt');
  }
  let json: string;
  const encoding = item.encoding?.S;
  if (encoding === RulesetEncoding.Json && item.ruleset?.S !== undefined) {
    json = item.ruleset.S;
  } else if (encoding === RulesetEncoding.Gzip && item.ruleset?.B !== undefined) {
    const { gunzipSync } = await zlib();
    try {
      json = gunzipSync(item.ruleset.B, { maxOutputLength: MAX_INFLATED_BYTES }).toString('utf8');
    } catch (error) {
      throw corrupt('gzip data does not inflate', error);
    }
  } else {
    throw corrupt(`unknown encoding ${String(encoding)} or missing body`);
  }
  let document: unknown;
  try {
    document = JSON.parse(json);
  } catch (error) {
    throw corrupt('body is not JSON', error);
  }
  const issues = checkRuleset(document);
  if (issues.length > 0) {
    throw corrupt(`body fails the ruleset schema: ${issues.slice(0, 3).join('; ')}`);
  }
  const ruleset = document as Ruleset;
  if (ruleset.environment !== environment || ruleset.version !== version) {
    throw corrupt(`body is ${ruleset.environment} v${ruleset.version}`);
  }
  let serverOnly: ServerOnlyKeys | undefined;
  if (item.serverOnly?.S !== undefined) {
    let stored: unknown;
    try {
      stored = JSON.parse(item.serverOnly.S);
    } catch (error) {
      throw corrupt('serverOnly is not JSON', error);
    }
    const keyList = (v: unknown): v is string[] => Array.isArray(v) && v.every((k) => typeof k === 'string');
    const { flags, experiments } = (typeof stored === 'object' && stored !== null ? stored : {}) as Record<string, unknown>;
    if (!keyList(flags) || !keyList(experiments)) {
      throw corrupt('serverOnly is not { flags: string[], experiments: string[] }');
    }
    serverOnly = { flags, experiments };
  }
  // Whatever it says, a list the etag does not cover is not served: client-side keys would get what they must not.
  if (etagOf(ruleset, serverOnly) !== etag) {
    throw corrupt('body does not match its etag');
  }
  return { projectId, environment, version, etag, publishedAt, ruleset, ...(serverOnly === undefined ? {} : { serverOnly }) };
}

async function tableStatus(client: DynamoClient, tableName: string): Promise<string | undefined> {
  try {
    const out = await client.call<DescribeTableOutput>('DescribeTable', { TableName: tableName });
    return out.Table?.TableStatus ?? 'UNKNOWN';
  } catch (error) {
    if (isAwsError(error, 'ResourceNotFoundException')) {
      return undefined;
    }
    throw dynamoError(error, tableName);
  }
}

async function createTable(client: DynamoClient, tableName: string): Promise<void> {
  try {
    await client.call('CreateTable', {
        TableName: tableName,
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'version', AttributeType: 'N' },
        ],
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'version', KeyType: 'RANGE' },
        ],
        BillingMode: 'PAY_PER_REQUEST',
    });
  } catch (error) {
    // Created concurrently by another process.
    if (!isAwsError(error, 'ResourceInUseException')) {
      throw dynamoError(error, tableName);
    }
  }
}

/** Network failures, throttling, 5xx and a missing table mean "unavailable"; the rest is a bug here. */
function dynamoError(error: unknown, tableName: string): AppError {
  if (isAwsError(error, 'ResourceNotFoundException')) {
    return new AppError(AppErrorCode.Unavailable, `DynamoDB table "${tableName}" does not exist`, undefined, { cause: error });
  }
  return awsAppError(error, 'DynamoDB');
}
