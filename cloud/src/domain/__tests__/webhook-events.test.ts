/**
 * The webhook event catalog (@xp/shared) against the code: every audit action the platform
 * records in a project is one a webhook can name (else a user could not subscribe to it, and the
 * API would refuse the pattern), and every action the catalog lists is recorded somewhere (else a
 * webhook on it would never fire). The actions are read from the source, where they are written.
 */
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { WEBHOOK_ACTIONS, WEBHOOK_EVENTS, webhookEventProblem } from '@xp/shared';

const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TYPES = Object.keys(WEBHOOK_EVENTS).join('|');

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory() && entry.name !== '__tests__') {
      out.push(...(await sources(full)));
    } else if (entry.isFile() && entry.name.endsWith('.ts')) {
      out.push(await readFile(full, 'utf8'));
    }
  }
  return out;
}

/** The actions the source writes: literals ('flag.enabled'), definition kinds' templates and the change-request review template. */
async function recordedActions(): Promise<Set<string>> {
  const text = (await sources(SRC)).join('\n');
  const actions = new Set<string>();
  for (const m of text.matchAll(new RegExp(`['\`]((?:${TYPES})\\.[a-z][a-z.-]*)['\`]`, 'g'))) {
    actions.add(m[1]!);
  }
  const kinds = [...text.matchAll(/new DefinitionService\(deps, '([a-z-]+)'\)|extends DefinitionService<'([a-z-]+)'>/g)].map((m) => m[1] ?? m[2]!);
  expect(kinds.sort()).toEqual(['experiment', 'flag', 'holdout', 'metric', 'segment']);
  for (const m of text.matchAll(/`\$\{this\.kind\}\.([a-z-]+)`/g)) {
    for (const kind of kinds) {
      actions.add(`${kind}.${m[1]!}`);
    }
  }
  for (const m of text.matchAll(/`change-request\.\$\{([^}]*)\}`/g)) {
    for (const verb of m[1]!.matchAll(/'([a-z-]+)'/g)) {
      if (verb[1]!.endsWith('ed')) {
        actions.add(`change-request.${verb[1]!}`);
      }
    }
  }
  // The test send is not a change: every webhook gets it when asked, whatever its events.
  actions.delete('webhook.test');
  // Recorded for the organisation, once the project and its webhooks are gone: no webhook is left to hear it.
  actions.delete('project.deleted');
  return actions;
}

describe('webhook event catalog', () => {
  it('lists exactly the actions the platform records in a project', async () => {
    const recorded = await recordedActions();
    expect(recorded.has('change-request.approved') && recorded.has('flag.deleted')).toBe(true);
    expect([...recorded].filter((a) => !WEBHOOK_ACTIONS.includes(a))).toEqual([]);
    expect(WEBHOOK_ACTIONS.filter((a) => !recorded.has(a))).toEqual([]);
  });

  it('accepts *, a type and its every action, and says what is wrong with anything else', () => {
    for (const ok of ['*', 'flag.*', 'change-request.*', 'flag.environment.updated', ...WEBHOOK_ACTIONS]) {
      expect(webhookEventProblem(ok)).toBeUndefined();
    }
    expect(webhookEventProblem('flags.*')).toMatch(/^unknown resource type "flags": one of flag, experiment/);
    expect(webhookEventProblem('sdk-key.rotated')).toBe('unknown event "sdk-key.rotated": sdk-key actions are sdk-key.created, sdk-key.revoked (or sdk-key.*)');
    expect(webhookEventProblem('flag.')).toMatch(/^unknown event "flag\."/);
    expect(webhookEventProblem('user.created')).toMatch(/^unknown event "user.created": use \*, <type>\.\* or an action/);
    expect(webhookEventProblem('')).toMatch(/^unknown event ""/);
  });
});
