import { useEffect, useState } from 'react';
import type { ReactNode } from 'react';
import type { Project } from '@xp/shared';
import { useSession } from '../../app/session.js';
import { formatTime } from '../../lib/format.js';
import { useAsync } from '../../lib/use-async.js';
import { AsyncView, Badge, Empty, ResultMessage, VisuallyHidden, errorMessage } from '../../lib/ui.js';
import { Environments } from './environments.js';
import { allowanceIn, usePermission } from '../../lib/permissions.js';
import { DeleteProjectDialog, ProjectFormDialog } from './project-forms.js';
import type { ProjectsShell } from './projects-model.js';

type Open = { readonly kind: 'create' } | { readonly kind: 'edit' | 'delete'; readonly key: string } | null;

interface Result {
  readonly tone: 'good' | 'bad' | 'info';
  readonly text: string;
  /** A project the message offers to switch to (one just created). */
  readonly offer?: string;
}

/**
 * The organisation's projects: the current one marked, a switch to the others, and, for the project
 * chosen (the current one at first), its environments. Roles holding `projects:manage` create,
 * edit and delete projects; `environments:manage`, environments. The others see the lists only.
 * `shell` is the top bar: it switches projects, and reloads after each change here.
 */
export default function Projects({ shell }: { shell: ProjectsShell }): ReactNode {
  const session = useSession();
  const { client, project: current, refreshTick } = session;
  // Creating a project is the organisation's; editing or deleting one, the role in that project's.
  const manage = usePermission('projects:manage', 'organisation');
  const projects = useAsync(() => client.projects(), [client], { refreshKey: refreshTick });
  const [chosen, setChosen] = useState<string | null>(null);
  const [open, setOpen] = useState<Open>(null);
  const [result, setResult] = useState<Result | null>(null);
  /** A project just deleted: out of the screen before the list reloads. */
  const [deleted, setDeleted] = useState<string | null>(null);
  const close = (): void => {
    setOpen(null);
  };
  /** The top bar follows a change here; when it cannot, the screen says so. */
  const reloadShell = (): void => {
    shell.reload().catch((e: unknown) => {
      setResult({ tone: 'bad', text: `The project list of the top bar could not be reloaded (${errorMessage(e)}); reload the page to see the change there.` });
    });
  };
  const list = projects.state.status === 'ready' ? projects.state.data.filter((p) => p.key !== deleted) : [];
  const selected = list.find((p) => p.key === chosen) ?? list.find((p) => p.key === current) ?? list[0];
  // Editing or deleting the selected project: the role in that project decides.
  const manageSelected = selected === undefined ? manage : allowanceIn(session, 'projects:manage', { project: selected.key });
  const opened = open === null || open.kind === 'create' ? undefined : list.find((p) => p.key === open.key);
  /** A project just created: focus goes to its row once listed (the button that opened the form may be gone, and the switch offered goes when the top bar switches by itself). */
  const [focusAfterCreate, setFocusAfterCreate] = useState<string | null>(null);
  useEffect(() => {
    if (focusAfterCreate === null || !list.some((p) => p.key === focusAfterCreate)) {
      return;
    }
    const target = [...document.querySelectorAll<HTMLElement>('[data-project-row]')].find((el) => el.dataset.projectRow === focusAfterCreate);
    if (target !== undefined) {
      target.focus();
      setFocusAfterCreate(null);
    }
  });

  return (
    <>
      <div className="page-head">
        <h1>Projects</h1>
        {manage.allowed ? (
          <button type="button" className="primary" onClick={() => { setOpen({ kind: 'create' }); }}>
            New project
          </button>
        ) : null}
      </div>
      <p className="muted small">
        Each project has its own flags, experiments, segments, metrics, environments, SDK keys and webhooks. The console shows one at a time: switch here or with the top bar's
        Project list.
      </p>
      {manage.reason === undefined ? null : <p className="muted">{manage.reason}: owners and admins do. The list is read-only.</p>}
      <ResultMessage message={result}>
        {result?.offer === undefined || result.offer === current ? null : (
          <>
            {' '}
            <button type="button" disabled={shell.switching !== null} onClick={() => { shell.switchTo(result.offer ?? ''); }}>
              Switch to {result.offer}
            </button>
          </>
        )}
      </ResultMessage>
      <AsyncView state={projects.state} onRetry={projects.reload}>
        {(items) =>
          items.every((p) => p.key === deleted) ? (
            <Empty>
              <p>No projects yet. {manage.allowed ? 'Create one: it starts with a development, a staging and a protected production environment.' : 'Ask an owner or admin to create one.'}</p>
              {manage.allowed ? (
                <button type="button" className="primary" onClick={() => { setOpen({ kind: 'create' }); }}>
                  Create the first project
                </button>
              ) : null}
            </Empty>
          ) : (
            <ProjectsTable
              projects={items.filter((p) => p.key !== deleted)}
              current={current}
              selected={selected?.key}
              shell={shell}
              canManage={(key) => allowanceIn(session, 'projects:manage', { project: key }).allowed}
              onSelect={setChosen}
              onEdit={(key) => { setOpen({ kind: 'edit', key }); }}
            />
          )
        }
      </AsyncView>
      {selected === undefined ? null : (
        <>
          <Environments key={selected.key} project={selected} onChanged={selected.key === current ? reloadShell : () => undefined} />
          {!manageSelected.allowed ? (
            // Why there is no Edit or Delete for this project when the organisation role would allow
            // them (a lower project role decides); otherwise the note above the list already says why.
            manage.allowed ? <p className="small muted">{manageSelected.reason}: ask an owner or admin to rename or delete {selected.key}.</p> : null
          ) : (
            <section aria-labelledby="project-danger-heading">
              <h2 id="project-danger-heading">Danger zone</h2>
              <p className="small muted">
                Deleting {selected.name} deletes everything in it. The platform refuses while one of its flags is on in production or one of its experiments is running.
              </p>
              <button type="button" className="danger" onClick={() => { setOpen({ kind: 'delete', key: selected.key }); }}>
                Delete project {selected.key}…
              </button>
            </section>
          )}
        </>
      )}
      {open?.kind === 'create' ? (
        <ProjectFormDialog
          onClose={close}
          onSaved={(created) => {
            close();
            setDeleted(null);
            setChosen(created.key);
            setResult({ tone: 'good', text: `Created project ${created.key} with its environments, listed below.`, offer: created.key });
            setFocusAfterCreate(created.key);
            projects.reload();
            reloadShell();
          }}
        />
      ) : null}
      {open?.kind === 'edit' && opened !== undefined ? (
        <ProjectFormDialog
          original={opened}
          onClose={close}
          onConflict={projects.reload}
          onSaved={(saved) => {
            close();
            setResult({ tone: 'good', text: `Saved project ${saved.key}.` });
            projects.reload();
          }}
        />
      ) : null}
      {open?.kind === 'delete' && opened !== undefined ? (
        <DeleteProjectDialog
          project={opened}
          isCurrent={opened.key === current}
          onClose={close}
          onStale={projects.reload}
          onDeleted={() => {
            close();
            setChosen(null);
            setDeleted(opened.key);
            const left = list.filter((p) => p.key !== opened.key);
            const next = opened.key === current ? (left[0] === undefined ? ' No project is left: create one to go on.' : ` The console now shows project ${left[0].key}.`) : '';
            setResult({ tone: 'good', text: `Deleted project ${opened.key}.${next}` });
            projects.reload();
            reloadShell();
          }}
        />
      ) : null}
    </>
  );
}

function ProjectsTable({
  projects,
  current,
  selected,
  shell,
  canManage,
  onSelect,
  onEdit,
}: {
  projects: readonly Project[];
  current: string;
  selected: string | undefined;
  shell: ProjectsShell;
  canManage: (key: string) => boolean;
  onSelect: (key: string) => void;
  onEdit: (key: string) => void;
}): ReactNode {
  return (
    <table aria-label="Projects">
      <thead>
        <tr>
          <th>Key</th>
          <th>Name</th>
          <th>Description</th>
          <th>Created</th>
          <th><VisuallyHidden>Actions</VisuallyHidden></th>
        </tr>
      </thead>
      <tbody>
        {projects.map((p) => (
          <tr key={p.key} aria-current={p.key === current ? 'true' : undefined}>
            <td>
              <code>{p.key}</code>
              {p.key === current ? (
                <>
                  {' '}
                  <Badge tone="info">current</Badge>
                </>
              ) : null}
            </td>
            <td>{p.name}</td>
            <td className="small">{p.description === null || p.description === '' ? <span className="muted">—</span> : p.description}</td>
            <td className="small">{formatTime(p.createdAt)}</td>
            <td>
              <button type="button" data-project-row={p.key} aria-label={`Show the environments of ${p.key}`} aria-pressed={p.key === selected} onClick={() => { onSelect(p.key); }}>
                Environments
              </button>{' '}
              {p.key === current ? null : (
                <>
                  <button type="button" aria-label={`Switch to ${p.key}`} disabled={shell.switching !== null} onClick={() => { shell.switchTo(p.key); }}>
                    {shell.switching === p.key ? 'Switching…' : 'Switch to'}
                  </button>{' '}
                </>
              )}
              {canManage(p.key) ? (
                <button type="button" aria-label={`Edit ${p.key}`} onClick={() => { onEdit(p.key); }}>
                  Edit
                </button>
              ) : null}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
