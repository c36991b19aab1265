import type { ReactNode } from 'react';
import { XpApiClient } from '@xp/shared';
import type { RolesView, StoredEnvironment, User } from '@xp/shared';
import { SessionContext } from '../app/session.js';
import { permissionsOf } from '../lib/permissions.js';

/** One request the screen sent: method, path with query, If-Match and JSON body. */
export interface SentRequest {
  readonly method: string;
  readonly path: string;
  readonly ifMatch: string | null;
  readonly body: unknown;
}

export type Responder = (req: SentRequest) => { status: number; body?: unknown } | undefined;

/** A fetch that answers from `respond` and records what was sent. */
export function fakeFetch(respond: Responder): { fetch: typeof fetch; sent: SentRequest[] } {
  const sent: SentRequest[] = [];
  const fetchFn = (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const headers = new Headers(init?.headers);
    const req: SentRequest = {
      method: init?.method ?? 'GET',
      path: `${url.pathname}${url.search}`,
      ifMatch: headers.get('if-match'),
      body: typeof init?.body === 'string' ? (JSON.parse(init.body) as unknown) : undefined,
    };
    sent.push(req);
    const answer = respond(req) ?? { status: 404, body: { error: { code: 'NOT_FOUND', message: `no fake for ${req.method} ${req.path}` } } };
    return Promise.resolve(new Response(answer.body === undefined ? null : JSON.stringify(answer.body), { status: answer.status, headers: { 'content-type': 'application/json' } }));
  };
  return { fetch: fetchFn, sent };
}

/**
 * A client whose fetch answers from `respond` and records what was sent: component tests check
 * the requests a form makes and how it shows the API's answers (the real API runs in the e2e flow).
 */
export function fakeApi(respond: Responder): { client: XpApiClient; sent: SentRequest[] } {
  const { fetch, sent } = fakeFetch(respond);
  return { client: new XpApiClient({ apiUrl: 'http://localhost:3000', token: 'test-token', fetch }), sent };
}

/**
 * The part of `GET /api/v1/roles` (the API's permission matrix, cloud/src/auth/permissions.ts) that
 * the console checks; the e2e flow checks the console against the real one.
 */
export const ROLES: RolesView = {
  roles: ['owner', 'admin', 'editor', 'analyst', 'viewer'],
  permissions: [
    { permission: 'read', description: '', roles: ['owner', 'admin', 'editor', 'analyst', 'viewer'] },
    { permission: 'flags:write', description: '', roles: ['owner', 'admin', 'editor'] },
    { permission: 'segments:write', description: '', roles: ['owner', 'admin', 'editor'] },
    { permission: 'experiments:write', description: '', roles: ['owner', 'admin', 'editor'] },
    { permission: 'metrics:write', description: '', roles: ['owner', 'admin', 'editor', 'analyst'] },
    { permission: 'sdk-keys:manage', description: '', roles: ['owner', 'admin'] },
    { permission: 'webhooks:manage', description: '', roles: ['owner', 'admin'] },
    { permission: 'users:manage', description: '', roles: ['owner', 'admin'] },
    { permission: 'change-requests:propose', description: '', roles: ['owner', 'admin', 'editor'] },
    { permission: 'change-requests:approve', description: '', roles: ['owner', 'admin'] },
    { permission: 'change-requests:reject', description: '', roles: ['owner', 'admin'] },
    { permission: 'change-requests:apply', description: '', roles: ['owner', 'admin', 'editor'] },
    { permission: 'own-tokens:manage', description: '', roles: ['owner', 'admin', 'editor', 'analyst', 'viewer'] },
  ],
};

export function user(overrides: Partial<User> = {}): User {
  return { id: 'u-owner', email: 'owner@example.com', name: 'Owner', role: 'owner', disabled: false, version: 1, createdAt: '2026-11-25T10:00:00Z', updatedAt: '2026-11-25T10:00:00Z', ...overrides };
}

/** Renders children inside a signed-in session of `me` on project "web", with the permissions of `me`'s role. */
export function WithSession({ client, me, environments = [], children }: { client: XpApiClient; me: User; environments?: readonly StoredEnvironment[]; children: ReactNode }): ReactNode {
  return (
    <SessionContext.Provider value={{ client, user: me, permissions: permissionsOf(ROLES, me.role), project: 'web', environments, environment: environments[0]?.key ?? 'production', setEnvironment: () => undefined, refreshTick: 0 }}>
      {children}
    </SessionContext.Provider>
  );
}
