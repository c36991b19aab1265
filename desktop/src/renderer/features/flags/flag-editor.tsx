import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { ReactNode } from 'react';
import type { Flag, FlagEnvironment, Prerequisite, RuleExperiment, Stored } from '@xp/shared';
import { DEFAULT_STALE_DAYS, unconfiguredOffVariation } from '@xp/shared';
import { staleServed } from './stale.js';
import { useLeaveWarning } from '../../app/router.js';
import { useSession } from '../../app/session.js';
import { ClientSideField, ServerSideOnlyBadge, availableToClientSide, withClientSide } from '../../lib/client-side.js';
import { formatTime } from '../../lib/format.js';
import { allowanceProps, isProtected, needsApprovalIn, usePermission } from '../../lib/permissions.js';
import type { Allowance } from '../../lib/permissions.js';
import { useRemovalFocus } from '../../lib/removal-focus.js';
import { useAsync } from '../../lib/use-async.js';
import type { AsyncState } from '../../lib/use-async.js';
import { AsyncView, Badge, Confirm, ErrorNote, ResultMessage, Tabs, VisuallyHidden, errorMessage, isConflict } from '../../lib/ui.js';
import { CodeRefsNote } from './code-refs-note.js';
import { EvaluateAs } from './evaluate-as.js';
import { FlagEvaluations } from './evaluations.js';
import { RuleEditor } from './rule-editor.js';
import { ScheduledChanges } from './scheduled-changes.js';
import { draftFromRule, draftToRule, newRuleDraft } from './rule-model.js';
import type { RuleDraft, RuleType } from './rule-model.js';
import { editorsMayTurnOffIn, saveFlagEnvironment, toggleProposes, toggleWithApproval } from './toggle.js';
import type { ChangeResult } from './toggle.js';

interface EnvDraft {
  readonly defaultVariation: string;
  readonly offVariation: string;
  readonly prerequisites: Prerequisite[];
  readonly rules: RuleDraft[];
}

function envDraft(flag: Flag, env: string): EnvDraft {
  const st = flag.environments[env];
  const first = flag.variations[0]?.key ?? '';
  // A new state starts off where the flag is served today (the same off variation as the ruleset).
  return {
    defaultVariation: st?.defaultVariation ?? first,
    offVariation: st?.offVariation ?? unconfiguredOffVariation(flag) ?? first,
    prerequisites: (st?.prerequisites ?? []).map((p) => ({ ...p })),
    rules: (st?.rules ?? []).map(draftFromRule),
  };
}

interface Context {
  readonly flag: Stored<Flag>;
  readonly segments: string[];
  readonly experiments: string[];
  /** Every experiment, archived ones too: what the flag's experiment rules serve (staleness). */
  readonly experimentDefinitions: RuleExperiment[];
  readonly flags: Stored<Flag>[];
}

/** Editing a flag: per-environment targeting rules, toggle, prerequisites, variations, evaluate-as. */
export default function FlagEditor({ flagKey }: { flagKey: string }): ReactNode {
  const session = useSession();
  const { client, project, refreshTick } = session;
  // The flag itself follows changes (change feed, and a poll of this one small document).
  const { state: flagState, reload: reloadFlag, setData } = useAsync(() => client.get(project, 'flags', flagKey), [client, project, flagKey], { pollMs: 5000, refreshKey: refreshTick });
  // The pickers' lists (every flag, segment and experiment: many pages in a large project) load once
  // per project, not with every refresh of the flag: they only offer keys to choose from.
  const { state: listsState, reload: reloadLists } = useAsync(
    async (signal): Promise<Omit<Context, 'flag'>> => {
      const [segments, experiments, flags] = await Promise.all([client.listAll(project, 'segments', { signal }), client.listAll(project, 'experiments', { archived: true, signal }), client.listAll(project, 'flags', { signal })]);
      return { segments: segments.map((s) => s.key), experiments: experiments.filter((x) => !x.archived).map((x) => x.key), experimentDefinitions: experiments.map((x) => ({ ...x.definition, updatedAt: x.updatedAt })), flags };
    },
    [client, project],
  );
  const state = useMemo((): AsyncState<Context> => {
    if (flagState.status !== 'ready') {
      return flagState;
    }
    if (listsState.status !== 'ready') {
      return listsState;
    }
    return { ...flagState, data: { ...listsState.data, flag: flagState.data } };
  }, [flagState, listsState]);
  const reload = useCallback(() => {
    reloadFlag();
    if (listsState.status === 'error') {
      reloadLists();
    }
  }, [reloadFlag, reloadLists, listsState.status]);
  return (
    <AsyncView state={state} onRetry={reload}>
      {(ctx) => (
        <FlagEditorLoaded
          key={flagKey}
          ctx={ctx}
          onSaved={(flag) => {
            setData(() => flag);
          }}
          reload={reload}
        />
      )}
    </AsyncView>
  );
}

function FlagEditorLoaded({ ctx, onSaved, reload }: { ctx: Context; onSaved: (flag: Stored<Flag>) => void; reload: () => void }): ReactNode {
  const session = useSession();
  const { environments } = session;
  const { flag } = ctx;
  const [env, setEnv] = useState(session.environment);
  // The version the draft was taken from: a newer version arriving by polling does not overwrite edits.
  const [baseVersion, setBaseVersion] = useState(flag.version);
  const [draft, setDraft] = useState<EnvDraft>(() => envDraft(flag.definition, env));
  const [dirty, setDirty] = useState(false);
  const [tab, setTab] = useState<'targeting' | 'evaluations' | 'settings'>('targeting');
  const [message, setMessage] = useState<{ tone: 'good' | 'bad' | 'info'; text: string; requestId?: string } | null>(null);
  const [confirmToggle, setConfirmToggle] = useState<boolean | null>(null);
  /** The reviewers' comment of a change request the draft's *Propose change* sends (optional). */
  const [comment, setComment] = useState('');
  /** The reviewers' comment of a change request a toggle proposes (optional), asked in its confirmation. */
  const [toggleComment, setToggleComment] = useState('');
  /** The archive state the user is asked to confirm (true: archive, false: unarchive). */
  const [confirmArchive, setConfirmArchive] = useState<boolean | null>(null);
  /** The environment the user chose while the draft had unsaved changes: switching waits for a confirmation. */
  const [pendingEnv, setPendingEnv] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  /** Versions this page saved (targeting, toggle, archive, settings): never reported as someone else's. */
  const ownVersions = useRef(new Set<number>());
  /** Bumped when the page reports something new: the settings tab's older result gives way to it. */
  const [messageEpoch, setMessageEpoch] = useState(0);
  const write = usePermission('flags:write');
  const removed = useRemovalFocus();
  const envInfo = environments.find((e) => e.key === env);
  /** The user's saves and toggles here become change requests. */
  const proposes = needsApprovalIn(session, env);
  /** Turning the flag off here is direct all the same: the environment's emergency off switch. */
  const mayTurnOff = proposes && editorsMayTurnOffIn(session, env);
  /** The toggle being confirmed becomes a change request. */
  const toggleViaRequest = confirmToggle !== null && toggleProposes(session, env, confirmToggle);
  const variations = flag.definition.variations.map((v) => v.key);
  const attributes = useMemo(() => {
    const names = new Set<string>(['id']);
    for (const st of Object.values(flag.definition.environments)) {
      for (const r of st.rules) {
        for (const k of Object.keys(r.condition ?? {})) {
          if (!k.startsWith('$')) {
            names.add(k);
          }
        }
      }
    }
    return [...names];
  }, [flag]);

  // A refresh replaces the draft only when the flag or environment really changed and nothing is
  // being edited, so polling never moves the user's focus or discards their input.
  const synced = useRef(`${flag.version}:${env}`);
  const resetDraft = (): void => {
    synced.current = `${flag.version}:${env}`;
    setDraft(envDraft(flag.definition, env));
    setBaseVersion(flag.version);
    setDirty(false);
    setComment('');
  };
  useEffect(() => {
    const key = `${flag.version}:${env}`;
    if (!dirty && synced.current !== key) {
      synced.current = key;
      setDraft(envDraft(flag.definition, env));
      setBaseVersion(flag.version);
    }
  }, [flag, env, dirty]);

  // Leaving the editor (a link, Back, a project switch) asks first while the draft is unsaved.
  useLeaveWarning(dirty ? `Your changes to ${flag.key} in ${envInfo?.name ?? env} are not saved; leaving discards them.` : null);

  const update = (patch: Partial<EnvDraft>): void => {
    setDraft((d) => ({ ...d, ...patch }));
    setDirty(true);
  };
  const current = flag.definition.environments[env];
  /** A version this page saved: recorded as its own, then shown. */
  const savedOwn = (saved: Stored<Flag>): void => {
    ownVersions.current.add(saved.version);
    onSaved(saved);
  };
  /** A new result of the targeting side: replaces the page's previous one, the settings tab's included. */
  const show = (next: typeof message): void => {
    setMessage(next);
    if (next !== null) {
      setMessageEpoch((n) => n + 1);
    }
  };
  /**
   * The latest version saved by someone else since the targeting draft was taken (versions count up
   * by one per save), or null when every version since is this page's own.
   */
  const theirs = ((): number | null => {
    for (let v = flag.version; v > baseVersion; v--) {
      if (!ownVersions.current.has(v)) {
        return v;
      }
    }
    return null;
  })();
  const report = (result: ChangeResult, what: string, note?: string): void => {
    if (result.kind === 'applied') {
      savedOwn(result.flag);
      show({ tone: 'good', text: `${what} in ${envInfo?.name ?? env} (version ${result.flag.version}).${note === undefined ? '' : ` ${note}`}` });
    } else {
      show({
        tone: 'info',
        text: `${envInfo?.name ?? env} is protected: change request ${result.request.id.slice(0, 8)} was proposed and waits for approval by an owner or admin (not its proposer) on the Change requests screen. Until it is approved and applied, ${envInfo?.name ?? env} keeps the state shown here.`,
        requestId: result.request.id,
      });
    }
  };

  const save = async (): Promise<void> => {
    setMessage(null);
    const rules = [];
    for (const d of draft.rules) {
      const r = draftToRule(d);
      if ('error' in r) {
        show({ tone: 'bad', text: r.error });
        return;
      }
      rules.push(r.rule);
    }
    const state: FlagEnvironment = { enabled: current?.enabled ?? false, defaultVariation: draft.defaultVariation, offVariation: draft.offVariation, prerequisites: draft.prerequisites, rules };
    setSaving(true);
    try {
      const note = comment.trim();
      const result = await saveFlagEnvironment(session, { ...flag, version: baseVersion }, state, env, note === '' ? undefined : note);
      if (result.kind === 'applied') {
        // The saved version arrives with onSaved, and the draft follows it (the effect above).
        setDirty(false);
      } else {
        // Only proposed: the flag is unchanged (same version), so the draft goes back to its real
        // state here; the proposal lives on as the change request the message links to.
        resetDraft();
      }
      report(result, 'Saved the targeting');
    } catch (e) {
      show({ tone: 'bad', text: errorMessage(e) });
    } finally {
      setSaving(false);
    }
  };

  const toggle = async (enabled: boolean): Promise<void> => {
    setConfirmToggle(null);
    setMessage(null);
    const note = toggleComment.trim();
    setToggleComment('');
    try {
      const viaRequest = toggleProposes(session, env, enabled);
      const result = await toggleWithApproval(session, flag, enabled, env, note === '' || !viaRequest ? undefined : note);
      // A toggle changes only `enabled`, which the draft does not hold: a draft taken from the
      // toggled version moves to the new one, so the user's own toggle is not shown as someone
      // else's save and the draft still saves without a conflict.
      if (result.kind === 'applied' && baseVersion === flag.version) {
        setBaseVersion(result.flag.version);
      }
      report(result, enabled ? 'Turned on' : 'Turned off', proposes && !viaRequest ? 'No change request: the environment lets editors turn flags off, and the audit log records that this bypassed approval.' : undefined);
    } catch (e) {
      show({ tone: 'bad', text: errorMessage(e) });
      reload();
    }
  };

  const setArchived = async (archived: boolean): Promise<void> => {
    setConfirmArchive(null);
    setMessage(null);
    try {
      // The whole flag with its version (If-Match), like every other write of the editor.
      const saved = await session.client.replace(session.project, 'flags', flag.key, { ...flag.definition, archived }, flag.version);
      // Archiving leaves the targeting as it is: a draft taken from the archived version moves on.
      if (baseVersion === flag.version) {
        setBaseVersion(saved.version);
      }
      savedOwn(saved);
      show({ tone: 'good', text: `${archived ? 'Archived' : 'Unarchived'} ${flag.key} (version ${saved.version}).` });
    } catch (e) {
      show({ tone: 'bad', text: errorMessage(e) });
    }
  };

  const switchEnv = (next: string): void => {
    setPendingEnv(null);
    setEnv(next);
    setDirty(false);
    setComment('');
    setMessage(null);
  };

  const addRule = (type: RuleType): void => {
    update({ rules: [...draft.rules, newRuleDraft(type, variations, draft.rules.map((r) => r.id))] });
  };
  const moveRule = (i: number, delta: -1 | 1): void => {
    const rules = [...draft.rules];
    const [r] = rules.splice(i, 1);
    rules.splice(i + delta, 0, r!);
    update({ rules });
  };

  return (
    <>
      <div className="page-head">
        <div>
          <h1 dir="auto">{flag.definition.name}</h1>
          <p className="muted">
            <code>{flag.key}</code> · {flag.definition.type} · version {flag.version} · updated {formatTime(flag.updatedAt)}
            {flag.updatedByName === undefined || flag.updatedByName === null ? null : ` by ${flag.updatedByName}`}{' '}
            {flag.definition.temporary ? <Badge tone="info">temporary</Badge> : <Badge>permanent</Badge>}
            {availableToClientSide(flag.definition) ? null : (
              <>
                {' '}
                <ServerSideOnlyBadge definition={flag.definition} />
              </>
            )}
            {flag.archived ? (
              <>
                {' '}
                <Badge tone="warn">archived</Badge>
              </>
            ) : null}
          </p>
        </div>
        <div className="row">
          <button type="button" {...allowanceProps(write)} onClick={() => { setConfirmArchive(!flag.archived); }}>
            {flag.archived ? 'Unarchive…' : 'Archive…'}
          </button>
          <a href="#/flags">← All flags</a>
        </div>
      </div>
      {flag.archived ? (
        <p className="banner banner-warn" role="status">
          This flag is archived: the flags list hides it and no environment's ruleset contains it, so SDKs serve the default value in your code.
        </p>
      ) : null}
      <StaleNote flag={flag} environments={environments.map((e) => e.key)} experiments={ctx.experimentDefinitions} flags={ctx.flags} />
      {flag.definition.description === undefined ? null : <p dir="auto">{flag.definition.description}</p>}
      {write.allowed ? null : (
        <p className="banner banner-info" role="note">
          Read only: {write.reason}. You can look at the targeting and evaluate the flag.
        </p>
      )}
      {dirty && theirs !== null ? (
        <p className="banner banner-warn" role="status">
          Someone else saved version {theirs} while you were editing the targeting in {envInfo?.name ?? env}. Your targeting edits are kept; saving them will be refused as a conflict.{' '}
          <button type="button" onClick={resetDraft}>
            Discard mine and load theirs
          </button>
        </p>
      ) : null}
      <ResultMessage message={message}>
        {message?.requestId === undefined ? null : (
          <>
            {' '}
            <a href={`#/change-requests?id=${encodeURIComponent(message.requestId)}`}>Review the change request</a>
          </>
        )}
        {message?.tone === 'bad' && message.text.startsWith('Someone else changed') ? (
          <>
            {' '}
            <button
              type="button"
              onClick={() => {
                resetDraft();
                setMessage(null);
                reload();
              }}
            >
              Reload
            </button>
          </>
        ) : null}
      </ResultMessage>
      <Tabs
        label="Flag sections"
        tabs={[
          { key: 'targeting', label: 'Targeting' },
          { key: 'settings', label: 'Settings' },
          { key: 'evaluations', label: 'Evaluations' },
        ]}
        selected={tab}
        onSelect={setTab}
      >
        {tab === 'evaluations' ? (
          <FlagEvaluations flag={flag} />
        ) : tab === 'settings' ? (
          <SettingsPanel
            flag={flag}
            onSaved={(saved) => {
              // The settings leave the targeting as it is: a draft taken from the version saved over moves on.
              if (baseVersion === flag.version) {
                setBaseVersion(saved.version);
              }
              savedOwn(saved);
            }}
            onResult={() => {
              // The settings tab's result is the newest: the targeting's older one (a conflict, "Saved") goes.
              setMessage(null);
            }}
            messageEpoch={messageEpoch}
            write={write}
            reload={reload}
          />
        ) : (
          <div className="grid-2" style={{ gridTemplateColumns: 'minmax(0, 2fr) minmax(320px, 1fr)' }}>
            <div>
              <div className="row">
                <label className="inline">
                  Environment
                  <select
                    aria-label="Editing environment"
                    value={env}
                    onChange={(e) => {
                      if (dirty) {
                        setPendingEnv(e.target.value);
                      } else {
                        switchEnv(e.target.value);
                      }
                    }}
                  >
                    {environments.map((e) => (
                      <option key={e.key} value={e.key}>
                        {e.name}
                      </option>
                    ))}
                  </select>
                </label>
                {proposes ? <Badge tone="warn">protected: changes need approval</Badge> : isProtected(envInfo) ? <Badge tone="warn">protected: you change it directly</Badge> : null}
                {mayTurnOff ? <Badge tone="info">you may turn it off directly</Badge> : null}
                {current === undefined ? (
                  <span className="muted">Not set up here yet: save to create its state (off).</span>
                ) : (
                  <label className="check">
                    <input type="checkbox" role="switch" aria-label={`Flag on in ${envInfo?.name ?? env}`} checked={current.enabled} {...allowanceProps(write)} onChange={(e) => { setConfirmToggle(e.target.checked); }} />
                    {current.enabled ? 'On' : 'Off'}
                  </label>
                )}
              </div>
              {/* A disabled fieldset disables every control of the draft for a role that may not change flags. */}
              <fieldset className="bare" disabled={!write.allowed}>
                <div className="row">
                  <label className="inline">
                    Default (no rule matches)
                    <select aria-label="Default variation" value={draft.defaultVariation} onChange={(e) => { update({ defaultVariation: e.target.value }); }}>
                      {variations.map((v) => (
                        <option key={v}>{v}</option>
                      ))}
                    </select>
                  </label>
                  <label className="inline">
                    When off
                    <select aria-label="Off variation" value={draft.offVariation} onChange={(e) => { update({ offVariation: e.target.value }); }}>
                      {variations.map((v) => (
                        <option key={v}>{v}</option>
                      ))}
                    </select>
                  </label>
                </div>
                <fieldset className="panel">
                  <legend>Prerequisites</legend>
                  {draft.prerequisites.length === 0 ? <p className="muted small">None: this flag does not depend on another.</p> : null}
                  {draft.prerequisites.map((p, i) => {
                    const target = ctx.flags.find((f) => f.key === p.flag);
                    return (
                      <div className="row" key={i}>
                        <select aria-label={`Prerequisite ${i + 1} flag`} value={p.flag} onChange={(e) => { update({ prerequisites: draft.prerequisites.map((x, j) => (j === i ? { flag: e.target.value, variation: '' } : x)) }); }}>
                          <option value="">Choose a flag…</option>
                          {ctx.flags
                            .filter((f) => f.key !== flag.key)
                            .map((f) => (
                              <option key={f.key} value={f.key}>
                                {f.key}
                              </option>
                            ))}
                        </select>
                        serves
                        <select aria-label={`Prerequisite ${i + 1} variation`} value={p.variation} onChange={(e) => { update({ prerequisites: draft.prerequisites.map((x, j) => (j === i ? { ...x, variation: e.target.value } : x)) }); }}>
                          <option value="">Choose…</option>
                          {(target?.definition.variations ?? []).map((v) => (
                            <option key={v.key}>{v.key}</option>
                          ))}
                        </select>
                        <button
                          type="button"
                          className="ghost"
                          aria-label={`Remove prerequisite ${i + 1}`}
                          onClick={(e) => {
                            removed({ root: e.currentTarget.closest('fieldset'), label: (k) => `Remove prerequisite ${k}`, index: i, remaining: draft.prerequisites.length - 1, add: '+ Prerequisite' });
                            update({ prerequisites: draft.prerequisites.filter((_x, j) => j !== i) });
                          }}
                        >
                          ✕
                        </button>
                      </div>
                    );
                  })}
                  <button type="button" onClick={() => { update({ prerequisites: [...draft.prerequisites, { flag: '', variation: '' }] }); }}>
                    + Prerequisite
                  </button>
              </fieldset>
              <h2>Rules</h2>
              <p className="muted small">Evaluated top to bottom; the first rule that matches (and, for rollouts, covers the unit) decides.</p>
              {draft.rules.length === 0 ? <p className="state state-empty">No rules: everyone gets the default variation while the flag is on.</p> : null}
              {draft.rules.map((r, i) => (
                <RuleEditor
                  key={r.uid}
                  draft={r}
                  index={i}
                  count={draft.rules.length}
                  variations={variations}
                  segments={ctx.segments}
                  experiments={ctx.experiments}
                  attributes={attributes}
                  onChange={(next) => { update({ rules: draft.rules.map((x) => (x.uid === r.uid ? next : x)) }); }}
                  onRemove={(pressed) => {
                    removed({ root: pressed.closest('.rule')?.parentElement ?? null, label: (k) => `Delete rule ${k}`, index: i, remaining: draft.rules.length - 1, add: '+ Targeting rule' });
                    update({ rules: draft.rules.filter((x) => x.uid !== r.uid) });
                  }}
                  onMove={(delta) => { moveRule(i, delta); }}
                />
              ))}
              <div className="row">
                <button type="button" onClick={() => { addRule('force'); }}>
                  + Targeting rule
                </button>
                <button type="button" onClick={() => { addRule('rollout'); }}>
                  + Percentage rollout
                </button>
                <button type="button" onClick={() => { addRule('split'); }}>
                  + Split
                </button>
                <button type="button" onClick={() => { addRule('experiment'); }}>
                  + Experiment
                </button>
              </div>
              {proposes ? (
                <label>
                  Comment for the reviewers (optional)
                  <textarea rows={2} maxLength={2000} placeholder="Why this change, what to check" value={comment} onChange={(e) => { setComment(e.target.value); }} />
                </label>
              ) : null}
              <div className="actions">
                <button
                  type="button"
                  disabled={!dirty}
                  onClick={() => {
                    resetDraft();
                    setMessage(null);
                  }}
                >
                  Discard changes
                </button>
                {/* A flag not set up here saves its state as shown (off), so there is something to save unedited. */}
                <button type="button" className="primary" {...allowanceProps(write, (!dirty && current !== undefined) || saving)} onClick={() => void save()}>
                  {saving ? 'Saving…' : proposes ? 'Propose change' : 'Save'}
                </button>
              </div>
              </fieldset>
            </div>
            <div>
              <ScheduledChanges flag={flag} environment={env} />
              <EvaluateAs flagKey={flag.key} />
              <p className="small">
                <a href={`#/code-refs?flag=${encodeURIComponent(flag.key)}`}>Where this flag is used in code</a>
              </p>
            </div>
          </div>
        )}
      </Tabs>
      {pendingEnv === null ? null : (
        <Confirm
          title={`Discard your changes in ${envInfo?.name ?? env}?`}
          message={<p>The targeting you changed in {envInfo?.name ?? env} is not saved. Switching to {environments.find((e) => e.key === pendingEnv)?.name ?? pendingEnv} discards it.</p>}
          confirmLabel="Discard and switch"
          onCancel={() => { setPendingEnv(null); }}
          onConfirm={() => { switchEnv(pendingEnv); }}
        />
      )}
      {confirmArchive === null ? null : (
        <Confirm
          title={`${confirmArchive ? 'Archive' : 'Unarchive'} ${flag.key}?`}
          message={
            confirmArchive ? (
              <>
                <p>
                  The flag leaves the flags list and every environment's ruleset: SDKs serve the default value in your code instead of its variations. Its targeting is kept, and
                  unarchiving brings it back as it was.
                </p>
                <CodeRefsNote flagKey={flag.key} />
              </>
            ) : (
              <p>The flag comes back to the flags list and its targeting is served again in every environment where it is set up.</p>
            )
          }
          confirmLabel={confirmArchive ? 'Archive flag' : 'Unarchive flag'}
          onCancel={() => { setConfirmArchive(null); }}
          onConfirm={() => void setArchived(confirmArchive)}
        />
      )}
      {confirmToggle === null ? null : (
        <Confirm
          title={`${toggleViaRequest ? 'Propose turning' : 'Turn'} ${flag.key} ${confirmToggle ? 'on' : 'off'} in ${envInfo?.name ?? env}?`}
          message={
            toggleViaRequest ? (
              <>
                <p>
                  This changes what every SDK in <strong>{envInfo?.name ?? env}</strong> serves; the environment is protected, so a change request is proposed instead. Nothing
                  changes until someone else approves it and it is applied.
                </p>
                <label>
                  Comment for the reviewers (optional)
                  <textarea rows={2} maxLength={2000} value={toggleComment} onChange={(e) => { setToggleComment(e.target.value); }} />
                </label>
              </>
            ) : (
              <>
                <p>
                  Every SDK reading {envInfo?.name ?? env} will serve {confirmToggle ? 'the targeting rules' : `"${current?.offVariation ?? draft.offVariation}"`} within seconds.
                </p>
                {proposes ? (
                  <p>
                    {envInfo?.name ?? env} is protected, but lets editors turn flags off without a change request: this takes effect now, and the audit log records that it
                    bypassed approval. Turning the flag on again needs an approved change request.
                  </p>
                ) : null}
              </>
            )
          }
          confirmLabel={confirmToggle ? 'Turn on' : 'Turn off'}
          onCancel={() => {
            setConfirmToggle(null);
            setToggleComment('');
          }}
          onConfirm={() => void toggle(confirmToggle)}
        />
      )}
    </>
  );
}

/** Where each variation is served: "Production (default)", "Development (rule 2)", per key. */
export function variationUses(flag: Flag, environmentName: (key: string) => string): Map<string, string[]> {
  const uses = new Map<string, string[]>();
  const use = (variation: string, where: string): void => {
    uses.set(variation, [...(uses.get(variation) ?? []), where]);
  };
  for (const [env, state] of Object.entries(flag.environments)) {
    const name = environmentName(env);
    use(state.defaultVariation, `${name} (default)`);
    use(state.offVariation, `${name} (when off)`);
    state.rules.forEach((rule, i) => {
      const served = rule.type === 'force' || rule.type === 'rollout' ? [rule.variation] : rule.type === 'split' ? rule.distribution.map((d) => d.variation) : Object.values(rule.variations ?? {});
      for (const v of new Set(served)) {
        use(v, `${name} (rule ${i + 1})`);
      }
    });
  }
  return uses;
}

/** The flag's own settings: name, description, tags, availability to client-side SDKs, temporary or permanent, and its variations. */
function SettingsPanel({
  flag,
  onSaved,
  onResult,
  messageEpoch,
  write,
  reload,
}: {
  flag: Stored<Flag>;
  onSaved: (f: Stored<Flag>) => void;
  /** Called when the tab reports a result of its own (saved, or an error). */
  onResult: () => void;
  /** Changes when the page reports something newer: the tab's result is cleared. */
  messageEpoch: number;
  write: Allowance;
  reload: () => void;
}): ReactNode {
  const session = useSession();
  const { client, project, environments } = session;
  // An editor may add variations to a flag served in a protected environment, not change or remove one.
  const guarded = environments.filter((e) => flag.definition.environments[e.key] !== undefined && needsApprovalIn(session, e.key)).map((e) => e.name);
  const locked = guarded.length === 0 ? undefined : `Served in ${guarded.join(', ')}: ask an owner or admin to change or remove a variation (adding one is fine)`;
  const stored = new Set(flag.definition.variations.map((v) => v.key));
  const formOf = (f: Stored<Flag>) => ({
    name: f.definition.name,
    description: f.definition.description ?? '',
    tags: f.definition.tags.join(', '),
    clientSide: availableToClientSide(f.definition),
    temporary: f.definition.temporary,
    rows: f.definition.variations.map((v) => ({ key: v.key, name: v.name ?? '', value: JSON.stringify(v.value) })),
  });
  // The version the form was taken from (If-Match): a newer one arriving by polling replaces an
  // untouched form, and saving over it from an edited one is refused as a conflict, not a lost update.
  const [form, setForm] = useState(() => ({ ...formOf(flag), version: flag.version, dirty: false }));
  const { name, description, tags, rows } = form;
  const edit = (patch: Partial<ReturnType<typeof formOf>>): void => {
    setForm((f) => ({ ...f, ...patch, dirty: true }));
  };
  const setName = (name: string): void => { edit({ name }); };
  const setDescription = (description: string): void => { edit({ description }); };
  const setTags = (tags: string): void => { edit({ tags }); };
  const setClientSide = (clientSide: boolean): void => { edit({ clientSide }); };
  const setTemporary = (temporary: boolean): void => { edit({ temporary }); };
  const setRows = (rows: ReturnType<typeof formOf>['rows']): void => { edit({ rows }); };
  if (!form.dirty && form.version !== flag.version) {
    setForm({ ...formOf(flag), version: flag.version, dirty: false });
  }
  const loadTheirs = (): void => {
    setError(null);
    setForm({ ...formOf(flag), version: flag.version, dirty: false });
    // Their version may not have arrived yet: the untouched form takes it when it does.
    reload();
  };
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);
  const [epoch, setEpoch] = useState(messageEpoch);
  if (epoch !== messageEpoch) {
    setEpoch(messageEpoch);
    setError(null);
    setSaved(false);
  }
  const save = async (): Promise<void> => {
    setError(null);
    setSaved(false);
    onResult();
    try {
      const kept = new Set(rows.map((r) => r.key.trim()));
      const uses = variationUses(flag.definition, (key) => environments.find((e) => e.key === key)?.name ?? key);
      const stillServed = [...stored].filter((key) => !kept.has(key) && uses.has(key));
      if (stillServed.length > 0) {
        throw new Error(stillServed.map((key) => `"${key}" is still served in ${uses.get(key)!.join(', ')}`).join('; ') + ': choose another variation there first.');
      }
      const variations = rows.map((r) => {
        let value: unknown;
        try {
          value = JSON.parse(r.value);
        } catch {
          throw new Error(`The value of "${r.key}" is not JSON (strings need quotes)`);
        }
        return { key: r.key.trim(), ...(r.name.trim() === '' ? {} : { name: r.name.trim() }), value };
      });
      const { description: _d, ...rest } = flag.definition;
      // The whole flag with the version the form opened (If-Match), like every other write of the editor.
      const definition = {
        ...withClientSide(rest, form.clientSide),
        name,
        temporary: form.temporary,
        ...(description.trim() === '' ? {} : { description: description.trim() }),
        tags: tags
          .split(',')
          .map((t) => t.trim())
          .filter((t) => t !== ''),
        variations,
      };
      const result = await client.replace(project, 'flags', flag.key, definition, form.version);
      setForm({ ...formOf(result), version: result.version, dirty: false });
      onSaved(result);
      setSaved(true);
    } catch (e) {
      setError(e);
      onResult();
    }
  };
  /** A stored variation's key, value and removal, for a role that may not change them here. */
  const lockedProps = (key: string, otherwise = false): { disabled: boolean; title?: string } =>
    locked !== undefined && stored.has(key) ? { disabled: true, title: locked } : { disabled: otherwise };
  return (
    <fieldset className="panel" disabled={!write.allowed}>
      {locked === undefined || !write.allowed ? null : (
        <p className="banner banner-info" role="note">
          {locked}.
        </p>
      )}
      <label>
        Name
        <input value={name} onChange={(e) => { setName(e.target.value); }} />
      </label>
      <label>
        Description
        <textarea rows={2} value={description} onChange={(e) => { setDescription(e.target.value); }} />
      </label>
      <label>
        Tags (comma-separated)
        <input value={tags} onChange={(e) => { setTags(e.target.value); }} />
      </label>
      <ClientSideField kind="flag" checked={form.clientSide} onChange={setClientSide} />
      <label className="check">
        <input type="checkbox" checked={form.temporary} aria-describedby="flag-temporary-help" onChange={(e) => { setTemporary(e.target.checked); }} />
        Temporary flag (remove from code once rolled out; stale detection applies)
      </label>
      <small id="flag-temporary-help" className="muted">
        New flags are temporary. Clear this for a permanent flag (a kill switch, an ops or entitlement flag): it is never reported stale.
      </small>
      <table aria-label="Variations">
        <thead>
          <tr>
            <th>Key</th>
            <th>Name</th>
            <th>Value (JSON)</th>
            <th><VisuallyHidden>Actions</VisuallyHidden></th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r, i) => (
            <tr key={i}>
              <td>
                <input aria-label={`Variation ${i + 1} key`} value={r.key} {...lockedProps(r.key)} onChange={(e) => { setRows(rows.map((x, j) => (j === i ? { ...x, key: e.target.value } : x))); }} />
              </td>
              <td>
                <input aria-label={`Variation ${i + 1} name`} value={r.name} onChange={(e) => { setRows(rows.map((x, j) => (j === i ? { ...x, name: e.target.value } : x))); }} />
              </td>
              <td>
                <input aria-label={`Variation ${i + 1} value`} value={r.value} {...lockedProps(r.key)} onChange={(e) => { setRows(rows.map((x, j) => (j === i ? { ...x, value: e.target.value } : x))); }} />
              </td>
              <td>
                <button type="button" className="ghost" aria-label={`Remove variation ${i + 1}`} {...lockedProps(r.key, rows.length <= 1)} onClick={() => { setRows(rows.filter((_x, j) => j !== i)); }}>
                  ✕
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <div className="row">
        <button type="button" onClick={() => { setRows([...rows, { key: `variation-${rows.length + 1}`, name: '', value: flag.definition.type === 'string' ? '""' : flag.definition.type === 'number' ? '0' : flag.definition.type === 'boolean' ? 'false' : '{}' }]); }}>
          + Variation
        </button>
      </div>
      {error === null ? null : <ErrorNote error={error} />}
      {isConflict(error) ? (
        <p>
          <button type="button" onClick={loadTheirs}>
            Discard mine and load theirs
          </button>
        </p>
      ) : null}
      <ResultMessage message={saved ? { tone: 'good', text: 'Saved.' } : null} />
      <div className="actions">
        <button type="button" className="primary" {...allowanceProps(write)} onClick={() => void save()}>
          Save settings
        </button>
      </div>
    </fieldset>
  );
}

/** For a stale flag: what it serves everywhere and what to do about it (remove it from code, then archive it). */
function StaleNote({ flag, environments, experiments, flags }: { flag: Stored<Flag>; environments: readonly string[]; experiments: readonly RuleExperiment[]; flags: readonly Stored<Flag>[] }): ReactNode {
  const stale = staleServed(flag, Date.now(), environments, { experiments, flags });
  const served = stale?.variation;
  const variation = flag.definition.variations.find((v) => v.key === served);
  if (stale === undefined || served === undefined || variation === undefined) {
    return null;
  }
  const value = JSON.stringify(variation.value);
  return (
    // No landmark role: the page's notes (read only, conflicts) keep theirs.
    <p className="banner banner-info">
      Stale: this temporary flag has served <code>{served}</code> ({value.length > 60 ? `${value.slice(0, 57)}…` : value}) to everyone in every environment and has not changed for over {DEFAULT_STALE_DAYS} days. Replace its calls
      in your code with that value (the language server offers the edit), then {stale.dependents === undefined ? 'archive it' : `remove the prerequisite on it from ${stale.dependents.join(', ')} and archive it`}.{' '}
      <a href={`#/code-refs?flag=${encodeURIComponent(flag.key)}`}>Where it is used in code</a>
    </p>
  );
}
