import { useState } from 'react';
import type { ReactNode } from 'react';
import { ApiError } from '@xp/shared';
import type { StoredCodeRef } from '@xp/shared';
import { hashQuery } from '../../app/router.js';
import { useSession } from '../../app/session.js';
import { formatTime } from '../../lib/format.js';
import { useAsync } from '../../lib/use-async.js';
import { AsyncView, Empty } from '../../lib/ui.js';

type Loaded = { readonly available: true; readonly references: readonly StoredCodeRef[] } | { readonly available: false };

/** Where each flag is used in code, from the references the language server and `xp code-refs` upload. */
export default function CodeRefs(): ReactNode {
  const { client, project, refreshTick } = useSession();
  const [flag, setFlag] = useState(() => hashQuery().get('flag') ?? '');
  const [applied, setApplied] = useState(flag);
  const { state, reload } = useAsync(
    async (): Promise<Loaded> => {
      // Code references are served by a newer API; an older one answers 404 (route) or lacks the method.
      if (typeof (client as Partial<typeof client>).listCodeRefs !== 'function') {
        return { available: false };
      }
      try {
        const { references } = await client.listCodeRefs(project, applied === '' ? {} : { flag: applied });
        return { available: true, references };
      } catch (e) {
        if (e instanceof ApiError && e.status === 404) {
          return { available: false };
        }
        throw e;
      }
    },
    [client, project, applied],
    { refreshKey: refreshTick },
  );
  return (
    <>
      <h1>Code references</h1>
      <form
        className="toolbar"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          setApplied(flag.trim());
        }}
      >
        <input type="search" aria-label="Flag key" placeholder="Flag key (empty for all)" value={flag} onChange={(e) => { setFlag(e.target.value); }} />
        <button type="submit">Show</button>
      </form>
      <AsyncView state={state} onRetry={reload}>
        {(data) => {
          if (!data.available) {
            return <Empty>This API does not serve code references yet. Upgrade the platform, then upload them with the language server or <code>xp code-refs</code>.</Empty>;
          }
          if (data.references.length === 0) {
            return <Empty>No references {applied === '' ? '' : `to ${applied} `}uploaded yet. The VS Code extension and <code>xp code-refs</code> upload them from your repositories.</Empty>;
          }
          const byFlag = new Map<string, StoredCodeRef[]>();
          for (const r of data.references) {
            byFlag.set(r.flagKey, [...(byFlag.get(r.flagKey) ?? []), r]);
          }
          return [...byFlag.entries()].map(([key, refs]) => (
            <section key={key} className="panel" aria-label={`References to ${key}`}>
              <h2 style={{ marginTop: 0 }}>
                <a href={`#/flags/${encodeURIComponent(key)}`}>{key}</a> <span className="muted small">{refs.length} reference{refs.length === 1 ? '' : 's'}</span>
              </h2>
              <table>
                <thead>
                  <tr>
                    <th>Location</th>
                    <th>Code</th>
                    <th>Repository</th>
                    <th>Updated</th>
                  </tr>
                </thead>
                <tbody>
                  {refs.map((r) => (
                    <tr key={`${r.repository}:${r.branch}:${r.path}:${r.line}:${r.column}`}>
                      <td>
                        <code>
                          {r.path}:{r.line}:{r.column}
                        </code>
                      </td>
                      <td>
                        <code>{r.snippet}</code>
                      </td>
                      <td className="small">
                        {r.repository}@{r.branch}
                        {r.commit === null ? '' : ` (${r.commit.slice(0, 8)})`}
                      </td>
                      <td className="small muted">{formatTime(r.updatedAt)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </section>
          ));
        }}
      </AsyncView>
    </>
  );
}
