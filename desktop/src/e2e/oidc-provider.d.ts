/**
 * The part of `oidc-provider` (which ships no types) that the SSO end-to-end test uses: a real
 * OpenID Connect provider with its development sign-in and consent pages.
 */
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http';

  export interface Account {
    readonly accountId: string;
    claims(): Promise<Record<string, unknown>> | Record<string, unknown>;
  }

  export interface Configuration {
    readonly clients?: readonly Record<string, unknown>[];
    readonly findAccount?: (ctx: unknown, id: string) => Promise<Account | undefined> | Account | undefined;
    readonly claims?: Record<string, readonly string[]>;
    readonly conformIdTokenClaims?: boolean;
    readonly cookies?: { readonly keys?: readonly string[] };
    readonly features?: Record<string, unknown>;
  }

  export default class Provider {
    constructor(issuer: string, configuration?: Configuration);
    callback(): (req: IncomingMessage, res: ServerResponse) => void;
  }
}
