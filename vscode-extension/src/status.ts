import type { StatusParams } from '@xp/language-server/protocol';

export interface StatusView {
  readonly text: string;
  readonly tooltip: string;
  /** Warning colour when flag data is not live. */
  readonly warning: boolean;
  /** What clicking it runs (default: refresh). */
  readonly command?: string;
}

/** The status bar item for a server status (undefined: the server has not reported yet). */
export function statusView(status: StatusParams | undefined): StatusView {
  if (status === undefined) {
    return { text: '$(loading~spin) xp', tooltip: 'xp: starting the language server', warning: false };
  }
  const indexing = status.indexing ? ' $(sync~spin)' : '';
  if (status.tokenRefused === true) {
    return {
      text: `$(key) xp: sign in again${indexing}`,
      tooltip: `xp: the API refused the token (${status.error ?? '401'}): it expired or was revoked. Click to sign in again${status.source === 'cache' ? `; meanwhile using cached flags from ${status.fetchedAt ?? 'an earlier session'}` : ''}.`,
      warning: true,
      command: 'xp.signIn',
    };
  }
  const where = status.project === null ? '' : ` ${status.project}/${status.environment}`;
  switch (status.source) {
    case 'api': {
      const counts = `${status.flags} flags, ${status.references} references in this workspace (fetched ${status.fetchedAt ?? ''})`;
      if (status.error !== null) {
        // Connected, but something is wrong: an environment the project lacks, a change feed that stopped…
        return { text: `$(warning) xp${where}${indexing}`, tooltip: `xp: ${status.error}; ${counts}`, warning: true };
      }
      if (!status.live) {
        // The change feed stopped or reconnects: changes made elsewhere show only at the next refresh.
        return { text: `$(cloud) xp${where}${indexing}`, tooltip: `xp: connected, but not following changes live (changes made elsewhere show at the next refresh); ${counts}`, warning: true };
      }
      return { text: `$(cloud) xp${where}${indexing}`, tooltip: `xp: connected, following changes live, ${counts}`, warning: false };
    }
    case 'cache':
      return {
        text: `$(cloud-offline) xp${where}${indexing}`,
        tooltip: `xp: offline (${status.error ?? 'API unreachable'}); using cached flags from ${status.fetchedAt ?? 'an earlier session'}`,
        warning: true,
      };
    case 'flags-file':
      return {
        text: `$(file-code) xp${where}${indexing}`,
        // A flags file that does not parse (the last flags read from it are kept), or an unknown environment.
        tooltip: status.error === null ? `xp: ${status.flags} flags from the flags file; sign in for live data` : `xp: ${status.error}; ${status.flags} flags from the flags file`,
        warning: status.error !== null,
      };
    case 'none':
      return { text: `$(circle-slash) xp${indexing}`, tooltip: status.error === null ? 'xp: not signed in: run "xp: Sign in"' : `xp: ${status.error}`, warning: true };
  }
}
