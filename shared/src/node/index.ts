/**
 * The Node-only part of @xp/shared (`@xp/shared/node`): what xp's native apps (the desktop app's
 * main process, the `xp` command line) share that needs node:http or node:crypto. Kept out of the
 * main entry point so that browser bundles never see it.
 */
export { BEGIN_REUSED_MESSAGE, CALLBACK_PAGE_CSP, LOOPBACK_BEGIN_PATH, LOOPBACK_CALLBACK_PATH, LOOPBACK_HOST, SSO_WAIT_MS, SsoSignInError, apiEndpoint, challengeOf, makeVerifier, ssoStartUrl, startLoopbackSignIn } from './sso-loopback.js';
export type { LoopbackSignIn, LoopbackSignInOptions } from './sso-loopback.js';
export type { SsoSignInOutcome, SsoSignInStarted } from '../sso-code.js';
