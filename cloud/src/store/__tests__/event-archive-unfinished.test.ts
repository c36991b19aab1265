/**
 * Half-written archive objects (`*.jsonl.gz.tmp`) a process killed while writing leaves behind are
 * deleted at the next start, after its journal was recovered (which writes those events again);
 * `xp replay` never reads them.
 */
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalEventArchive, archiveFiles, partitionOf, readArchiveFile } from '../event-archive.js';

const AT = Date.UTC(2026, 0, 2, 3, 30);

describe('half-written archive objects', () => {
  it('are deleted at start, after the journal is recovered, and were never read by a replay', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'xp-archive-tmp-'));
    const journal = `${root}.journal`;
    try {
      const partition = path.join(root, partitionOf(AT));
      await mkdir(partition, { recursive: true });
      // A kill -9 during a flush: the object's .tmp is half written, its journal still there.
      const line = JSON.stringify({ v: 1, projectId: 'p', environment: 'e', receivedAt: AT, event: { id: 'evt-1' } });
      await writeFile(path.join(partition, 'xp-events-2026-01-02T03-30-00-000Z-x.jsonl.gz.tmp'), 'half a gzip');
      await mkdir(journal, { recursive: true });
      await writeFile(path.join(journal, `${AT}-x.jsonl`), `${line}\n`);
      const window = [new Date(AT - 3_600_000), new Date(AT + 3_600_000)] as const;
      expect(await archiveFiles(root, ...window)).toEqual([]); // a replay skips it

      const infos: string[] = [];
      const logger = { info: (m: string) => void infos.push(m), warn: () => undefined, error: () => undefined };
      const archive = new LocalEventArchive({ root, flushIntervalMs: 60_000, logger });
      await archive.close();

      expect(archive.recovered).toBe(1);
      const names = await readdir(partition);
      expect(names.filter((n) => n.endsWith('.tmp'))).toEqual([]);
      const files = await archiveFiles(root, ...window);
      expect(files).toHaveLength(1);
      expect((await readArchiveFile(files[0]!)).map((l) => (l.ok ? (l.value as { event: { id: string } }).event.id : l.reason))).toEqual(['evt-1']);
      expect(infos).toContain('archive: deleted half-written objects left by a process that did not stop cleanly (their events are written again from its journal)');
    } finally {
      await rm(root, { recursive: true, force: true });
      await rm(journal, { recursive: true, force: true });
    }
  });
});
