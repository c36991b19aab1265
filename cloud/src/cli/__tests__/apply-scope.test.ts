/**
 * `xp apply` of scoped documents (several repositories, one project), against the real API over
 * HTTP (PGlite): each document owns the definitions carrying its scope's tag, prunes only those,
 * refuses to write one outside its scope unless `--adopt`, and `xp export --scope-tag` round-trips.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { OWNER, mustAs, startPlatform } from '../../http/__tests__/harness.js';
import type { Platform } from '../../http/__tests__/harness.js';
import { pgliteTarget } from '../../store/__tests__/test-databases.js';
import { booleanFlagDoc, runXpText, serveApi, writeDocument } from './cli-over-http.js';

const MONO = '/api/v1/projects/mono';

/** A boolean flag, on in development, with `extra` (a rule naming a segment). */
function flag(key: string, extra: Record<string, unknown> = {}, rules: unknown[] = []): Record<string, unknown> {
  return booleanFlagDoc(key, { development: { enabled: true, defaultVariation: 'off', offVariation: 'off', rules } }, extra);
}

const segment = (key: string, values: string[] = ['u1']): Record<string, unknown> => ({ key, name: key, type: 'ids', attribute: 'id', values });
const metric = (key: string): Record<string, unknown> => ({ key, name: key, type: 'conversion', event: key });

describe('xp apply with a scope', () => {
  let p: Platform;
  let api: Awaited<ReturnType<typeof serveApi>>;
  let owner: string;
  let asOwner: NodeJS.ProcessEnv;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'xp-apply-scope-'));
    p = await startPlatform(pgliteTarget());
    api = await serveApi(p);
    owner = await p.login(OWNER.email, OWNER.password);
    asOwner = { XP_API_URL: api.url, XP_TOKEN: owner };
    await mustAs(p, owner, 'POST', '/api/v1/projects', { key: 'mono', name: 'Monorepo-less' });
  }, 60_000);
  afterAll(async () => {
    await api.close();
    await p.close();
    await rm(dir, { recursive: true, force: true });
  });

  const write = (name: string, doc: unknown): Promise<string> => writeDocument(dir, name, doc);
  const run = (args: string[]): Promise<{ code: number; out: string; err: string }> => runXpText(args, asOwner);
  const keys = async (kind: string): Promise<string[]> => ((await mustAs(p, owner, 'GET', `${MONO}/${kind}?archived=true&limit=100`)) as { items: { key: string }[] }).items.map((i) => i.key).sort();
  const stored = async (kind: string, key: string): Promise<{ version: number; definition: { tags?: string[] } }> => (await mustAs(p, owner, 'GET', `${MONO}/${kind}/${key}`)) as { version: number; definition: { tags?: string[] } };

  const repoA = (withMetric = true): Record<string, unknown> => ({
    xp: 1,
    project: 'mono',
    scope: { tag: 'repo-a' },
    segments: [segment('a-seg')],
    metrics: withMetric ? [metric('a-metric')] : [],
    // A reference to repo B's segment: allowed, B owns it.
    flags: [flag('a-flag', { tags: ['checkout'] }, [{ id: 'b-testers', type: 'force', segments: ['b-seg'], variation: 'on' }])],
  });
  const repoB = { xp: 1, project: 'mono', scope: { tag: 'repo-b' }, segments: [segment('b-seg')], flags: [flag('b-flag')] };

  it('lets two scoped documents with --prune keep their own flags, segments and metrics', async () => {
    const b = await run(['apply', await write('b.yaml', repoB), '--prune']);
    expect(b).toMatchObject({ code: 0 });
    expect(b.out).toContain('Scope: tag repo-b (the document writes only definitions with this tag, and prunes only those).');
    const a = await run(['apply', await write('a.yaml', repoA()), '--prune']);
    expect(a).toMatchObject({ code: 0 });
    // Applying A with --prune planned no deletion of B's definitions.
    expect(a.out).not.toContain('(delete)');
    expect(a.out).toContain('Plan: 3 to create, 0 to update, 0 to delete.');
    expect(await keys('flags')).toEqual(['a-flag', 'b-flag']);
    expect(await keys('segments')).toEqual(['a-seg', 'b-seg']);
    // The scope's tag is added after the document's own tags.
    expect((await stored('flags', 'a-flag')).definition.tags).toEqual(['checkout', 'repo-a']);
    expect((await stored('segments', 'b-seg')).definition.tags).toEqual(['repo-b']);

    // B again: nothing to change, and nothing of A's pruned.
    const again = await run(['apply', await write('b.yaml', repoB), '--prune', '--json', '--detailed-exitcode']);
    expect(again).toMatchObject({ code: 0 });
    expect(JSON.parse(again.out)).toMatchObject({ scope: 'repo-b', changes: [], errors: [] });

    // A drops its metric: only that is pruned.
    const dropped = await run(['apply', await write('a.yaml', repoA(false)), '--prune', '--json']);
    expect(dropped).toMatchObject({ code: 0 });
    expect(JSON.parse(dropped.out)).toMatchObject({ scope: 'repo-a', changes: [{ kind: 'metrics', key: 'a-metric', action: 'delete' }] });
    expect((JSON.parse(dropped.out) as { changes: unknown[] }).changes).toHaveLength(1);
    expect(await keys('flags')).toEqual(['a-flag', 'b-flag']);
    expect(await keys('segments')).toEqual(['a-seg', 'b-seg']);
    expect(await keys('metrics')).toEqual([]);
  });

  it('refuses to write a definition outside its scope, changing nothing, and adopts it with --adopt', async () => {
    await mustAs(p, owner, 'POST', `${MONO}/segments`, segment('beta-testers', ['console-made']));
    const before = await stored('segments', 'beta-testers');
    const doc = { xp: 1, project: 'mono', scope: { tag: 'repo-c' }, segments: [segment('beta-testers', ['c1'])], flags: [flag('c-flag')] };
    const file = await write('c.yaml', doc);

    const refused = await run(['apply', file]);
    expect(refused.code).not.toBe(0);
    expect(refused.err).toContain('nothing was applied: the document writes a definition outside its scope');
    expect(refused.err).toContain('segment beta-testers exists and is not in scope repo-c (its tags: none); add the tag with the API to adopt it, or remove it from this document');
    expect(await stored('segments', 'beta-testers')).toEqual(before);
    expect(await keys('flags')).not.toContain('c-flag');

    // Another scope's definition is not this one's either.
    const other = await run(['apply', await write('c-other.yaml', { ...doc, segments: [segment('b-seg')] }), '--json']);
    expect(other.code).not.toBe(0);
    expect(JSON.parse(other.out)).toMatchObject({ scope: 'repo-c', errors: [{ issues: [{ path: 'segments.b-seg (line 6)', message: expect.stringContaining('segment b-seg exists and is not in scope repo-c (its tags: repo-b)') }] }] });
    expect((await stored('segments', 'b-seg')).definition.tags).toEqual(['repo-b']);

    const dry = await run(['apply', file, '--adopt', '--dry-run', '--json']);
    expect(dry).toMatchObject({ code: 0 });
    expect(JSON.parse(dry.out)).toMatchObject({ scope: 'repo-c', changes: [{ kind: 'segments', key: 'beta-testers', action: 'update', adopt: 'repo-c' }, { kind: 'flags', key: 'c-flag', action: 'create' }] });
    const adopted = await run(['apply', file, '--adopt']);
    expect(adopted).toMatchObject({ code: 0 });
    expect(adopted.out).toContain('~ segment beta-testers (update, adopted into scope repo-c)');
    expect((await stored('segments', 'beta-testers')).definition).toMatchObject({ values: ['c1'], tags: ['repo-c'] });
    // Adopted, it is the document's: applied again without --adopt, nothing changes.
    expect(await run(['apply', file, '--detailed-exitcode'])).toMatchObject({ code: 0 });
  });

  it('exports one scope as a document that applies without changes', async () => {
    const out = path.join(dir, 'export-a.yaml');
    const exported = await run(['export', '--project', 'mono', '--scope-tag', 'repo-a', '--out', out]);
    expect(exported).toMatchObject({ code: 0 });
    const doc = YAML.parse(await readFile(out, 'utf8')) as { scope: unknown; segments: { key: string }[]; flags: { key: string }[]; holdouts: unknown[] };
    expect(Object.keys(doc).slice(0, 3)).toEqual(['xp', 'project', 'scope']);
    expect(doc.scope).toEqual({ tag: 'repo-a' });
    expect(doc.segments.map((s) => s.key)).toEqual(['a-seg']);
    expect(doc.flags.map((f) => f.key)).toEqual(['a-flag']);
    expect(doc.holdouts).toEqual([]);
    const applied = await run(['apply', out, '--prune', '--detailed-exitcode']);
    expect(applied).toEqual({ code: 0, out: 'Scope: tag repo-a (the document writes only definitions with this tag, and prunes only those).\n\nNo changes: the project already matches the document.', err: '' });
  });

  it('takes the scope from --scope-tag, which must agree with the document, and refuses holdouts in a scoped document', async () => {
    const unscoped = { xp: 1, project: 'mono', flags: [flag('d-flag')] };
    const file = await write('d.yaml', unscoped);
    const applied = await run(['apply', file, '--scope-tag', 'repo-d', '--prune']);
    expect(applied).toMatchObject({ code: 0 });
    expect((await stored('flags', 'd-flag')).definition.tags).toEqual(['repo-d']);
    // Other scopes' flags stayed.
    expect(await keys('flags')).toEqual(['a-flag', 'b-flag', 'c-flag', 'd-flag']);

    const clash = await run(['apply', await write('a.yaml', repoA(false)), '--scope-tag', 'repo-d']);
    expect(clash.code).not.toBe(0);
    expect(clash.err).toContain("--scope-tag repo-d does not match the document's scope (tag repo-a)");
    expect((await run(['apply', file, '--scope-tag', 'a,b'])).err).toContain('is not a valid tag');
    expect((await run(['apply', file, '--adopt'])).err).toContain('--adopt goes with a scope');

    const holdout = await run(['apply', await write('h.yaml', { ...unscoped, scope: { tag: 'repo-d' }, holdouts: [{ key: 'global', name: 'Global', coverage: 0.05 }] })]);
    expect(holdout.code).not.toBe(0);
    expect(holdout.err).toContain('holdouts have no tags, so a scoped document cannot own one');
    expect(await keys('holdouts')).toEqual([]);
  });
});
