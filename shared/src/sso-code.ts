/**
 * The confirmation code of a desktop app's single sign-on: the xp site's confirmation page shows it
 * before it sends a one-time code to an app on this computer, and the app shows it while it waits,
 * so that a person can tell a sign-in they started in the app from one a start link made by someone
 * else opened (which would hand their session to whoever listens on the link's port). Derived from
 * the app's challenge alone, by the API and by the app alike. Browser-safe (Web Crypto).
 */

import type { SsoErrorReason } from './api/client.js';

/**
 * A native app's sign-in under way (the desktop app's, `xp login`'s): `confirmationCode`
 * (`XXXX-XXXX`, ssoConfirmationCode of its challenge) is what the xp site's page asks the person to
 * check against the app before it sends the sign-in on; the app shows it while it waits.
 */
export interface SsoSignInStarted {
  readonly confirmationCode: string;
}

/**
 * How a native app's sign-in ended. `code` is the API's one-time code and the verifier whose SHA-256
 * the API holds for it: trade the pair for a session (`XpApiClient.ssoExchange`). `error` carries the
 * API's reason (as the web console's `#sso-error=`); `cancelled` when the user (or a newer sign-in)
 * stopped it; `timeout` when the browser did not come back in time.
 */
export type SsoSignInOutcome =
  | { readonly status: 'code'; readonly code: string; readonly verifier: string }
  | { readonly status: 'error'; readonly reason: SsoErrorReason }
  | { readonly status: 'cancelled' }
  | { readonly status: 'timeout' };

/** RFC 4648 base32's alphabet: no 0/1/8 to misread, upper case only. */
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/**
 * `XXXX-XXXX`: the first 8 characters of base32 (RFC 4648, upper case, no padding) of
 * SHA-256(challenge) (the challenge's UTF-8 bytes: it is 43 base64url characters), in two groups of 4.
 */
export async function ssoConfirmationCode(challenge: string): Promise<string> {
  const digest = new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', new TextEncoder().encode(challenge)));
  // 8 characters of 5 bits: the digest's first 40 bits (5 bytes), most significant first.
  let bits = 0n;
  for (const byte of digest.subarray(0, 5)) {
    bits = (bits << 8n) | BigInt(byte);
  }
  let code = '';
  for (let shift = 35n; shift >= 0n; shift -= 5n) {
    code += BASE32.charAt(Number((bits >> shift) & 31n));
  }
  return `${code.slice(0, 4)}-${code.slice(4)}`;
}
