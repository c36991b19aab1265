import { useState } from 'react';
import type { ReactNode } from 'react';
import type { Flag, Stored } from '@xp/shared';
import { useSession } from '../../app/session.js';
import { pendingProps } from '../../lib/permissions.js';
import { Dialog, errorMessage } from '../../lib/ui.js';

/** What archiving one flag came to: its new version, or why the API refused it. */
export type ArchiveOutcome = { readonly key: string; readonly archived: true; readonly version: number } | { readonly key: string; readonly archived: false; readonly reason: string };

/**
 * Archives each flag through the API, one after the other from the version listed (If-Match): a
 * refusal (a running experiment, a prerequisite of another flag, approval needed, a newer version)
 * is that flag's outcome, and the others are archived all the same.
 */
export async function archiveEach(
  archive: (flag: Stored<Flag>) => Promise<Stored<Flag>>,
  flags: readonly Stored<Flag>[],
  progress: (done: number) => void = () => undefined,
): Promise<ArchiveOutcome[]> {
  const outcomes: ArchiveOutcome[] = [];
  for (const flag of flags) {
    try {
      const saved = await archive(flag);
      outcomes.push({ key: flag.key, archived: true, version: saved.version });
    } catch (e) {
      outcomes.push({ key: flag.key, archived: false, reason: errorMessage(e) });
    }
    progress(outcomes.length);
  }
  return outcomes;
}

const plural = (n: number): string => `${n} flag${n === 1 ? '' : 's'}`;

/**
 * "Archive N flags…": the confirmation lists them, then each is archived through the API and the
 * outcome of each is listed (the refused ones with the API's reason). `onDone` gets the outcomes
 * once they are all in.
 */
export function BulkArchiveDialog({ flags, onClose, onDone }: { flags: readonly Stored<Flag>[]; onClose: () => void; onDone: (outcomes: readonly ArchiveOutcome[]) => void }): ReactNode {
  const { client, project } = useSession();
  const [done, setDone] = useState<number | null>(null);
  const [outcomes, setOutcomes] = useState<readonly ArchiveOutcome[] | null>(null);
  const running = done !== null && outcomes === null;
  const start = async (): Promise<void> => {
    setDone(0);
    const result = await archiveEach((f) => client.replace(project, 'flags', f.key, { ...f.definition, archived: true }, f.version), flags, setDone);
    setOutcomes(result);
    onDone(result);
  };
  if (outcomes !== null) {
    const refused = outcomes.filter((o) => !o.archived);
    return (
      <Dialog title={`Archived ${plural(outcomes.length - refused.length)} of ${outcomes.length}`} onClose={onClose}>
        <p role="status">
          {refused.length === 0 ? `All ${plural(outcomes.length)} archived.` : `${plural(refused.length)} could not be archived; the others were.`}
        </p>
        <ul aria-label="Archive results">
          {outcomes.map((o) => (
            <li key={o.key}>
              <code>{o.key}</code>: {o.archived ? `archived (version ${o.version})` : `not archived: ${o.reason}`}
            </li>
          ))}
        </ul>
        <div className="actions">
          <button type="button" className="primary" onClick={onClose}>
            Close
          </button>
        </div>
      </Dialog>
    );
  }
  return (
    <Dialog title={`Archive ${plural(flags.length)}?`} onClose={running ? () => undefined : onClose}>
      <p>Archived flags leave every environment&apos;s ruleset: SDKs serve the default value in your code. Each can be unarchived in the flag editor.</p>
      <ul aria-label="Flags to archive">
        {flags.map((f) => (
          <li key={f.key}>
            <code>{f.key}</code> {f.definition.name === f.key ? null : <span className="muted">({f.definition.name})</span>}
          </li>
        ))}
      </ul>
      {running ? (
        <p role="status">
          Archiving… {done} of {flags.length} done.
        </p>
      ) : null}
      <div className="actions">
        <button type="button" {...pendingProps(running)} onClick={onClose}>
          Cancel
        </button>
        <button type="button" className="primary" {...pendingProps(running)} onClick={() => void start()}>
          Archive {plural(flags.length)}
        </button>
      </div>
    </Dialog>
  );
}
