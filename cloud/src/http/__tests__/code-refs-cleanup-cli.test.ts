/**
 * `xp code-refs --fail-on-unknown` and `xp apply --prune` against the real local API over HTTP
 * (PGlite): CI can fail on a key the project does not have, and pruning never deletes a flag that
 * a running experiment uses, nor one still referenced in code unless --force says so.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runXp, serveApi } from '../../cli/__tests__/cli-over-http.js';
import { pgliteTarget } from '../../store/__tests__/test-databases.js';
import type { Platform } from './harness.js';
import { OWNER, booleanFlagBody, mustAs, startPlatform } from './harness.js';

const PROJECT = '/api/v1/projects/prune';

describe('xp code-refs --fail-on-unknown and xp apply --prune', () => {
  let p: Platform;
  let api: Awaited<ReturnType<typeof serveApi>>;
  let env: NodeJS.ProcessEnv;
  let token: string;
  let dir: string;

  beforeAll(async () => {
    p = await startPlatform(pgliteTarget());
    api = await serveApi(p);
    token = await p.login(OWNER.email, OWNER.password);
    env = { XP_API_URL: api.url, XP_TOKEN: token };
    dir = mkdtempSync(path.join(tmpdir(), 'xp-code-refs-cleanup-'));
    await mustAs(p, token, 'POST', '/api/v1/projects', { key: 'prune', name: 'Prune' });
  }, 60_000);
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await api.close();
    await p.close();
  });

  const run = (args: string[]): Promise<{ code: number; out: string[]; err: string[] }> => runXp(args, env);

  it('exits with code 3 on keys the project does not have with --fail-on-unknown, and 0 without it', async () => {
    await mustAs(p, token, 'POST', `${PROJECT}/flags`, booleanFlagBody('known'));
    const src = path.join(dir, 'app');
    mkdirSync(src, { recursive: true });
    writeFileSync(path.join(src, 'app.ts'), ["client.getVariant('known', user);", "client.getVariant('launched-00', user);"].join('\n'));
    const upload = ['code-refs', '--repo', 'acme/app', '--branch', 'main', '--project', 'prune', '--dir', src];

    const informative = await run(upload);
    const failing = await run([...upload, '--fail-on-unknown']);
    const dryRun = await run([...upload, '--fail-on-unknown', '--dry-run']);
    writeFileSync(path.join(src, 'app.ts'), "client.getVariant('known', user);\n");
    const clean = await run([...upload, '--fail-on-unknown']);

    expect(informative.code).toBe(0);
    expect(informative.out.slice(-2)).toEqual(["Keys that are neither flags nor experiments of prune (a typo, or another project's):", '  launched-00 (1 reference)']);
    expect(failing.code).toBe(3);
    expect(failing.out.at(-1)).toBe('Failing (--fail-on-unknown, exit code 3): the code references 1 key prune has neither as a flag nor as an experiment (deleted, never created or mistyped).');
    // The references are stored all the same: the console and the delete checks see them.
    expect(failing.out[1]).toBe('Stored 2 references for acme/app@main in prune (replaced 2).');
    expect([dryRun.code, dryRun.err[0]]).toEqual([1, 'error: --fail-on-unknown checks the keys against the project when uploading: leave out --dry-run']);
    expect(clean.code).toBe(0);
  });

  it('refuses to prune a flag still in code unless --force, and one a running experiment uses even then', async () => {
    await mustAs(p, token, 'POST', `${PROJECT}/flags`, booleanFlagBody('dead-00'));
    const experiment = await mustAs(p, token, 'POST', `${PROJECT}/experiments`, { key: 'exp-prod', name: 'Prod', variations: [{ key: 'control' }, { key: 'treatment' }] });
    const rule = { id: 'exp', type: 'experiment', experiment: 'exp-prod', variations: { control: 'off', treatment: 'on' } };
    await mustAs(p, token, 'POST', `${PROJECT}/flags`, booleanFlagBody('exp-live', { development: { enabled: true, defaultVariation: 'off', offVariation: 'off', rules: [rule] } }));
    await mustAs(p, token, 'POST', `${PROJECT}/experiments/exp-prod/start`, undefined, experiment.version);
    await mustAs(p, token, 'POST', `${PROJECT}/code-refs`, { repository: 'acme/shop', branch: 'main', references: [{ flagKey: 'dead-00', path: 'src/a.ts', line: 2, column: 5, snippet: "isOn('dead-00')", language: 'typescript' }] });
    const exported = path.join(dir, 'prune.json');
    expect((await run(['export', '--project', 'prune', '--format', 'json', '--out', exported])).code).toBe(0);
    const doc = JSON.parse(readFileSync(exported, 'utf8')) as { flags: { key: string }[] };
    const withoutDead = path.join(dir, 'without-dead.json');
    writeFileSync(withoutDead, JSON.stringify({ ...doc, flags: doc.flags.filter((f) => f.key !== 'dead-00') }));
    const withoutBoth = path.join(dir, 'without-both.json');
    writeFileSync(withoutBoth, JSON.stringify({ ...doc, flags: doc.flags.filter((f) => f.key !== 'dead-00' && f.key !== 'exp-live') }));

    const refused = await run(['apply', withoutDead, '--prune', '--dry-run']);
    const forced = await run(['apply', withoutDead, '--prune', '--force', '--dry-run']);
    const running = await run(['apply', withoutBoth, '--prune', '--force', '--dry-run']);
    const forceAlone = await run(['apply', withoutDead, '--force', '--dry-run']);

    expect(refused.code).toBe(1);
    expect(refused.out.join('\n')).toContain('flag dead-00');
    expect(refused.err.join('\n')).toContain('nothing was applied: the API would refuse to delete a flag still in use');
    expect(refused.err.join('\n')).toContain('flags.dead-00: is still referenced in code (1 reference on acme/shop@main (1)) and not in the document: remove the calls and upload the references again, or apply with --force to delete it anyway');
    expect(forced.code).toBe(0);
    expect(forced.err).toEqual(['warning: flag dead-00 is still referenced in code (1 reference on acme/shop@main (1)): --force deletes it anyway, and that code gets its SDK default']);
    expect(forced.out.at(-1)).toBe('\nChecked by the API: every change would be accepted.');
    expect(running.code).toBe(1);
    expect(running.err.join('\n')).toContain('flags.exp-live: delivers the running experiment "exp-prod" and is not in the document: stop it before pruning deletes the flag');
    expect(forceAlone.code).toBe(2);
    // Nothing was deleted by the dry runs.
    expect((await p.request('GET', `${PROJECT}/flags/dead-00`, { token })).status).toBe(200);

    const applied = await run(['apply', withoutDead, '--prune', '--force']);
    expect([applied.code, applied.out.at(-1)]).toEqual([0, 'Done.']);
    expect((await p.request('GET', `${PROJECT}/flags/dead-00`, { token })).status).toBe(404);
  });
});
