import { redactSecrets } from '../auth/tokens.js';
import type { Logger } from '../domain/context.js';
import { AppError } from '../errors.js';

type Level = 'info' | 'warn' | 'error';
type Write = (line: string) => void;

const LEVELS: Readonly<Record<Level, number>> = { info: 0, warn: 1, error: 2 };
const stderrLine: Write = (line) => process.stderr.write(`${line}\n`);

function leveled(minimum: Level, emit: (level: Level, message: string, fields?: Record<string, unknown>) => void): Logger {
  const at = (level: Level) => (message: string, fields?: Record<string, unknown>): void => {
    if (LEVELS[level] >= LEVELS[minimum]) {
      emit(level, message, fields);
    }
  };
  return { info: at('info'), warn: at('warn'), error: at('error') };
}

/** One JSON line per event on stderr, with anything shaped like an xp secret redacted. */
export function jsonLogger(write: Write = stderrLine, minimum: Level = 'info'): Logger {
  return leveled(minimum, (level, message, fields) => {
    write(redactSecrets(JSON.stringify({ time: new Date().toISOString(), level, message, ...fields })));
  });
}

export interface TextLoggerOptions {
  readonly minimum?: Level;
  /** ANSI colours for the level and the status. Default false. */
  readonly color?: boolean;
  /** Clock for the time of day on each line; injectable for tests. */
  readonly now?: () => Date;
}

const COLOR = { dim: '\x1b[2m', yellow: '\x1b[33m', red: '\x1b[31m', green: '\x1b[32m', cyan: '\x1b[36m', reset: '\x1b[0m' } as const;

/** A field's value as it reads on one line: bare when it is a plain word, JSON otherwise. */
function formatValue(value: unknown): string {
  if (typeof value === 'string' && /^[\w./:@+-]+$/.test(value)) {
    return value;
  }
  // JSON.stringify gives undefined for a function or symbol, though its type says string.
  const json = JSON.stringify(value) as string | undefined;
  return json ?? String(value);
}

/**
 * One readable line per event, for a person watching `xp start` in a terminal:
 * `22:10:31 POST /sdk/v1/events 202 76.5 ms demo-traffic` for requests, `22:10:31 WARN message key=value` for the rest.
 * Secrets are redacted as in the JSON form.
 */
export function textLogger(write: Write = stderrLine, options: TextLoggerOptions = {}): Logger {
  const paint = (code: string, text: string): string => (options.color === true ? `${code}${text}${COLOR.reset}` : text);
  const now = options.now ?? (() => new Date());
  return leveled(options.minimum ?? 'info', (level, message, fields = {}) => {
    const time = paint(COLOR.dim, now().toISOString().slice(11, 19));
    const label = level === 'info' ? '' : `${paint(level === 'error' ? COLOR.red : COLOR.yellow, level.toUpperCase())} `;
    let head = message;
    let rest: Record<string, unknown> = fields;
    if (message === 'request' && typeof fields.method === 'string' && typeof fields.path === 'string' && typeof fields.status === 'number') {
      const { method, path, status, latencyMs, client, requestId: _requestId, route: _route, ...others } = fields;
      const statusColor = status >= 500 ? COLOR.red : status >= 400 ? COLOR.yellow : COLOR.green;
      head = `${method} ${path} ${paint(statusColor, String(status))}${typeof latencyMs === 'number' ? ` ${latencyMs} ms` : ''}${typeof client === 'string' && client !== 'api' ? ` ${paint(COLOR.cyan, client)}` : ''}`;
      rest = others;
    }
    const tail = Object.entries(rest)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${formatValue(v)}`)
      .join(' ');
    write(redactSecrets(`${time} ${label}${head}${tail === '' ? '' : ` ${paint(COLOR.dim, tail)}`}`));
  });
}

/**
 * The local platform's logger, from the environment: XP_LOG_FORMAT `text` or `json` (default: text
 * on a terminal, JSON otherwise, for log collectors), XP_LOG_LEVEL `info`, `warn` or `error`
 * (default info). A value it does not know is an error, so a typo is not silently ignored.
 */
export function loggerFromEnv(env: NodeJS.ProcessEnv, stream: { readonly isTTY?: boolean } = process.stderr, write: Write = stderrLine): Logger {
  const format = env.XP_LOG_FORMAT?.trim().toLowerCase() || (stream.isTTY === true ? 'text' : 'json');
  const level = env.XP_LOG_LEVEL?.trim().toLowerCase() || 'info';
  if (format !== 'text' && format !== 'json') {
    throw new AppError('VALIDATION_FAILED', `XP_LOG_FORMAT must be text or json, not ${JSON.stringify(env.XP_LOG_FORMAT)}`);
  }
  if (!(level in LEVELS)) {
    throw new AppError('VALIDATION_FAILED', `XP_LOG_LEVEL must be info, warn or error, not ${JSON.stringify(env.XP_LOG_LEVEL)}`);
  }
  return format === 'json' ? jsonLogger(write, level as Level) : textLogger(write, { minimum: level as Level, color: stream.isTTY === true && env.NO_COLOR === undefined });
}
