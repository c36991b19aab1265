/**
 * `xp start` runs the bandit updater on its own timer, beside the guardrail checks and whatever
 * XP_GUARDRAIL_INTERVAL_SECONDS says: a running bandit that is due moves at the next run.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../domain/context.js';
import { ExperimentService } from '../../domain/definitions.js';
import { configFromEnv, startLocalStack } from '../stack.js';
import type { LocalStack } from '../stack.js';

const PASSWORD = 'local bandit test passphrase';

describe('the bandit schedule of xp start', () => {
  let dir: string;
  let stack: LocalStack;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'xp-bandit-'));
    stack = await startLocalStack(
      configFromEnv({ XP_DATA_DIR: dir, XP_API_PORT: '0', XP_CONSOLE_PORT: '0', XP_ADMIN_EMAIL: 'me@example.com', XP_ADMIN_PASSWORD: PASSWORD, XP_DEMO: '0', XP_GUARDRAIL_INTERVAL_SECONDS: '0' }),
      { logger: silentLogger, print: () => undefined },
    );
  });
  afterAll(async () => {
    await stack.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('runs with the guardrail checks off, and looks at every running bandit', async () => {
    const { deps } = stack;
    const owner = (await deps.db.query<{ id: string; org_id: string }>("SELECT id, org_id FROM users WHERE email = 'me@example.com'")).rows[0]!;
    const actor = { userId: owner.id, orgId: owner.org_id, email: 'me@example.com', role: 'owner' as const, client: 'test' };
    await new ExperimentService(deps, deps.now).create(actor, 'demo', {
      key: 'local-bandit',
      name: 'Local bandit',
      variations: [{ key: 'control' }, { key: 'treatment' }],
      metrics: { primary: ['demo-purchase'], secondary: [], guardrails: [] },
      stickyBucketing: { enabled: true },
      status: 'running',
      startedAt: new Date(Date.now() - 2 * 86_400_000).toISOString(),
      bandit: {},
    });

    const report = await stack.bandits.runNow();

    expect(stack.guardrails).toBeUndefined();
    // Due (the burn-in is over) and checked: kept, since no unit was exposed.
    expect(report).toMatchObject({ experiments: 1, checked: 1, moved: [], kept: { insufficient_units: 1 } });
  });
});
