import { useEffect, useMemo, useRef, useState } from 'react';
import type { ReactNode, SyntheticEvent } from 'react';
import type { Flag, FlagType, StaleFlag, Stored } from '@xp/shared';
import { ApiError, DEFAULT_STALE_DAYS, searchFold } from '@xp/shared';
import { navigate } from '../../app/router.js';
import { useSession } from '../../app/session.js';
import { ServerSideOnlyBadge } from '../../lib/client-side.js';
import { FieldError } from '../../lib/field-errors.js';
import { formatTime } from '../../lib/format.js';
import { allowanceProps, isProtected, needsApprovalIn, pendingProps, usePermission } from '../../lib/permissions.js';
import { LIST_POLL_MS } from '../../lib/list-all.js';
import { takePrefetched } from '../../lib/prefetch.js';
import { useAsync } from '../../lib/use-async.js';
import { staleAdvice, staleServed } from './stale.js';
import { AsyncView, Badge, Confirm, Dialog, Empty, ExplainedBadge, FormError, ResultMessage, ScrollRegion, VisuallyHidden, errorMessage } from '../../lib/ui.js';
import { toggleProposes, toggleWithApproval } from './toggle.js';
import { BulkArchiveDialog } from './bulk-archive.js';
import { DroppedNotice, UndefinedKeysPanel, useProjectEvaluations } from './evaluations.js';
import { BULK_CAVEAT, INACTIVE_DAYS, LIST_DAYS, countingStart, droppedCount, environmentCounts, formatAgo, lastEvaluatedOf, notEvaluated, sinceCountingText, sortByLastEvaluated, undefinedKeys, unevaluated } from './evaluations-model.js';
import type { Unevaluated } from './evaluations-model.js';

/** What a key may hold, in words: the browser's own message for a `pattern` mismatch says only that the format is wrong. */
const KEY_RULE = 'Letters, digits, "_", "." and "-", starting with a letter or digit; used in code, so it cannot change later';

const DEFAULT_VARIATIONS: Record<FlagType, { key: string; value: unknown }[]> = {
  boolean: [
    { key: 'off', value: false },
    { key: 'on', value: true },
  ],
  string: [
    { key: 'control', value: 'control' },
    { key: 'treatment', value: 'treatment' },
  ],
  number: [
    { key: 'low', value: 0 },
    { key: 'high', value: 1 },
  ],
  json: [
    { key: 'off', value: {} },
    { key: 'on', value: { enabled: true } },
  ],
};

function NewFlagDialog({ initialKey = '', onClose }: { initialKey?: string; onClose: () => void }): ReactNode {
  const { client, project } = useSession();
  const [key, setKey] = useState(initialKey);
  const [name, setName] = useState('');
  const [type, setType] = useState<FlagType>('boolean');
  const [tags, setTags] = useState('');
  const [error, setError] = useState<string | null>(null);
  /** The problem with the key (taken), shown under it. */
  const [keyError, setKeyError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const submit = async (e: SyntheticEvent): Promise<void> => {
    e.preventDefault();
    setError(null);
    setKeyError(undefined);
    setBusy(true);
    try {
      await client.create(project, 'flags', {
        key: key.trim(),
        name: name.trim() === '' ? key.trim() : name.trim(),
        type,
        variations: DEFAULT_VARIATIONS[type],
        tags: tags
          .split(',')
          .map((t) => t.trim())
          .filter((t) => t !== ''),
      });
      navigate({ screen: 'flag', key: key.trim() });
    } catch (err) {
      if (err instanceof ApiError && err.code === 'ALREADY_EXISTS') {
        setKeyError(`A flag with the key ${key.trim()} already exists: choose another key.`);
      } else {
        setError(errorMessage(err));
      }
      setBusy(false);
    }
  };
  return (
    <Dialog title="New flag" onClose={onClose}>
      <form onSubmit={(e) => void submit(e)}>
        <label>
          Key
          <input
            required
            pattern="[A-Za-z0-9][A-Za-z0-9._\-]*"
            title={KEY_RULE}
            aria-describedby={keyError === undefined ? 'new-flag-key-rule' : 'new-flag-key-error new-flag-key-rule'}
            {...(keyError === undefined ? {} : { 'aria-invalid': true })}
            value={key}
            onChange={(e) => { setKey(e.target.value); setKeyError(undefined); }}
            placeholder="new-checkout"
          />
        </label>
        <FieldError id="new-flag-key-error" message={keyError} />
        <small id="new-flag-key-rule" className="muted">
          {KEY_RULE}
        </small>
        <label>
          Name
          <input value={name} onChange={(e) => { setName(e.target.value); }} placeholder="New checkout" />
        </label>
        <label>
          Type
          <select value={type} onChange={(e) => { setType(e.target.value as FlagType); }}>
            <option value="boolean">Boolean (on / off)</option>
            <option value="string">String</option>
            <option value="number">Number</option>
            <option value="json">JSON</option>
          </select>
        </label>
        <label>
          Tags (comma-separated)
          <input value={tags} onChange={(e) => { setTags(e.target.value); }} />
        </label>
        <FormError message={error} />
        <div className="actions">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="primary" {...pendingProps(busy)}>
            Create flag
          </button>
        </div>
      </form>
    </Dialog>
  );
}

/** The rows the flags table shows at first, and how many more each "Show more" adds. */
export const ROW_LIMIT = 200;

const count = (n: number): string => n.toLocaleString('en-US');

/**
 * The list's orders: by key, or by a time, oldest first (what has been left alone longest).
 * `lastEvaluated` needs the evaluation counts: sortByLastEvaluated (sortFlags orders it by key).
 */
export type FlagSort = 'key' | 'updatedAt' | 'servingChangedAt' | 'lastEvaluated';

/** When what the flag serves last changed (older servers: its last change). */
/** The *Last evaluated* cell of a flag with no evaluation counted in the list's 90 days: only what the counts can tell. */
const unevaluatedText = (u: Unevaluated): string => (u.kind === 'no counts' ? 'no counts received' : u.kind === 'days' ? `not in ${u.days} days` : `not evaluated ${sinceCountingText(u.since)}`);

const servingChanged = (f: Stored<Flag>): string => f.servingChangedAt ?? f.updatedAt;

/** `flags` in the order `sort`, ties by key. */
export function sortFlags(flags: readonly Stored<Flag>[], sort: FlagSort): Stored<Flag>[] {
  const time = sort === 'updatedAt' ? (f: Stored<Flag>) => Date.parse(f.updatedAt) : sort === 'servingChangedAt' ? (f: Stored<Flag>) => Date.parse(servingChanged(f)) : undefined;
  const byKey = (a: Stored<Flag>, b: Stored<Flag>): number => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
  return [...flags].sort(time === undefined ? byKey : (a, b) => time(a) - time(b) || byKey(a, b));
}

/**
 * Ready to archive: stale, referenced on no branch of the uploaded code, and no other flag's
 * prerequisite (the API would refuse it). Unknown code references: not ready.
 */
export function readyToArchive(stale: StaleFlag | undefined, references: number | undefined): boolean {
  return stale !== undefined && stale.dependents === undefined && references === 0;
}

/** "Select all shown": checked when all are, mixed (indeterminate) when some are. */
function SelectAll({ checked, indeterminate, disabled, onChange }: { checked: boolean; indeterminate: boolean; disabled: boolean; onChange: (on: boolean) => void }): ReactNode {
  const ref = useRef<HTMLInputElement>(null);
  useEffect(() => {
    if (ref.current !== null) {
      ref.current.indeterminate = indeterminate;
    }
  }, [indeterminate]);
  return <input ref={ref} type="checkbox" aria-label="Select all shown flags" checked={checked} disabled={disabled} onChange={(e) => { onChange(e.target.checked); }} />;
}

/**
 * Flags with search, tag/state/stale/lifetime filters, sorting, code references, live state, an
 * optimistic per-environment toggle, and a bulk archive of the flags selected.
 */
export default function FlagsList(): ReactNode {
  const session = useSession();
  const { client, project, environment, environments, refreshTick } = session;
  const [showArchived, setShowArchived] = useState(false);
  // The whole list is many pages in a large project: it refreshes on the change feed, with a slow
  // poll as a fallback, and stops paging when the screen is left.
  const { state, reload, setData } = useAsync(
    (signal) => (showArchived ? client.listAll(project, 'flags', { archived: true, signal }) : (takePrefetched<Stored<Flag>[]>(`flags:${project}`) ?? client.listAll(project, 'flags', { signal }))),
    [client, project, showArchived],
    { pollMs: LIST_POLL_MS, refreshKey: refreshTick },
  );
  // Archived ones too: a stopped experiment's released winner decides what its flags serve. Loaded only
  // when a flag has an experiment rule; unknown (loading, failed), no flag with one is stale.
  const needsExperiments = state.status === 'ready' && state.data.some((f) => Object.values(f.definition.environments).some((e) => e.rules.some((r) => r.type === 'experiment')));
  const { state: experimentsState } = useAsync(
    (signal) => (needsExperiments ? client.listAll(project, 'experiments', { archived: true, signal }) : Promise.resolve([])),
    [client, project, needsExperiments],
    { pollMs: LIST_POLL_MS, refreshKey: refreshTick },
  );
  const experiments = experimentsState.status === 'ready' ? experimentsState.data.map((e) => ({ ...e.definition, updatedAt: e.updatedAt })) : undefined;
  const [query, setQuery] = useState('');
  const [tag, setTag] = useState('');
  const [status, setStatus] = useState<'all' | 'on' | 'off' | 'stale' | 'ready'>('all');
  const [lifetime, setLifetime] = useState<'all' | 'temporary' | 'permanent'>('all');
  const [sort, setSort] = useState<FlagSort>('key');
  /** The flags checked for a bulk archive, by key. */
  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set());
  const [bulkArchive, setBulkArchive] = useState<Stored<Flag>[] | null>(null);
  // Loaded once per project: how many references each flag key has in the uploaded code.
  const { state: codeRefsState } = useAsync(async () => new Map((await client.flagCodeRefs(project)).map((f) => [f.flagKey, f.references])), [client, project]);
  const codeRefs = codeRefsState.status === 'ready' ? codeRefsState.data : undefined;
  /** A flag's references in code: 0 when none are stored, undefined while unknown (loading, failed). */
  const choose = (keys: readonly string[], on: boolean): void => {
    setSelected((before) => {
      const next = new Set(before);
      for (const k of keys) {
        if (on) {
          next.add(k);
        } else {
          next.delete(k);
        }
      }
      return next;
    });
  };
  const referencesOf = (key: string): number | undefined => (codeRefs === undefined ? undefined : (codeRefs.get(key) ?? 0));
  /** How many matching rows the table shows: thousands of rows at once make the page (and search) slow. */
  const [rowLimit, setRowLimit] = useState(ROW_LIMIT);
  useEffect(() => {
    setRowLimit(ROW_LIMIT);
  }, [query, tag, status, lifetime, showArchived, project]);
  /** The New flag dialog: closed (null), or open with the key it starts with. */
  const [creating, setCreating] = useState<string | null>(null);
  // The project's evaluation counts (last 90 days): the *Last evaluated* column, the *not evaluated* badge and the undefined keys.
  const evaluations = useProjectEvaluations();
  const [pending, setPending] = useState<{ flag: Stored<Flag>; enabled: boolean } | null>(null);
  const [notice, setNotice] = useState<{ tone: 'bad' | 'good' | 'info'; text: string; requestId?: string } | null>(null);
  const env = environments.find((e) => e.key === environment);
  const write = usePermission('flags:write');

  useEffect(() => {
    performance.mark('xp:flags-list-mounted');
  }, []);
  useEffect(() => {
    if (state.status === 'ready') {
      performance.mark('xp:flags-list-painted');
    }
  }, [state.status]);

  const tags = useMemo(() => (state.status === 'ready' ? [...new Set(state.data.flatMap((f) => f.definition.tags))].sort() : []), [state]);

  const toggle = async (flag: Stored<Flag>, enabled: boolean): Promise<void> => {
    setPending(null);
    setNotice(null);
    const previous = flag;
    const optimistic = (f: Stored<Flag>): Stored<Flag> => {
      const current = f.definition.environments[environment];
      return current === undefined ? f : { ...f, definition: { ...f.definition, environments: { ...f.definition.environments, [environment]: { ...current, enabled } } } };
    };
    setData((list) => list.map((f) => (f.key === flag.key ? optimistic(f) : f)));
    try {
      const result = await toggleWithApproval(session, flag, enabled);
      if (result.kind === 'applied') {
        setData((list) => list.map((f) => (f.key === flag.key ? result.flag : f)));
        setNotice({ tone: 'good', text: `Turned ${flag.key} ${enabled ? 'on' : 'off'} in ${env?.name ?? environment} (version ${result.flag.version}).` });
      } else {
        setData((list) => list.map((f) => (f.key === flag.key ? previous : f)));
        setNotice({ tone: 'info', text: `${env?.name ?? environment} is protected: change request ${result.request.id.slice(0, 8)} now waits for approval by an owner or admin (not its proposer).`, requestId: result.request.id });
      }
    } catch (e) {
      setData((list) => list.map((f) => (f.key === flag.key ? previous : f)));
      setNotice({ tone: 'bad', text: errorMessage(e) });
      reload();
    }
  };

  return (
    <>
      <div className="page-head">
        <h1>Flags</h1>
        <button type="button" className="primary" {...allowanceProps(write)} onClick={() => { setCreating(''); }}>
          New flag
        </button>
      </div>
      <div className="toolbar" role="search">
        <input type="search" aria-label="Search flags" placeholder="Search by key, name or description (Ctrl+K)" value={query} onChange={(e) => { setQuery(e.target.value); }} style={{ minWidth: 'min(20em, 100%)' }} />
        <label className="inline">
          Tag
          <select value={tag} onChange={(e) => { setTag(e.target.value); }}>
            <option value="">Any</option>
            {tags.map((t) => (
              <option key={t}>{t}</option>
            ))}
          </select>
        </label>
        <label className="inline">
          State
          <select value={status} onChange={(e) => { setStatus(e.target.value as typeof status); }}>
            <option value="all">All</option>
            <option value="on">On in {env?.name ?? environment}</option>
            <option value="off">Off in {env?.name ?? environment}</option>
            <option value="stale">Stale (temporary, one variation everywhere, unchanged {DEFAULT_STALE_DAYS}+ days)</option>
            <option value="ready">Ready to archive (stale, referenced on no branch)</option>
          </select>
        </label>
        <label className="inline">
          Lifetime
          <select aria-label="Lifetime" value={lifetime} onChange={(e) => { setLifetime(e.target.value as typeof lifetime); }}>
            <option value="all">Temporary and permanent</option>
            <option value="temporary">Temporary</option>
            <option value="permanent">Permanent</option>
          </select>
        </label>
        <label className="inline">
          Sort by
          {/* Named by its label alone: the chosen option's text ("Key") is not part of the name. */}
          <select aria-label="Sort by" value={sort} onChange={(e) => { setSort(e.target.value as FlagSort); }}>
            <option value="key">Key</option>
            <option value="updatedAt">Last change (oldest first)</option>
            <option value="servingChangedAt">Last serving change (oldest first)</option>
            <option value="lastEvaluated">Last evaluated (least recent first)</option>
          </select>
        </label>
        <label className="check">
          <input type="checkbox" checked={showArchived} onChange={(e) => { setShowArchived(e.target.checked); }} />
          Show archived
        </label>
        {state.status === 'ready' && state.refreshing ? <span className="muted small">refreshing…</span> : null}
      </div>
      {codeRefsState.status === 'error' ? (
        <p className="banner banner-warn" role="alert">
          Could not load the code references ({errorMessage(codeRefsState.error)}): the references column is unknown and no flag shows as ready to archive.
        </p>
      ) : null}
      {evaluations.data === undefined ? null : <DroppedNotice dropped={droppedCount(evaluations.data)} />}
      <ResultMessage message={notice}>
        {notice?.requestId === undefined ? null : (
          <>
            {' '}
            <a href={`#/change-requests?id=${encodeURIComponent(notice.requestId)}`}>Review the change request</a>
          </>
        )}
      </ResultMessage>
      <AsyncView state={state} onRetry={reload}>
        {(flags) => {
          const now = Date.now();
          const environmentKeys = environments.map((e) => e.key);
          // Folded as the API folds ?q=: case, accents and zero-width characters aside.
          const q = searchFold(query.trim());
          const evaluated = evaluations.data;
          /** When the flag was last evaluated in the environment shown (undefined: not in the last 90 days, or unknown). */
          const lastEvaluated = (key: string): string | undefined => (evaluated === undefined ? undefined : lastEvaluatedOf(evaluated, key, environment));
          const sorted = sort === 'lastEvaluated' ? sortByLastEvaluated(flags, lastEvaluated) : sortFlags(flags, sort);
          const shown = sorted.filter((f) => {
            const d = f.definition;
            if (q !== '' && !searchFold(`${f.key} ${d.name} ${d.description ?? ''}`).includes(q)) {
              return false;
            }
            if (tag !== '' && !d.tags.includes(tag)) {
              return false;
            }
            if ((lifetime === 'temporary' && !d.temporary) || (lifetime === 'permanent' && d.temporary)) {
              return false;
            }
            const on = d.environments[environment]?.enabled === true;
            if (status === 'stale' || status === 'ready') {
              const stale = staleServed(f, now, environmentKeys, { experiments, flags });
              return status === 'stale' ? stale !== undefined : readyToArchive(stale, referencesOf(f.key));
            }
            return status === 'all' || (status === 'on' && on) || (status === 'off' && !on);
          });
          const visible = shown.slice(0, rowLimit);
          // Archived flags are not archived again: they are not selectable.
          const selectable = visible.filter((f) => !f.archived);
          const chosen = flags.filter((f) => selected.has(f.key) && !f.archived);
          const allChosen = selectable.length > 0 && selectable.every((f) => selected.has(f.key));
          const someChosen = selectable.some((f) => selected.has(f.key));

          if (flags.length === 0) {
            return (
              <Empty>
                <p>No flags yet.</p>
                <button type="button" className="primary" {...allowanceProps(write)} onClick={() => { setCreating(''); }}>
                  Create the first flag
                </button>
              </Empty>
            );
          }
          return (
            <>
              {/* A status region that stays while the filters change, so that "no match" is announced as it appears. */}
              <div role="status">{shown.length === 0 ? <Empty>No flag matches these filters.</Empty> : null}</div>
              <div className="toolbar">
                <span className="muted small" aria-live="polite">
                  {chosen.length === 0 ? 'No flag selected' : `${count(chosen.length)} selected`}
                </span>
                <button type="button" {...allowanceProps(write)} disabled={!write.allowed || chosen.length === 0} onClick={() => { setBulkArchive(chosen); }}>
                  Archive {count(chosen.length)} flag{chosen.length === 1 ? '' : 's'}…
                </button>
                {chosen.length === 0 ? null : (
                  <button type="button" className="ghost" onClick={() => { setSelected(new Set()); }}>
                    Clear selection
                  </button>
                )}
              </div>
              {shown.length === 0 ? null : (
                <ScrollRegion label="Flags table">
                  <table aria-label="Flags">
                    <thead>
                      <tr>
                        <th>
                          <SelectAll checked={allChosen} indeterminate={someChosen && !allChosen} disabled={selectable.length === 0} onChange={(on) => { choose(selectable.map((f) => f.key), on); }} />
                        </th>
                        <th>Flag</th>
                        <th>Type</th>
                        <th>Lifetime</th>
                        <th>Tags</th>
                        <th>Rules</th>
                        <th>{env?.name ?? environment}</th>
                        <th>References in code</th>
                        <th>Last evaluated</th>
                        <th>Updated</th>
                      </tr>
                    </thead>
                    <tbody>
                      {visible.map((f) => {
                        const st = f.definition.environments[environment];
                        const stale = staleServed(f, now, environmentKeys, { experiments, flags });
                        const references = referencesOf(f.key);
                        const last = lastEvaluated(f.key);
                        return (
                          <tr key={f.key} className={f.archived ? 'archived' : undefined}>
                            <td>
                              {f.archived ? null : <input type="checkbox" aria-label={`Select ${f.key}`} checked={selected.has(f.key)} onChange={(e) => { choose([f.key], e.target.checked); }} />}
                            </td>
                            <td>
                              <a href={`#/flags/${encodeURIComponent(f.key)}`} dir="auto">
                                {f.definition.name}
                              </a>
                              <div className="muted small">
                                <code>{f.key}</code>{' '}
                                {stale === undefined ? null : (
                                  <ExplainedBadge tone="warn" label="stale">
                                    Serves <code>{stale.variation}</code> to everyone in every environment and unchanged since {formatTime(stale.since)}, over {DEFAULT_STALE_DAYS} days: {staleAdvice(stale)}
                                  </ExplainedBadge>
                                )}{' '}
                                {f.archived ? (
                                  <ExplainedBadge tone="warn" label="archived">
                                    In no environment&apos;s ruleset: SDKs serve the default value in your code. Unarchive it in the flag editor to change it.
                                  </ExplainedBadge>
                                ) : null}{' '}
                                {evaluated !== undefined && !f.archived && notEvaluated(evaluated, f, environment, now) ? (
                                  <ExplainedBadge tone="warn" label={`not evaluated in ${INACTIVE_DAYS} days`}>
                                    No SDK that sends evaluation counts evaluated it in {env?.name ?? environment} in the last {INACTIVE_DAYS} days, while other flags&apos; counts have arrived from
                                    there for longer. If that holds in every environment (and no service runs an SDK too old to send counts), remove it from the code, then archive it. {BULK_CAVEAT}
                                  </ExplainedBadge>
                                ) : null}{' '}
                                <ServerSideOnlyBadge definition={f.definition} />
                              </div>
                            </td>
                            <td>{f.definition.type}</td>
                            <td>{f.definition.temporary ? 'Temporary' : 'Permanent'}</td>
                            <td>
                              {f.definition.tags.map((t) => (
                                <Badge key={t}>{t}</Badge>
                              ))}
                            </td>
                            <td className="num">{st?.rules.length ?? 0}</td>
                            <td>
                              {st === undefined ? (
                                <span className="muted">not set up</span>
                              ) : f.archived ? (
                                <span className="muted">{st.enabled ? 'On' : 'Off'} (archived)</span>
                              ) : (
                                <label className="check">
                                  <input type="checkbox" role="switch" aria-label={`${f.key} in ${env?.name ?? environment}`} checked={st.enabled} {...allowanceProps(write)} onChange={(e) => { setPending({ flag: f, enabled: e.target.checked }); }} />
                                  {st.enabled ? 'On' : 'Off'}
                                </label>
                              )}
                            </td>
                            <td className="num">
                              {references === undefined ? (
                                <span className="muted" title={codeRefsState.status === 'error' ? 'The code references could not be loaded' : 'Loading'}>
                                  {codeRefsState.status === 'error' ? '?' : '…'}
                                </span>
                              ) : references === 0 ? (
                                <>
                                  <span aria-hidden="true">—</span>
                                  <VisuallyHidden>none</VisuallyHidden>
                                </>
                              ) : (
                                <a href={`#/code-refs?flag=${encodeURIComponent(f.key)}`} aria-label={`${count(references)} references to ${f.key} in code`}>
                                  {count(references)}
                                </a>
                              )}
                            </td>
                            <td className="small">
                              {last !== undefined ? (
                                <time dateTime={last} title={formatTime(last)}>
                                  {formatAgo(last, now)}
                                </time>
                              ) : evaluated === undefined ? (
                                <span className="muted" title={evaluations.loading ? 'Loading' : evaluations.error === undefined ? 'Unknown' : `The evaluation counts could not be loaded: ${evaluations.error}`}>
                                  {evaluations.loading ? '…' : '?'}
                                </span>
                              ) : (
                                <span className="muted">{unevaluatedText(unevaluated(countingStart(evaluated, environment), environmentCounts(evaluated, environment), LIST_DAYS, now))}</span>
                              )}
                            </td>
                            <td className="small muted">{formatTime(f.updatedAt)}</td>
                          </tr>
                        );
                      })}
                    </tbody>
                  </table>
                </ScrollRegion>
              )}
              {shown.length > rowLimit ? (
                <div className="toolbar">
                  <span className="muted small">
                    Showing {count(rowLimit)} of {count(shown.length)} {shown.length === flags.length ? 'flags' : `matching flags (${count(flags.length)} in all)`}; search and filters look through all of them.
                  </span>
                  <button type="button" onClick={() => { setRowLimit((n) => n + ROW_LIMIT); }}>
                    Show {count(Math.min(ROW_LIMIT, shown.length - rowLimit))} more
                  </button>
                </div>
              ) : null}
            </>
          );
        }}
      </AsyncView>
      {evaluations.data === undefined || undefinedKeys(evaluations.data).keys.length === 0 ? null : (
        <UndefinedKeysPanel {...undefinedKeys(evaluations.data)} environments={environments} now={Date.now()} canCreate={write.allowed} onCreate={(key) => { setCreating(key); }} />
      )}
      {creating === null ? null : <NewFlagDialog initialKey={creating} onClose={() => { setCreating(null); }} />}
      {bulkArchive === null ? null : (
        <BulkArchiveDialog
          flags={bulkArchive}
          onClose={() => { setBulkArchive(null); }}
          onDone={(outcomes) => {
            // The archived ones leave the selection; the refused stay selected, to try again.
            choose(outcomes.filter((o) => o.archived).map((o) => o.key), false);
            reload();
          }}
        />
      )}
      {pending === null ? null : (
        <Confirm
          title={`Turn ${pending.flag.key} ${pending.enabled ? 'on' : 'off'}?`}
          message={
            <p>
              This changes what every SDK in <strong>{env?.name ?? environment}</strong> serves
              {toggleProposes(session, environment, pending.enabled)
                ? '; the environment is protected, so a change request is proposed instead'
                : needsApprovalIn(session, environment)
                  ? '; the environment is protected, but lets editors turn flags off directly in an emergency (the audit log records that approval was bypassed)'
                : isProtected(env)
                  ? '; the environment is protected, and as an owner or admin you change it directly (the audit log records it)'
                  : ''}
              .
            </p>
          }
          confirmLabel={pending.enabled ? 'Turn on' : 'Turn off'}
          onCancel={() => { setPending(null); }}
          onConfirm={() => void toggle(pending.flag, pending.enabled)}
        />
      )}
    </>
  );
}
