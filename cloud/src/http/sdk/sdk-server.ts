import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { LoginRateLimiter } from '../../auth/rate-limit.js';
import { bootstrap } from '../../domain/bootstrap.js';
import type { Deps } from '../../domain/context.js';
import { silentLogger } from '../../domain/context.js';
import { createServices } from '../../domain/services.js';
import { createKinesisClient, ensureStream, startDynalite, startKinesalite } from '../../local/aws-local.js';
import { createPgliteDatabase, migrate } from '../../store/db.js';
import { createKinesisEventSink, createKinesisPutClient } from '../../store/event-sink.js';
import { createDynamoClient, createDynamoRulesetStore } from '../../store/ruleset-store.js';
import { createApp } from '../app.js';
import { createRulesetNotifier } from './ruleset-notifier.js';

/** A throwaway platform serving the SDK endpoints over HTTP, for benchmarks and load generators. */
export interface EmbeddedSdkServer {
  /** http://127.0.0.1:<port> */
  readonly url: string;
  /** The bootstrapped demo project's development keys. */
  readonly serverKey: string;
  readonly clientKey: string;
  /**
   * The staging server key. In staging, flag `bench-experiment` serves running experiment
   * `bench-experiment` to everyone, so each evaluation of it logs an exposure to the stream.
   */
  readonly experimentServerKey: string;
  close(): Promise<void>;
}

/** The staging flag (and experiment) of the embedded server: evaluations that log exposures. */
export const EMBEDDED_EXPERIMENT_FLAG = 'bench-experiment';
const EMBEDDED_ADMIN = { email: 'sdk-server@example.com', password: randomUUID() };

/** Creates and starts the staging experiment, and the flag serving it, through the management API. */
async function addStagingExperiment(app: ReturnType<typeof createApp>): Promise<void> {
  const call = async (method: string, path: string, token: string | undefined, body: unknown): Promise<unknown> => {
    const res = await app.request(path, {
      method,
      headers: { 'content-type': 'application/json', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) {
      throw new Error(`${method} ${path} answered ${res.status}: ${text.slice(0, 300)}`);
    }
    return text === '' ? undefined : (JSON.parse(text) as unknown);
  };
  const { token } = (await call('POST', '/api/v1/auth/login', undefined, EMBEDDED_ADMIN)) as { token: string };
  const project = '/api/v1/projects/demo';
  const key = EMBEDDED_EXPERIMENT_FLAG;
  const created = (await call('POST', `${project}/experiments`, token, {
    key,
    name: 'Bench experiment',
    environments: ['staging'],
    variations: [{ key: 'control' }, { key: 'treatment' }],
    metrics: { primary: ['demo-purchase'] },
  })) as { version: number };
  await call('POST', `${project}/experiments/${key}/start?version=${created.version}`, token, {});
  await call('POST', `${project}/flags`, token, {
    key,
    name: 'Bench experiment',
    type: 'string',
    variations: [
      { key: 'control', value: 'control' },
      { key: 'treatment', value: 'treatment' },
    ],
    environments: { staging: { enabled: true, defaultVariation: 'control', offVariation: 'control', rules: [{ id: 'experiment', type: 'experiment', experiment: key }] } },
  });
}

/**
 * Starts the real app (in-memory PGlite, in-process dynalite and kinesalite, @hono/node-server on
 * 127.0.0.1) with the SDK endpoints mounted, the demo project bootstrapped, and a staging
 * experiment (EMBEDDED_EXPERIMENT_FLAG).
 */
export async function startEmbeddedSdkServer(): Promise<EmbeddedSdkServer> {
  const db = await createPgliteDatabase();
  await migrate(db);
  const dynalite = await startDynalite();
  const kinesalite = await startKinesalite();
  const dynamo = createDynamoClient(dynalite.endpoint);
  const kinesis = createKinesisClient(kinesalite.endpoint);
  const putter = createKinesisPutClient(kinesalite.endpoint);
  const rulesets = createDynamoRulesetStore({ client: dynamo, tableName: 'xp-rulesets' });
  await rulesets.ensureTable();
  await ensureStream(kinesis, 'xp-events', 1);
  const deps: Deps = {
    db,
    rulesets,
    now: () => new Date(),
    newId: () => randomUUID(),
    logger: silentLogger,
    events: createKinesisEventSink({ client: putter, streamName: 'xp-events' }),
    notifier: createRulesetNotifier(),
  };
  const services = createServices(deps, { limiter: LoginRateLimiter.inMemory() });
  const boot = await bootstrap(deps, { adminEmail: EMBEDDED_ADMIN.email, adminPassword: EMBEDDED_ADMIN.password });
  const keys = boot.sdkKeys?.development;
  const staging = boot.sdkKeys?.staging;
  if (keys === undefined || staging === undefined) {
    throw new Error('bootstrap created no development and staging SDK keys');
  }
  const app = createApp(services);
  await addStagingExperiment(app);
  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => {
      resolve(s);
    });
    s.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    serverKey: keys.server,
    clientKey: keys.client,
    experimentServerKey: staging.server,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
        if ('closeAllConnections' in server) {
          server.closeAllConnections();
        }
      });
      dynamo.destroy();
      kinesis.destroy();
      putter.destroy();
      await kinesalite.close();
      await dynalite.close();
      await db.close();
    },
  };
}
