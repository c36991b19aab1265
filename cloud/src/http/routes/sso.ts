import { z } from 'zod';
import { getCookie } from 'hono/cookie';
import type { Context } from 'hono';
import { SSO_ERROR_REASONS, ssoConfirmationCode } from '@xp/shared';
import { isLoopbackUrl } from '../../auth/sso-config.js';
import type { Services } from '../../domain/services.js';
import { SSO_APP_CALLBACK_PATH, SSO_CODE_REFUSED, SSO_COOKIE_PATH, SSO_COOKIE_PREFIX, SSO_EXCHANGE_COOKIES_MAX, SSO_LOGIN_TTL_MS, SsoService } from '../../domain/sso.js';
import { AppError, AppErrorCode } from '../../errors.js';
import { errorSchema, route } from '../api.js';
import { queryInt } from './common.js';
import { userSchema, userView } from './accounts.js';
import type { AnyRoute } from '../api.js';

const ssoInfoSchema = z
  .object({
    enabled: z.boolean().meta({ description: 'Whether the installation offers single sign-on (XP_SSO_ISSUER is set)' }),
    name: z.string().nullable().meta({ description: 'The identity provider\'s label for the button ("Sign in with Okta"); null when SSO is off' }),
    passwordSignIn: z.enum(['all', 'owners']).meta({ description: '`owners`: SSO is enforced (XP_SSO_ENFORCED) and only owners may sign in with a password (break-glass)' }),
  })
  .meta({ id: 'SsoInfo' });

/**
 * What the IdP sends back: `code` and `state`, or `error` (and its description). Loose: IdPs add
 * parameters of their own (`iss`, `session_state`, `scope`…), which the callback must not refuse
 * (it answers every outcome with a redirect to the console).
 */
const callbackQuery = z.looseObject({
  code: z.string().optional().meta({ description: 'The authorization code' }),
  state: z.string().optional().meta({ description: 'The state of the sign-in this browser started' }),
  error: z.string().optional().meta({ description: 'The IdP refused or the user cancelled (access_denied…)' }),
  error_description: z.string().optional(),
  iss: z.string().optional().meta({ description: "The issuer (RFC 9207), checked when the IdP sends it" }),
});

/** A desktop app's challenge: base64url (no padding) of a SHA-256, 43 characters. */
const APP_CHALLENGE = /^[A-Za-z0-9_-]{43}$/;
/** A desktop app's verifier, as PKCE's (RFC 7636): 43–128 unreserved characters. */
const APP_VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;

const startKnown = {
  app_port: queryInt(1024, 65535)
    .optional()
    .describe(`A desktop app's sign-in: the port of its listener on 127.0.0.1, where the callback sends the outcome (\`${SSO_APP_CALLBACK_PATH}?code=…\` or \`?error=…\`); with app_challenge`),
  app_challenge: z
    .string()
    .regex(APP_CHALLENGE, 'must be 43 base64url characters (A-Z a-z 0-9 - _): base64url(SHA-256(verifier)), without padding')
    .optional()
    .describe("A desktop app's sign-in: base64url(SHA-256(verifier)) of a verifier the app keeps, to trade the one-time code with; with app_port"),
};

/**
 * The start's parameters: none (the web console's sign-in), or both of a desktop app's (RFC 8252).
 * A client that sends one without the other is buggy: refused, naming the missing one. Loose: the
 * start is a link people follow (intranet pages, an IdP portal's tiles), which may add tracking
 * parameters of their own (`utm_source`…); those are ignored, not a JSON error in the browser.
 */
export const ssoStartQuery = z.looseObject(startKnown).superRefine((query, ctx) => {
  if ((query.app_port === undefined) !== (query.app_challenge === undefined)) {
    const missing = query.app_port === undefined ? 'app_port' : 'app_challenge';
    ctx.addIssue({ code: 'custom', path: [missing], message: `required with ${missing === 'app_port' ? 'app_challenge' : 'app_port'} (a desktop app's sign-in sends both)` });
  }
});

export const ssoExchangeSchema = z.strictObject({
  code: z.string().min(1).max(512).meta({ description: 'The one-time code of the callback\'s redirect (`/#sso-code=<code>`, or `?code=` at a desktop app\'s listener)' }),
  verifier: z
    .string()
    .regex(APP_VERIFIER, 'must be 43 to 128 characters of A-Z a-z 0-9 . _ ~ -')
    .optional()
    .meta({ description: "A desktop app's sign-in: the verifier whose base64url(SHA-256) was the start's app_challenge; its code needs it (and no cookie). It never replaces a browser sign-in's cookie" }),
});

/** A sign-in's `xp_sso_<16 hex>` cookie: its browser binding (Secure when the redirect URL is https). */
function cookie(name: string, value: string, maxAgeSeconds: number, secure: boolean): string {
  return `${name}=${value}; Path=${SSO_COOKIE_PATH}; Max-Age=${String(maxAgeSeconds)}; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`;
}

const isHttps = (url: string | undefined): boolean => url?.startsWith('https:') === true;

/**
 * Local only: a start reached on another loopback name than the redirect URL's (127.0.0.1 for
 * localhost) first moves to the redirect URL's origin, so the cookie is set where the callback
 * lands (a cookie of 127.0.0.1 is not sent to localhost).
 */
function loopbackHop(c: Context, redirectUrl: string): string | undefined {
  const target = new URL(redirectUrl);
  let here: URL;
  try {
    here = new URL(c.req.url);
  } catch {
    return undefined;
  }
  // With the query (a desktop app's app_port and app_challenge), already validated by the route.
  return isLoopbackUrl(target) && isLoopbackUrl(here) && here.host !== target.host ? `${target.origin}${SSO_COOKIE_PATH}/start${here.search}` : undefined;
}

/** The confirmation page's policy: nothing loads, nothing frames it; its one way on is a link the person follows. */
export const SSO_CONFIRM_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'";

const HTML_ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const html = (text: string): string => text.replace(/[&<>"']/g, (ch) => HTML_ESCAPES[ch]!);

/**
 * The page the callback answers for a desktop app's sign-in instead of sending its code on: who is
 * signing in, the code the app shows (ssoConfirmationCode of its challenge), a Continue link to the
 * app's listener with the code, and a way out that sends the code nowhere. Self-contained (no
 * script, no external resource). Without it, a start link with someone else's port and challenge,
 * opened in a browser signed in at the IdP, would hand that someone a session without a click.
 */
export function ssoConfirmationPage(page: { readonly email: string; readonly idpName: string; readonly code: string; readonly appUrl: string }): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="referrer" content="no-referrer"><title>Sign in to the xp app?</title>
<style>body{font:16px/1.5 system-ui,sans-serif;margin:0;display:grid;place-items:center;min-height:100vh;background:#f6f7f9;color:#1d2330}main{max-width:34rem;padding:2rem}h1{font-size:1.3rem}.code{font:700 1.6rem/1.2 ui-monospace,monospace;letter-spacing:.1em}.actions{display:flex;gap:1rem;align-items:center;margin-top:1.5rem}.continue{background:#2457d6;color:#fff;padding:.6rem 1.4rem;border-radius:6px;text-decoration:none;font-weight:600}</style>
</head><body><main>
<h1>Sign in to the xp app (desktop or command line) on this computer as ${html(page.email)}?</h1>
<p>Only continue if you just chose &ldquo;Sign in with ${html(page.idpName)}&rdquo; in the xp app or ran <code>xp login</code>, and it shows the code</p>
<p class="code" id="code">${html(page.code)}</p>
<p>If the app shows another code, or you did not start a sign-in, someone may be trying to get into your account: do not continue.</p>
<div class="actions"><a class="continue" id="continue" href="${html(page.appUrl)}" rel="noreferrer">Continue</a><a id="not-me" href="/" rel="noreferrer">This wasn&rsquo;t me</a></div>
</main></body></html>
`;
}

/**
 * Whether a desktop app's start came from a web page rather than the app: the browser sends
 * Sec-Fetch-Site `none` for a URL an app opened (shell.openExternal) or a person typed, and
 * `same-origin`/`same-site`/`cross-site` when a page navigated there. Absent (an older browser,
 * plain http to a remote host): not refused, the confirmation page is the guard.
 */
function fromAWebPage(c: Context): boolean {
  const site = c.req.header('sec-fetch-site');
  return site !== undefined && site !== 'none';
}

export function ssoRoutes(s: Services): AnyRoute[] {
  // Made at the first request: the route table is also listed without services (documents, tests).
  let service: SsoService | undefined;
  const sso = (): SsoService => (service ??= new SsoService(s.deps));
  return [
    route({
      method: 'get',
      path: '/api/v1/auth/sso',
      tag: 'Auth',
      summary: 'Whether single sign-on is offered, its label, and who may still sign in with a password',
      auth: false,
      responses: { 200: { description: 'The sign-in options', schema: ssoInfoSchema } },
      handler: () => Promise.resolve({ status: 200, body: sso().info(), headers: { 'Cache-Control': 'no-store' } }),
    }),
    route({
      method: 'get',
      path: '/api/v1/auth/sso/start',
      tag: 'Auth',
      summary: "Start a single sign-on: a redirect to the identity provider's sign-in page",
      description: `For a full-page navigation of the browser. Sets the sign-in's own \`${SSO_COOKIE_PREFIX}<first 16 hex of SHA-256(state)>\` cookie (its browser binding: HttpOnly, SameSite=Lax, Path=${SSO_COOKIE_PATH}, ${String(SSO_LOGIN_TTL_MS / 60_000)} minutes; Secure when the redirect URL is https; a sign-in in a second tab has its own) and redirects to the IdP's authorization endpoint (authorization code with PKCE S256, state and nonce; scope openid email profile). An IdP that cannot be reached redirects to \`/#sso-error=idp-unavailable\`; past the per-address limit, or with too many sign-ins pending, to \`/#sso-error=busy\` (never a JSON error: this is a page navigation). Other query parameters (a portal's tracking parameters) are ignored. A desktop app (RFC 8252) opens it in the system browser with \`app_port\` and \`app_challenge\` (both or neither: 400 VALIDATION_FAILED naming the parameter otherwise): the callback then sends the outcome to \`http://127.0.0.1:<app_port>${SSO_APP_CALLBACK_PATH}\` with \`app_challenge\` (so do this start's own \`busy\` and \`idp-unavailable\`, as \`?error=<reason>&app_challenge=…\`), a code only after the person confirms it on a page of this site, and the code is traded with the challenge's \`verifier\` instead of the cookie. Such a start navigated to by a web page (\`Sec-Fetch-Site\` present and not \`none\`) is refused: 403 FORBIDDEN.`,
      auth: false,
      query: ssoStartQuery,
      responses: {
        302: { description: "To the IdP's authorization endpoint (or back to the console with `#sso-error=idp-unavailable`)", headers: ['Location', 'Set-Cookie'] },
        400: { description: 'VALIDATION_FAILED: a bad app_port or app_challenge, or only one of them', schema: errorSchema },
        403: { description: "FORBIDDEN: a desktop app's start (app_port, app_challenge) that a web page navigated to (Sec-Fetch-Site other than `none`)", schema: errorSchema },
        404: { description: 'SSO_DISABLED: single sign-on is not configured', schema: errorSchema },
      },
      errors: [400, 403, 404],
      handler: async (req) => {
        if (req.query.app_port !== undefined && fromAWebPage(req.context)) {
          // The app opens it with shell.openExternal (`none`); a page that links or redirects here is someone else's start.
          throw new AppError(AppErrorCode.Forbidden, 'open single sign-on from the xp app (desktop or command line)');
        }
        const config = sso().config;
        const hop = config === undefined ? undefined : loopbackHop(req.context, config.redirectUrl);
        if (hop !== undefined) {
          return { status: 302, headers: { Location: hop, 'Cache-Control': 'no-store' } };
        }
        const { app_port: port, app_challenge: challenge } = req.query;
        const started = await sso().start({ ip: req.ip }, port === undefined || challenge === undefined ? undefined : { port, challenge });
        return {
          status: 302,
          headers: {
            Location: started.location,
            'Cache-Control': 'no-store',
            ...(started.cookie === undefined ? {} : { 'Set-Cookie': cookie(started.cookie.name, started.cookie.value, SSO_LOGIN_TTL_MS / 1000, isHttps(config?.redirectUrl)) }),
          },
        };
      },
    }),
    route({
      method: 'get',
      path: '/api/v1/auth/sso/callback',
      tag: 'Auth',
      summary: "The identity provider's redirect back: a redirect to the console (or to the desktop app that started the sign-in, or a page confirming its code)",
      description: `Never an error page: a redirect to \`/#sso-code=<one-time code>\` (trade it with POST /api/v1/auth/sso/exchange within 60 seconds, from the same browser) or \`/#sso-error=<reason>\`, reason one of ${SSO_ERROR_REASONS.map((r) => `\`${r}\``).join(', ')}. For a desktop app's sign-in (started with \`app_port\`), once its state is identified, its outcome goes to \`http://127.0.0.1:<app_port>${SSO_APP_CALLBACK_PATH}?error=<reason>&app_challenge=<challenge>\` instead, or, for a code, a 200 text/html page asks the person to confirm (their email, and the code the app shows: the first 8 base32 characters of SHA-256(app_challenge)) and its Continue link goes to \`…?code=<one-time code>&app_challenge=<challenge>\` (and its cookie is cleared); an unknown or expired state still goes to the console. Needs the state's \`${SSO_COOKIE_PREFIX}*\` cookie of the start: without it the state is left as it is (\`expired\`). Checks: the state (single use, this browser's), PKCE, the ID token (signature, iss, aud, exp, nonce), a verified email in an allowed domain. Finds the user by the IdP's (iss, sub), else by email (and links them), else creates them with the default (or mapped) role.`,
      auth: false,
      query: callbackQuery,
      responses: {
        200: { description: "A desktop app's code: the confirmation page (who signs in, the app's code, Continue to the app's listener)", mediaType: 'text/html', headers: ['Set-Cookie'] },
        302: { description: "To the console, with the outcome in the fragment (or a refusal to a desktop app's listener, in the query)", headers: ['Location', 'Set-Cookie'] },
      },
      handler: async (req) => {
        const query = Object.fromEntries(Object.entries(req.query as Record<string, unknown>).filter((e): e is [string, string] => typeof e[1] === 'string'));
        const done = await sso().callback(query, getCookie(req.context), { ip: req.ip, client: req.client });
        const clear = done.clearCookie === undefined ? {} : { 'Set-Cookie': cookie(done.clearCookie, '', 0, isHttps(sso().config?.redirectUrl)) };
        if (done.confirm !== undefined) {
          const text = ssoConfirmationPage({ email: done.confirm.email, idpName: sso().config?.name ?? 'SSO', code: await ssoConfirmationCode(done.confirm.challenge), appUrl: done.location });
          return {
            status: 200,
            text,
            headers: {
              'Content-Type': 'text/html; charset=utf-8',
              'Content-Security-Policy': SSO_CONFIRM_CSP,
              'Cache-Control': 'no-store',
              'Referrer-Policy': 'no-referrer',
              'X-Frame-Options': 'DENY',
              ...clear,
            },
          };
        }
        return { status: 302, headers: { Location: done.location, 'Cache-Control': 'no-store', ...clear } };
      },
    }),
    route({
      method: 'post',
      path: '/api/v1/auth/sso/exchange',
      tag: 'Auth',
      summary: 'Trade the one-time code of a single sign-on for a session, as login answers',
      description: `Needs the \`${SSO_COOKIE_PREFIX}*\` cookie of the browser that started the sign-in (the first ${String(SSO_EXCHANGE_COOKIES_MAX)} of the request's are looked at), and clears it. A desktop app's code (its start had \`app_challenge\`) needs \`verifier\` instead, whose base64url(SHA-256) is that challenge; no cookie is looked at. A verifier never replaces a browser code's cookie. The code works once, for 60 seconds: 401 UNAUTHENTICATED "${SSO_CODE_REFUSED}" otherwise (also without its proof, or with another's, which leave the code for its rightful holder).`,
      auth: false,
      body: ssoExchangeSchema,
      responses: {
        200: {
          description: 'Session created',
          schema: z.object({ token: z.string(), expiresAt: z.string(), user: userSchema }),
          headers: ['Set-Cookie'],
        },
      },
      handler: async (req) => {
        const config = sso().config;
        // A refusal clears nothing: the request's other xp_sso_* cookies are other tabs' sign-ins.
        const result = await sso().exchange(req.body.code, req.body.verifier, getCookie(req.context), { ip: req.ip, client: req.client });
        return {
          status: 200,
          body: { token: result.token, expiresAt: result.expiresAt, user: userView(result.user) },
          headers: { 'Cache-Control': 'no-store', ...(result.cookie === undefined ? {} : { 'Set-Cookie': cookie(result.cookie, '', 0, isHttps(config?.redirectUrl)) }) },
        };
      },
    }),
  ];
}
