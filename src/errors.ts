import createError from '@fastify/error'

/**
 * The one catalogue of sessioncap's error codes. Every error a client, an
 * operator or a log reader can see has a code here; `test/docs.test.ts`
 * checks that each code is unique and documented (docs/pages.md).
 *
 * The message is what the client reads (plain text, short, no internals);
 * the status is the HTTP answer.
 */
export const errors = {
  /** The configuration file has problems; each one is listed separately. */
  CONFIG_INVALID: createError('SESSIONCAP_ERR_CONFIG_INVALID', 'configuration is invalid:\n%s', 500),
  /** The configuration file could not be read at all. */
  CONFIG_UNREADABLE: createError('SESSIONCAP_ERR_CONFIG_UNREADABLE', 'cannot read configuration file %s: %s', 500),
  /** The gateway could not bind its listening address. */
  LISTEN_FAILED: createError('SESSIONCAP_ERR_LISTEN_FAILED', 'cannot listen on %s:%s: %s', 500),
  /**
   * A request carried a session the gateway ended. Browsers get a 303 to
   * the signed-out page (or `ended.redirect`); other clients get 401 with
   * `{"error":"session_ended","code":"SESSIONCAP_ERR_SESSION_ENDED","reason":"…"}`.
   */
  SESSION_ENDED: createError('SESSIONCAP_ERR_SESSION_ENDED', 'session ended', 401),
  /**
   * Policy ask: a request of a session that waits for its user to choose
   * which session to end. Browsers get a 303 to the chooser; other clients
   * get 409 with `{"error":"session_pending","choose":"…"}`.
   */
  SESSION_PENDING: createError('SESSIONCAP_ERR_SESSION_PENDING', 'this sign-in is waiting for you to choose which session to end', 409),
  /**
   * Policy ask with `ask.fallback: reject-new`: a client that cannot be shown
   * the chooser signed in over the limit; 409 with the sessions it would
   * have to end.
   */
  TOO_MANY_SESSIONS: createError('SESSIONCAP_ERR_TOO_MANY_SESSIONS', 'this account is signed in on too many devices', 409),
  /** A login request's body is larger than the route's `maxBodyBytes`; it reached nothing. */
  LOGIN_BODY_TOO_LARGE: createError('SESSIONCAP_ERR_LOGIN_BODY_TOO_LARGE', 'login request body is larger than %s bytes', 413),
  /** A login request's body did not arrive within the route's `bodyTimeout`; it reached nothing. */
  LOGIN_BODY_TIMEOUT: createError('SESSIONCAP_ERR_LOGIN_BODY_TIMEOUT', 'login request body did not arrive in time', 408),
  /** A login request names more than one user (e.g. `username=a&username=b`); it reached nothing. */
  LOGIN_USER_AMBIGUOUS: createError('SESSIONCAP_ERR_LOGIN_USER_AMBIGUOUS', 'login request names more than one user', 400),
  /**
   * A login request formed in a way frameworks read differently (a folded
   * multipart header, a charset other than UTF-8, JSON only Python reads, a
   * '#' in its URL): the gateway cannot be sure whom the app would sign in;
   * it reached nothing.
   */
  LOGIN_BODY_MALFORMED: createError('SESSIONCAP_ERR_LOGIN_BODY_MALFORMED', 'login request cannot be read safely: %s', 400),
  /** The app could not be reached (connection refused, reset, unknown host). */
  UPSTREAM_UNREACHABLE: createError('SESSIONCAP_ERR_UPSTREAM_UNREACHABLE', 'the application is not reachable', 502),
  /** The app did not answer within `proxy.timeout`. */
  UPSTREAM_TIMEOUT: createError('SESSIONCAP_ERR_UPSTREAM_TIMEOUT', 'the application did not answer in time', 504),
  /** The request's path cannot be forwarded safely (e.g. it escapes the app's root with `..`, or holds raw bytes beyond ASCII over HTTP/2). */
  BAD_REQUEST_PATH: createError('SESSIONCAP_ERR_BAD_REQUEST_PATH', 'the request path cannot be forwarded', 400),
  /** An HTTP/2 request with a method Node's HTTP/1.1 parser would not accept (`post`, `BREW`): not forwarded. */
  METHOD_NOT_SUPPORTED: createError('SESSIONCAP_ERR_METHOD_NOT_SUPPORTED', 'the request method is not one the gateway forwards', 501),
  /** A request carries more session cookie values than any browser would (each must be looked up). */
  TOO_MANY_SESSION_COOKIES: createError('SESSIONCAP_ERR_TOO_MANY_SESSION_COOKIES', 'the request carries too many session cookies', 400),
  /** An admin API call without the right bearer token. */
  ADMIN_UNAUTHORIZED: createError('SESSIONCAP_ERR_ADMIN_UNAUTHORIZED', 'a valid admin token is required (Authorization: Bearer ...)', 401),
  /** An admin API call that would end sessions found none to end: nothing was done. */
  NOTHING_ENDED: createError('SESSIONCAP_ERR_NOTHING_ENDED', '%s', 404),
  /** An admin API call that would lift login guard blocks found none active: nothing was done. */
  NOTHING_LIFTED: createError('SESSIONCAP_ERR_NOTHING_LIFTED', '%s', 404),
  /** An admin API path that is no call. */
  ADMIN_NOT_FOUND: createError('SESSIONCAP_ERR_ADMIN_NOT_FOUND', '%s', 404),
  /** An admin API call with a wrong parameter. */
  ADMIN_BAD_REQUEST: createError('SESSIONCAP_ERR_ADMIN_BAD_REQUEST', '%s', 400),
  /**
   * The login guard refused a login attempt before it reached the app (too
   * many failures of this user or from this network, a block, or too many
   * successful logins in an hour): 429 with `Retry-After`, and for non-browser
   * clients `{"error":"too_many_attempts","code":"…","retryAfter":N}`. The
   * answer is the same whatever refused it and whether the user exists.
   */
  TOO_MANY_ATTEMPTS: createError('SESSIONCAP_ERR_TOO_MANY_ATTEMPTS', 'too many sign-in attempts: try again later', 429),
  /** The session store failed while deciding about this request. */
  STORE_UNAVAILABLE: createError('SESSIONCAP_ERR_STORE_UNAVAILABLE', 'session store unavailable', 503),
  /**
   * The store holds `store.maxEnded` ended sessions: a new sign-in is
   * refused (its cookie withheld) rather than any ending forgotten.
   */
  STORE_FULL: createError('SESSIONCAP_ERR_STORE_FULL', 'sign-ins are paused: the session store is full', 503),
  /** The gateway is stopping (SIGTERM): a request that still arrives on a connection kept alive reaches nothing. */
  SHUTTING_DOWN: createError('SESSIONCAP_ERR_SHUTTING_DOWN', 'the gateway is shutting down', 503)
} as const

export type ErrorName = keyof typeof errors


/** Is this the store failing (Redis unreachable, too slow), as opposed to a bug? */
export function isStoreUnavailable (err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 'SESSIONCAP_ERR_STORE_UNAVAILABLE'
}

/** The store refused a new session because it holds `store.maxEnded` ended ones. */
export function isStoreFull (err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 'SESSIONCAP_ERR_STORE_FULL'
}
