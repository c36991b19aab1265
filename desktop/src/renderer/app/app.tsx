import { Suspense, useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { ReactNode } from 'react';
import { ApiError, FeedState, XpApiClient, roleInProject } from '@xp/shared';
import type { Me, RolesView, StoredEnvironment } from '@xp/shared';
import { MenuCommand } from '../../ipc-contract.js';
import { desktopBridge } from '../lib/bridge.js';
import { lazyScreen } from '../lib/lazy-screen.js';
import { permissionsOf, sessionRole } from '../lib/permissions.js';
import type { ConsolePermission } from '../lib/permissions.js';
import { prefetch } from '../lib/prefetch.js';
import { useScreenHeadingFocus } from '../lib/screen-focus.js';
import { Confirm, ErrorNote, Loading, errorMessage } from '../lib/ui.js';
import { currentLeaveWarning, discardLeaveWarning, navigate, parseRoute, routeHash, useRoute } from './router.js';
import type { Route } from './router.js';
import { SessionContext, pageApiUrl, ssoSession, takeSsoReturn, tokenStore } from './session.js';
import type { Session } from './session.js';
import { SessionExpired, SignIn, ssoErrorMessage } from '../features/sign-in/sign-in.js';
import { ChangePassword } from '../features/sign-in/change-password.js';
import { SessionFetch } from '../lib/session-fetch.js';
import type { ProjectsShell } from '../features/projects/projects-model.js';

// One chunk per screen: the flags list paints without the experiment, chart or admin code.
const FlagsList = lazyScreen(() => import('../features/flags/flags-list.js'));
const FlagEditor = lazyScreen(() => import('../features/flags/flag-editor.js'));
const ExperimentsList = lazyScreen(() => import('../features/experiments/experiments-list.js'));
const ExperimentWizard = lazyScreen(() => import('../features/experiments/experiment-wizard.js'));
const ExperimentPage = lazyScreen(() => import('../features/experiments/experiment-page.js'));
const Segments = lazyScreen(() => import('../features/segments/segments.js'));
const Metrics = lazyScreen(() => import('../features/metrics/metrics.js'));
const CodeRefs = lazyScreen(() => import('../features/code-refs/code-refs.js'));
const AuditLog = lazyScreen(() => import('../features/audit/audit-log.js'));
const Events = lazyScreen(() => import('../features/events/events.js'));
const Access = lazyScreen(() => import('../features/access/access.js'));
const Health = lazyScreen(() => import('../features/health/health.js'));
const ChangeRequests = lazyScreen(() => import('../features/change-requests/change-requests.js'));
const Webhooks = lazyScreen(() => import('../features/webhooks/webhooks-list.js'));
const WebhookPage = lazyScreen(() => import('../features/webhooks/webhook-page.js'));
const Projects = lazyScreen(() => import('../features/projects/projects.js'));

/** Screens that work without a project: an organisation with none still manages people, keys and health, and reads its audit log. */
const PROJECTLESS_SCREENS: ReadonlySet<Route['screen']> = new Set(['projects', 'access', 'health', 'audit']);

/** The screens of the sidebar; the first nine have Alt+1…9. A `permission` hides one from roles without it. */
const NAV: readonly { readonly screen: Route['screen']; readonly label: string; readonly route: Route; readonly permission?: ConsolePermission }[] = [
  { screen: 'flags', label: 'Flags', route: { screen: 'flags' } },
  { screen: 'experiments', label: 'Experiments', route: { screen: 'experiments' } },
  { screen: 'segments', label: 'Segments', route: { screen: 'segments' } },
  { screen: 'metrics', label: 'Metrics', route: { screen: 'metrics' } },
  { screen: 'code-refs', label: 'Code references', route: { screen: 'code-refs' } },
  { screen: 'audit', label: 'Audit log', route: { screen: 'audit' } },
  { screen: 'access', label: 'Users & keys', route: { screen: 'access' } },
  { screen: 'health', label: 'Health', route: { screen: 'health' } },
  { screen: 'change-requests', label: 'Change requests', route: { screen: 'change-requests' } },
  { screen: 'events', label: 'Events', route: { screen: 'events' } },
  // Past the ninth: no Alt+digit, so the others keep theirs (and the desktop menu's Ctrl+digit).
  { screen: 'projects', label: 'Projects', route: { screen: 'projects' } },
  { screen: 'webhooks', label: 'Webhooks', route: { screen: 'webhooks' }, permission: 'webhooks:manage' },
];

const SECTION: Partial<Record<Route['screen'], Route['screen']>> = { flag: 'flags', experiment: 'experiments', 'experiment-new': 'experiments', webhook: 'webhooks' };

/** Where a screen of one project's item (a flag, an experiment, a webhook) goes when the project changes: its list. */
function listAfterProjectSwitch(route: Route): Route | null {
  const section = SECTION[route.screen];
  return section === undefined ? null : ({ screen: section } as Route);
}

type Theme = 'dark' | 'light';

function initialTheme(): Theme {
  const saved = window.localStorage.getItem('xp.theme');
  if (saved === 'dark' || saved === 'light') {
    return saved;
  }
  return window.matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

/** The window's title for a screen (WCAG 2.4.2): what screen-reader users hear first on arrival and see in the tab list. */
export function screenTitle(route: Route): string {
  switch (route.screen) {
    case 'flag':
      return `Flag ${route.key}`;
    case 'experiment':
      return `Experiment ${route.key}`;
    case 'experiment-new':
      return 'New experiment';
    case 'webhook':
      return 'Webhook';
    default: {
      const screen = route.screen;
      return NAV.find((item) => item.screen === screen)?.label ?? 'xp console';
    }
  }
}

function Screen({ route, projects }: { route: Route; projects: ProjectsShell }): ReactNode {
  switch (route.screen) {
    case 'flags':
      return <FlagsList />;
    case 'flag':
      return <FlagEditor flagKey={route.key} />;
    case 'experiments':
      return <ExperimentsList />;
    case 'experiment-new':
      return <ExperimentWizard />;
    case 'experiment':
      return <ExperimentPage experimentKey={route.key} />;
    case 'segments':
      return <Segments />;
    case 'metrics':
      return <Metrics />;
    case 'code-refs':
      return <CodeRefs />;
    case 'audit':
      return <AuditLog />;
    case 'events':
      return <Events />;
    case 'access':
      return <Access />;
    case 'health':
      return <Health />;
    case 'change-requests':
      return <ChangeRequests />;
    case 'webhooks':
      return <Webhooks />;
    case 'webhook':
      return <WebhookPage webhookId={route.id} />;
    case 'projects':
      return <Projects shell={projects} />;
  }
}

interface Loaded {
  readonly client: XpApiClient;
  readonly user: Me;
  readonly permissions: ReadonlySet<string> | undefined;
  readonly matrix: RolesView | undefined;
  /** Every project the user sees: the key to select it, the name to show. */
  readonly projects: readonly { readonly key: string; readonly name: string }[];
  readonly project: string;
  readonly environments: readonly StoredEnvironment[];
}

async function loadSession(client: XpApiClient, preferredProject?: string): Promise<Loaded> {
  // The permission matrix only shapes what the console offers: without it nothing is disabled.
  const [user, projects, roles] = await Promise.all([client.me(), client.projects(), client.roles().catch(() => null)]);
  const matrix = roles ?? undefined;
  const keys = projects.map((p) => p.key);
  const shown = projects.map((p) => ({ key: p.key, name: p.name }));
  const project = preferredProject !== undefined && keys.includes(preferredProject) ? preferredProject : keys[0];
  // The role in the project shown: the user's project role there, else their organisation role (as the API decides).
  const permissions = roles === null ? undefined : permissionsOf(roles, roleInProject(user, project));
  if (project === undefined) {
    return { client, user, permissions, matrix, projects: shown, project: '', environments: [] };
  }
  // The flags list is the landing screen: its data loads alongside the environments and its code.
  if (parseRoute(window.location.hash).screen === 'flags') {
    void FlagsList.preload();
    prefetch(`flags:${project}`, () => client.listAll(project, 'flags'));
  }
  const environments = await client.environments(project);
  return { client, user, permissions, matrix, projects: shown, project, environments };
}

/** Changes arriving together (a change request applied, an import) cause one refresh. */
const CHANGE_DEBOUNCE_MS = 250;

/** The project the next start opens: the one shown, or none when no project is left. */
function rememberProject(project: string): void {
  if (project === '') {
    window.localStorage.removeItem('xp.project');
  } else {
    window.localStorage.setItem('xp.project', project);
  }
}

export function App(): ReactNode {
  // First of all: an SSO sign-in's `#sso-code=`/`#sso-error=` leaves the URL before the route reads it.
  const [ssoReturn] = useState(takeSsoReturn);
  /** Why the SSO sign-in that brought the user here failed, shown on the sign-in screen. */
  const [ssoNotice, setSsoNotice] = useState<string | null>(() => (ssoReturn !== null && 'error' in ssoReturn ? ssoErrorMessage(ssoReturn.error) : null));
  const { route: hashRoute, pending: pendingRoute } = useRoute();
  /** A project the user chose while the screen had unsaved changes: the switch waits for a confirmation. */
  const [pendingProject, setPendingProject] = useState<string | null>(null);
  /** The list shown after a project switch from an item's screen, until the URL catches up. */
  const [switchedTo, setSwitchedTo] = useState<Route | null>(null);
  useEffect(() => {
    setSwitchedTo(null);
  }, [hashRoute]);
  const route = switchedTo ?? hashRoute;
  const [switching, setSwitching] = useState<string | null>(null);
  const [switchError, setSwitchError] = useState<{ project: string; error: unknown } | null>(null);
  /** The project shown was deleted elsewhere; `now` is the one shown instead ('' for none). */
  const [projectGone, setProjectGone] = useState<{ project: string; now: string } | null>(null);
  const [theme, setTheme] = useState<Theme>(initialTheme);
  const [loaded, setLoaded] = useState<Loaded | null>(null);
  const [phase, setPhase] = useState<'checking' | 'signed-out' | 'ready' | 'error'>('checking');
  const [bootError, setBootError] = useState<unknown>(null);
  const [environment, setEnvironmentState] = useState<string>(() => window.localStorage.getItem('xp.environment') ?? '');
  const [refreshTick, setRefreshTick] = useState(0);
  /** Sends the current token and holds requests while an expired session is renewed in place. */
  const sessionFetch = useMemo(() => new SessionFetch(), []);
  const base = useMemo(() => new XpApiClient({ apiUrl: pageApiUrl(), client: 'console', fetch: sessionFetch.fetch }), [sessionFetch]);
  const [expired, setExpired] = useState(false);
  const [changingPassword, setChangingPassword] = useState(false);
  useEffect(() => sessionFetch.subscribe(setExpired), [sessionFetch]);

  useEffect(() => {
    document.documentElement.dataset.theme = theme;
    window.localStorage.setItem('xp.theme', theme);
  }, [theme]);

  const signedIn = phase === 'ready' && loaded !== null;
  const mainRef = useRef<HTMLElement>(null);
  useScreenHeadingFocus(routeHash(route), mainRef);
  useEffect(() => {
    document.title = signedIn ? `${screenTitle(route)} · xp console` : 'Sign in · xp console';
  }, [route, signedIn]);

  const start = useCallback(
    async (token: string) => {
      // A link from the editor or elsewhere names its project (…/?project=shop#/flags/checkout).
      const linked = new URLSearchParams(window.location.search).get('project');
      const session = await loadSession(base.withToken(token), linked ?? window.localStorage.getItem('xp.project') ?? undefined);
      sessionFetch.start(token);
      setLoaded(session);
      setPhase('ready');
    },
    [base, sessionFetch],
  );

  useEffect(() => {
    let cancelled = false;
    // Back from an SSO sign-in with a code: it becomes the session (a refused code leaves the user signed out, told why).
    const arrival = ssoReturn !== null && 'code' in ssoReturn ? ssoReturn : null;
    const sessionToken =
      arrival === null
        ? tokenStore.load()
        : ssoSession(base, arrival).catch((e: unknown) => {
            if (!cancelled) {
              setSsoNotice(e instanceof ApiError && e.status === 401 ? ssoErrorMessage('expired') : `Single sign-on could not be completed: ${errorMessage(e)}`);
            }
            return null;
          });
    sessionToken
      .then(async (token) => {
        if (token === null) {
          setPhase('signed-out');
          return;
        }
        await start(token);
      })
      .catch(async (e: unknown) => {
        if (cancelled) {
          return;
        }
        if (e instanceof ApiError && e.status === 401) {
          await tokenStore.save(null);
          setPhase('signed-out');
        } else {
          setBootError(e);
          setPhase('error');
        }
      });
    return () => {
      cancelled = true;
    };
  }, [start, base, ssoReturn]);

  // Live refresh: a change to the project anywhere (another user, the CLI, the VS Code extension)
  // refreshes every screen within about a second; screens still poll, for results and for API
  // deployments whose streams are polls (Lambda).
  useEffect(() => {
    if (loaded === null || loaded.project === '') {
      return undefined;
    }
    let pending: ReturnType<typeof setTimeout> | undefined;
    let gone = false;
    const feed = loaded.client.followChanges(loaded.project, {
      onChange: () => {
        clearTimeout(pending);
        pending = setTimeout(() => {
          setRefreshTick((t) => t + 1);
        }, CHANGE_DEBOUNCE_MS);
      },
      onState: (state, detail) => {
        // The project was deleted (elsewhere: another console, the API): its feed answers 404 at the
        // next reconnect. The console moves to a project left instead of showing errors for it.
        if (state !== FeedState.Stopped || !/\b404$/.test(detail ?? '') || gone) {
          return;
        }
        gone = true;
        const project = loaded.project;
        loadSession(loaded.client, project).then(
          (next) => {
            if (next.project === project) {
              return;
            }
            rememberProject(next.project);
            setProjectGone({ project, now: next.project });
            // A flag or an experiment of the deleted project is gone with it: show the list.
            const list = listAfterProjectSwitch(parseRoute(window.location.hash));
            if (list !== null) {
              navigate(list);
            }
            setLoaded(next);
          },
          () => undefined,
        );
      },
    });
    return () => {
      clearTimeout(pending);
      feed.close();
    };
  }, [loaded]);

  // Desktop: deep links and native menu commands.
  useEffect(() => {
    const bridge = desktopBridge();
    if (bridge === undefined) {
      return undefined;
    }
    const offLink = bridge.onDeepLink((link) => {
      navigate(link.kind === 'flag' ? { screen: 'flag', key: link.key } : { screen: 'experiment', key: link.key });
    });
    const offMenu = bridge.onMenu((message) => {
      if (message.command === MenuCommand.Navigate && message.screen !== undefined) {
        navigate(parseRoute(`#/${message.screen}`));
      } else if (message.command === MenuCommand.Refresh) {
        setRefreshTick((t) => t + 1);
      } else if (message.command === MenuCommand.ToggleTheme) {
        setTheme((t) => (t === 'dark' ? 'light' : 'dark'));
      } else {
        document.querySelector<HTMLInputElement>('input[type="search"]')?.focus();
      }
    });
    return () => {
      offLink();
      offMenu();
    };
  }, []);

  // Web: the same shortcuts as the desktop menu, with Alt instead of Ctrl (the browser keeps Ctrl+digit).
  useEffect(() => {
    const onKey = (e: KeyboardEvent): void => {
      if (e.altKey && !e.ctrlKey && !e.metaKey && /^Digit[1-9]$/.test(e.code)) {
        const item = NAV[Number(e.code.slice(5)) - 1];
        if (item !== undefined) {
          e.preventDefault();
          navigate(item.route);
        }
      } else if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'k') {
        const search = document.querySelector<HTMLInputElement>('input[type="search"]');
        if (search !== null) {
          e.preventDefault();
          search.focus();
        }
      }
    };
    window.addEventListener('keydown', onKey);
    return () => {
      window.removeEventListener('keydown', onKey);
    };
  }, []);

  /** Loads another project; on failure the current one stays and the error is shown with a retry. */
  const switchProject = (client: XpApiClient, project: string): void => {
    setSwitchError(null);
    setProjectGone(null);
    setSwitching(project);
    loadSession(client, project).then(
      (next) => {
        rememberProject(next.project);
        // A flag or an experiment belongs to the project it was opened in: show the new project's list.
        const list = listAfterProjectSwitch(parseRoute(window.location.hash));
        if (list !== null) {
          setSwitchedTo(list);
          navigate(list);
        }
        setLoaded(next);
        setSwitching(null);
      },
      (e: unknown) => {
        setSwitchError({ project, error: e });
        setSwitching(null);
      },
    );
  };

  /** A project chosen in the top bar or on the Projects screen: asks first when the screen holds unsaved changes. */
  const requestProject = (client: XpApiClient, project: string): void => {
    if (currentLeaveWarning() === null) {
      switchProject(client, project);
    } else {
      setPendingProject(project);
    }
  };

  const signOut = useCallback(async () => {
    // Requests held for a new sign-in get their 401; the logout itself is not held.
    sessionFetch.stop();
    await loaded?.client.logout().catch(() => undefined);
    await tokenStore.save(null);
    setLoaded(null);
    setPhase('signed-out');
  }, [loaded, sessionFetch]);

  const session: Session | null = useMemo(() => {
    if (loaded === null) {
      return null;
    }
    const envKeys = loaded.environments.map((e) => e.key);
    const env = envKeys.includes(environment) ? environment : (envKeys[0] ?? '');
    return {
      client: loaded.client,
      user: loaded.user,
      ...(loaded.permissions === undefined ? {} : { permissions: loaded.permissions }),
      ...(loaded.matrix === undefined ? {} : { matrix: loaded.matrix }),
      project: loaded.project,
      environments: loaded.environments,
      environment: env,
      setEnvironment: (key: string) => {
        window.localStorage.setItem('xp.environment', key);
        setEnvironmentState(key);
      },
      refreshTick,
    };
  }, [loaded, environment, refreshTick]);

  const themeButton = (
    <button type="button" className="ghost" onClick={() => { setTheme((t) => (t === 'dark' ? 'light' : 'dark')); }} aria-label={`Switch to the ${theme === 'dark' ? 'light' : 'dark'} theme`}>
      {theme === 'dark' ? '☀ Light' : '☾ Dark'}
    </button>
  );

  if (phase === 'checking') {
    return <Loading label="Starting the console…" />;
  }
  if (phase === 'error') {
    // The API of the saved session did not answer: retry, or sign out (in the desktop app, to pick
    // another connection), which needs no API.
    return (
      <main className="centered">
        <ErrorNote error={bootError} onRetry={() => { window.location.reload(); }} />
        <p>
          <button
            type="button"
            onClick={() => {
              void tokenStore.save(null).then(() => {
                setPhase('signed-out');
              });
            }}
          >
            {desktopBridge() === undefined ? 'Sign out' : 'Sign out and choose a connection'}
          </button>
        </p>
      </main>
    );
  }
  if (phase === 'signed-out' || session === null || loaded === null) {
    return (
      <SignIn
        client={base}
        themeButton={themeButton}
        notice={ssoNotice}
        onSignedIn={async (token) => {
          await tokenStore.save(token);
          await start(token);
          setSsoNotice(null);
        }}
      />
    );
  }
  // The role in the project shown, named in the top bar when a project role differs from the organisation's.
  const projectRole = sessionRole(session);
  const section = SECTION[route.screen] ?? route.screen;
  const projectsShell: ProjectsShell = {
    switchTo: (project) => { requestProject(loaded.client, project); },
    switching,
    reload: async () => {
      // The current project unless it is gone: then the first one left, or none.
      const next = await loadSession(loaded.client, loaded.project);
      rememberProject(next.project);
      setLoaded(next);
    },
  };
  return (
    <SessionContext.Provider value={session}>
      {/* The URL hash holds the route: following "#main" would open the flags list instead of skipping to the content. */}
      <a
        className="skip-link"
        href="#main"
        onClick={(e) => {
          e.preventDefault();
          document.getElementById('main')?.focus();
        }}
      >
        Skip to content
      </a>
      <div className="shell">
        <header className="topbar">
          <span className="brand">xp</span>
          {loaded.projects.length > 1 ? (
            <label className="inline">
              Project{' '}
              <select
                value={switching ?? loaded.project}
                disabled={switching !== null}
                onChange={(e) => { requestProject(loaded.client, e.target.value); }}
              >
                {loaded.projects.map((p) => (
                  <option key={p.key} value={p.key}>
                    {p.name === p.key ? p.key : `${p.name} (${p.key})`}
                  </option>
                ))}
              </select>
              {switching === null ? null : <span className="muted small">switching…</span>}
            </label>
          ) : (
            <span className="muted">{loaded.project === '' ? 'No project' : (loaded.projects.find((p) => p.key === loaded.project)?.name ?? loaded.project)}</span>
          )}
          {loaded.project === '' ? null : (
            <label className="inline env-switcher">
              Environment{' '}
              <select value={session.environment} onChange={(e) => { session.setEnvironment(e.target.value); }}>
                {session.environments.map((env) => (
                  <option key={env.key} value={env.key}>
                    {env.name}
                    {env.requireApproval ? ' (protected)' : ''}
                  </option>
                ))}
              </select>
            </label>
          )}
          <span className="spacer" />
          {themeButton}
          <span className="muted">
            {loaded.user.email} · {loaded.user.role}
            {projectRole === loaded.user.role ? '' : ` (${projectRole} in ${loaded.project})`}
          </span>
          {/* A person created by single sign-on has no password to change (older servers do not say: shown). */}
          {loaded.user.hasPassword === false ? null : (
            <button type="button" className="ghost" onClick={() => { setChangingPassword(true); }}>
              Change password…
            </button>
          )}
          <button type="button" className="ghost" onClick={() => void signOut()}>
            Sign out
          </button>
        </header>
        <nav className="sidebar" aria-label="Screens">
          <ul>
            {NAV.map((item, i) =>
              item.permission === undefined || session.permissions === undefined || session.permissions.has(item.permission) ? (
                <li key={item.screen}>
                  <a href={`#/${item.screen}`} aria-current={section === item.screen ? 'page' : undefined} title={i < 9 ? `Alt+${i + 1}` : undefined} aria-keyshortcuts={i < 9 ? `Alt+${i + 1}` : undefined}>
                    {item.label}
                  </a>
                </li>
              ) : null,
            )}
          </ul>
        </nav>
        <main id="main" ref={mainRef} className="content" tabIndex={-1}>
          {switchError === null ? null : (
            <p className="banner banner-bad" role="alert">
              Could not switch to project {switchError.project} ({errorMessage(switchError.error)}); still showing {loaded.project}.{' '}
              <button type="button" onClick={() => { switchProject(loaded.client, switchError.project); }}>
                Try again
              </button>{' '}
              <button type="button" className="ghost" onClick={() => { setSwitchError(null); }}>
                Dismiss
              </button>
            </p>
          )}
          {projectGone === null ? null : (
            <p className="banner banner-warn" role="alert">
              Project {projectGone.project} was deleted.{' '}
              {projectGone.now === '' ? 'No project is left.' : `The console now shows project ${projectGone.now}.`}{' '}
              <button type="button" className="ghost" onClick={() => { setProjectGone(null); }}>
                Dismiss
              </button>
            </p>
          )}
          {loaded.project === '' && !PROJECTLESS_SCREENS.has(route.screen) ? (
            <div className="state state-empty">
              <p>No project yet.</p>
              <p>
                {session.permissions === undefined || session.permissions.has('projects:manage') ? (
                  <>
                    <a href={routeHash({ screen: 'projects' })}>Create the first project</a> on the Projects screen.
                  </>
                ) : (
                  'Ask an owner or admin to create one on the Projects screen.'
                )}
              </p>
            </div>
          ) : (
            <Suspense fallback={<Loading />}>
              {/* Keyed by project: a switch starts every screen afresh (no dialog or filter of the other project stays open). The Projects screen stays: it switches projects itself. */}
              <Screen key={route.screen === 'projects' ? 'projects' : loaded.project} route={route} projects={projectsShell} />
            </Suspense>
          )}
          {changingPassword ? <ChangePassword client={loaded.client} onClose={() => { setChangingPassword(false); }} /> : null}
          {expired ? (
            <SessionExpired
              client={base}
              user={loaded.user}
              onSignedIn={async (token) => {
                await tokenStore.save(token);
                sessionFetch.renew(token);
              }}
              onSignOut={() => void signOut()}
            />
          ) : null}
          {pendingRoute !== null || pendingProject !== null ? (
            <Confirm
              title="Leave without saving?"
              message={pendingRoute?.message ?? currentLeaveWarning() ?? ''}
              confirmLabel="Leave and discard"
              onConfirm={() => {
                if (pendingRoute !== null) {
                  pendingRoute.proceed();
                } else if (pendingProject !== null) {
                  discardLeaveWarning();
                  setPendingProject(null);
                  switchProject(loaded.client, pendingProject);
                }
              }}
              onCancel={() => {
                pendingRoute?.stay();
                setPendingProject(null);
              }}
            />
          ) : null}
        </main>
      </div>
    </SessionContext.Provider>
  );
}
