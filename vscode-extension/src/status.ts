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
    case 'api':
      return {
        text: `$(cloud) xp${where}${indexing}`,
        tooltip: `xp: connected${status.live ? ', following changes live' : ''}, ${status.flags} flags, ${status.references} references in this workspace (fetched ${status.fetchedAt ?? ''})`,
        warning: false,
      };
    case 'cache':
      return {
        text: `$(cloud-offline) xp${where}${indexing}`,
        tooltip: `xp: offline (${status.error ?? 'API unreachable'}); using cached flags from ${status.fetchedAt ?? 'an earlier session'}`,
        warning: true,
      };
    case 'flags-file':
      return { text: `$(file-code) xp${where}${indexing}`, tooltip: `xp: ${status.flags} flags from the flags file; sign in for live data`, warning: status.error !== null };
    case 'none':
      return { text: `$(circle-slash) xp${indexing}`, tooltip: status.error === null ? 'xp: not signed in: run "xp: Sign in"' : `xp: ${status.error}`, warning: true };
  }
}
