import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgliteTarget } from '../../store/__tests__/test-databases.js';
import type { Platform } from './harness.js';
import { OWNER, booleanFlagBody, startPlatform } from './harness.js';

const DEMO = '/api/v1/projects/demo';

describe('?tag= on the definition lists', () => {
  let p: Platform;
  let token: string;

  beforeAll(async () => {
    p = await startPlatform(pgliteTarget());
    token = await p.login(OWNER.email, OWNER.password);
    for (const [key, tags] of [
      ['tagged-a', ['team-1']],
      ['tagged-b', ['team-1', 'checkout']],
      ['tagged-c', ['team-2', "o'brien"]],
    ] as const) {
      const res = await p.request('POST', `${DEMO}/flags`, { token, body: { ...booleanFlagBody(key), tags } });
      if (res.status !== 201) {
        throw new Error(`creating ${key} answered ${String(res.status)}`);
      }
    }
  });
  afterAll(async () => {
    await p.close();
  });

  const keys = async (path: string): Promise<string[]> => {
    const res = await p.request('GET', path, { token });
    expect(res.status).toBe(200);
    return (res.body.items as { key: string }[]).map((i) => i.key);
  };

  it('lists the flags having every tag given, comma-separated', async () => {
    expect(await keys(`${DEMO}/flags?tag=team-1`)).toEqual(['tagged-a', 'tagged-b']);
    expect(await keys(`${DEMO}/flags?tag=team-1,checkout`)).toEqual(['tagged-b']);
    expect(await keys(`${DEMO}/flags?tag=${encodeURIComponent(" o'brien , team-2")}`)).toEqual(['tagged-c']);
    expect(await keys(`${DEMO}/flags?tag=team-1,team-2`)).toEqual([]);
    expect(await keys(`${DEMO}/flags?tag=team-1&q=tagged-b`)).toEqual(['tagged-b']);
    expect(await keys(`${DEMO}/flags?tag=nobody`)).toEqual([]);
    expect(await keys(`${DEMO}/experiments?tag=team-1`)).toEqual([]);
    expect(await keys(`${DEMO}/metrics?tag=team-1`)).toEqual([]);
  });

  it('counts a tag in code points, as saving one does, and refuses a comma in a saved tag', async () => {
    const emoji = '\u{1F600}'.repeat(33);
    const created = await p.request('POST', `${DEMO}/flags`, { token, body: { ...booleanFlagBody('tagged-emoji'), tags: [emoji] } });
    expect(created.status).toBe(201);
    expect(await keys(`${DEMO}/flags?tag=${encodeURIComponent(emoji)}`)).toEqual(['tagged-emoji']);
    expect((await p.request('GET', `${DEMO}/flags?tag=${encodeURIComponent('\u{1F600}'.repeat(65))}`, { token })).status).toBe(400);
    const comma = await p.request('POST', `${DEMO}/flags`, { token, body: { ...booleanFlagBody('tagged-comma'), tags: ['a,b'] } });
    expect(comma.status).toBe(400);
    expect(JSON.stringify(comma.body)).toContain('must not contain \\",\\"');
  });

  it('refuses an empty tag list, and the parameter on kinds without tags', async () => {
    expect((await p.request('GET', `${DEMO}/flags?tag=,`, { token })).status).toBe(400);
    expect((await p.request('GET', `${DEMO}/flags?tag=${'x'.repeat(65)}`, { token })).status).toBe(400);
    expect((await p.request('GET', `${DEMO}/holdouts?tag=team-1`, { token })).status).toBe(400);
  });

  it('filters segments by their optional tags (what `xp apply` scopes a repository by)', async () => {
    const segment = (key: string, tags?: string[]) => ({ key, name: key, type: 'ids', values: ['u1'], ...(tags === undefined ? {} : { tags }) });
    for (const body of [segment('seg-untagged'), segment('seg-team-1', ['team-1']), segment('seg-both', ['team-1', 'checkout'])]) {
      expect((await p.request('POST', `${DEMO}/segments`, { token, body })).status).toBe(201);
    }
    expect(await keys(`${DEMO}/segments?tag=team-1`)).toEqual(['seg-both', 'seg-team-1']);
    expect(await keys(`${DEMO}/segments?tag=checkout,team-1`)).toEqual(['seg-both']);
    expect(await keys(`${DEMO}/segments?tag=team-1&q=seg-team`)).toEqual(['seg-team-1']);
    expect((await p.request('GET', `${DEMO}/segments?tag=,`, { token })).status).toBe(400);
  });

  it('documents the parameter in the OpenAPI document', async () => {
    const doc = await p.request('GET', '/openapi.json');
    const params = (doc.body.paths['/api/v1/projects/{project}/flags'].get.parameters as { name: string }[]).map((x) => x.name);
    expect(params).toContain('tag');
  });
});
