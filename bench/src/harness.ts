import { performance } from 'node:perf_hooks';

/**
 * Small timing helpers shared by the benchmark suites: warm-up, throughput over a time budget,
 * p50/p99 from batched samples, and heap bytes allocated per operation.
 */

/** One benchmarked call; `i` cycles through [0, cycle) so the caller can rotate through inputs. */
export type Operation = (i: number) => unknown;

/** Milliseconds from an arbitrary origin. */
export type Clock = () => number;

export interface MeasureOptions {
  /** Time spent calling the operation before measuring, so the JIT has settled. */
  readonly warmupMs: number;
  /** Time spent measuring. */
  readonly budgetMs: number;
  /** Calls per timed sample; a single sub-microsecond call is below the clock's useful resolution. Default 32. */
  readonly batchSize?: number;
  /** Upper bound on stored samples. Default 2^20. */
  readonly maxSamples?: number;
  readonly clock?: Clock;
}

export interface Measurement {
  readonly opsPerSec: number;
  /** Median of the per-batch mean latency, in microseconds. */
  readonly p50Micros: number;
  /** 99th percentile of the per-batch mean latency, in microseconds. */
  readonly p99Micros: number;
  readonly operations: number;
  readonly samples: number;
}

export interface HeapOptions {
  /** Bytes each sample should allocate at most, so no scavenge runs inside a sample. Default 512 KiB. */
  readonly targetBytes?: number;
  /** Samples taken; the median is reported. Default 5. */
  readonly repeats?: number;
}

const defaultClock: Clock = () => performance.now();

/** Written on every call so the optimiser cannot drop the benchmarked work. */
const blackhole: { value: unknown } = { value: undefined };

/** Runs the operation for `ms` milliseconds. */
export function warmUp(op: Operation, cycle: number, ms: number, clock: Clock = defaultClock): void {
  const deadline = clock() + ms;
  let i = 0;
  do {
    for (let k = 0; k < 256; k++) {
      blackhole.value = op(i);
      i = i + 1 === cycle ? 0 : i + 1;
    }
  } while (clock() < deadline);
}

/** The q-quantile (0..1) of an ascending array, nearest-rank. */
export function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) {
    return Number.NaN;
  }
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

/** Warms up, then calls the operation in timed batches until the budget is spent. */
export function measure(op: Operation, cycle: number, options: MeasureOptions): Measurement {
  const clock = options.clock ?? defaultClock;
  const batch = Math.max(1, options.batchSize ?? 32);
  const samples = new Float64Array(Math.max(1, options.maxSamples ?? 1 << 20));
  warmUp(op, cycle, options.warmupMs, clock);

  let n = 0;
  let i = 0;
  const start = clock();
  const deadline = start + options.budgetMs;
  let last = start;
  while (n < samples.length) {
    for (let k = 0; k < batch; k++) {
      blackhole.value = op(i);
      i = i + 1 === cycle ? 0 : i + 1;
    }
    const now = clock();
    samples[n++] = (now - last) / batch;
    last = now;
    if (now >= deadline) {
      break;
    }
  }

  const taken = samples.subarray(0, n).sort();
  const operations = n * batch;
  const elapsedMs = last - start;
  return {
    opsPerSec: elapsedMs > 0 ? (operations * 1000) / elapsedMs : Number.POSITIVE_INFINITY,
    p50Micros: percentile(taken, 0.5) * 1000,
    p99Micros: percentile(taken, 0.99) * 1000,
    operations,
    samples: n,
  };
}

function heapUsedAfter(gc: () => void, op: Operation, cycle: number, calls: number, offset: number): number {
  gc();
  const before = process.memoryUsage().heapUsed;
  let i = offset % cycle;
  for (let k = 0; k < calls; k++) {
    blackhole.value = op(i);
    i = i + 1 === cycle ? 0 : i + 1;
  }
  const after = process.memoryUsage().heapUsed;
  return after - before;
}

/**
 * Heap bytes allocated per call, from `heapUsed` deltas after a forced GC; undefined unless the
 * process runs with `--expose-gc`, since without it a scavenge inside a sample makes deltas meaningless.
 */
export function bytesPerOp(op: Operation, cycle: number, options: HeapOptions = {}): number | undefined {
  const gc = globalThis.gc;
  if (gc === undefined) {
    return undefined;
  }
  const force = (): void => {
    gc();
  };
  const targetBytes = options.targetBytes ?? 512 * 1024;
  const probeCalls = 256;
  const probe = Math.max(0, heapUsedAfter(force, op, cycle, probeCalls, 0)) / probeCalls;
  const calls = Math.min(20_000, Math.max(probeCalls, Math.floor(targetBytes / Math.max(probe, 1))));
  const perCall: number[] = [];
  for (let r = 0; r < (options.repeats ?? 5); r++) {
    perCall.push(heapUsedAfter(force, op, cycle, calls, r * calls) / calls);
  }
  perCall.sort((a, b) => a - b);
  return Math.max(0, perCall[perCall.length >> 1]!);
}

/** Mulberry32: a small deterministic PRNG in [0, 1), so generated inputs are the same on every run. */
export function createRandom(seed: number): () => number {
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Renders rows as a plain-text table: first column left-aligned, the others right-aligned. */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join(' | ');
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('-|-'), ...rows.map(line)].join('\n');
}
