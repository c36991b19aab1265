import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { GetRecordsCommand, GetShardIteratorCommand, ListShardsCommand } from '@aws-sdk/client-kinesis';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { InvokeCommand } from '@aws-sdk/client-lambda';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKinesisClient, ensureStream, startDynalite, startKinesalite } from '../../local/aws-local.js';
import type { LocalService } from '../../local/aws-local.js';
import type { HealthSource } from '../../http/routes/health.js';
import { PlatformKey, verifyWebhookSignature } from '../../auth/platform-key.js';
import { httpSend } from '../../domain/webhook-http.js';
import { FunctionEntry, bundleFunction } from '../../infra/bundling.js';
import { createPgDatabase } from '../../store/db.js';
import type { Database } from '../../store/db.js';
import { createDynamoClient, createDynamoRulesetStore } from '../../store/ruleset-store.js';
import { AGGREGATOR_DIMENSION_BUILD_MS, AGGREGATOR_PURGE_MS, createAggregatorHandler, dimensionBuildBudget, purgeBudget } from '../aggregator.js';
import { createAlarmRollbackHandler, rollbackDescription } from '../alarm-rollback.js';
import { createApiHandler } from '../api.js';
import { createEvaluationHandler } from '../evaluation.js';
import { createGuardrailCheckHandler } from '../guardrail-check.js';
import type { HttpHandler } from '../lambda-http.js';
import { EmfMetrics } from '../metrics.js';
import { createMigrateHandler } from '../migrate.js';
import { DISPATCH_RESERVE_MS, createWebhookDispatchHandler } from '../webhook-dispatch.js';
import { lambdaSender } from '../webhook-lambda-sender.js';
import { createWebhookSenderHandler } from '../webhook-sender.js';
import { alarmEvent, httpEvent, kinesisEvent } from './lambda-events.js';
import type { RawKinesisRecord } from './lambda-events.js';
import { bundledPackages } from './bundle-imports.js';

const ADMIN_URL = process.env.XP_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const ADMIN_PASSWORD = 'Correct-Horse-Battery-Staple-42';
/** What the owner chooses at the first login in place of the secret's password. */
const OWNER_OWN_PASSWORD = 'saffron walrus meadow 2033';
const ADMIN_SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:xp/test/initial-owner-password-AbCdEf';
const APP_SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:xp/test/database-app-AbCdEf';
const STREAM = 'xp-test-events';

async function admin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** Every EMF line a handler wrote, parsed. */
function emfSink(service: string): { metrics: EmfMetrics; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  return { lines, metrics: new EmfMetrics({ service, stage: 'test', write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>) }) };
}

const execFileAsync = promisify(execFile);

const silent = { info: (): void => undefined, warn: (): void => undefined, error: (): void => undefined };

const json = (body: string | undefined): any => (body === undefined || body === '' ? undefined : JSON.parse(body));

describe('Lambda entry points on a local stack (PostgreSQL, dynalite, kinesalite)', () => {
  const dbName = `xp_fn_${randomBytes(5).toString('hex')}`;
  // Roles are the server's, not the database's: a name of this run's own. Every function below but
  // the migrations connects as it, as deployed, so each test also proves it needs no more than rows.
  const appUser = { username: `xp_app_${randomBytes(5).toString('hex')}`, password: randomBytes(24).toString('hex') };
  let migrateEnv: NodeJS.ProcessEnv;
  let appUrl: string;
  let dynalite: LocalService;
  let kinesalite: LocalService;
  let kinesis: KinesisClient;
  let env: NodeJS.ProcessEnv;
  let pool: pg.Pool;
  const secrets: Readonly<Record<string, string>> = { [ADMIN_SECRET_ARN]: ADMIN_PASSWORD, [APP_SECRET_ARN]: JSON.stringify(appUser) };
  const readSecret = (arn: string): Promise<string> => (secrets[arn] === undefined ? Promise.reject(new Error(`unexpected secret ${arn}`)) : Promise.resolve(secrets[arn]));
  let api: HttpHandler;
  let token = '';
  let sdkKey = '';
  const health: HealthSource = { kind: 'cloudwatch', read: () => Promise.resolve([{ name: 'Evaluations', statistic: 'sum', unit: 'Count', value: 42 }]) };
  const evaluationMetrics = emfSink('evaluation');

  beforeAll(async () => {
    await admin(`CREATE DATABASE ${dbName}`);
    const url = new URL(ADMIN_URL);
    url.pathname = `/${dbName}`;
    [dynalite, kinesalite] = await Promise.all([startDynalite(), startKinesalite()]);
    kinesis = createKinesisClient(kinesalite.endpoint);
    await ensureStream(kinesis, STREAM, 1);
    const table = `xp-test-rulesets-${randomUUID()}`;
    const dynamo = createDynamoClient(dynalite.endpoint);
    await createDynamoRulesetStore({ client: dynamo, tableName: table }).ensureTable();
    dynamo.destroy();
    const app = new URL(url);
    app.username = appUser.username;
    app.password = appUser.password;
    appUrl = app.toString();
    env = {
      DATABASE_URL: appUrl,
      XP_STAGE: 'test',
      XP_RULESET_TABLE: table,
      XP_EVENT_STREAM: STREAM,
      DYNAMODB_ENDPOINT: dynalite.endpoint,
      KINESIS_ENDPOINT: kinesalite.endpoint,
      XP_ADMIN_EMAIL: 'owner@example.com',
      XP_ADMIN_SECRET_ARN: ADMIN_SECRET_ARN,
      XP_PLATFORM_KEY: PlatformKey.generate().toString(),
    };
    migrateEnv = { ...env, DATABASE_URL: url.toString(), XP_DB_APP_SECRET_ARN: APP_SECRET_ARN };
    pool = new pg.Pool({ connectionString: url.toString(), max: 2 });
    api = createApiHandler(env, { readSecret, health });
  });

  afterAll(async () => {
    await pool.end();
    kinesis.destroy();
    await Promise.all([dynalite.close(), kinesalite.close()]);
    await admin(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await admin(`DROP ROLE IF EXISTS ${appUser.username}`);
  });

  it('migrate: Create applies every migration and creates the owner; Update is a no-op; Delete keeps the data', async () => {
    const handler = createMigrateHandler(migrateEnv, { readSecret });

    const created = await handler({ RequestType: 'Create', ResourceProperties: { digest: 'a' } });
    const updated = await handler({ RequestType: 'Update', PhysicalResourceId: created.PhysicalResourceId, ResourceProperties: { digest: 'b' } });
    const deleted = await handler({ RequestType: 'Delete', PhysicalResourceId: created.PhysicalResourceId });
    const owners = await pool.query<{ email: string }>("SELECT email FROM users WHERE role = 'owner'");

    expect(created.Data).toMatchObject({ bootstrapped: true });
    expect(Number(created.Data?.applied)).toBeGreaterThanOrEqual(2);
    expect(updated).toEqual({ PhysicalResourceId: created.PhysicalResourceId, Data: { applied: 0, bootstrapped: false } });
    expect(deleted.PhysicalResourceId).toBe(created.PhysicalResourceId);
    expect(owners.rows.map((r) => r.email)).toEqual(['owner@example.com']);
  });

  it('migrate: the application user it creates may change rows and nothing else; every run sets its password again from the secret', async () => {
    const asApp = new pg.Client({ connectionString: appUrl });
    await asApp.connect();
    const refused = async (sql: string): Promise<string | undefined> => {
      try {
        await asApp.query(sql);
        return undefined;
      } catch (e) {
        return (e as { code?: string }).code;
      }
    };
    try {
      const role = await pool.query<{ rolsuper: boolean; rolcreaterole: boolean; rolcreatedb: boolean; rolcanlogin: boolean; verifier: string }>(
        'SELECT rolsuper, rolcreaterole, rolcreatedb, rolcanlogin, rolpassword AS verifier FROM pg_authid WHERE rolname = $1',
        [appUser.username],
      );
      expect(role.rows[0]).toMatchObject({ rolsuper: false, rolcreaterole: false, rolcreatedb: false, rolcanlogin: true });
      expect(role.rows[0]!.verifier).toMatch(/^SCRAM-SHA-256\$4096:/);
      // Rows: yes (inside a transaction rolled back, to leave the data as it is).
      await asApp.query('BEGIN');
      await asApp.query("UPDATE users SET name = name WHERE role = 'owner'");
      await asApp.query("INSERT INTO processed_events (project_id, event_id) VALUES ('p', 'e')");
      await asApp.query('DELETE FROM processed_events');
      await asApp.query('ROLLBACK');
      // Anything else: PostgreSQL's insufficient_privilege (42501).
      for (const sql of [
        'CREATE TABLE stray (id int)',
        'DROP TABLE processed_events',
        'TRUNCATE processed_events',
        'ALTER TABLE users ADD COLUMN stray int',
        "INSERT INTO schema_migrations (name) VALUES ('9999_stray.sql')",
        'DELETE FROM schema_migrations',
        `ALTER ROLE ${appUser.username} CREATEROLE`,
      ]) {
        expect([sql, await refused(sql)]).toEqual([sql, '42501']);
      }
      expect((await asApp.query('SELECT count(*)::int AS n FROM schema_migrations')).rows[0].n).toBeGreaterThan(2);
    } finally {
      await asApp.end();
    }
    // The password is set again from the secret on every run: what was there before is replaced.
    const before = await pool.query<{ verifier: string }>('SELECT rolpassword AS verifier FROM pg_authid WHERE rolname = $1', [appUser.username]);
    await createMigrateHandler(migrateEnv, { readSecret })({ RequestType: 'Update', PhysicalResourceId: 'xp-database-schema', ResourceProperties: { digest: 'c' } });
    const after = await pool.query<{ verifier: string }>('SELECT rolpassword AS verifier FROM pg_authid WHERE rolname = $1', [appUser.username]);
    expect(after.rows[0]!.verifier).not.toBe(before.rows[0]!.verifier);
  });

  it('api: the owner replaces the password from the secret at the first login, through an API Gateway v2 event', async () => {
    const plain = await api(httpEvent('POST', '/api/v1/auth/login', { body: { email: 'owner@example.com', password: ADMIN_PASSWORD } }));
    const replaced = await api(httpEvent('POST', '/api/v1/auth/login', { body: { email: 'owner@example.com', password: ADMIN_PASSWORD, newPassword: OWNER_OWN_PASSWORD } }));
    const again = await api(httpEvent('POST', '/api/v1/auth/login', { body: { email: 'owner@example.com', password: ADMIN_PASSWORD } }));

    expect([plain.statusCode, json(plain.body).error.code]).toEqual([403, 'PASSWORD_CHANGE_REQUIRED']);
    expect(replaced.statusCode).toBe(200);
    expect(again.statusCode).toBe(401);
  });

  it('api: logs in through an API Gateway v2 event and serves the Health view from the attached source', async () => {
    const login = await api(httpEvent('POST', '/api/v1/auth/login', { body: { email: 'owner@example.com', password: OWNER_OWN_PASSWORD } }));
    token = json(login.body).token as string;
    const auth = { authorization: `Bearer ${token}` };
    const created = await api(httpEvent('POST', '/api/v1/projects/demo/sdk-keys', { headers: auth, body: { environment: 'development', kind: 'server', name: 'lambda test' } }));
    sdkKey = json(created.body).key as string;
    const healthRes = await api(httpEvent('GET', '/api/v1/health?minutes=15', { headers: auth }));
    const missing = await api(httpEvent('GET', '/api/v1/nothing-here', { headers: auth }));

    expect(login.statusCode).toBe(200);
    expect(created.statusCode).toBe(201);
    expect(sdkKey).toMatch(/^xp/);
    expect(healthRes.statusCode).toBe(200);
    expect(json(healthRes.body)).toMatchObject({ status: 'ok', source: 'cloudwatch', database: 'ok', window: { minutes: 15 }, figures: [{ name: 'Evaluations', value: 42 }], pipeline: { deadLetters: 0 } });
    expect(missing.statusCode).toBe(404);
    expect(json(missing.body).error.code).toBe('NOT_FOUND');
  });

  it('evaluation: serves the ruleset and evaluations, sends events to Kinesis, and emits EMF metrics', async () => {
    const handler = createEvaluationHandler(env, { readSecret, metrics: evaluationMetrics.metrics });
    const headers = { 'x-xp-sdk-key': sdkKey };

    const ruleset = await handler(httpEvent('GET', '/sdk/v1/ruleset', { headers }));
    const etag = (ruleset.headers as Record<string, string> | undefined)?.etag ?? '';
    const cached = await handler(httpEvent('GET', '/sdk/v1/ruleset', { headers: { ...headers, 'if-none-match': etag } }));
    const evaluated = await handler(httpEvent('POST', '/sdk/v1/evaluate', { headers, body: { unit: { id: 'user-1' }, flags: ['new-checkout', 'button-color'] } }));
    const now = Date.now();
    const events = await handler(
      httpEvent('POST', '/sdk/v1/events', {
        headers,
        body: {
          events: [
            { type: 'track', id: 'evt-00000001', unitId: 'user-1', timestamp: now, name: 'purchase', value: 10 },
            { type: 'track', id: 'evt-00000002', unitId: 'user-2', timestamp: now, name: 'purchase', value: 5 },
            { type: 'track', id: 'bad' },
          ],
        },
      }),
    );
    const noKey = await handler(httpEvent('GET', '/sdk/v1/ruleset'));

    expect(ruleset.statusCode).toBe(200);
    expect(etag).not.toBe('');
    expect(cached.statusCode).toBe(304);
    expect(evaluated.statusCode).toBe(200);
    expect(json(evaluated.body).flags['new-checkout']).toMatchObject({ value: true });
    expect(events.statusCode).toBe(202);
    expect(json(events.body)).toMatchObject({ accepted: 2, rejected: [{ index: 2 }] });
    expect(noKey.statusCode).toBe(401);
    const emitted = evaluationMetrics.lines;
    expect(emitted.every((l) => (l._aws as { CloudWatchMetrics: { Namespace: string }[] }).CloudWatchMetrics[0]!.Namespace === 'xp' && l.Service === 'evaluation' && l.Stage === 'test')).toBe(true);
    expect(emitted.filter((l) => 'EvaluationLatency' in l)).toHaveLength(5);
    expect(emitted.find((l) => 'Evaluations' in l)?.Evaluations).toBe(2);
    expect(emitted.find((l) => 'EventsAccepted' in l)).toMatchObject({ EventsAccepted: 2, EventsRejected: 1 });
  });

  it('evaluation: /sdk/v1/stream, which API Gateway would buffer, answers 404 STREAM_NOT_AVAILABLE to GET and HEAD, without Retry-After (not a 5xx the SDKs retry every 5 s)', async () => {
    const handler = createEvaluationHandler(env, { readSecret, metrics: emfSink('evaluation').metrics });
    const headers = { 'x-xp-sdk-key': sdkKey, accept: 'text/event-stream' };

    const get = await handler(httpEvent('GET', '/sdk/v1/stream?include=ruleset', { headers }));
    const head = await handler(httpEvent('HEAD', '/sdk/v1/stream', { headers }));
    const noKey = await handler(httpEvent('GET', '/sdk/v1/stream'));

    for (const res of [get, head]) {
      const h = res.headers as Record<string, string> | undefined;
      expect(res.statusCode).toBe(404);
      expect(h?.['retry-after']).toBeUndefined();
      expect(h?.['content-type']).toMatch(/^application\/json/);
    }
    expect(json(get.body).error).toEqual({ code: 'STREAM_NOT_AVAILABLE', message: expect.stringMatching(/poll GET \/sdk\/v1\/ruleset with If-None-Match/) as unknown });
    expect(noKey.statusCode).toBe(401);
  });

  it('evaluation: exposures the stream refuses wait in the retry buffer, and its EMF lines say how many (ExposuresRetrying)', async () => {
    const auth = { authorization: `Bearer ${token}` };
    const flag = await api(
      httpEvent('POST', '/api/v1/projects/demo/flags', {
        headers: auth,
        body: {
          key: 'lambda-retry-flag',
          name: 'Lambda retry flag',
          type: 'boolean',
          variations: [
            { key: 'control', value: false },
            { key: 'treatment', value: true },
          ],
          environments: { development: { enabled: true, defaultVariation: 'control', offVariation: 'control', rules: [{ id: 'exp', type: 'experiment', experiment: 'demo-checkout-cta' }] } },
        },
      }),
    );
    expect(flag.statusCode).toBe(201);
    // A stream that does not exist refuses every write, as Kinesis does when it is down.
    const { metrics, lines } = emfSink('evaluation');
    const handler = createEvaluationHandler({ ...env, XP_EVENT_STREAM: 'xp-no-such-stream' }, { readSecret, metrics });
    const evaluated = await handler(httpEvent('POST', '/sdk/v1/evaluate', { headers: { 'x-xp-sdk-key': sdkKey }, body: { unit: { id: 'lambda-retry-1' }, flags: ['lambda-retry-flag'] } }));

    expect(evaluated.statusCode).toBe(200);
    expect(json(evaluated.body).flags['lambda-retry-flag'].reason).toBe('SPLIT');
    expect(lines.find((l) => 'ExposuresRetrying' in l)).toMatchObject({ ExposuresRetrying: 1, Service: 'evaluation' });
  });

  it('evaluation, as deployed: the esbuild bundle imports no package at init (no AWS SDK) and serves a fresh process', async () => {
    const outdir = await mkdtemp(path.join(tmpdir(), 'xp-eval-bundle-'));
    try {
      const { file } = await bundleFunction(FunctionEntry.Evaluation, outdir);
      const source = await readFile(file, 'utf8');
      const packages = bundledPackages(source, { dynamic: false });
      // A fresh Node process, as Lambda starts it: import the bundle, invoke its handler once.
      const events = [
        httpEvent('GET', '/sdk/v1/ruleset', { headers: { 'x-xp-sdk-key': sdkKey } }),
        httpEvent('POST', '/sdk/v1/events', { headers: { 'x-xp-sdk-key': sdkKey }, body: { events: [{ type: 'track', id: 'evt-bundle-1', unitId: 'user-9', timestamp: Date.now(), name: 'purchase', value: 3 }] } }),
      ];
      const script = `const { handler } = await import(${JSON.stringify(pathToFileURL(file).href)});
const out = [];
for (const event of JSON.parse(process.argv[1])) { const r = await handler(event); out.push({ statusCode: r.statusCode, body: r.body }); }
process.stdout.write('\\nRESULT ' + JSON.stringify(out) + '\\n'); process.exit(0);`;
      const { stdout } = await execFileAsync(process.execPath, ['--input-type=module', '-e', script, JSON.stringify(events)], {
        env: { PATH: process.env.PATH, AWS_REGION: 'eu-west-1', ...env },
      });
      // EMF metric lines share stdout, as in Lambda.
      const result = stdout.split('\n').find((l) => l.startsWith('RESULT ')) ?? 'RESULT []';
      const [ruleset, accepted] = JSON.parse(result.slice('RESULT '.length)) as { statusCode: number; body: string }[];
      expect(stdout).toContain('"EvaluationLatency"');

      expect(packages).toEqual([]);
      expect(ruleset?.statusCode).toBe(200);
      expect(Object.keys(json(ruleset?.body).flags as object)).toContain('new-checkout');
      expect(accepted?.statusCode).toBe(202);
      expect(json(accepted?.body)).toMatchObject({ accepted: 1 });
    } finally {
      await rm(outdir, { recursive: true, force: true });
    }
  });

  it('aggregator: applies a Kinesis batch exactly once, dead-letters a poison record, reports lag, dead letters and duplicates', async () => {
    const shards = await kinesis.send(new ListShardsCommand({ StreamName: STREAM }));
    const shardId = shards.Shards![0]!.ShardId!;
    const iterator = await kinesis.send(new GetShardIteratorCommand({ StreamName: STREAM, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' }));
    const read = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator.ShardIterator! }));
    const records: RawKinesisRecord[] = (read.Records ?? []).map((r) => ({ data: r.Data!, sequenceNumber: r.SequenceNumber!, partitionKey: r.PartitionKey!, arrivedAt: r.ApproximateArrivalTimestamp! }));
    const poison: RawKinesisRecord = { data: Buffer.from('not json'), sequenceNumber: '99999999999999999999999999999999999999999999999999999999', partitionKey: 'x', arrivedAt: new Date() };
    const arn = `arn:aws:kinesis:eu-west-1:123456789012:stream/${STREAM}`;
    const { metrics, lines } = emfSink('aggregator');
    const handler = createAggregatorHandler(env, { readSecret, metrics, now: () => records[0]!.arrivedAt.getTime() + 1_500 });

    const first = await handler(kinesisEvent(shardId, arn, [...records, poison]));
    const again = await handler(kinesisEvent(shardId, arn, records));
    const processed = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM processed_events');
    const dead = await pool.query<{ reason: string }>('SELECT reason FROM dead_letters');
    // Between batches (once a minute) it builds the result dimensions experiments list: the demo's.
    const dimensions = await pool.query<{ experiment: string; dimension: string }>('SELECT experiment, dimension FROM results_dimensions ORDER BY 1, 2');

    expect(records.length).toBeGreaterThanOrEqual(2);
    expect(dimensions.rows.map((r) => r.dimension)).toEqual(['country', 'platform']);
    expect(first.batchItemFailures).toEqual([]);
    expect(again.batchItemFailures).toEqual([]);
    expect(processed.rows[0]!.n).toBe(records.length);
    expect(dead.rows).toHaveLength(1);
    expect(lines[0]).toMatchObject({ Service: 'aggregator', DeadLetters: 1, DuplicateEvents: 0, AggregationLag: 1_500 });
    // The batch delivered again: every event skipped as a duplicate, counted once for the batch.
    expect(lines[1]).toMatchObject({ DeadLetters: 0, DuplicateEvents: records.length });
  });

  it("aggregator: gives a dimension build only the time the invocation has left, or none", () => {
    expect(dimensionBuildBudget(undefined)).toBe(AGGREGATOR_DIMENSION_BUILD_MS);
    expect(dimensionBuildBudget(58_000)).toBe(AGGREGATOR_DIMENSION_BUILD_MS);
    expect(dimensionBuildBudget(20_000)).toBe(15_000);
    // Too little left: the build waits for a later invocation rather than time out a committed batch.
    expect(dimensionBuildBudget(9_000)).toBe(0);
  });

  it('aggregator: bounds the explorer purge by a statement timeout within the time left, prunes dedupe records and sticky assignments after it, and skips them all when too little is left', async () => {
    const url = env.DATABASE_URL!;
    const inner = createPgDatabase(url, { max: 1 });
    const statements: string[] = [];
    const recording: Database = {
      ...inner,
      query: (sql, params) => {
        statements.push(sql);
        return inner.query(sql, params);
      },
      withTransaction: (fn) =>
        inner.withTransaction((tx) =>
          fn({
            query: (sql, params) => {
              statements.push(sql);
              return tx.query(sql, params);
            },
          }),
        ),
    };
    const arn = `arn:aws:kinesis:eu-west-1:123456789012:stream/${STREAM}`;
    const handler = createAggregatorHandler(env, { db: () => Promise.resolve(recording), metrics: emfSink('aggregator').metrics, logger: silent });
    // The purge and the statement before it, in its transaction.
    const purges = (): string[] => statements.flatMap((q, i) => (q.includes('DELETE FROM explorer_events') ? [statements[i - 1]!, q] : []));

    try {
      const prunes = (): number => statements.filter((q) => q.includes('DELETE FROM processed_events')).length;
      const stickyPrunes = (): number => statements.filter((q) => q.includes('DELETE FROM sticky_assignments')).length;
      await handler(kinesisEvent('shardId-000000000000', arn, []), { getRemainingTimeInMillis: () => 9_000 });
      const whenShort = purges();
      const prunedWhenShort = [prunes(), stickyPrunes()];
      await handler(kinesisEvent('shardId-000000000000', arn, []), { getRemainingTimeInMillis: () => 59_000 });

      expect(whenShort).toEqual([]);
      // The dedupe records' and sticky assignments' pruning come with the purge, in the same budget.
      expect([prunedWhenShort, [prunes(), stickyPrunes()]]).toEqual([
        [0, 0],
        [1, 1],
      ]);
      expect(purges()).toEqual([`SET LOCAL statement_timeout = ${AGGREGATOR_PURGE_MS}`, expect.stringContaining('DELETE FROM explorer_events')]);
      expect(purgeBudget(12_000)).toBe(7_000);
    } finally {
      await inner.close();
    }
  });

  it('guardrail check: the scheduled function runs the statistical check over every running experiment', async () => {
    const lines: string[] = [];
    const logger = { info: (m: string) => lines.push(m), warn: (m: string) => lines.push(m), error: (m: string) => lines.push(m) };
    const handler = createGuardrailCheckHandler(env, { readSecret, logger });

    const summary = await handler();
    const running = await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM experiments WHERE status = 'running' AND NOT archived");

    expect(running.rows[0]!.n).toBeGreaterThan(0);
    expect(summary).toMatchObject({ experiments: running.rows[0]!.n, raised: 0, stopped: [] });
    // The bandits run on the same schedule (the demo experiments have none).
    expect(summary.bandits).toEqual({ experiments: 0, checked: 0, moved: [], deferred: 0 });
    expect(lines).toEqual(['guardrail check']);
  });

  it('alarm rollback: a firing guardrail switches the flag off in production, audited under the alarm name; idempotent', async () => {
    const { metrics, lines } = emfSink('alarm-rollback');
    const handler = createAlarmRollbackHandler(env, { readSecret, metrics });
    const description = `Checkout errors.\n${rollbackDescription({ project: 'demo', flag: 'button-color', environment: 'production' })}`;

    const ok = await handler(alarmEvent({ name: 'checkout-errors', description, state: 'OK' }));
    const fired = await handler(alarmEvent({ name: 'checkout-errors', description, state: 'ALARM' }));
    const again = await handler(alarmEvent({ name: 'checkout-errors', description, state: 'ALARM' }));
    const unlinked = await handler(alarmEvent({ name: 'cpu', description: 'just an alarm', state: 'ALARM' }));
    const flag = await pool.query<{ definition: { environments: Record<string, { enabled: boolean }> } }>("SELECT definition FROM flags WHERE key = 'button-color'");
    const audit = await pool.query<{ actor_email: string; client: string; action: string; environment_key: string }>(
      "SELECT actor_email, client, action, environment_key FROM audit_log WHERE resource_key = 'button-color' AND client = 'alarm-rollback'",
    );

    expect(ok[0]).toMatchObject({ kind: 'ignored' });
    expect(fired[0]).toMatchObject({ kind: 'rolled-back', link: { flag: 'button-color', environment: 'production' } });
    expect(again[0]).toMatchObject({ kind: 'already-off' });
    expect(unlinked[0]).toMatchObject({ kind: 'ignored' });
    expect(flag.rows[0]!.definition.environments.production!.enabled).toBe(false);
    expect(flag.rows[0]!.definition.environments.development!.enabled).toBe(true);
    expect(audit.rows).toEqual([{ actor_email: 'alarm:checkout-errors', client: 'alarm-rollback', action: 'flag.disabled', environment_key: 'production' }]);
    expect(lines.filter((l) => l.Rollbacks === 1)).toHaveLength(1);
  });

  it('alarm rollback: a link to an environment, project or flag that does not exist fails (retried, then the failure queue), never "already off"', async () => {
    const { metrics, lines } = emfSink('alarm-rollback');
    const handler = createAlarmRollbackHandler(env, { readSecret, metrics, logger: silent });
    const fire = (link: { project: string; flag: string; environment: string }): Promise<unknown> =>
      handler(alarmEvent({ name: 'checkout-errors', description: rollbackDescription(link), state: 'ALARM' }));

    const definition = async (): Promise<unknown> => (await pool.query<{ definition: unknown }>("SELECT definition FROM flags WHERE key = 'new-checkout'")).rows[0]!.definition;
    const before = await definition();

    await expect(fire({ project: 'demo', flag: 'new-checkout', environment: 'prodution' })).rejects.toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining('prodution') as unknown });
    await expect(fire({ project: 'dmeo', flag: 'new-checkout', environment: 'production' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(fire({ project: 'demo', flag: 'new-chekout', environment: 'production' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await definition()).toEqual(before);
    expect(lines.filter((l) => l.Rollbacks === 1)).toHaveLength(0);
  });

  it('alarm rollback: reads an EventBridge "CloudWatch Alarm State Change" event (no Records); an event of neither shape is logged as an error, not a crash', async () => {
    const logged: { level: string; message: string; fields?: Record<string, unknown> }[] = [];
    const logger = {
      info: (message: string, fields?: Record<string, unknown>) => logged.push({ level: 'info', message, ...(fields === undefined ? {} : { fields }) }),
      warn: (message: string, fields?: Record<string, unknown>) => logged.push({ level: 'warn', message, ...(fields === undefined ? {} : { fields }) }),
      error: (message: string, fields?: Record<string, unknown>) => logged.push({ level: 'error', message, ...(fields === undefined ? {} : { fields }) }),
    };
    const handler = createAlarmRollbackHandler(env, { readSecret, metrics: emfSink('alarm-rollback').metrics, logger });
    const description = rollbackDescription({ project: 'demo', flag: 'button-color', environment: 'production' });
    const stateChange = (value: string) => ({
      version: '0',
      id: 'c4c1c1c9-6542-e61b-6ef0-8c4d36933a92',
      'detail-type': 'CloudWatch Alarm State Change',
      source: 'aws.cloudwatch',
      account: '123456789012',
      time: '2026-11-25T12:00:00Z',
      region: 'eu-west-1',
      resources: ['arn:aws:cloudwatch:eu-west-1:123456789012:alarm:checkout-errors'],
      detail: {
        alarmName: 'checkout-errors',
        state: { value, reason: 'Threshold Crossed', timestamp: '2026-11-25T12:00:00.000+0000' },
        previousState: { value: 'OK', reason: '', timestamp: '2026-11-25T11:00:00.000+0000' },
        configuration: { description, metrics: [] },
      },
    });

    const ok = await handler(stateChange('OK'));
    const fired = await handler(stateChange('ALARM'));
    const neither = await handler({ source: 'aws.s3', 'detail-type': 'Object Created', detail: {} });

    expect(ok).toEqual([expect.objectContaining({ kind: 'ignored', reason: 'state is OK' })]);
    // The earlier test switched it off: the link was read, project, flag and environment found.
    expect(fired).toEqual([{ kind: 'already-off', alarm: 'checkout-errors', link: { project: 'demo', flag: 'button-color', environment: 'production' } }]);
    expect(neither).toEqual([expect.objectContaining({ kind: 'ignored' })]);
    expect(logged.filter((l) => l.level === 'error')).toEqual([{ level: 'error', message: expect.stringContaining('not a CloudWatch alarm notification') as unknown, fields: { reason: expect.stringContaining('neither') as unknown } }]);
  });
  it('webhooks: the API registers one; the dispatcher sends a redelivery through the sender function to the receiver, signed', async () => {
    const received: { headers: http.IncomingHttpHeaders; body: string }[] = [];
    const receiver = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(200).end('ok');
      });
    });
    receiver.listen(0, '127.0.0.1');
    await once(receiver, 'listening');
    // Lambda cannot run here: the dispatcher's Lambda client runs the sender's handler in-process,
    // with the JSON round trips the Lambda API makes of the payload and the answer.
    // The receiver is on 127.0.0.1, which the deployed sender refuses (the Lambda runtime API listens on loopback there): send with httpSend.
    const sender = createWebhookSenderHandler({ logger: silent, send: httpSend });
    const invoked: string[] = [];
    const client = {
      send: async (command: InvokeCommand) => {
        invoked.push(command.input.FunctionName ?? '');
        // lambdaSender passes the request as a JSON string.
        const outcome = await sender(JSON.parse(command.input.Payload as string));
        return { Payload: new TextEncoder().encode(JSON.stringify(outcome)) };
      },
    };
    const auth = { authorization: `Bearer ${token}` };
    const base = '/api/v1/projects/demo/webhooks';
    try {
      const created = await api(httpEvent('POST', base, { headers: auth, body: { name: 'lambda test', url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook` } }));
      const { webhook, secret } = json(created.body) as { webhook: { id: string }; secret: string };
      const tested = await api(httpEvent('POST', `${base}/${webhook.id}/test`, { headers: auth }));
      const redelivered = await api(httpEvent('POST', `${base}/${webhook.id}/deliveries/${json(tested.body).id as string}/redeliver`, { headers: auth }));
      const pending = json(redelivered.body) as { id: string; status: string };
      const dispatch = createWebhookDispatchHandler(env, { readSecret, logger: silent, sender: lambdaSender({ functionName: 'xp-test-webhook-sender', client, logger: silent }) });

      // One pass: no time left to poll after it.
      const report = await dispatch({}, { getRemainingTimeInMillis: () => DISPATCH_RESERVE_MS });
      const log = await api(httpEvent('GET', `${base}/${webhook.id}/deliveries`, { headers: auth }));
      const resent = received.find((r) => r.headers['x-xp-delivery'] === pending.id);

      expect(created.statusCode).toBe(201);
      expect(json(tested.body)).toMatchObject({ event: 'webhook.test', status: 'succeeded', statusCode: 200 });
      expect(redelivered.statusCode).toBe(202);
      expect(pending.status).toBe('pending');
      expect(report.delivered).toBeGreaterThanOrEqual(1);
      expect(report.failed + report.retried).toBe(0);
      expect(invoked.length).toBe(report.delivered);
      expect(invoked.every((name) => name === 'xp-test-webhook-sender')).toBe(true);
      expect(resent).toBeDefined();
      expect(verifyWebhookSignature(secret, resent!.body, String(resent!.headers['x-xp-signature']))).toBe(true);
      expect((json(log.body) as { items: { id: string; status: string }[] }).items.find((d) => d.id === pending.id)?.status).toBe('succeeded');
    } finally {
      receiver.closeAllConnections();
      receiver.close();
    }
  });
});
