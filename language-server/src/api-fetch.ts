/**
 * The fetch the language server gives its API client: every request has a deadline, and failures
 * name the host and the cause. A hung API (a dropped VPN, a firewall that drops packets, a stuck
 * proxy) would otherwise hold a request for minutes: undici waits about 300 s for headers.
 */

/** Default deadline of one API request (headers and body), in seconds. */
export const DEFAULT_REQUEST_TIMEOUT_SECONDS = 10;

/** Why an API URL setting cannot be used, or undefined when it can. Never repeats a user name or password. */
export function apiUrlProblem(apiUrl: string): string | undefined {
  if (!URL.canParse(apiUrl)) {
    return `the apiUrl setting "${apiUrl.slice(0, 200)}" is not a URL (for example http://localhost:8000)`;
  }
  const url = new URL(apiUrl);
  if (url.username !== '' || url.password !== '') {
    // Never repeated: the password would be in the status and the log.
    return 'the apiUrl setting must not hold a user name or password; the API authenticates with the token';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return `the apiUrl setting "${apiUrl.slice(0, 200)}" must start with http:// or https://`;
  }
  return undefined;
}

/** `scheme://user:password@host` → `scheme://host`, in any text (an error message quoting a URL). */
export function redactCredentials(text: string): string {
  return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^/\s@]*@/gi, '$1');
}

function hostOf(input: Parameters<typeof fetch>[0]): string {
  try {
    return new URL(input instanceof Request ? input.url : String(input)).host;
  } catch {
    return 'the API';
  }
}

/** The cause of a failed fetch as a short text: ECONNREFUSED, ENOTFOUND, a certificate problem… */
function causeOf(error: unknown): string {
  const cause = (error as { cause?: unknown }).cause;
  if (cause !== null && typeof cause === 'object') {
    const { code, message } = cause as { code?: unknown; message?: unknown };
    if (typeof code === 'string' && code !== '') {
      return code;
    }
    if (typeof message === 'string' && message !== '') {
      return message;
    }
  }
  return error instanceof Error ? error.message : String(error);
}

/**
 * A fetch that aborts a request after `timeoutSeconds`. A request without a signal of its own (the
 * client's JSON calls) is timed to its last byte: the body is read before the answer is returned. A
 * request with a signal (the change feed's stream, closed by its owner) is timed until its headers.
 */
export function timedFetch(timeoutSeconds: number, base: typeof fetch = globalThis.fetch.bind(globalThis)): typeof fetch {
  return async (input, init) => {
    const deadline = new AbortController();
    const timer = setTimeout(() => {
      deadline.abort();
    }, timeoutSeconds * 1000);
    const own = init?.signal ?? undefined;
    const signal = own === undefined ? deadline.signal : AbortSignal.any([own, deadline.signal]);
    try {
      const res = await base(input, { ...init, signal });
      if (own !== undefined) {
        return res;
      }
      const body = await res.arrayBuffer();
      return new Response(res.status === 204 || res.status === 304 ? null : body, { status: res.status, statusText: res.statusText, headers: res.headers });
    } catch (e) {
      if (deadline.signal.aborted && own?.aborted !== true) {
        throw new Error(`${hostOf(input)} timed out: no answer within ${timeoutSeconds} s`);
      }
      if (own?.aborted === true) {
        throw e;
      }
      // undici's own message is "fetch failed"; the cause says why (ECONNREFUSED, ENOTFOUND, a certificate…).
      const message = e instanceof Error ? e.message : String(e);
      const cause = causeOf(e);
      throw new Error(redactCredentials(`cannot reach ${hostOf(input)} (${cause === message ? message : `${message}: ${cause}`})`));
    } finally {
      clearTimeout(timer);
    }
  };
}
