import '../../test/dom.js';
import { cleanup, render, screen } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Role, StoredEnvironment } from '@xp/shared';
import { ROLES, fakeFetch, user } from '../../test/fake-api.js';
import type { Responder } from '../../test/fake-api.js';
import { App } from '../app.js';

const DEVELOPMENT: StoredEnvironment = { key: 'development', name: 'Development', production: false, requireApproval: false, version: 1, position: 0 };

function project(key: string): { id: string; key: string; name: string; description: null; version: number; createdAt: string; updatedAt: string } {
  return { id: `p-${key}`, key, name: key, description: null, version: 1, createdAt: '2026-11-25T10:00:00Z', updatedAt: '2026-11-25T10:00:00Z' };
}

/** The API of a signed-in `role` with projects "web" and "shop"; `more` answers first. */
function api(role: Role, more: Responder = () => undefined): ReturnType<typeof fakeFetch> {
  return fakeFetch((req) => {
    const answer = more(req);
    if (answer !== undefined) {
      return answer;
    }
    const path = req.path.split('?')[0] ?? '';
    if (path === '/api/v1/me') {
      return { status: 200, body: user({ role }) };
    }
    if (path === '/api/v1/projects') {
      return { status: 200, body: { items: [project('web'), project('shop')] } };
    }
    if (path === '/api/v1/roles') {
      return { status: 200, body: ROLES };
    }
    if (path.endsWith('/environments')) {
      return { status: 200, body: { items: [DEVELOPMENT] } };
    }
    if (path.endsWith('/changes/stream')) {
      return { status: 401 };
    }
    return req.method === 'GET' ? { status: 200, body: { items: [] } } : undefined;
  });
}

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

describe('console shell', () => {
  it('loads the permission matrix with the session and disables what the role may not do', async () => {
    window.location.hash = '#/flags';
    const { fetch, sent } = api('viewer');
    vi.stubGlobal('fetch', fetch);
    render(<App />);

    const create = await screen.findByRole('button', { name: 'Create the first flag' });
    expect(create).toHaveProperty('disabled', true);
    expect(create.getAttribute('aria-description')).toBe('Viewers cannot change flags');
    expect(screen.getByRole('button', { name: 'New flag' })).toHaveProperty('disabled', true);
    expect(sent.some((r) => r.path === '/api/v1/roles')).toBe(true);
  });

  it('disables nothing when the API does not serve the permission matrix (the API still decides)', async () => {
    window.location.hash = '#/flags';
    const { fetch } = api('viewer', (req) => (req.path === '/api/v1/roles' ? { status: 404, body: { error: { code: 'NOT_FOUND', message: 'no such route' } } } : undefined));
    vi.stubGlobal('fetch', fetch);
    render(<App />);

    expect(await screen.findByRole('button', { name: 'Create the first flag' })).toHaveProperty('disabled', false);
  });
});
