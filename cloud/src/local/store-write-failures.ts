/**
 * kinesalite and dynalite answer an error from their LevelDB store only when it carries an AWS
 * status (`err.statusCode`); any other they throw out of the store's callback (`if (err) throw err`),
 * where nothing can catch it, so a full disk or a read-only data folder ended the whole local
 * platform at the next event batch or ruleset publish. Here every write error of their stores is
 * marked as the AWS server error the real service would answer (HTTP 500, `InternalFailure` /
 * `InternalServerError`): the SDK clients see a retryable server error, the events endpoint answers
 * 503 with Retry-After, and the platform keeps running until there is room again.
 */
import { createRequire } from 'node:module';

interface AwsServerError {
  statusCode: number;
  body: { __type: string; message: string };
}

type Method = (this: unknown, ...args: unknown[]) => unknown;
type Prototype = Record<string, Method | undefined>;

const WRITES = ['put', 'del', 'batch'] as const;
const marked = new WeakSet<object>();

/** Gives a store's write error the status and body of an AWS server error, unless it has one. */
export function asAwsServerError(error: unknown, type: string): unknown {
  if (error instanceof Error && !('statusCode' in error)) {
    const fields: AwsServerError = { statusCode: 500, body: { __type: type, message: `the local store could not write: ${error.message}` } };
    Object.assign(error, fields);
  }
  return error;
}

/**
 * Wraps a prototype's put/del/batch so their failures reach callbacks and promises as AWS server
 * errors (once per prototype). A call without a callback that returns no promise (a chained batch)
 * is left as it is.
 */
function markWrites(proto: Prototype, type: string): void {
  if (marked.has(proto)) {
    return;
  }
  marked.add(proto);
  for (const name of WRITES) {
    const original = proto[name];
    if (typeof original !== 'function') {
      continue;
    }
    proto[name] = function (this: unknown, ...args: unknown[]): unknown {
      const last = args.length - 1;
      const callback = args[last];
      if (typeof callback === 'function') {
        args[last] = (error: unknown, ...rest: unknown[]): unknown => (callback as Method).call(this, error === null || error === undefined ? error : asAwsServerError(error, type), ...rest);
      }
      const result = original.apply(this, args);
      if (result instanceof Promise) {
        return result.catch((error: unknown) => {
          throw asAwsServerError(error, type);
        });
      }
      return result;
    };
  }
}

const here = createRequire(import.meta.url);

/** kinesalite's stores are levelup instances (over leveldown or memdown, and subleveldown). */
export function answerKinesaliteWriteFailures(): void {
  const levelup = createRequire(here.resolve('kinesalite'))('levelup') as { prototype: Prototype };
  markWrites(levelup.prototype, 'InternalFailure');
}

/** dynalite's stores are abstract-level databases (classic-level, memory-level and sublevels). */
export function answerDynaliteWriteFailures(): void {
  const level = createRequire(here.resolve('dynalite'))('level') as unknown as { Level: { prototype: object } };
  // Level → ClassicLevel → AbstractLevel: the write methods live on AbstractLevel's prototype.
  let proto: object | null = level.Level.prototype;
  while (proto !== null && !Object.hasOwn(proto, 'batch')) {
    proto = Object.getPrototypeOf(proto) as object | null;
  }
  if (proto !== null) {
    markWrites(proto as Prototype, 'InternalServerError');
  }
}
