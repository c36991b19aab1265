/**
 * What the CLI's tests share: the platform's API served over real HTTP on a free local port, and
 * `xp` run in-process with its output lines captured.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import YAML from 'yaml';
import { serve } from '@hono/node-server';
import { silentLogger } from '../../domain/context.js';
import type { Platform } from '../../http/__tests__/harness.js';
import { configFromEnv, startLocalStack } from '../../local/stack.js';
import type { LocalStack } from '../../local/stack.js';
import { main } from '../xp.js';

/** A local platform of a test file: `xp start`'s stack, and its data folder (where tests may write their files too). */
export interface LocalPlatform {
  readonly stack: LocalStack;
  readonly dir: string;
}

/**
 * Starts a local platform (`xp start` on free ports, no demo traffic, the owner `owner@example.com`
 * with `ownerPassword`) before the file's tests and stops it, deleting its data folder, after them.
 * Read its fields inside tests: they are set once the hook has run.
 */
export function useLocalPlatform(prefix: string, ownerPassword: string): LocalPlatform {
  let stack: LocalStack | undefined;
  let dir: string | undefined;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), prefix));
    stack = await startLocalStack(configFromEnv({ XP_DATA_DIR: dir, XP_API_PORT: '0', XP_CONSOLE_PORT: '0', XP_ADMIN_EMAIL: 'owner@example.com', XP_ADMIN_PASSWORD: ownerPassword, XP_DEMO: '0' }), {
      logger: silentLogger,
      print: () => undefined,
    });
  }, 60_000);
  afterAll(async () => {
    await stack?.close();
    if (dir !== undefined) {
      await rm(dir, { recursive: true, force: true });
    }
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) {
      throw new Error('the local platform is read before its beforeAll hook ran');
    }
    return value;
  };
  return {
    get stack() {
      return started(stack);
    },
    get dir() {
      return started(dir);
    },
  };
}

/** Serves `p`'s API on 127.0.0.1 (a free port) once it listens: its URL and how to stop it. */
export async function serveApi(p: Platform): Promise<{ readonly url: string; readonly close: () => Promise<void> }> {
  const server = serve({ fetch: p.app.fetch, port: 0, hostname: '127.0.0.1' });
  if (!server.listening) {
    await new Promise<void>((resolve) => server.once('listening', resolve));
  }
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      }),
  };
}

/** Runs `xp args` with `env`: its exit code and the lines it wrote to stdout and stderr. */
export async function runXp(args: readonly string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main([...args], env, (l) => out.push(l), (l) => err.push(l));
  return { code, out, err };
}

/** `runXp` with stdout's and stderr's lines joined, as a test compares them with a text. */
export async function runXpText(args: readonly string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string; err: string }> {
  const { code, out, err } = await runXp(args, env);
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/** Writes a flags document into `dir` (YAML from a value, or the text given); its path. */
export async function writeDocument(dir: string, name: string, doc: unknown): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, typeof doc === 'string' ? doc : YAML.stringify(doc));
  return file;
}

/** A boolean flag of a flags document (variations off and on), with the given states. */
export function booleanFlagDoc(key: string, environments: Record<string, Record<string, unknown>>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    key,
    name: key,
    type: 'boolean',
    variations: [
      { key: 'off', value: false },
      { key: 'on', value: true },
    ],
    environments,
    ...extra,
  };
}
