import type { Flag, FlagEnvironment, Stored } from '@xp/shared';
import type { ExplainParams, ExplainResult, FlagReferenceSummary, FlagSummary, StatusParams } from '@xp/language-server/protocol';

/** The management API calls the commands make (XpApiClient implements it). */
export interface FlagApi {
  /** Who the token belongs to: checks a token on sign-in. */
  me(): Promise<{ readonly email: string; readonly role: string }>;
  get(project: string, kind: 'flags', key: string): Promise<Stored<Flag>>;
  toggleFlag(project: string, key: string, environment: string, enabled: boolean, version: number): Promise<Stored<Flag>>;
  setFlagEnvironment(project: string, key: string, environment: string, state: FlagEnvironment, version: number): Promise<Stored<Flag>>;
}

/** The language server's custom requests the extension makes (protocol.ts). */
export interface ServerApi {
  /** Every flag with its reference count, without the references (xp/flagList). */
  flags(): Promise<readonly FlagSummary[]>;
  /** One flag's references (xp/flagReferences), when its node in the Flags view is expanded. */
  flagReferences(flagKey: string): Promise<readonly FlagReferenceSummary[]>;
  refresh(): Promise<StatusParams>;
  explain(params: ExplainParams): Promise<ExplainResult>;
}
