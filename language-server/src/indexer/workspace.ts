import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import ignore from 'ignore';
import type { Ignore } from 'ignore';
import type { FileIndex } from './extract.js';
import { extractReferences, MethodTable } from './extract.js';
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
    for (const e of entries) {
      if (ALWAYS_SKIPPED.has(e.name)) {
        continue;
      }
      const full = path.join(dir, e.name);
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
  walk(root, []);
  return files;
}

/** The flag references of a workspace, kept per file so one file is re-indexed alone. */
export class WorkspaceIndex {
  private readonly files = new Map<string, FileIndex>();
  private methods: MethodTable;
  private readonly maxFileSize: number;
  private readonly workers: number;
  private wrappers: readonly string[];

  constructor(
    readonly root: string,
    options: IndexerOptions = {},
  ) {
    this.wrappers = options.wrapperFunctions ?? [];
    this.methods = new MethodTable(this.wrappers);
    this.maxFileSize = options.maxFileSize ?? DEFAULT_MAX_FILE_SIZE;
    this.workers = Math.max(1, Math.floor(options.workers ?? 1));
  }

  setWrapperFunctions(names: readonly string[]): void {
    this.wrappers = names;
    this.methods = new MethodTable(names);
  }

  /** Indexes every source file; yields to the event loop between batches and stops when cancelled. */
  async indexAll(onProgress?: (p: IndexProgress) => void, cancel?: CancellationFlag): Promise<boolean> {
    const files = listSourceFiles(this.root);
    onProgress?.({ done: 0, total: files.length });
    // Workers run the compiled indexer; from TypeScript sources (tests) this thread does the work.
    const workerScript = fileURLToPath(new URL('./index-worker.js', import.meta.url));
    if (this.workers > 1 && files.length >= 2 * BATCH && existsSync(workerScript)) {
      return this.indexInWorkers(workerScript, files, onProgress, cancel);
    }
    for (let i = 0; i < files.length; i += BATCH) {
      if (cancel?.isCancellationRequested === true) {
        return false;
      }
      for (const file of files.slice(i, i + BATCH)) {
        let text: string;
        try {
          text = readFileSync(file, 'utf8');
        } catch {
          continue;
        }
        await this.indexText(file, text);
      }
      onProgress?.({ done: Math.min(i + BATCH, files.length), total: files.length });
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    return true;
  }

  private async indexInWorkers(script: string, files: readonly string[], onProgress: ((p: IndexProgress) => void) | undefined, cancel: CancellationFlag | undefined): Promise<boolean> {
    const count = Math.min(this.workers, Math.ceil(files.length / BATCH));
    let done = 0;
    const running = Array.from({ length: count }, (_, w) => {
      // Interleaved shares balance directories of different sizes across workers.
      const share = files.filter((_f, i) => i % count === w);
      const input: WorkerInput = { root: this.root, files: share, wrapperFunctions: this.wrappers, maxFileSize: this.maxFileSize };
      const worker = new Worker(script, { workerData: input });
      return new Promise<boolean>((resolve, reject) => {
        worker.on('message', (batch: WorkerBatch) => {
          for (const index of batch.indexes) {
            this.setFile(index.file, index);
          }
          done += batch.done;
          onProgress?.({ done, total: files.length });
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
    const language = languageOf(file);
    if (language === undefined || text.length > this.maxFileSize || !this.methods.mayHaveCalls(text)) {
      const empty: FileIndex = { file, references: [], slots: [] };
      this.setFile(file, empty);
      return empty;
    }
    const index = extractReferences(await grammarFor(language), file, text, this.methods);
    this.setFile(file, index);
    return index;
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
