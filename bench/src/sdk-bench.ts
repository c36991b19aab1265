import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { startEmbeddedSdkServer } from '@xp/cloud';
import { formatTable } from './harness.js';

/**
 * SDK endpoint throughput: the real app (Hono on @hono/node-server, caches warm, key lookups
 * cached) against a bare node:http server answering the same JSON from memory — the ceiling.
 * Both are driven by the same load loop: 64 keep-alive connections, each sending its next request
 * as soon as the previous answer is read, for a fixed time. Load generator and server share the
 * process, on both sides alike.
 */

export interface SdkBenchOptions {
  /** Short runs for tests: the response checks are complete, the timings are not meaningful. */
  readonly quick?: boolean;
  /** Measured time per case. Default 5 s (quick: 300 ms). */
  readonly durationMs?: number;
  /** Concurrent connections. Default 64. */
  readonly connections?: number;
  readonly print?: (line: string) => void;
}

export interface LoadResult {
  /** Requests answered with the expected status. */
  readonly requests: number;
  /** Requests answered with another status or failed. */
  readonly errors: number;
  readonly requestsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

export interface SdkBenchRow {
  readonly endpoint: string;
  readonly xp: LoadResult;
  readonly ceiling: LoadResult;
  /** xp requests/s divided by the ceiling's. */
  readonly ratio: number;
  readonly meetsTarget: boolean;
  /** The app's first answer, which the ceiling then serves verbatim. */
  readonly body: string;
}

export const TARGET_RATIO = 0.6;

interface Case {
  readonly endpoint: string;
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  /** Request body for the i-th request, if any. */
  readonly body?: (i: number) => string;
}

interface Answer {
  readonly status: number;
  readonly body: string;
}

function send(agent: http.Agent, base: URL, c: Case, i: number, collect = false): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const body = c.body?.(i);
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

/** The ceiling: node:http answering each path with a fixed JSON body, after reading the request. */
async function startCeiling(answers: Readonly<Record<string, { body: string; headers: Readonly<Record<string, string>> }>>): Promise<{ url: URL; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    const answer = answers[req.url ?? ''];
    req.on('data', () => undefined);
    req.on('end', () => {
      if (answer === undefined) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { ...answer.headers, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(answer.body) }).end(answer.body);
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => {
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: new URL(`http://127.0.0.1:${port}`),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
        server.closeAllConnections();
      }),
  };
}

const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

export async function runSdkBench(options: SdkBenchOptions = {}): Promise<SdkBenchRow[]> {
  const print = options.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  const durationMs = options.durationMs ?? (options.quick === true ? 300 : 5_000);
  const connections = options.connections ?? 64;
  const load = { connections, durationMs, warmupMs: options.quick === true ? 100 : 1_000 };
  const xp = await startEmbeddedSdkServer();
  const ceilingAnswers: Record<string, { body: string; headers: Record<string, string> }> = {};
  const cases: Case[] = [
    { endpoint: 'GET /sdk/v1/ruleset', method: 'GET', path: '/sdk/v1/ruleset', headers: { 'x-xp-sdk-key': xp.serverKey } },
    {
      endpoint: 'POST /sdk/v1/evaluate',
      method: 'POST',
      path: '/sdk/v1/evaluate',
      headers: { 'x-xp-sdk-key': xp.serverKey },
      body: (i) => JSON.stringify({ unit: { id: `user-${i % 10_000}`, attributes: { country: i % 3 === 0 ? 'US' : 'DE', email: `u${i % 10_000}@example.com` } } }),
    },
  ];
  const rows: SdkBenchRow[] = [];
  const base = new URL(xp.url);
  try {
    const probe = new http.Agent({ keepAlive: false });
    const first: Answer[] = [];
    for (const c of cases) {
      const answer = await send(probe, base, c, 0, true);
      if (answer.status !== 200) {
        throw new Error(`${c.endpoint} answered ${answer.status}: ${answer.body.slice(0, 200)}`);
      }
      first.push(answer);
      ceilingAnswers[c.path] = { body: answer.body, headers: c.method === 'GET' ? { etag: '"bench"', 'cache-control': 'no-cache' } : { 'cache-control': 'no-store' } };
    }
    probe.destroy();
    const ceiling = await startCeiling(ceilingAnswers);
    try {
      for (const [i, c] of cases.entries()) {
        const xpResult = await runLoad(base, c, load);
        const ceilingResult = await runLoad(ceiling.url, c, load);
        const ratio = ceilingResult.requestsPerSec === 0 ? 0 : xpResult.requestsPerSec / ceilingResult.requestsPerSec;
        rows.push({
          endpoint: c.endpoint,
          xp: xpResult,
          ceiling: ceilingResult,
          ratio,
          meetsTarget: ratio >= TARGET_RATIO,
          body: first[i]!.body,
        });
      }
    } finally {
      await ceiling.close();
    }
  } finally {
    await xp.close();
  }
  print('');
  print(`SDK endpoints: ${connections} keep-alive connections, ${fmt(durationMs / 1000, 1)} s per case (target: ≥ ${TARGET_RATIO}× the bare node:http ceiling)`);
  print(
    formatTable(
      ['endpoint', 'xp req/s', 'xp p50 ms', 'xp p99 ms', 'ceiling req/s', 'ceiling p99 ms', 'ratio', 'errors', 'target'],
      rows.map((r) => [
        r.endpoint,
        fmt(r.xp.requestsPerSec),
        fmt(r.xp.p50Ms, 2),
        fmt(r.xp.p99Ms, 2),
        fmt(r.ceiling.requestsPerSec),
        fmt(r.ceiling.p99Ms, 2),
        `${fmt(r.ratio, 2)}×`,
        String(r.xp.errors + r.ceiling.errors),
        r.meetsTarget ? 'met' : 'missed',
      ]),
    ),
  );
  return rows;
}
