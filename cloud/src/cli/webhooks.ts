/**
 * `xp webhooks …`: a project's webhooks from a terminal or a provisioning script, through the API
 * (XP_API_URL, XP_TOKEN). A webhook URL often carries a token (Slack's do), so, like XP_TOKEN, it
 * is read from the environment (XP_WEBHOOK_URL), never from the command line. Changes act on the
 * webhook as it is now: the CLI reads its version and sends it back (If-Match).
 */
import { parseArgs } from 'node:util';
import { DeliveryStatus } from '@xp/shared';
import type { Webhook, WebhookDelivery, WebhookFormat, XpApiClient } from '@xp/shared';
import { AppError, AppErrorCode } from '../errors.js';

export const WEBHOOKS_HELP = `  xp webhooks list --project KEY
  xp webhooks create --project KEY --name NAME [--event PATTERN]... [--environment ENV]... [--format json|slack] [--disabled]
      The URL is read from XP_WEBHOOK_URL (it often holds a token). Prints the signing secret once.
  xp webhooks test|enable|disable|delete --project KEY ID
      test sends a webhook.test delivery now; exit code 1 when it fails.
  xp webhooks rotate-secret --project KEY ID [--keep-previous-hours N]
  xp webhooks deliveries --project KEY ID [--status pending|succeeded|failed] [--limit N] [--cursor C]
  xp webhooks delivery --project KEY ID DELIVERY      (every attempt of one delivery)
  xp webhooks redeliver --project KEY ID DELIVERY
      Add --json to any of them for the API's answer as JSON.`;

const USAGE = 'run xp webhooks --help for the usage';
const STATUSES: readonly DeliveryStatus[] = Object.values(DeliveryStatus);

const usage = (message: string): AppError => new AppError(AppErrorCode.Validation, `${message}; ${USAGE}`);

function intOption(name: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) {
    return undefined;
  }
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max) {
    throw new AppError(AppErrorCode.Validation, `--${name} must be a whole number from ${min} to ${max}, got "${value.slice(0, 40)}"`);
  }
  return n;
}

const when = (iso: string | null): string => (iso === null ? '-' : iso.replace('T', ' ').replace(/\.\d{3}Z$/, 'Z'));

function describeWebhook(w: Webhook): string {
  const last = w.lastDelivery === null ? 'never delivered' : `last ${w.lastDelivery.status}${w.lastDelivery.statusCode === null ? '' : ` (${w.lastDelivery.statusCode})`} ${when(w.lastDelivery.at)}`;
  const where = w.environments === null ? 'all environments' : w.environments.join(', ');
  return `${w.id}  ${w.name}  ${w.enabled ? 'enabled' : 'disabled'}  ${w.format}  ${w.url}  events ${w.events.join(', ')}  ${where}  ${last}`;
}

function describeDelivery(d: WebhookDelivery): string {
  const answer = d.statusCode === null ? (d.error ?? 'no answer') : String(d.statusCode);
  const next = d.status === 'pending' && d.nextAttemptAt !== null ? `  next ${when(d.nextAttemptAt)}` : '';
  return `${d.id}  ${d.event}  ${d.status}  ${answer}  attempts ${d.attempts}  ${when(d.createdAt)}${next}`;
}

/** Runs `xp webhooks SUBCOMMAND …`; returns the exit code. */
export async function runWebhooks(args: readonly string[], api: () => XpApiClient, env: NodeJS.ProcessEnv, print: (line: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    allowPositionals: true,
    strict: true,
    options: {
      project: { type: 'string' },
      name: { type: 'string' },
      event: { type: 'string', multiple: true },
      environment: { type: 'string', multiple: true },
      format: { type: 'string' },
      disabled: { type: 'boolean' },
      status: { type: 'string' },
      limit: { type: 'string' },
      cursor: { type: 'string' },
      'keep-previous-hours': { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  const [sub, id, delivery, ...extra] = positionals;
  if (sub === undefined) {
    throw usage('webhooks needs a subcommand (list, create, test, …)');
  }
  const project = values.project;
  if (project === undefined) {
    throw usage(`webhooks ${sub.slice(0, 40)} needs --project`);
  }
  const arity: Readonly<Record<string, number>> = { list: 0, create: 0, test: 1, enable: 1, disable: 1, delete: 1, 'rotate-secret': 1, deliveries: 1, delivery: 2, redeliver: 2 };
  const wanted = arity[sub];
  if (wanted === undefined) {
    throw usage(`unknown webhooks subcommand "${sub.slice(0, 40)}"`);
  }
  const given = positionals.length - 1;
  if (given !== wanted || extra.length > 0) {
    throw usage(`webhooks ${sub} takes ${wanted === 0 ? 'no arguments' : wanted === 1 ? 'the webhook id' : 'the webhook id and a delivery id'}`);
  }
  const out = (value: unknown, lines: () => string[]): number => {
    for (const line of values.json === true ? [JSON.stringify(value, null, 2)] : lines()) {
      print(line);
    }
    return 0;
  };
  const client = api();
  const webhookId = id ?? '';
  const deliveryId = delivery ?? '';

  switch (sub) {
    case 'list': {
      const hooks = await client.listWebhooks(project);
      return out(hooks, () => (hooks.length === 0 ? [`No webhooks in ${project}.`] : hooks.map(describeWebhook)));
    }
    case 'create': {
      const url = env.XP_WEBHOOK_URL?.trim();
      if (url === undefined || url === '') {
        throw usage('set XP_WEBHOOK_URL to the URL to send to (it is read from the environment: a webhook URL often holds a token)');
      }
      if (values.name === undefined) {
        throw usage('webhooks create needs --name');
      }
      const created = await client.createWebhook(project, {
        name: values.name,
        url,
        ...(values.format === undefined ? {} : { format: values.format as WebhookFormat }),
        ...(values.event === undefined ? {} : { events: values.event }),
        ...(values.environment === undefined ? {} : { environments: values.environment }),
        ...(values.disabled === true ? { enabled: false } : {}),
      });
      return out(created, () => [`Created webhook ${created.webhook.id} (${created.webhook.name}) → ${created.webhook.url}`, `Signing secret (shown once): ${created.secret}`]);
    }
    case 'test': {
      const sent = await client.testWebhook(project, webhookId);
      out(sent, () => [sent.status === 'succeeded' ? `Delivered: ${sent.statusCode ?? ''} in ${sent.durationMs ?? 0} ms` : `Failed: ${sent.statusCode ?? sent.error ?? 'no answer'}`, ...(sent.response === null || sent.response === '' ? [] : [`Answer: ${sent.response}`])]);
      // A script checking a receiver must see the failure: exit code 1 (the output above says why).
      return sent.status === 'succeeded' ? 0 : 1;
    }
    case 'enable':
    case 'disable': {
      const current = await client.webhook(project, webhookId);
      const updated = await client.updateWebhook(project, webhookId, { enabled: sub === 'enable' }, current.version);
      return out(updated, () => [`${updated.name} is ${updated.enabled ? 'enabled' : 'disabled'}.`]);
    }
    case 'delete': {
      const current = await client.webhook(project, webhookId);
      const deleted = await client.deleteWebhook(project, webhookId, current.version);
      return out(deleted, () => [`Deleted webhook ${deleted.id} (${deleted.name}) and its delivery log.`]);
    }
    case 'rotate-secret': {
      const keepPreviousHours = intOption('keep-previous-hours', values['keep-previous-hours'], 0, 168);
      const current = await client.webhook(project, webhookId);
      const rotated = await client.rotateWebhookSecret(project, webhookId, current.version, keepPreviousHours === undefined ? {} : { keepPreviousHours });
      const previous = rotated.webhook.previousSecretExpiresAt;
      return out(rotated, () => [`New signing secret (shown once): ${rotated.secret}`, previous === null ? 'The previous secret signs no more.' : `The previous secret also signs until ${when(previous)}.`]);
    }
    case 'deliveries': {
      const status = values.status;
      if (status !== undefined && !STATUSES.includes(status as DeliveryStatus)) {
        throw new AppError(AppErrorCode.Validation, `--status must be one of ${STATUSES.join(', ')}, got "${status.slice(0, 40)}"`);
      }
      const limit = intOption('limit', values.limit, 1, 100);
      const page = await client.webhookDeliveries(project, webhookId, {
        ...(limit === undefined ? {} : { limit }),
        ...(values.cursor === undefined ? {} : { cursor: values.cursor }),
        ...(status === undefined ? {} : { status: status as DeliveryStatus }),
      });
      const more = page.nextCursor === undefined ? [] : [`Older ones: add --cursor ${page.nextCursor}`];
      return out(page, () => (page.items.length === 0 ? ['No deliveries.'] : [...page.items.map(describeDelivery), ...more]));
    }
    case 'delivery': {
      const d = await client.webhookDelivery(project, webhookId, deliveryId);
      return out(d, () => [
        describeDelivery(d),
        ...d.attemptLog.map((a) => `  attempt ${a.attempt}  ${when(a.at)}  ${a.statusCode ?? 'no answer'}  ${a.durationMs ?? 0} ms${a.error === null ? '' : `  ${a.error}`}`),
      ]);
    }
    default: {
      const again = await client.redeliverWebhook(project, webhookId, deliveryId);
      return out(again, () => [`Queued delivery ${again.id} (${again.event}) again.`]);
    }
  }
}
