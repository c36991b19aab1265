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

/** The text of the object literal around `at`: from its unmatched `{` to the matching `}`. */
function enclosingObject(text: string, at: number): string {
  let depth = 0;
  let start = at;
  for (; start > 0; start--) {
    const c = text[start - 1];
    if (c === '}') {
      depth++;
    }
    if (c === '{' && depth-- === 0) {
      break;
    }
  }
  let end = at;
  for (depth = 0; end < text.length; end++) {
    const c = text[end];
    if (c === '{') {
      depth++;
    }
    if (c === '}' && depth-- === 0) {
      break;
    }
  }
  return text.slice(start, end);
}

/**
 * The actions of the audit entries the source writes, of any resource type (`user.…` too): the
 * string literals of each `action:`, by whether the entry has a project (its webhooks receive it)
 * or is the organisation's (`projectId: null`, or none: `recordUnauthenticated`).
 */
function entryActions(text: string): { project: Set<string>; organisation: Set<string> } {
  const project = new Set<string>();
  const organisation = new Set<string>();
  for (const m of text.matchAll(/\baction: ([^,\n]+)/g)) {
    const entry = enclosingObject(text, m.index);
    const into = /\bprojectId\b/.test(entry) && !/\bprojectId: null\b/.test(entry) ? project : organisation;
    for (const literal of m[1]!.matchAll(/'([a-z][a-z-]*\.[a-z][a-z.-]*)'/g)) {
      into.add(literal[1]!);
    }
  }
  return { project, organisation };
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
  // Whatever its type: every entry recorded with a project is delivered to the project's webhooks;
  // the organisation's entries (logins, users, tokens) are not, even of a type the catalog has.
  const entries = entryActions(text);
  for (const action of entries.project) {
    actions.add(action);
  }
  for (const action of entries.organisation) {
    if (!entries.project.has(action)) {
      actions.delete(action);
    }
  }
  // The test send is not a change: every webhook gets it when asked, whatever its events.
  actions.delete('webhook.test');
  // Not actions: field paths of /sdk/v1/evaluate's body in its validation messages (http/sdk/sdk-routes.ts).
  actions.delete('unit.id');
  actions.delete('unit.attributes');
  // Recorded in the transaction that creates the demo project: no webhook of it can exist yet.
  actions.delete('organization.bootstrapped');
  // Recorded for the organisation, once the project and its webhooks are gone: no webhook is left to hear it.
  actions.delete('project.deleted');
  return actions;
}

describe('webhook event catalog', () => {
  it('lists exactly the actions the platform records in a project', async () => {
    const recorded = await recordedActions();
    expect(recorded.has('change-request.approved') && recorded.has('flag.deleted')).toBe(true);
    // Of another type than the definitions': read from the entries the project's webhooks receive.
    expect(recorded.has('user.project-role-set') && recorded.has('user.project-role-removed')).toBe(true);
    expect(recorded.has('user.logged-in') || recorded.has('token.revoked') || recorded.has('user.login-failed')).toBe(false);
    expect([...recorded].filter((a) => !WEBHOOK_ACTIONS.includes(a))).toEqual([]);
    expect(WEBHOOK_ACTIONS.filter((a) => !recorded.has(a))).toEqual([]);
  });

  it('accepts *, a type and its every action, and says what is wrong with anything else', () => {
    for (const ok of ['*', 'flag.*', 'change-request.*', 'flag.environment.updated', ...WEBHOOK_ACTIONS]) {
      expect(webhookEventProblem(ok)).toBeUndefined();
    }
    expect(webhookEventProblem('flags.*')).toMatch(/^unknown resource type "flags": one of flag, experiment/);
    expect(webhookEventProblem('sdk-key.renamed')).toBe('unknown event "sdk-key.renamed": sdk-key actions are sdk-key.created, sdk-key.rotated, sdk-key.revoked (or sdk-key.*)');
    expect(webhookEventProblem('flag.')).toMatch(/^unknown event "flag\."/);
    expect(webhookEventProblem('user.*')).toBeUndefined();
    expect(webhookEventProblem('user.created')).toBe('unknown event "user.created": user actions are user.project-role-set, user.project-role-removed (or user.*)');
    expect(webhookEventProblem('token.revoked')).toMatch(/^unknown event "token.revoked": use \*, <type>\.\* or an action/);
    expect(webhookEventProblem('')).toMatch(/^unknown event ""/);
  });
});
