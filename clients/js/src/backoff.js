/**
 * How long to wait after failed try number `attempt` (0 for the first): doubling from 250 ms up to 10 s, with ±25 %
 * jitter so that the clients a failure cut off together do not all come back at the same moment.
 */
export function backoff(attempt) {
  return Math.min(10_000, 250 * 2 ** attempt) * (0.75 + Math.random() * 0.5);
}
