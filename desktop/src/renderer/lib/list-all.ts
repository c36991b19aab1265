import type { DefinitionKinds, DefinitionPath, Stored, XpApiClient } from '@xp/shared';

/**
 * How often a whole-project list (flags, experiments) polls as a fallback: the change feed refreshes
 * it within about a second of a change, so the poll only covers a feed that is down.
 */
export const LIST_POLL_MS = 60_000;

/** Rejects (with an AbortError, as `fetch` does) once the list is no longer wanted. */
function stopIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) {
    throw new DOMException('The list was no longer wanted', 'AbortError');
  }
}

/**
 * Every item of a kind, following cursors as `client.listAll` does, but stopping between pages once
 * `signal` aborts (the screen left, or a newer refresh replaced this one): a large project's list is
 * many pages, and a screen that is gone must not keep downloading them.
 */
export async function listAllUntil<K extends DefinitionPath>(client: XpApiClient, project: string, kind: K, signal: AbortSignal | undefined, options: { archived?: boolean } = {}): Promise<Stored<DefinitionKinds[K]>[]> {
  const items: Stored<DefinitionKinds[K]>[] = [];
  let cursor: string | undefined;
  do {
    stopIfAborted(signal);
    const page = await client.list(project, kind, { limit: 200, ...(cursor === undefined ? {} : { cursor }), ...options });
    items.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  stopIfAborted(signal);
  return items;
}
