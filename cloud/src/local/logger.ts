import { redactSecrets } from '../auth/tokens.js';
import type { Logger } from '../domain/context.js';

/** One JSON line per event on stderr, with anything shaped like an xp secret redacted. */
export function jsonLogger(write: (line: string) => void = (line) => process.stderr.write(`${line}\n`)): Logger {
  const emit = (level: string, message: string, fields?: Record<string, unknown>): void => {
    write(redactSecrets(JSON.stringify({ time: new Date().toISOString(), level, message, ...fields })));
  };
  return {
    info: (m, f) => {
      emit('info', m, f);
    },
    warn: (m, f) => {
      emit('warn', m, f);
    },
    error: (m, f) => {
      emit('error', m, f);
    },
  };
}
