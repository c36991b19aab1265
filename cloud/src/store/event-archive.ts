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
import { mkdir, readFile, readdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { gunzip as gunzipCb, gzip as gzipCb } from 'node:zlib';
import type { PipelineEvent } from '@xp/shared';
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
  readonly logger?: Logger;
}

/** Buffers events per hour partition and writes each buffer as one gzip object. */
export class LocalEventArchive {
  readonly root: string;
  readonly #buffers = new Map<string, string[]>();
  readonly #maxBytes: number;
  readonly #logger: Logger | undefined;
  readonly #timer: NodeJS.Timeout;
  #bytes = 0;
  #writing: Promise<void> = Promise.resolve();
  /** Objects written so far. */
  files = 0;

  constructor(options: LocalArchiveOptions) {
    this.root = options.root;
    this.#maxBytes = options.maxBufferBytes ?? 5 * 1024 * 1024;
    this.#logger = options.logger;
    this.#timer = setInterval(() => void this.flush(), options.flushIntervalMs ?? 10_000);
    this.#timer.unref();
  }

  append(events: readonly PipelineEvent[]): void {
    for (const e of events) {
      const line = JSON.stringify(e);
      const partition = partitionOf(e.receivedAt);
      const buffer = this.#buffers.get(partition) ?? [];
      buffer.push(line);
      this.#buffers.set(partition, buffer);
      this.#bytes += line.length + 1;
    }
    if (this.#bytes >= this.#maxBytes) {
      void this.flush();
    }
  }

  /** Writes everything buffered; resolves when it is on disk. Never rejects (failures are logged and kept for the next flush). */
  flush(): Promise<void> {
    const buffers = [...this.#buffers];
    this.#buffers.clear();
    this.#bytes = 0;
    this.#writing = this.#writing.then(async () => {
      for (const [partition, lines] of buffers) {
        try {
          await this.#write(partition, lines);
        } catch (error) {
          this.#logger?.warn('archive: write failed; retrying at the next flush', { partition, events: lines.length, error: error instanceof Error ? error.message : String(error) });
          const again = this.#buffers.get(partition) ?? [];
          this.#buffers.set(partition, [...lines, ...again]);
          this.#bytes += lines.reduce((n, l) => n + l.length + 1, 0);
        }
      }
    });
    return this.#writing;
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.flush();
  }

  async #write(partition: string, lines: readonly string[]): Promise<void> {
    const dir = path.join(this.root, partition);
    await mkdir(dir, { recursive: true });
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const file = path.join(dir, `xp-events-${stamp}-${randomUUID()}.jsonl.gz`);
    // Written under a temporary name and renamed, so readers never see half an object.
    await writeFile(`${file}.tmp`, await gzip(`${lines.join('\n')}\n`));
    await rename(`${file}.tmp`, file);
    this.files++;
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
