import { describe, expect, it } from 'vitest';
import { jsonLogger, loggerFromEnv, textLogger } from '../logger.js';

const at = (): Date => new Date('2026-12-03T22:10:31.130Z');

describe('local loggers', () => {
  it('text: a request reads as method, path, status, latency and client; other fields follow as key=value', () => {
    const lines: string[] = [];
    const log = textLogger((l) => lines.push(l), { now: at });
    log.info('request', { requestId: 'r-1', method: 'POST', route: '/sdk/v1/events', path: '/sdk/v1/events', status: 202, latencyMs: 76.5, client: 'sdk-js', userId: 'u 1' });
    log.info('request', { method: 'GET', path: '/api/v1/me', status: 200, latencyMs: 3, client: 'api' });
    log.warn('shutdown step failed', { error: 'socket closed', attempt: 2 });
    expect(lines).toEqual([
      '22:10:31 POST /sdk/v1/events 202 76.5 ms sdk-js userId="u 1"',
      '22:10:31 GET /api/v1/me 200 3 ms',
      '22:10:31 WARN shutdown step failed error="socket closed" attempt=2',
    ]);
  });

  it('text: colours only when asked, and secrets are redacted as in JSON', () => {
    const plain: string[] = [];
    const coloured: string[] = [];
    const secret = `xps_${'a'.repeat(40)}`;
    textLogger((l) => plain.push(l), { now: at }).error('request', { method: 'GET', path: `/x/${secret}`, status: 500 });
    textLogger((l) => coloured.push(l), { now: at, color: true }).error('boom');
    expect(plain[0]).toMatch(/^22:10:31 ERROR GET \/x\/\S+ 500$/);
    expect(plain[0]).not.toContain(secret);
    expect(plain[0]).not.toContain('\x1b[');
    expect(coloured[0]).toContain('\x1b[31mERROR\x1b[0m');
  });

  it('a minimum level drops what is below it, in both formats', () => {
    const lines: string[] = [];
    for (const log of [jsonLogger((l) => lines.push(l), 'warn'), textLogger((l) => lines.push(l), { minimum: 'warn', now: at })]) {
      log.info('chatty');
      log.warn('careful');
      log.error('broken');
    }
    expect(lines.filter((l) => l.includes('chatty'))).toEqual([]);
    expect(lines.filter((l) => l.includes('careful') || l.includes('broken'))).toHaveLength(4);
  });

  it('from the environment: text on a terminal, JSON otherwise, unless XP_LOG_FORMAT says; unknown values are refused', () => {
    const lines: string[] = [];
    const write = (l: string): number => lines.push(l);
    loggerFromEnv({ NO_COLOR: '1' }, { isTTY: true }, write).info('on a terminal');
    loggerFromEnv({}, { isTTY: false }, write).info('piped');
    loggerFromEnv({ XP_LOG_FORMAT: 'json' }, { isTTY: true }, write).info('asked for json');
    loggerFromEnv({ XP_LOG_FORMAT: 'text', XP_LOG_LEVEL: 'error' }, { isTTY: false }, write).warn('below the level');
    expect(lines[0]).toMatch(/^\d\d:\d\d:\d\d on a terminal$/);
    expect(JSON.parse(lines[1]!)).toMatchObject({ level: 'info', message: 'piped' });
    expect(JSON.parse(lines[2]!)).toMatchObject({ message: 'asked for json' });
    expect(lines).toHaveLength(3);
    loggerFromEnv({}, { isTTY: true }, write).info('in colour');
    expect(lines[3]).toMatch(/^\x1b\[2m\d\d:\d\d:\d\d\x1b\[0m in colour$/);
    expect(() => loggerFromEnv({ XP_LOG_FORMAT: 'pretty' }, {}, write)).toThrow(/XP_LOG_FORMAT must be text or json, not "pretty"/);
    expect(() => loggerFromEnv({ XP_LOG_LEVEL: 'debug' }, {}, write)).toThrow(/XP_LOG_LEVEL must be info, warn or error/);
  });
});
