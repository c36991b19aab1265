import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readArchivedEvents } from '../../pipeline/replay.js';
import { partitionOf } from '../event-archive.js';
import { parseS3Url, s3Archive } from '../s3-archive.js';

// S3 itself cannot run here: s3rver, an S3-compatible server, answers the real S3 protocol that the
// AWS SDK client speaks (ListObjectsV2 with continuation tokens, GetObject).
const BUCKET = 'xp-archive-test';
const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 10, 25, 10, 0, 0);

const event = (id: string, receivedAt: number, experiment = 'checkout') => ({
  v: 1,
  projectId: 'p1',
  environment: 'production',
  receivedAt,
  occurredAt: receivedAt,
  event: { type: 'exposure', id, unitId: `u-${id}`, timestamp: receivedAt, experiment, variation: 'control' },
});

describe('the event archive read from S3 (s3rver)', () => {
  let dir: string;
  let server: S3rver;
  let client: S3Client;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'xp-s3-'));
    server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: dir, configureBuckets: [{ name: BUCKET }] });
    const { port } = await server.run();
    client = new S3Client({ endpoint: `http://127.0.0.1:${port}`, forcePathStyle: true, region: 'us-east-1', credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
    const put = (key: string, lines: string[]) => client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: gzipSync(lines.join('\n')) }));
    // Firehose's layout under the CDK app's prefix: two objects in one hour, one the next hour, one
    // far outside the window, a line that is not JSON, and a repeated event id.
    await put(`archive/events/${partitionOf(T0)}/xp-archive-1-2026-11-25-10-00-01-a.gz`, [JSON.stringify(event('evt-0001', T0 + 1_000)), JSON.stringify(event('evt-0002', T0 + 2_000))]);
    await put(`archive/events/${partitionOf(T0)}/xp-archive-1-2026-11-25-10-05-00-b.gz`, [JSON.stringify(event('evt-0002', T0 + 2_000)), '{not json', JSON.stringify(event('evt-0003', T0 + 300_000, 'other'))]);
    await put(`archive/events/${partitionOf(T0 + HOUR)}/xp-archive-1-2026-11-25-11-00-00-c.gz`, [JSON.stringify(event('evt-0004', T0 + HOUR + 5))]);
    await put(`archive/events/${partitionOf(T0 + 48 * HOUR)}/late.gz`, [JSON.stringify(event('evt-0005', T0 + 48 * HOUR))]);
    for (let i = 0; i < 3; i++) {
      await put(`archive/events/${partitionOf(T0)}/zz-page-${i}.txt`, ['not an archive object']);
    }
  });
  afterAll(async () => {
    client.destroy();
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('lists the objects of the window in arrival order and reads their events once each', async () => {
    const source = s3Archive(`s3://${BUCKET}/archive/events`, client);
    const progress: string[] = [];

    const read = await readArchivedEvents({ archive: source, from: new Date(T0), to: new Date(T0 + 2 * HOUR), progress: (l) => progress.push(l) });

    expect(read.files).toBe(3);
    expect(read.events.map((e) => e.event.id)).toEqual(['evt-0001', 'evt-0002', 'evt-0003', 'evt-0004']);
    expect(read.invalid).toBe(1);
    expect(progress.at(-1)).toBe('read 3/3 files, 4 events');
  });

  it('keeps to the window and the experiment', async () => {
    const source = s3Archive(`s3://${BUCKET}/archive/events/`, client);

    const read = await readArchivedEvents({ archive: source, from: new Date(T0), to: new Date(T0 + 10 * 60_000), experiment: 'checkout' });

    expect(read.events.map((e) => e.event.id)).toEqual(['evt-0001', 'evt-0002']);
  });

  it('follows ListObjectsV2 continuation tokens', async () => {
    // s3rver answers a continuation request with an internal error, so the paging is checked
    // against a client that serves the real listing two keys per page.
    const tokens: (string | undefined)[] = [];
    const paging = {
      send: async (command: { input: { Prefix?: string; ContinuationToken?: string } }) => {
        tokens.push(command.input.ContinuationToken);
        const all = (await client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: command.input.Prefix }))).Contents ?? [];
        const start = Number(command.input.ContinuationToken ?? '0');
        const more = start + 2 < all.length;
        return { Contents: all.slice(start, start + 2), IsTruncated: more, ...(more ? { NextContinuationToken: String(start + 2) } : {}) };
      },
    };

    const keys = await s3Archive(`s3://${BUCKET}/archive/events`, paging as never).objects(new Date(T0), new Date(T0 + 30 * 60_000));

    // Partitions from the hour before to the hour after the window; the reader then keeps to it.
    expect(keys.map((k) => k.split('/').at(-1))).toEqual(['xp-archive-1-2026-11-25-10-00-01-a.gz', 'xp-archive-1-2026-11-25-10-05-00-b.gz', 'xp-archive-1-2026-11-25-11-00-00-c.gz']);
    expect(tokens.filter((t) => t !== undefined)).toEqual(['2', '4']);
  });

  it('refuses what is not an s3:// URL', () => {
    expect(parseS3Url('s3://bucket-name')).toEqual({ bucket: 'bucket-name', prefix: '' });
    expect(parseS3Url('s3://bucket-name/a/b')).toEqual({ bucket: 'bucket-name', prefix: 'a/b/' });
    expect(() => parseS3Url('https://bucket/x')).toThrow('is not an s3://bucket/prefix URL');
  });
});
