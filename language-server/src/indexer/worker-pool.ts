/**
 * The worker threads of one cold index. They are started before the walk so that their start-up
 * overlaps it; the main thread and the workers then claim chunks of the file list from one shared
 * counter, so a worker that starts late (or a busy core) only means the main thread takes more.
 */
import { Worker } from 'node:worker_threads';
import type { WorkerBatch, WorkerFiles, WorkerInput } from './index-worker.js';

export class IndexWorkers {
  /** The next chunk to claim, shared with the workers. */
  readonly next = new Int32Array(new SharedArrayBuffer(4));
  private readonly workers: Worker[];
  private alive: number;
  private received = 0;
  /** Chunks the workers claimed, known once the main thread has claimed past the end. */
  private expected = -1;
  private failure: unknown;
  private settle: ((error?: unknown) => void) | undefined;

  constructor(script: string, count: number, input: Omit<WorkerInput, 'next'>, onBatch: (batch: WorkerBatch) => void) {
    const workerData: WorkerInput = { ...input, next: this.next.buffer };
    this.alive = count;
    this.workers = Array.from({ length: count }, () => {
      const worker = new Worker(script, { workerData });
      worker.on('message', (batch: WorkerBatch) => {
        this.received++;
        onBatch(batch);
        this.check();
      });
      worker.once('error', (error) => {
        this.failure ??= error;
        this.check();
      });
      worker.once('exit', () => {
        this.alive--;
        this.check();
      });
      return worker;
    });
  }

  /** Claims the next chunk for the calling (main) thread. */
  claim(): number {
    return Atomics.add(this.next, 0, 1);
  }

  /** Hands the listed files to the workers. */
  begin(files: readonly string[], chunk: number): void {
    const message: WorkerFiles = { files: files.join('\0'), chunk };
    for (const w of this.workers) {
      w.postMessage(message);
    }
  }

  /** Waits for the indexes of the chunks the workers claimed (all `chunks` but the main thread's `mine`), then stops them. */
  async finish(chunks: number, mine: number): Promise<void> {
    this.expected = chunks - mine;
    try {
      await new Promise<void>((resolve, reject) => {
        this.settle = (error) => {
          if (error === undefined) {
            resolve();
          } else {
            reject(error instanceof Error ? error : new Error('index worker failed', { cause: error }));
          }
        };
        this.check();
      });
    } finally {
      this.stop();
    }
  }

  /** Stops the workers at once (cancellation, or nothing left for them). */
  stop(): void {
    // No worker claims a chunk after this, and none keeps the process alive.
    Atomics.store(this.next, 0, 0x3fffffff);
    for (const w of this.workers) {
      w.unref();
      void w.terminate();
    }
  }

  private check(): void {
    const settle = this.settle;
    if (settle === undefined) {
      return;
    }
    if (this.received >= this.expected) {
      this.settle = undefined;
      settle();
    } else if (this.failure !== undefined) {
      this.settle = undefined;
      settle(this.failure);
    } else if (this.alive === 0) {
      this.settle = undefined;
      settle(new Error(`index workers exited with ${this.expected - this.received} chunks unreported`));
    }
  }
}
