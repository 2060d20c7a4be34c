import { integer, positive } from '../core/validate.ts';

/**
 * Closed forms from queueing theory, for checking the simulator and for drawing "theory" lines in reports.
 */

/**
 * Erlang C: the probability that an arrival must wait in an M/M/c queue (Poisson arrivals, exponential
 * service, `c` servers, unbounded FIFO queue) offered `a = arrival rate x mean service time` erlangs.
 * Requires a < c (otherwise the queue grows without bound and the answer is 1).
 *
 * Computed through the Erlang B recursion, which stays accurate for hundreds of servers where the textbook
 * sum of a^k / k! would overflow.
 */
export function erlangC(c: number, a: number): number {
  integer('c', c, 1);
  positive('a', a);
  if (a >= c) return 1;
  let b = 1; // Erlang B with 0 servers
  for (let k = 1; k <= c; k++) b = (a * b) / (k + a * b);
  return (c * b) / (c - a * (1 - b));
}

/** Mean wait in the queue of an M/M/c system (same units as `meanService`); Infinity when a >= c. */
export function mmcMeanWait(c: number, a: number, meanService: number): number {
  positive('meanService', meanService);
  if (a >= c) return Infinity;
  return (erlangC(c, a) * meanService) / (c - a);
}
