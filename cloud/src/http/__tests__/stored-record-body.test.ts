import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgliteTarget } from '../../store/__tests__/test-databases.js';
import type { Platform } from './harness.js';
import { OWNER, booleanFlagBody, startPlatform } from './harness.js';

const DEMO = '/api/v1/projects/demo';

describe('a stored record sent back as the body of a PUT', () => {
  let p: Platform;
  let token: string;

  beforeAll(async () => {
    p = await startPlatform(pgliteTarget());
    token = await p.login(OWNER.email, OWNER.password);
    const created = await p.request('POST', `${DEMO}/flags`, { token, body: booleanFlagBody('round-trip') });
    if (created.status !== 201) {
      throw new Error(`creating the flag answered ${String(created.status)}`);
    }
  });
  afterAll(async () => {
    await p.close();
  });

  it('says to send the definition object and the version as If-Match, keeping the issues', async () => {
    // A migration script's first try: PUT back what GET answered (`{ key, version, …, definition }`);
    // four zod issues ("Unrecognized keys: version, …") never said what the body should be.
    const got = await p.request('GET', `${DEMO}/flags/round-trip`, { token });
    expect(got.status).toBe(200);
    const res = await p.request('PUT', `${DEMO}/flags/round-trip`, { token, body: got.body, headers: { 'If-Match': `"${String(got.body.version)}"` } });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toContain('this is a stored record as a GET answers it: send its "definition" object as the body, and its "version" as If-Match');
    expect(res.body.error.details.issues.length).toBeGreaterThan(0);
    const fixed = await p.request('PUT', `${DEMO}/flags/round-trip`, { token, body: got.body.definition, headers: { 'If-Match': `"${String(got.body.version)}"` } });
    expect(fixed.status).toBe(200);
  });

  it('gives no such hint for an ordinary invalid body', async () => {
    const res = await p.request('PUT', `${DEMO}/flags/round-trip`, { token, body: { ...booleanFlagBody('round-trip'), name: 42 }, headers: { 'If-Match': '"2"' } });
    expect(res.status).toBe(400);
    expect(res.body.error.message).not.toContain('stored record');
  });
});
