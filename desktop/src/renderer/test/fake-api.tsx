import type { ReactNode } from 'react';
import { cleanup } from '@testing-library/react';
import { afterEach, beforeEach, vi } from 'vitest';
import { XpApiClient, roleInProject } from '@xp/shared';
import type { EnvironmentInput, Project, RolesView, StoredEnvironment, User } from '@xp/shared';
import { SessionContext } from '../app/session.js';
import { permissionsOf } from '../lib/permissions.js';

/** One request the screen sent: method, path with query, If-Match and JSON body. */
export interface SentRequest {
  readonly method: string;
  readonly path: string;
  readonly ifMatch: string | null;
  readonly body: unknown;
}

/** An answer: `body` as JSON, or `text` as it is (CSV, NDJSON) with its `contentType`. */
export type Responder = (req: SentRequest) => { status: number; body?: unknown; text?: string; contentType?: string } | undefined;

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
    if (answer.text !== undefined) {
      return Promise.resolve(new Response(answer.text, { status: answer.status, headers: { 'content-type': answer.contentType ?? 'text/plain' } }));
    }
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
    { permission: 'projects:manage', description: '', roles: ['owner', 'admin'] },
    { permission: 'environments:manage', description: '', roles: ['owner', 'admin'] },
    { permission: 'users:manage', description: '', roles: ['owner', 'admin'] },
    { permission: 'units:erase', description: '', roles: ['owner', 'admin'] },
    { permission: 'code-refs:write', description: '', roles: ['owner', 'admin', 'editor'] },
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
    <SessionContext.Provider value={{ client, user: me, permissions: permissionsOf(ROLES, roleInProject(me, 'web')), matrix: ROLES, project: 'web', environments, environment: environments[0]?.key ?? 'production', setEnvironment: () => undefined, refreshTick: 0 }}>
      {children}
    </SessionContext.Provider>
  );
}

const AT = '2026-11-25T10:00:00Z';

/** A project as the API lists it. */
export function projectOf(key: string, overrides: Partial<Project> = {}): Project {
  return { id: `p-${key}`, key, name: key, description: null, version: 1, createdAt: AT, updatedAt: AT, ...overrides };
}

/** The environments the API gives a new project. */
export const DEFAULT_ENVIRONMENTS: readonly StoredEnvironment[] = [
  { key: 'development', name: 'Development', production: false, requireApproval: false, color: '#2ca02c', version: 1, position: 0 },
  { key: 'staging', name: 'Staging', production: false, requireApproval: false, color: '#ff7f0e', version: 1, position: 1 },
  { key: 'production', name: 'Production', production: true, requireApproval: true, color: '#d62728', version: 1, position: 2 },
];

const apiError = (status: number, code: string, message: string, details?: unknown): { status: number; body: unknown } => ({ status, body: { error: { code, message, ...(details === undefined ? {} : { details }) } } });

/** The API's answer to a write from `ifMatch` to something at `version`: none when they agree. */
function stale(what: string, version: number, ifMatch: string | null): { status: number; body: unknown } | undefined {
  if (ifMatch === null) {
    return apiError(428, 'PRECONDITION_REQUIRED', 'send the version read as If-Match');
  }
  return ifMatch === `"${version}"` ? undefined : apiError(409, 'VERSION_CONFLICT', `${what} was changed by someone else (version ${version}, you sent ${ifMatch.replaceAll('"', '')})`, { currentVersion: version });
}

/** The project and environment endpoints, keeping what they hold as it changes. */
export interface ProjectsBackend {
  /** Answers the project and environment endpoints (undefined for any other request). */
  readonly respond: Responder;
  readonly projects: () => readonly Project[];
  readonly environments: (project: string) => readonly StoredEnvironment[];
  /** Someone else changes a project behind the screen's back (its version goes up). */
  readonly changeProject: (key: string, patch: Partial<Project>) => void;
  /** Someone else changes an environment behind the screen's back. */
  readonly changeEnvironment: (project: string, key: string, patch: Partial<StoredEnvironment>) => void;
}

/**
 * The project endpoints as the API answers them: each write bumps the version and one from another
 * version than the current is refused (409; 428 without If-Match); a new project gets development,
 * staging and a protected production; a production environment is not deleted (409 INVALID_STATE).
 */
export function projectsBackend(initial: readonly Project[], environments: Readonly<Record<string, readonly StoredEnvironment[]>> = {}): ProjectsBackend {
  let projects = [...initial];
  const envs = new Map<string, StoredEnvironment[]>(initial.map((p) => [p.key, [...(environments[p.key] ?? DEFAULT_ENVIRONMENTS)]]));
  const changeProject = (key: string, patch: Partial<Project>): Project => {
    const found = projects.find((p) => p.key === key)!;
    const next = { ...found, ...patch, version: found.version + 1 };
    projects = projects.map((p) => (p.key === key ? next : p));
    return next;
  };
  const changeEnvironment = (project: string, key: string, patch: Partial<StoredEnvironment>): StoredEnvironment => {
    const list = envs.get(project) ?? [];
    const found = list.find((e) => e.key === key)!;
    const next = { ...found, ...patch, version: found.version + 1 };
    envs.set(project, list.map((e) => (e.key === key ? next : e)));
    return next;
  };
  const respond: Responder = (req) => {
    const path = req.path.split('?')[0] ?? '';
    if (path === '/api/v1/projects' && req.method === 'GET') {
      return { status: 200, body: { items: projects } };
    }
    if (path === '/api/v1/projects' && req.method === 'POST') {
      const body = req.body as { key: string; name: string; description?: string };
      if (projects.some((p) => p.key === body.key)) {
        return apiError(409, 'ALREADY_EXISTS', `project "${body.key}" already exists`);
      }
      const created = projectOf(body.key, { name: body.name, description: body.description ?? null });
      projects = [...projects, created];
      envs.set(created.key, [...DEFAULT_ENVIRONMENTS]);
      return { status: 201, body: created };
    }
    const match = /^\/api\/v1\/projects\/([^/]+)(?:\/environments(?:\/([^/]+))?)?$/.exec(path);
    if (match === null) {
      return undefined;
    }
    const key = decodeURIComponent(match[1] ?? '');
    const project = projects.find((p) => p.key === key);
    if (project === undefined) {
      return apiError(404, 'NOT_FOUND', `project "${key}" not found`);
    }
    const isEnvironments = path.includes('/environments');
    const envKey = match[2] === undefined ? undefined : decodeURIComponent(match[2]);
    if (!isEnvironments) {
      if (req.method === 'PATCH') {
        return stale('project', project.version, req.ifMatch) ?? { status: 200, body: changeProject(key, req.body as Partial<Project>) };
      }
      if (req.method === 'DELETE') {
        const refused = stale('project', project.version, req.ifMatch);
        if (refused !== undefined) {
          return refused;
        }
        projects = projects.filter((p) => p.key !== key);
        envs.delete(key);
        return { status: 204 };
      }
      return req.method === 'GET' ? { status: 200, body: project } : undefined;
    }
    const list = envs.get(key) ?? [];
    if (envKey === undefined) {
      if (req.method === 'GET') {
        return { status: 200, body: { items: list } };
      }
      if (req.method === 'POST') {
        const body = req.body as EnvironmentInput;
        const created: StoredEnvironment = { ...body, production: body.production ?? false, requireApproval: body.requireApproval ?? false, version: 1, position: list.length };
        envs.set(key, [...list, created]);
        return { status: 201, body: created };
      }
      return undefined;
    }
    const env = list.find((e) => e.key === envKey);
    if (env === undefined) {
      return apiError(404, 'NOT_FOUND', `environment "${envKey}" not found`);
    }
    if (req.method === 'PUT') {
      const body = req.body as EnvironmentInput;
      return stale('environment', env.version, req.ifMatch) ?? { status: 200, body: changeEnvironment(key, envKey, { ...body, production: body.production ?? false, requireApproval: body.requireApproval ?? false }) };
    }
    if (req.method === 'DELETE') {
      const refused = stale('environment', env.version, req.ifMatch);
      if (refused !== undefined) {
        return refused;
      }
      if (env.production) {
        return apiError(409, 'INVALID_STATE', 'a production environment cannot be deleted; mark it non-production first');
      }
      envs.set(key, list.filter((e) => e.key !== envKey));
      return { status: 204 };
    }
    return req.method === 'GET' ? { status: 200, body: env } : undefined;
  };
  return {
    respond,
    projects: () => projects,
    environments: (project) => envs.get(project) ?? [],
    changeProject: (key, patch) => {
      changeProject(key, patch);
    },
    changeEnvironment: (project, key, patch) => {
      changeEnvironment(project, key, patch);
    },
  };
}

/**
 * Hooks for tests that render the whole console (`<App />`) signed in: a stored session and the
 * light theme before each test; after it, the DOM, stubbed globals and the route are cleared.
 */
export function signedInConsole(): void {
  beforeEach(() => {
    window.localStorage.clear();
    window.localStorage.setItem('xp.theme', 'light');
    window.sessionStorage.setItem('xp.session', 'test-token');
  });
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
    window.location.hash = '';
  });
}
