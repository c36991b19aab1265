import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PlatformKey } from '../../auth/platform-key.js';
import { startDynalite } from '../../local/aws-local.js';
import type { Database } from '../../store/db.js';
import { createDynamoClient, createDynamoRulesetStore } from '../../store/ruleset-store.js';
import { postgresTarget } from '../../store/__tests__/test-databases.js';
import { TEST_SCRYPT } from '../../http/__tests__/harness.js';
import { bootstrap } from '../bootstrap.js';
import type { Deps } from '../context.js';
import { silentLogger } from '../context.js';

// Replicas rolled out together on a new database each make a first start: exactly one bootstraps.
describe('two first starts on one PostgreSQL database at once', () => {
  const target = postgresTarget();
  let db: Database;
  let stopDynalite: () => Promise<void>;
  let deps: Deps;

  beforeAll(async () => {
    db = await target.open();
    const dynamo = await startDynalite();
    stopDynalite = () => dynamo.close();
    const rulesets = createDynamoRulesetStore({ client: createDynamoClient(dynamo.endpoint), tableName: `rulesets-${randomUUID()}` });
    await rulesets.ensureTable();
    deps = { db, rulesets, now: () => new Date('2026-12-04T12:00:00Z'), newId: () => randomUUID(), logger: silentLogger, platformKey: PlatformKey.generate() };
  });
  afterAll(async () => {
    await target.dispose();
    await stopDynalite();
  });

  it('bootstraps once: the other start finds the organisation instead of failing on the owner it also tried to create', async () => {
    const options = { adminEmail: 'owner@example.com', adminPassword: 'correct horse battery staple', scrypt: TEST_SCRYPT };

    const results = await Promise.all([bootstrap(deps, options), bootstrap(deps, options), bootstrap(deps, options)]);

    expect(results.map((r) => r.created).sort()).toEqual([false, false, true]);
    const counts = await db.query<{ orgs: number; users: number; projects: number }>(
      'SELECT (SELECT count(*)::int FROM organizations) AS orgs, (SELECT count(*)::int FROM users) AS users, (SELECT count(*)::int FROM projects) AS projects',
    );
    expect(counts.rows[0]).toEqual({ orgs: 1, users: 1, projects: 1 });
  });
});
