import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PipelineEvent } from '@xp/shared';
import { postgresTarget } from '../../store/__tests__/test-databases.js';
import type { Database } from '../../store/db.js';
import { recordExplorerEvents } from '../../store/explorer.js';
import { explorerStreamReader } from '../routes/explorer.js';

const PROJECT = 'stream-project';

const track = (id: string, unitId = 'u1'): PipelineEvent => ({
  v: 1,
  projectId: PROJECT,
  environment: 'production',
  receivedAt: Date.parse('2026-11-30T10:00:00Z'),
  occurredAt: Date.parse('2026-11-30T10:00:00Z'),
  event: { id, type: 'track', unitId, timestamp: Date.parse('2026-11-30T10:00:00Z'), name: 'purchase' },
});

/**
 * The explorer's stream reader against concurrent aggregator transactions on the real server:
 * sequence numbers are taken at insert, so a transaction can commit after a larger number was sent.
 */
describe('event stream and late commits', () => {
  const target = postgresTarget();
  let db: Database;

  beforeAll(async () => {
    db = await target.open();
    // The explorer keeps events of projects that exist (a deleted project's are dropped).
    await db.query(`INSERT INTO organizations (id, name) VALUES ('stream-org', 'Org')`);
    await db.query(`INSERT INTO projects (id, org_id, key, name) VALUES ($1, 'stream-org', $1, $1)`, [PROJECT]);
  });
  afterAll(async () => {
    await target.dispose();
  });

  it('sends an event whose transaction committed after a later event was sent, once', async () => {
    let clock = 0;
    const read = explorerStreamReader(db, PROJECT, {}, () => clock);
    let commitSlow!: () => void;
    const slowMayCommit = new Promise<void>((resolve) => {
      commitSlow = resolve;
    });
    let slowInserted!: () => void;
    const slowHasInserted = new Promise<void>((resolve) => {
      slowInserted = resolve;
    });
    // Batch A takes its sequence number first and commits last.
    const slow = db.withTransaction(async (tx) => {
      await recordExplorerEvents(tx, [track('early-id')]);
      slowInserted();
      await slowMayCommit;
    });
    await slowHasInserted;
    await db.withTransaction((tx) => recordExplorerEvents(tx, [track('later-id')]));

    const first = await read(0, 10);
    expect(first.map((e) => e.id)).toEqual(['later-id']);
    const cursor = first[0]!.seq;

    commitSlow();
    await slow;
    clock = 1_000;
    const second = await read(cursor, 10);
    expect(second.map((e) => e.id)).toEqual(['early-id']);
    expect(second[0]!.seq).toBeLessThan(cursor);
    clock = 2_000;
    expect(await read(cursor, 10)).toEqual([]);
  });
});
