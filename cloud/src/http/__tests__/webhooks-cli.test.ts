/**
 * `xp webhooks …` against the real local API over HTTP (PGlite), with a real receiver on
 * 127.0.0.1: create (URL from the environment, secret shown once), list, test, disable and
 * enable, rotate with an overlap, the delivery log by status, one delivery's attempts, redelivery,
 * delete, and usage errors.
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { ServerType } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyWebhookSignature } from '../../auth/platform-key.js';
import { main } from '../../cli/xp.js';
import { pgliteTarget } from '../../store/__tests__/test-databases.js';
import type { Platform } from './harness.js';
import { OWNER, startPlatform } from './harness.js';

describe('xp webhooks', () => {
  let p: Platform;
  let api: ServerType;
  let receiver: Server;
  let env: NodeJS.ProcessEnv;
  const received: { body: string; signature: string }[] = [];
  const statuses: number[] = [];

  const listen = async (server: Server | ServerType): Promise<number> => {
    if (!server.listening) {
      await new Promise<void>((resolve) => server.once('listening', resolve));
    }
    return (server.address() as AddressInfo).port;
  };

  beforeAll(async () => {
    p = await startPlatform(pgliteTarget());
    api = serve({ fetch: p.app.fetch, port: 0, hostname: '127.0.0.1' });
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ body: Buffer.concat(chunks).toString('utf8'), signature: String(req.headers['x-xp-signature']) });
        res.writeHead(statuses.shift() ?? 200).end('thanks');
      });
    }).listen(0, '127.0.0.1');
    const token = await p.login(OWNER.email, OWNER.password);
    env = { XP_API_URL: `http://127.0.0.1:${await listen(api)}`, XP_TOKEN: token, XP_WEBHOOK_URL: `http://127.0.0.1:${await listen(receiver)}/hooks?token=abc` };
  }, 60_000);
  afterAll(async () => {
    await new Promise((resolve) => api.close(resolve));
    await new Promise((resolve) => receiver.close(resolve));
    await p.close();
  });

  const run = async (args: string[], environment = env): Promise<{ code: number; out: string[]; err: string[] }> => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(['webhooks', ...args], environment, (l) => out.push(l), (l) => err.push(l));
    return { code, out, err };
  };

  it('manages a webhook from creation to deletion', async () => {
    const created = await run(['create', '--project', 'demo', '--name', 'CI', '--event', 'flag.*', '--event', 'experiment.started', '--environment', 'development', '--json']);
    expect(created.code).toBe(0);
    const { webhook, secret } = JSON.parse(created.out.join('\n'));
    expect(webhook).toMatchObject({ name: 'CI', url: `${env.XP_WEBHOOK_URL!.split('/hooks')[0]!}/…`, events: ['flag.*', 'experiment.started'], environments: ['development'], enabled: true });
    const id = webhook.id as string;

    const list = await run(['list', '--project', 'demo']);
    expect(list.out).toEqual([expect.stringMatching(new RegExp(`^${id}  CI  enabled  json  http://127\\.0\\.0\\.1:\\d+/…  events flag\\.\\*, experiment\\.started  development  never delivered$`))]);

    const test = await run(['test', '--project', 'demo', id]);
    expect(test.code).toBe(0);
    expect(test.out).toEqual([expect.stringMatching(/^Delivered: 200 in \d+ ms$/), 'Answer: thanks']);
    expect(verifyWebhookSignature(secret, received[0]!.body, received[0]!.signature)).toBe(true);

    statuses.push(503);
    const failed = await run(['test', '--project', 'demo', id]);
    // A failed test delivery fails the command, for scripts that check a receiver.
    expect(failed.code).toBe(1);
    expect(failed.out).toEqual(['Failed: 503', 'Answer: thanks']);
    const log = await run(['deliveries', '--project', 'demo', id, '--status', 'failed']);
    expect(log.out).toEqual([expect.stringMatching(/^\d+  webhook\.test  failed  503  attempts 1  2026-11-25 12:00:00Z$/)]);
    const deliveryId = log.out[0]!.split('  ')[0]!;
    const one = await run(['delivery', '--project', 'demo', id, deliveryId]);
    expect(one.out[1]).toMatch(/^ {2}attempt 1 {2}2026-11-25 12:00:00Z {2}503 {2}\d+ ms {2}the receiver answered 503$/);
    expect((await run(['redeliver', '--project', 'demo', id, deliveryId])).out).toEqual([expect.stringMatching(/^Queued delivery \d+ \(webhook\.test\) again\.$/)]);
    expect((await run(['deliveries', '--project', 'demo', id, '--limit', '1'])).out).toEqual([expect.stringMatching(/ webhook\.test {2}pending /), expect.stringMatching(/^Older ones: add --cursor \S+$/)]);

    const rotated = await run(['rotate-secret', '--project', 'demo', id, '--keep-previous-hours', '24']);
    expect(rotated.out).toEqual([expect.stringMatching(/^New signing secret \(shown once\): whsec_\S+$/), 'The previous secret also signs until 2026-11-26 12:00:00Z.']);

    expect((await run(['disable', '--project', 'demo', id])).out).toEqual(['CI is disabled.']);
    expect((await run(['enable', '--project', 'demo', id])).out).toEqual(['CI is enabled.']);
    expect((await run(['delete', '--project', 'demo', id])).out).toEqual([`Deleted webhook ${id} (CI) and its delivery log.`]);
    expect((await run(['list', '--project', 'demo'])).out).toEqual(['No webhooks in demo.']);
  });

  it('takes the URL only from the environment and says what is wrong with a command', async () => {
    const cases: [string[], NodeJS.ProcessEnv, string][] = [
      [['create', '--project', 'demo', '--name', 'x'], { ...env, XP_WEBHOOK_URL: '' }, 'error: set XP_WEBHOOK_URL to the URL to send to'],
      [['create', '--project', 'demo', '--name', 'x', '--url', 'https://hooks.slack.com/T/B/secret'], env, 'error: unknown option --url'],
      [['create', '--project', 'demo', '--name', 'x', '--event', 'flg.*'], env, 'error: invalid body: body.events[0]: unknown resource type "flg"'],
      [['list'], env, 'error: webhooks list needs --project'],
      [['frobnicate', '--project', 'demo'], env, 'error: unknown webhooks subcommand "frobnicate"'],
      [['test', '--project', 'demo'], env, 'error: webhooks test takes the webhook id'],
      [['deliveries', '--project', 'demo', 'x', '--status', 'lost'], env, 'error: --status must be one of pending, succeeded, failed, got "lost"'],
      [['rotate-secret', '--project', 'demo', 'x', '--keep-previous-hours', '200'], env, 'error: --keep-previous-hours must be a whole number from 0 to 168, got "200"'],
      [['test', '--project', 'demo', 'no-such-hook'], env, 'error: webhook "no-such-hook" not found'],
    ];
    for (const [args, environment, message] of cases) {
      const { code, err } = await run(args, environment);
      expect({ args, code: code === 0 ? 0 : 'error', first: err[0]?.slice(0, message.length) }).toEqual({ args, code: 'error', first: message });
    }
    expect((await run(['list', '--project', 'demo'])).out).toEqual(['No webhooks in demo.']);
  });
});
