/**
 * The SDK bench's load loop: `connections` keep-alive connections, each sending its next request as
 * soon as the previous answer is read, for a fixed time. `runLoadInWorker` runs it on a worker
 * thread, so the load generator does not take CPU from the server it measures (the machine's other
 * core does the driving); from TypeScript sources (tests) it runs in this thread.
 */
import { existsSync } from 'node:fs';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

/** Request bodies by name: the i-th request's JSON. */
export const BODIES = {
  evaluate: (i: number): string => JSON.stringify({ unit: { id: `user-${i % 10_000}`, attributes: { country: i % 3 === 0 ? 'US' : 'DE', email: `u${i % 10_000}@example.com` } } }),
  /** One flag that serves a running experiment: every request logs an exposure. */
  evaluateExperiment: (i: number): string =>
    JSON.stringify({ unit: { id: `user-${i % 10_000}`, attributes: { country: i % 3 === 0 ? 'US' : 'DE', email: `u${i % 10_000}@example.com` } }, flags: ['bench-experiment'] }),
} as const;
export type BodyKind = keyof typeof BODIES;

export interface LoadResult {
  /** Requests answered with the expected status. */
  readonly requests: number;
  /** Requests answered with another status or failed. */
  readonly errors: number;
  readonly requestsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

export interface Case {
  readonly endpoint: string;
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  /** How the i-th request's body is made, if it has one (a name, so the case can go to a worker thread). */
  readonly body?: BodyKind;
}

export interface Answer {
  readonly status: number;
  readonly body: string;
}

export function send(agent: http.Agent, base: URL, c: Case, i: number, collect = false): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const body = c.body === undefined ? undefined : BODIES[c.body](i);
    const req = http.request(
      {
        agent,
        host: base.hostname,
        port: base.port,
        path: c.path,
        method: c.method,
        headers: body === undefined ? c.headers : { ...c.headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => {
          if (collect) {
            chunks.push(chunk);
          }
        });
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) {
    return 0;
  }
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** Drives `c` at `base` with `connections` concurrent request loops for `durationMs`. */
export async function runLoad(base: URL, c: Case, options: { connections: number; durationMs: number; warmupMs: number }): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.connections });
  try {
    const phase = async (ms: number, record: boolean): Promise<{ latencies: number[]; errors: number; elapsed: number }> => {
      const latencies: number[] = [];
      let errors = 0;
      let counter = 0;
      const started = performance.now();
      const end = started + ms;
      const worker = async (): Promise<void> => {
        while (performance.now() < end) {
          const t0 = performance.now();
          try {
            const answer = await send(agent, base, c, counter++);
            if (answer.status === 200) {
              if (record) {
                latencies.push(performance.now() - t0);
              }
            } else {
              errors++;
            }
          } catch {
            errors++;
          }
        }
      };
      await Promise.all(Array.from({ length: options.connections }, worker));
      return { latencies, errors, elapsed: performance.now() - started };
    };
    await phase(options.warmupMs, false);
    const { latencies, errors, elapsed } = await phase(options.durationMs, true);
    const sorted = Float64Array.from(latencies).sort();
    return {
      requests: latencies.length,
      errors,
      requestsPerSec: (latencies.length * 1000) / elapsed,
      p50Ms: quantile(sorted, 0.5),
      p99Ms: quantile(sorted, 0.99),
    };
  } finally {
    agent.destroy();
  }
}

export interface LoadOptions {
  readonly connections: number;
  readonly durationMs: number;
  readonly warmupMs: number;
}

interface LoadJob {
  /** Marks this module's own workers (test runners run modules on worker threads too). */
  readonly xpLoadJob: true;
  readonly base: string;
  readonly c: Case;
  readonly options: LoadOptions;
}

/** `runLoad` on a worker thread (in this thread when running from TypeScript sources). */
export async function runLoadInWorker(base: URL, c: Case, options: LoadOptions): Promise<LoadResult> {
  const script = fileURLToPath(import.meta.url);
  if (!script.endsWith('.js') || !existsSync(script)) {
    return runLoad(base, c, options);
  }
  const job: LoadJob = { xpLoadJob: true, base: base.href, c, options };
  const worker = new Worker(script, { workerData: job });
  try {
    return await new Promise<LoadResult>((resolve, reject) => {
      worker.once('message', (result: LoadResult) => {
        resolve(result);
      });
      worker.once('error', reject);
      worker.once('exit', (code) => {
        reject(new Error(`load worker exited with ${code}`));
      });
    });
  } finally {
    await worker.terminate();
  }
}

const job = isMainThread ? undefined : (workerData as Partial<LoadJob> | null);
if (job?.xpLoadJob === true && parentPort !== null) {
  const port = parentPort;
  void runLoad(new URL(job.base!), job.c!, job.options!).then((result) => {
    port.postMessage(result);
  });
}
