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
  close(): Promise<void>;
}

/**
 * Starts the real app (in-memory PGlite, in-process dynalite and kinesalite, @hono/node-server on
 * 127.0.0.1) with the SDK endpoints mounted and the demo project bootstrapped.
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
  const boot = await bootstrap(deps, { adminEmail: 'sdk-server@example.com' });
  const keys = boot.sdkKeys?.development;
  if (keys === undefined) {
    throw new Error('bootstrap created no development SDK keys');
  }
  const app = createApp(services);
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
