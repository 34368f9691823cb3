// When to send a request again, and how long to wait first. An update is sent again
// only with the same Idempotency-Key, so a retry after the service applied it but the
// answer was lost counts it once. Timeouts, connection errors and 503: exponential
// backoff with full jitter (a wait drawn from 0 to min(cap, base * 2^try)); 429: what
// Retry-After says. `tries` bounds both.

export interface Retry {
  tries: number;        // attempts in all, the first included
  baseMs: number;
  capMs: number;
  maxRetryAfterMs: number;  // a longer Retry-After is not waited for
}

export const DEFAULT_RETRY: Retry = { tries: 5, baseMs: 100, capMs: 5000, maxRetryAfterMs: 60000 };

export function backoff(policy: Retry, attempt: number): number {
  return Math.random() * Math.min(policy.capMs, policy.baseMs * 2 ** (attempt - 1));
}

export function parseRetryAfter(value: string | null): number | null {
  if (value === null) return null;
  const seconds = Number(value);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : null;
}

export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));
