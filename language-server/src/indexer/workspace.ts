import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import ignore from 'ignore';
import type { Ignore } from 'ignore';
import type { FileIndex } from './extract.js';
import { extractReferences, MethodTable } from './extract.js';
import { scanReferences } from './fast-scan.js';
import type { WorkerBatch, WorkerInput } from './index-worker.js';
import { grammarFor } from './parser.js';
import type { FlagReference, Language } from './types.js';
import { languageOf } from './types.js';

export interface IndexerOptions {
  /** Extra function names whose first argument is a flag key. */
  readonly wrapperFunctions?: readonly string[];
  /** Files larger than this many characters are skipped (generated or vendored code). */
  readonly maxFileSize?: number;
  /** Worker threads for the cold index (1: in this thread). Default 1. */
  readonly workers?: number;
  /**
   * Try the lexical scanner before the tree-sitter parse (default true). False parses every
   * candidate file: the reference path the equivalence test compares against.
   */
  readonly fastPath?: boolean;
}

export interface IndexProgress {
  readonly done: number;
  readonly total: number;
}

/** Cooperative cancellation: checked between batches. */
export interface CancellationFlag {
  readonly isCancellationRequested: boolean;
}

export const DEFAULT_MAX_FILE_SIZE = 1_000_000;
const ALWAYS_SKIPPED = new Set(['.git', 'node_modules', '.hg', '.svn']);
const BATCH = 100;

interface IgnoreLayer {
  readonly base: string;
  readonly rules: Ignore;
}

/** Source files under `root` that .gitignore files (at any depth) do not exclude. */
export function listSourceFiles(root: string): string[] {
  const files: string[] = [];
  const walk = (dir: string, layers: readonly IgnoreLayer[]): void => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    let here = layers;
    if (entries.some((e) => e.name === '.gitignore' && e.isFile())) {
      try {
        here = [...layers, { base: dir, rules: ignore().add(readFileSync(path.join(dir, '.gitignore'), 'utf8')) }];
      } catch {
        // An unreadable .gitignore excludes nothing.
      }
    }
    // Concatenation rather than path.join: `dir` is already normal, and this runs once per entry.
    const prefix = dir.endsWith(path.sep) ? dir : dir + path.sep;
    for (const e of entries) {
      if (ALWAYS_SKIPPED.has(e.name)) {
        continue;
      }
      const full = prefix + e.name;
      const isDir = e.isDirectory();
      if (!isDir && !e.isFile()) {
        continue;
      }
      if (!isDir && languageOf(e.name) === undefined) {
        continue;
      }
      const ignored = here.some((l) => {
        const rel = path.relative(l.base, full).split(path.sep).join('/');
        return l.rules.ignores(isDir ? `${rel}/` : rel);
      });
      if (ignored) {
        continue;
      }
      if (isDir) {
        walk(full, here);
      } else {
        files.push(full);
      }
    }
  };
  walk(path.resolve(root), []);
  return files;
}

/** The flag references of a workspace, kept per file so one file is re-indexed alone. */
export class WorkspaceIndex {
  private readonly files = new Map<string, FileIndex>();
  private methods: MethodTable;
  private readonly maxFileSize: number;
  private readonly workers: number;
  private readonly fastPath: boolean;
  /** Files settled by the scanner and files parsed, since construction. */
  readonly stats = { scanned: 0, parsed: 0 };
  private wrappers: readonly string[];

  constructor(
    readonly root: string,
    options: IndexerOptions = {},
  ) {
    this.wrappers = options.wrapperFunctions ?? [];
    this.methods = new MethodTable(this.wrappers);
    this.maxFileSize = options.maxFileSize ?? DEFAULT_MAX_FILE_SIZE;
    this.workers = Math.max(1, Math.floor(options.workers ?? 1));
    this.fastPath = options.fastPath ?? true;
  }

  setWrapperFunctions(names: readonly string[]): void {
    this.wrappers = names;
    this.methods = new MethodTable(names);
  }

  /**
   * Indexes every source file; yields to the event loop between batches and stops when cancelled.
   * This thread reads each file and settles it by the pre-filter or the lexical scanner, and parses
   * only the files the scanner hands over. With `workers` > 1, worker threads take interleaved
   * shares of the files (the same two steps each) while this thread does its own share.
   */
  async indexAll(onProgress?: (p: IndexProgress) => void, cancel?: CancellationFlag): Promise<boolean> {
    const files = listSourceFiles(this.root);
    onProgress?.({ done: 0, total: files.length });
    // Workers run the compiled indexer; from TypeScript sources (tests) this thread does the work.
    const workerScript = fileURLToPath(new URL('./index-worker.js', import.meta.url));
    const shares = this.workers > 1 && files.length >= 2 * BATCH && existsSync(workerScript) ? Math.min(this.workers, Math.ceil(files.length / BATCH)) : 1;
    let done = 0;
    const progress = (n: number): void => {
      done += n;
      onProgress?.({ done, total: files.length });
    };
    const share = (w: number): string[] => (shares === 1 ? files : files.filter((_f, i) => i % shares === w));
    const inWorkers = shares > 1 ? this.indexInWorkers(workerScript, Array.from({ length: shares - 1 }, (_, w) => share(w + 1)), progress, cancel) : Promise.resolve(true);
    // A rejected worker promise is awaited below; this keeps it from being reported as unhandled meanwhile.
    inWorkers.catch(() => undefined);
    const mine = share(0);
    const toParse: { file: string; text: string }[] = [];
    let cancelled = false;
    for (let i = 0; i < mine.length; i += BATCH) {
      if (cancel?.isCancellationRequested === true) {
        cancelled = true;
        break;
      }
      const batch = mine.slice(i, i + BATCH);
      let settled = 0;
      for (const file of batch) {
        let text: string;
        try {
          text = readFileSync(file, 'utf8');
        } catch {
          settled++;
          continue;
        }
        if (this.indexWithoutParse(file, text) === undefined) {
          toParse.push({ file, text });
        } else {
          settled++;
        }
      }
      progress(settled);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    for (let i = 0; i < toParse.length && !cancelled; i += BATCH) {
      if (cancel?.isCancellationRequested === true) {
        cancelled = true;
        break;
      }
      const batch = toParse.slice(i, i + BATCH);
      for (const { file, text } of batch) {
        await this.indexText(file, text);
      }
      progress(batch.length);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    const workersDone = await inWorkers;
    return !cancelled && workersDone;
  }

  private async indexInWorkers(script: string, shares: readonly (readonly string[])[], progress: (n: number) => void, cancel: CancellationFlag | undefined): Promise<boolean> {
    const running = shares.map((share) => {
      const input: WorkerInput = { root: this.root, files: share, wrapperFunctions: this.wrappers, maxFileSize: this.maxFileSize };
      const worker = new Worker(script, { workerData: input });
      return new Promise<boolean>((resolve, reject) => {
        worker.on('message', (batch: WorkerBatch) => {
          for (const index of batch.indexes) {
            this.setFile(index.file, index);
          }
          progress(batch.done);
          if (cancel?.isCancellationRequested === true) {
            void worker.terminate();
            resolve(false);
          }
        });
        worker.once('error', reject);
        worker.once('exit', () => {
          resolve(cancel?.isCancellationRequested !== true);
        });
      });
    });
    const results = await Promise.all(running);
    return results.every(Boolean);
  }

  /** Re-indexes one file from the given text (an open editor's content) and returns its index. */
  async indexText(file: string, text: string): Promise<FileIndex> {
    const settled = this.indexWithoutParse(file, text);
    if (settled !== undefined) {
      return settled;
    }
    this.stats.parsed++;
    const index = extractReferences(await grammarFor(languageOf(file)!), file, text, this.methods);
    this.setFile(file, index);
    return index;
  }

  /** Indexes a file by the pre-filter or the lexical scanner; undefined when it needs a parse. */
  private indexWithoutParse(file: string, text: string): FileIndex | undefined {
    const language = languageOf(file);
    if (language === undefined || text.length > this.maxFileSize || !this.methods.mayHaveCalls(text)) {
      const empty: FileIndex = { file, references: [], slots: [] };
      this.setFile(file, empty);
      return empty;
    }
    const scanned = this.fastPath ? scanReferences(language, file, text, this.methods) : undefined;
    if (scanned !== undefined) {
      this.stats.scanned++;
      this.setFile(file, scanned);
    }
    return scanned;
  }

  /** Loads the grammars up front so the first request does not pay for them. */
  async warmUp(languages: readonly Language[]): Promise<void> {
    await Promise.all(languages.map((l) => grammarFor(l)));
  }

  remove(file: string): void {
    this.files.delete(file);
  }

  fileIndex(file: string): FileIndex | undefined {
    return this.files.get(file);
  }

  references(): FlagReference[] {
    const all: FlagReference[] = [];
    for (const f of this.files.values()) {
      all.push(...f.references);
    }
    return all;
  }

  referencesTo(flagKey: string): FlagReference[] {
    return this.references().filter((r) => r.flagKey === flagKey);
  }

  keys(): Set<string> {
    return new Set(this.references().map((r) => r.flagKey));
  }

  get fileCount(): number {
    return this.files.size;
  }

  private setFile(file: string, index: FileIndex): void {
    if (index.references.length === 0 && index.slots.length === 0) {
      this.files.delete(file);
    } else {
      this.files.set(file, index);
    }
  }
}
