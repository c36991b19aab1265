import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { EMBEDDED_EXPERIMENT_FLAG, startEmbeddedSdkServer } from '@xp/cloud';
import { formatTable } from './harness.js';
import type { Answer, Case, LoadResult } from './load.js';
import { runLoadInWorker, send } from './load.js';

/**
 * SDK endpoint throughput: the real app (Hono on @hono/node-server, caches warm, key lookups
 * cached) against a bare node:http server answering the same JSON from memory — the ceiling.
 * Both are driven by the same load loop (load.ts): 64 keep-alive connections, each sending its next
 * request as soon as the previous answer is read, for a fixed time, on a worker thread, so the
 * generator runs beside the server rather than taking turns with it (on both sides alike).
 *
 * On a two-core machine one run of either side swings by a third from run to run (the generator and
 * the server share the cores with whatever else runs), so each case runs in rounds, xp and the
 * ceiling back to back and in alternating order, and the ratio reported is the median of the rounds'
 * ratios: a slow spell then lowers both sides of one round instead of one side of the only one.
 */

export interface SdkBenchOptions {
  /** Short runs for tests: the response checks are complete, the timings are not meaningful. */
  readonly quick?: boolean;
  /** Measured time per case and round. Default 3 s (quick: 300 ms). */
  readonly durationMs?: number;
  /** Rounds per case, each measuring xp and the ceiling once. Default 5 (quick: 1). */
  readonly rounds?: number;
  /** Concurrent connections. Default 64. */
  readonly connections?: number;
  readonly print?: (line: string) => void;
}

export interface SdkBenchRow {
  readonly endpoint: string;
  /** The round whose ratio is the median (the one reported). */
  readonly xp: LoadResult;
  readonly ceiling: LoadResult;
  /** xp requests/s divided by the ceiling's: the median over the rounds. */
  readonly ratio: number;
  /** Every round's ratio, in the order run. */
  readonly roundRatios: readonly number[];
  /** Failed requests over all rounds, both sides. */
  readonly errors: number;
  readonly meetsTarget: boolean;
  /** The app's first answer, which the ceiling then serves verbatim. */
  readonly body: string;
}

export const TARGET_RATIO = 0.6;

/** Which of the ceiling's fixed answers a request gets: by path and SDK key (one per case). */
const answerKey = (path: string, sdkKey: string | string[] | undefined): string => `${path} ${String(sdkKey)}`;

/** The ceiling: node:http answering each path and key with a fixed JSON body, after reading the request. */
async function startCeiling(answers: Readonly<Record<string, { body: string; headers: Readonly<Record<string, string>> }>>): Promise<{ url: URL; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    const answer = answers[answerKey(req.url ?? '', req.headers['x-xp-sdk-key'])];
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
  const durationMs = options.durationMs ?? (options.quick === true ? 300 : 3_000);
  const rounds = Math.max(1, options.rounds ?? (options.quick === true ? 1 : 5));
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
      body: 'evaluate',
    },
    {
      // The same endpoint for a flag serving a running experiment: each answer waits for its
      // exposure to be accepted by the stream (kinesalite here), as an evaluation in production does.
      endpoint: `POST /sdk/v1/evaluate (${EMBEDDED_EXPERIMENT_FLAG}: exposures)`,
      method: 'POST',
      path: '/sdk/v1/evaluate',
      headers: { 'x-xp-sdk-key': xp.experimentServerKey },
      body: 'evaluateExperiment',
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
      ceilingAnswers[answerKey(c.path, c.headers['x-xp-sdk-key'])] = { body: answer.body, headers: c.method === 'GET' ? { etag: '"bench"', 'cache-control': 'no-cache' } : { 'cache-control': 'no-store' } };
    }
    probe.destroy();
    const ceiling = await startCeiling(ceilingAnswers);
    try {
      for (const [i, c] of cases.entries()) {
        const measured: { xp: LoadResult; ceiling: LoadResult; ratio: number }[] = [];
        for (let round = 0; round < rounds; round++) {
          // Alternating order, so neither side always runs on a warmer (or more tired) machine.
          const xpFirst = round % 2 === 0;
          const a = await runLoadInWorker(xpFirst ? base : ceiling.url, c, load);
          const b = await runLoadInWorker(xpFirst ? ceiling.url : base, c, load);
          const [xpResult, ceilingResult] = xpFirst ? [a, b] : [b, a];
          measured.push({ xp: xpResult, ceiling: ceilingResult, ratio: ceilingResult.requestsPerSec === 0 ? 0 : xpResult.requestsPerSec / ceilingResult.requestsPerSec });
        }
        const median = [...measured].sort((x, y) => x.ratio - y.ratio)[Math.floor((measured.length - 1) / 2)]!;
        rows.push({
          endpoint: c.endpoint,
          xp: median.xp,
          ceiling: median.ceiling,
          ratio: median.ratio,
          roundRatios: measured.map((m) => m.ratio),
          errors: measured.reduce((n, m) => n + m.xp.errors + m.ceiling.errors, 0),
          meetsTarget: median.ratio >= TARGET_RATIO,
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
  print(
    `SDK endpoints: ${connections} keep-alive connections, ${rounds} ${rounds === 1 ? 'round' : 'rounds'} of ${fmt(durationMs / 1000, 1)} s per side and case (target: ≥ ${TARGET_RATIO}× the bare node:http ceiling; the median round is shown)`,
  );
  print(
    formatTable(
      ['endpoint', 'xp req/s', 'xp p50 ms', 'xp p99 ms', 'ceiling req/s', 'ceiling p99 ms', 'ratio', 'rounds', 'errors', 'target'],
      rows.map((r) => [
        r.endpoint,
        fmt(r.xp.requestsPerSec),
        fmt(r.xp.p50Ms, 2),
        fmt(r.xp.p99Ms, 2),
        fmt(r.ceiling.requestsPerSec),
        fmt(r.ceiling.p99Ms, 2),
        `${fmt(r.ratio, 2)}×`,
        r.roundRatios.map((x) => fmt(x, 2)).join(' '),
        String(r.errors),
        r.meetsTarget ? 'met' : 'missed',
      ]),
    ),
  );
  return rows;
}
