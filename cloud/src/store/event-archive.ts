/**
 * The raw event archive in Kinesis Data Firehose's layout, so one reader serves both: locally the
 * stack appends every accepted event here; in AWS a Firehose delivery stream writes the same layout
 * to S3 (cloud/src/infra/pipeline-stack.ts).
 *
 *   <root>/year=YYYY/month=MM/day=DD/hour=HH/<name>.jsonl.gz   (UTC, by arrival time)
 *
 * Each object is gzip of newline-delimited PipelineEvent JSON (the Kinesis record payloads).
 */
import { randomUUID } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, readdirSync, unlinkSync, writeSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { gunzip as gunzipCb, gzip as gzipCb } from 'node:zlib';
import type { PipelineRecord } from '@xp/shared';
import type { Logger } from '../domain/context.js';
import type { EventSink } from './event-sink.js';

const gzip = promisify(gzipCb);
const gunzip = promisify(gunzipCb);
const HOUR_MS = 3_600_000;

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

/** `year=YYYY/month=MM/day=DD/hour=HH` of an instant (UTC). */
export function partitionOf(epochMs: number): string {
  const d = new Date(epochMs);
  return `year=${d.getUTCFullYear()}/month=${pad(d.getUTCMonth() + 1)}/day=${pad(d.getUTCDate())}/hour=${pad(d.getUTCHours())}`;
}

export interface LocalArchiveOptions {
  /** The archive root, e.g. `<data dir>/archive/events`. */
  readonly root: string;
  /** Flush buffered events at least this often (Firehose's buffering interval). Default 10 s. */
  readonly flushIntervalMs?: number;
  /** Flush as soon as this many bytes are buffered (Firehose's buffering size). Default 5 MB. */
  readonly maxBufferBytes?: number;
  /** Where buffered events are journaled until their object is written. Default `<root>.journal`. */
  readonly journal?: string;
  readonly logger?: Logger;
}

/**
 * Buffers events per hour partition and writes each buffer as one gzip object. What is buffered is
 * also appended, as it arrives, to a journal file beside the archive, deleted once its events are in
 * objects: a process killed between two flushes (SIGKILL, a crash) leaves its journal, which the next
 * archive on the same folder writes out first. Otherwise up to 10 s of accepted events (a tester's
 * kill: 1,035) were counted in the database but missing from the archive a replay rebuilds from.
 * The journal is written before the events are acknowledged, without fsync: it survives the
 * process, not the machine. When the folder cannot be written (a full disk, a read-only mount) the
 * events are still accepted — they are in the stream and counted — but the archive misses them:
 * `state()` says so from the first failure until a flush writes everything again (the Health view
 * is degraded meanwhile), and close() logs how many it could not write.
 */
export class LocalEventArchive {
  readonly root: string;
  readonly #buffers = new Map<string, string[]>();
  readonly #maxBytes: number;
  readonly #logger: Logger | undefined;
  readonly #timer: NodeJS.Timeout;
  readonly #journalDir: string;
  /** The journal file appends go to, and its descriptor (opened by the first append after a flush). */
  #journal: { readonly file: string; readonly fd: number } | undefined;
  /** Journal files whose events are in the buffers: deleted once a flush has written them all. */
  #sealed: string[] = [];
  #bytes = 0;
  #writing: Promise<void> = Promise.resolve();
  /** Objects written so far. */
  files = 0;
  /** Events recovered at start from the journal of a process that did not stop cleanly. */
  readonly recovered: number;
  /** Since when writes have been failing (epoch ms) and what the last failure said; undefined while they work. */
  #failure: { readonly sinceMs: number; error: string } | undefined;

  constructor(options: LocalArchiveOptions) {
    this.root = options.root;
    this.#maxBytes = options.maxBufferBytes ?? 5 * 1024 * 1024;
    this.#logger = options.logger;
    this.#journalDir = options.journal ?? `${options.root}.journal`;
    mkdirSync(this.#journalDir, { recursive: true, mode: 0o700 });
    this.recovered = this.#recover();
    removeUnfinishedObjects(this.root, this.#logger);
    if (this.recovered > 0) {
      void this.flush();
    }
    this.#timer = setInterval(() => void this.flush(), options.flushIntervalMs ?? 10_000);
    this.#timer.unref();
  }

  append(events: readonly PipelineRecord[]): void {
    const lines = events.map((e) => JSON.stringify(e));
    if (lines.length === 0) {
      return;
    }
    try {
      if (this.#journal === undefined) {
        const file = path.join(this.#journalDir, `${Date.now()}-${randomUUID()}.jsonl`);
        this.#journal = { file, fd: openSync(file, 'a', 0o600) };
      }
      writeFully(this.#journal.fd, Buffer.from(`${lines.join('\n')}\n`, 'utf8'));
    } catch (error) {
      // The events are still buffered and will be archived by the next flush; only a crash before it would lose them.
      this.#failed(error);
      this.#logger?.error('archive: journal write failed; the events are counted, but a crash before the next flush would leave them out of the archive', { events: lines.length, error: this.#failure?.error });
    }
    events.forEach((e, i) => {
      this.#buffer(partitionOf(e.receivedAt), lines[i]!);
    });
    if (this.#bytes >= this.#maxBytes) {
      void this.flush();
    }
  }

  /** Writes everything buffered; resolves when it is on disk. Never rejects (failures are logged and kept for the next flush). */
  flush(): Promise<void> {
    const buffers = [...this.#buffers];
    this.#buffers.clear();
    this.#bytes = 0;
    const sealed = [...this.#sealed];
    if (this.#journal !== undefined) {
      closeSync(this.#journal.fd);
      sealed.push(this.#journal.file);
      this.#journal = undefined;
    }
    this.#sealed = [];
    this.#writing = this.#writing.then(async () => {
      let failed = false;
      for (const [partition, lines] of buffers) {
        try {
          await this.#write(partition, lines);
        } catch (error) {
          failed = true;
          this.#failed(error);
          this.#logger?.warn('archive: write failed; retrying at the next flush', { partition, events: lines.length, error: error instanceof Error ? error.message : String(error) });
          const again = this.#buffers.get(partition) ?? [];
          this.#buffers.set(partition, [...lines, ...again]);
          this.#bytes += lines.reduce((n, l) => n + l.length + 1, 0);
        }
      }
      if (failed) {
        // Kept until a flush writes what they hold (a crash before then recovers them, some twice: replay dedupes).
        this.#sealed.push(...sealed);
        return;
      }
      if (this.#failure !== undefined && this.#buffers.size === 0) {
        this.#logger?.info('archive: writes work again', { failedForSeconds: Math.round((Date.now() - this.#failure.sinceMs) / 1000) });
        this.#failure = undefined;
      }
      for (const file of sealed) {
        try {
          unlinkSync(file);
        } catch {
          // Already gone: nothing to keep.
        }
      }
    });
    return this.#writing;
  }

  #buffer(partition: string, line: string): void {
    const buffer = this.#buffers.get(partition) ?? [];
    buffer.push(line);
    this.#buffers.set(partition, buffer);
    this.#bytes += line.length + 1;
  }

  /** Buffers the events of journals left by a process that did not flush them; they go out with the first flush. */
  #recover(): number {
    let events = 0;
    for (const name of readdirSync(this.#journalDir).filter((n) => n.endsWith('.jsonl')).sort()) {
      const file = path.join(this.#journalDir, name);
      for (const line of readFileSync(file, 'utf8').split('\n')) {
        try {
          const event = JSON.parse(line) as Partial<PipelineRecord> | null;
          if (typeof event?.receivedAt === 'number') {
            this.#buffer(partitionOf(event.receivedAt), line);
            events++;
          }
        } catch {
          // An empty line, or the last one cut short by the kill: nothing was acknowledged from it.
        }
      }
      this.#sealed.push(file);
    }
    if (events > 0) {
      this.#logger?.warn('archive: recovered events the last run had not written (it did not stop cleanly)', { events });
    }
    return events;
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.flush();
    const unwritten = this.unarchived();
    if (unwritten > 0) {
      this.#logger?.error('archive: stopped with accepted events it could not write; they are counted, and a journal left in the folder is written at the next start, but a replay of this window may miss them', {
        events: unwritten,
        error: this.#failure?.error,
      });
    }
  }

  /** Accepted events still waiting to be written to an archive object. */
  unarchived(): number {
    let n = 0;
    for (const lines of this.#buffers.values()) {
      n += lines.length;
    }
    return n;
  }

  /** Whether writes are failing (for the Health view): since when and why; nulls while they work. */
  state(): { readonly failingSinceMs: number | null; readonly lastError: string | null } {
    return { failingSinceMs: this.#failure?.sinceMs ?? null, lastError: this.#failure?.error ?? null };
  }

  #failed(error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    if (this.#failure === undefined) {
      this.#failure = { sinceMs: Date.now(), error: message };
    } else {
      this.#failure.error = message;
    }
  }

  async #write(partition: string, lines: readonly string[]): Promise<void> {
    const dir = path.join(this.root, partition);
    await mkdir(dir, { recursive: true });
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const file = path.join(dir, `xp-events-${stamp}-${randomUUID()}.jsonl.gz`);
    // Written under a temporary name and renamed, so readers never see half an object. A write that
    // fails (a full disk) leaves no part behind: its events stay buffered and journaled.
    const data = await gzip(`${lines.join('\n')}\n`);
    try {
      await writeFile(`${file}.tmp`, data);
      await rename(`${file}.tmp`, file);
    } catch (error) {
      await unlink(`${file}.tmp`).catch(() => undefined);
      throw error;
    }
    this.files++;
  }
}

/** The suffix of an archive object being written: renamed to `.jsonl.gz` once whole. */
const UNFINISHED = '.jsonl.gz.tmp';

/**
 * Deletes the half-written objects (`*.jsonl.gz.tmp`) a process killed while writing left in the
 * archive (the data folder's lock makes this the only writer at start). Their events are not lost:
 * an object's journal is deleted only after it was renamed, so the journal recovered just before
 * writes them again. Readers (xp replay) skip them anyway: they read only `*.gz`.
 */
export function removeUnfinishedObjects(root: string, logger?: Logger): number {
  let names: string[];
  try {
    names = readdirSync(root, { recursive: true, encoding: 'utf8' });
  } catch {
    return 0; // no archive yet
  }
  let removed = 0;
  for (const name of names.filter((n) => n.endsWith(UNFINISHED))) {
    try {
      unlinkSync(path.join(root, name));
      removed++;
    } catch (error) {
      logger?.warn('archive: could not delete a half-written object left by a killed process', { file: path.join(root, name), error: error instanceof Error ? error.message : String(error) });
    }
  }
  if (removed > 0) {
    logger?.info('archive: deleted half-written objects left by a process that did not stop cleanly (their events are written again from its journal)', { files: removed });
  }
  return removed;
}

/** Writes all of `data` (one writeSync may write less, as on a nearly full disk); throws if it cannot. */
function writeFully(fd: number, data: Buffer): void {
  for (let offset = 0; offset < data.length; ) {
    const written = writeSync(fd, data, offset, data.length - offset);
    if (written <= 0) {
      throw new Error(`the journal took ${String(offset)} of ${String(data.length)} bytes`);
    }
    offset += written;
  }
}

/** A sink that archives what the inner sink accepted (as Firehose archives what Kinesis holds). */
export function archivingEventSink(inner: EventSink, archive: LocalEventArchive): EventSink {
  return {
    // What the stream accepted is archived, also when the put fails for the rest: the aggregator
    // applies those events, so a replay from the archive must see them too.
    put: (events, stored) =>
      inner.put(events, (accepted) => {
        archive.append(accepted);
        stored?.(accepted);
      }),
  };
}

/** One line of the archive: a parsed JSON value, or why it could not be read. */
export type ArchiveLine = { readonly ok: true; readonly value: unknown; readonly text: string } | { readonly ok: false; readonly reason: string; readonly file: string };

/** Hour partitions from the hour before `from` to the hour after `to` (arrival times may straddle a boundary). */
export function partitionsBetween(from: Date, to: Date): string[] {
  const out: string[] = [];
  const start = Math.floor(from.getTime() / HOUR_MS) * HOUR_MS - HOUR_MS;
  for (let t = start; t <= to.getTime() + HOUR_MS; t += HOUR_MS) {
    out.push(partitionOf(t));
  }
  return out;
}

/** Files of the partitions in [from, to], sorted by name (arrival order within an hour). */
export async function archiveFiles(root: string, from: Date, to: Date): Promise<string[]> {
  const files: string[] = [];
  for (const partition of partitionsBetween(from, to)) {
    const dir = path.join(root, partition);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        continue;
      }
      throw error;
    }
    files.push(...names.filter((n) => n.endsWith('.gz')).sort().map((n) => path.join(dir, n)));
  }
  return files;
}

/** Every line of one archive object (gzip of newline-delimited JSON; Firehose may omit the last newline). */
export async function readArchiveFile(file: string): Promise<ArchiveLine[]> {
  return parseArchiveObject(await readFile(file), file);
}

/** The lines of an archive object's bytes; `name` says where they came from in unreadable lines. */
export async function parseArchiveObject(bytes: Uint8Array, name: string): Promise<ArchiveLine[]> {
  const text = (await gunzip(bytes)).toString('utf8');
  const out: ArchiveLine[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      continue;
    }
    try {
      out.push({ ok: true, value: JSON.parse(line) as unknown, text: line });
    } catch {
      out.push({ ok: false, reason: 'not JSON', file: name });
    }
  }
  return out;
}

/** Where replay reads the archive from: a local folder, or the Firehose bucket (store/s3-archive.ts). */
export interface ArchiveSource {
  /** For progress lines: the folder or s3:// URL. */
  readonly location: string;
  /** Objects of the partitions around [from, to], in arrival order. */
  objects(from: Date, to: Date): Promise<string[]>;
  lines(object: string): Promise<ArchiveLine[]>;
}

/** The archive in a local folder (`<data dir>/archive/events`, or a copy of the bucket). */
export function localArchive(root: string): ArchiveSource {
  return { location: root, objects: (from, to) => archiveFiles(root, from, to), lines: readArchiveFile };
}
