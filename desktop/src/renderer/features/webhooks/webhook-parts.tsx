import type { ReactNode } from 'react';
import { ApiError, DeliveryStatus } from '@xp/shared';
import type { Webhook } from '@xp/shared';
import type { Allowance } from '../../lib/permissions.js';
import { formatTime } from '../../lib/format.js';
import { Badge } from '../../lib/ui.js';

const TONE: Readonly<Record<DeliveryStatus, 'good' | 'bad' | 'info'>> = { [DeliveryStatus.Pending]: 'info', [DeliveryStatus.Succeeded]: 'good', [DeliveryStatus.Failed]: 'bad' };

/** "succeeded · 200", "failed · 500", "pending". */
export function DeliveryBadge({ status, statusCode }: { status: DeliveryStatus; statusCode: number | null }): ReactNode {
  return (
    <Badge tone={TONE[status]}>
      {status}
      {statusCode === null ? '' : ` · ${statusCode}`}
    </Badge>
  );
}

/** The webhook's last delivery: status, code and when; "none yet" before the first. */
export function LastDelivery({ last }: { last: Webhook['lastDelivery'] }): ReactNode {
  if (last === null) {
    return <span className="muted small">none yet</span>;
  }
  return (
    <>
      <DeliveryBadge status={last.status} statusCode={last.statusCode} /> <span className="small">{formatTime(last.at)}</span>
    </>
  );
}

/** Event patterns as chips. */
export function EventList({ events }: { events: readonly string[] }): ReactNode {
  return (
    <span className="chips">
      {events.map((e) => (
        <code key={e} className="chip">
          {e === '*' ? '* (all)' : e}
        </code>
      ))}
    </span>
  );
}

/**
 * Under a webhook request's failure: when it is a 503, what it means (the platform has no platform
 * key, which signs deliveries and encrypts URLs) and who can fix it; nothing otherwise.
 */
export function PlatformKeyHint({ error }: { error: unknown }): ReactNode {
  return error instanceof ApiError && error.status === 503 ? (
    <p className="banner banner-info">
      Webhooks need the platform key, which signs deliveries and encrypts webhook URLs, and this platform has none. Whoever runs it sets one: <code>XP_PLATFORM_KEY</code> (at least
      32 characters) or, on AWS, <code>XP_PLATFORM_KEY_SECRET_ARN</code>. <code>xp start</code> makes one by itself.
    </p>
  ) : null;
}

/** What roles without `webhooks:manage` see instead of the screen. */
export function ManageOnly({ allowance }: { allowance: Allowance }): ReactNode {
  return (
    <p className="state state-empty" role="note">
      {allowance.reason ?? 'You cannot manage webhooks'}: owners and admins do. Webhooks send the project's changes (flags toggled, experiments started…) to other systems; ask an
      owner or admin to set one up.
    </p>
  );
}
