import type { ReactNode } from 'react';
import { useSession } from '../../app/session.js';
import { useAsync } from '../../lib/use-async.js';

/** Branches named in the note; the rest are counted. */
const NAMED = 5;

/**
 * Where the code still references a flag (from `xp code-refs` uploads), for a confirmation that
 * takes the flag away from SDKs: that code then gets its default value.
 */
export function CodeRefsNote({ flagKey }: { flagKey: string }): ReactNode {
  const { client, project } = useSession();
  const { state } = useAsync(async () => (await client.flagCodeRefs(project, { flag: flagKey })).find((f) => f.flagKey === flagKey) ?? null, [client, project, flagKey]);
  if (state.status === 'loading') {
    return <p className="small muted">Checking where the code uses it…</p>;
  }
  if (state.status === 'error') {
    return <p className="small muted">Could not check where the code uses it.</p>;
  }
  const refs = state.data;
  if (refs === null) {
    return <p className="small">No code references to it are stored (uploaded by <code>xp code-refs</code>).</p>;
  }
  const where = refs.branches.slice(0, NAMED).map((b) => `${b.repository}@${b.branch} (${b.references})`);
  const more = refs.branches.length > NAMED ? `, and ${refs.branches.length - NAMED} more branches` : '';
  return (
    <p className="banner banner-warn" role="note">
      Still referenced in code: {refs.references} reference{refs.references === 1 ? '' : 's'} on {where.join(', ')}
      {more}. That code gets its default value. <a href={`#/code-refs?flag=${encodeURIComponent(flagKey)}`}>See where</a>
    </p>
  );
}
