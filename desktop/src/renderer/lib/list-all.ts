/**
 * How often a whole-project list (flags, experiments) polls as a fallback: the change feed refreshes
 * it within about a second of a change, so the poll only covers a feed that is down. The lists stop
 * paging when their screen is left (`client.listAll` with the load's `signal`).
 */
export const LIST_POLL_MS = 60_000;
