import { useEffect, useRef, useState } from 'react';
import type { ReactNode, RefObject } from 'react';
import { ApiError } from '@xp/shared';
import type { CodeRefsBranch, CodeRefsFilter, StoredCodeRef } from '@xp/shared';
import { hashQuery } from '../../app/router.js';
import { useSession } from '../../app/session.js';
import { formatTime } from '../../lib/format.js';
import { allowanceProps, usePermission } from '../../lib/permissions.js';
import { useAsync } from '../../lib/use-async.js';
import { AsyncView, Confirm, Empty, FormError, errorMessage } from '../../lib/ui.js';

/** References fetched per page: the API's default. */
export const CODE_REFS_PAGE = 1_000;

interface Filters {
  readonly flag: string;
  readonly repository: string;
  readonly branch: string;
}

type Loaded =
  | { readonly available: true; readonly references: readonly StoredCodeRef[]; readonly total: number; readonly nextCursor: string | undefined; readonly branches: readonly CodeRefsBranch[] }
  | { readonly available: false };

function queryOf(f: Filters): CodeRefsFilter {
  return { ...(f.flag === '' ? {} : { flag: f.flag }), ...(f.repository === '' ? {} : { repository: f.repository }), ...(f.branch === '' ? {} : { branch: f.branch }) };
}

/** Where each flag is used in code, from the references `xp code-refs` uploads, a page at a time. */
export default function CodeRefs(): ReactNode {
  const { client, project, refreshTick } = useSession();
  const write = usePermission('code-refs:write');
  const [draft, setDraft] = useState<Filters>(() => {
    const q = hashQuery();
    return { flag: q.get('flag') ?? '', repository: q.get('repository') ?? '', branch: q.get('branch') ?? '' };
  });
  const [applied, setApplied] = useState<Filters>(draft);
  /** Pages loaded after the first with "Load more". */
  const [more, setMore] = useState<{ references: StoredCodeRef[]; nextCursor: string | undefined } | null>(null);
  const [loadingMore, setLoadingMore] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [confirmDelete, setConfirmDelete] = useState<CodeRefsBranch | null>(null);
  // Where focus goes once the change is shown: the control that had it is gone (the last "Load more",
  // a deleted branch's row), and focus on the body would leave keyboard users nowhere.
  const [focusAfter, setFocusAfter] = useState<'status' | 'branches' | null>(null);
  const headingRef = useRef<HTMLHeadingElement>(null);
  const statusRef = useRef<HTMLParagraphElement>(null);
  const branchesRef = useRef<HTMLHeadingElement>(null);
  /** The state a delete's reload replaces: focus moves once another is ready. */
  const beforeReload = useRef<unknown>(null);
  const { state, reload } = useAsync(
    async (): Promise<Loaded> => {
      try {
        const query = queryOf(applied);
        const [page, branches] = await Promise.all([
          client.listCodeRefs(project, { ...query, limit: CODE_REFS_PAGE }),
          client.codeRefBranches(project, { ...(query.repository === undefined ? {} : { repository: query.repository }), ...(query.flag === undefined ? {} : { flag: query.flag }) }),
        ]);
        return { available: true, references: page.references, total: page.total, nextCursor: page.nextCursor, branches };
      } catch (e) {
        // Code references are served by a newer API; an older one answers 404.
        if (e instanceof ApiError && e.status === 404) {
          return { available: false };
        }
        throw e;
      }
    },
    [client, project, applied],
    { refreshKey: refreshTick },
  );
  useEffect(() => {
    if (focusAfter === 'status' && !loadingMore) {
      statusRef.current?.focus();
      setFocusAfter(null);
    } else if (focusAfter === 'branches' && state !== beforeReload.current && state.status !== 'loading' && !(state.status === 'ready' && state.refreshing)) {
      (branchesRef.current ?? headingRef.current)?.focus();
      setFocusAfter(null);
    }
  }, [focusAfter, loadingMore, state]);
  const loadMore = async (cursor: string, already: readonly StoredCodeRef[]): Promise<void> => {
    if (loadingMore) {
      return;
    }
    setLoadingMore(true);
    setError(null);
    try {
      const page = await client.listCodeRefs(project, { ...queryOf(applied), limit: CODE_REFS_PAGE, cursor });
      setMore({ references: [...already, ...page.references], nextCursor: page.nextCursor });
      if (page.nextCursor === undefined) {
        // The button goes with the last page: the count it leaves says what is now shown.
        setFocusAfter('status');
      }
    } catch (e) {
      setError(`Could not load more references: ${errorMessage(e)}`);
    } finally {
      setLoadingMore(false);
    }
  };
  const deleteBranch = async (b: CodeRefsBranch): Promise<void> => {
    setConfirmDelete(null);
    setError(null);
    try {
      await client.deleteCodeRefs(project, { repository: b.repository, branch: b.branch });
      setMore(null);
      beforeReload.current = state;
      setFocusAfter('branches');
      reload();
    } catch (e) {
      setError(`Could not delete the references of ${b.repository}@${b.branch}: ${errorMessage(e)}`);
    }
  };
  const show = (f: Filters): void => {
    setMore(null);
    setDraft(f);
    setApplied(f);
  };
  const filtered = applied.flag !== '' || applied.repository !== '' || applied.branch !== '';
  return (
    <>
      <h1 ref={headingRef} tabIndex={-1}>
        Code references
      </h1>
      <form
        className="toolbar"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          show({ flag: draft.flag.trim(), repository: draft.repository.trim(), branch: draft.branch.trim() });
        }}
      >
        <input type="search" aria-label="Flag key" placeholder="Flag key (empty for all)" value={draft.flag} onChange={(e) => { setDraft({ ...draft, flag: e.target.value }); }} />
        <input type="search" aria-label="Repository" placeholder="Repository (all)" value={draft.repository} onChange={(e) => { setDraft({ ...draft, repository: e.target.value }); }} />
        <input type="search" aria-label="Branch" placeholder="Branch (all)" value={draft.branch} onChange={(e) => { setDraft({ ...draft, branch: e.target.value }); }} />
        <button type="submit">Show</button>
      </form>
      <FormError message={error} />
      <AsyncView state={state} onRetry={reload}>
        {(data) => {
          if (!data.available) {
            return <Empty>This API does not serve code references yet. Upgrade the platform, then upload them with <code>xp code-refs</code>.</Empty>;
          }
          const references = more?.references ?? data.references;
          const nextCursor = more === null ? data.nextCursor : more.nextCursor;
          return (
            <>
              <BranchesPanel headingRef={branchesRef} branches={data.branches} write={write} onShow={(b) => { show({ ...applied, repository: b.repository, branch: b.branch }); }} onDelete={setConfirmDelete} />
              {references.length === 0 ? (
                <Empty>
                  No references {filtered ? 'match these filters' : 'uploaded yet'}. <code>xp code-refs</code> uploads them from your repositories (in CI, on every push of a branch).
                </Empty>
              ) : (
                <>
                  <p className="small" role="status" ref={statusRef} tabIndex={-1}>
                    Showing {references.length.toLocaleString('en-US')} of {data.total.toLocaleString('en-US')} reference{data.total === 1 ? '' : 's'}
                    {nextCursor === undefined ? '' : ': filter by flag, repository or branch, or load more'}.
                  </p>
                  <ReferencesByFlag references={references} />
                  {nextCursor === undefined ? null : (
                    // aria-disabled, not disabled, while loading: a disabled button loses focus to the body.
                    <button type="button" aria-disabled={loadingMore} onClick={() => void loadMore(nextCursor, references)}>
                      {loadingMore ? 'Loading…' : `Load ${Math.min(CODE_REFS_PAGE, data.total - references.length).toLocaleString('en-US')} more`}
                    </button>
                  )}
                </>
              )}
            </>
          );
        }}
      </AsyncView>
      {confirmDelete === null ? null : (
        <Confirm
          title={`Delete the references of ${confirmDelete.repository}@${confirmDelete.branch}?`}
          message={
            <p>
              Its {confirmDelete.references.toLocaleString('en-US')} stored reference{confirmDelete.references === 1 ? '' : 's'} to {confirmDelete.flags} flag{confirmDelete.flags === 1 ? '' : 's'} go, for a branch deleted in git.
              The next <code>xp code-refs</code> upload of the branch stores them again.
            </p>
          }
          confirmLabel="Delete references"
          onCancel={() => { setConfirmDelete(null); }}
          onConfirm={() => void deleteBranch(confirmDelete)}
        />
      )}
    </>
  );
}

function BranchesPanel({
  headingRef,
  branches,
  write,
  onShow,
  onDelete,
}: {
  headingRef: RefObject<HTMLHeadingElement | null>;
  branches: readonly CodeRefsBranch[];
  write: ReturnType<typeof usePermission>;
  onShow: (b: CodeRefsBranch) => void;
  onDelete: (b: CodeRefsBranch) => void;
}): ReactNode {
  if (branches.length === 0) {
    return null;
  }
  return (
    <section className="panel" aria-label="Uploaded branches">
      <h2 style={{ marginTop: 0 }} ref={headingRef} tabIndex={-1}>
        Branches
      </h2>
      <table>
        <thead>
          <tr>
            <th>Repository</th>
            <th>Branch</th>
            <th>Commit</th>
            <th>Uploaded</th>
            <th>References</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {branches.map((b) => (
            <tr key={`${b.repository}@${b.branch}`}>
              <td>{b.repository}</td>
              <td>{b.branch}</td>
              <td className="small">{b.commit === null ? '–' : <code>{b.commit.slice(0, 8)}</code>}</td>
              <td className="small muted">{formatTime(b.uploadedAt)}</td>
              <td>
                {b.references.toLocaleString('en-US')} ({b.flags} flag{b.flags === 1 ? '' : 's'})
              </td>
              <td>
                <button type="button" onClick={() => { onShow(b); }} aria-label={`Show ${b.repository}@${b.branch}`}>
                  Show
                </button>{' '}
                <button type="button" {...allowanceProps(write)} onClick={() => { onDelete(b); }} aria-label={`Delete the references of ${b.repository}@${b.branch}`}>
                  Delete…
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function ReferencesByFlag({ references }: { references: readonly StoredCodeRef[] }): ReactNode {
  const byFlag = new Map<string, StoredCodeRef[]>();
  for (const r of references) {
    byFlag.set(r.flagKey, [...(byFlag.get(r.flagKey) ?? []), r]);
  }
  return [...byFlag.entries()].map(([key, refs]) => (
    <section key={key} className="panel" aria-label={`References to ${key}`}>
      <h2 style={{ marginTop: 0 }}>
        <a href={`#/flags/${encodeURIComponent(key)}`}>{key}</a> <span className="muted small">{refs.length} reference{refs.length === 1 ? '' : 's'} shown</span>
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
}
