// Latency per minute of a load test (bench:soak): the p50 and p99 of the requests that finished in
// each minute, read from the fleet's growing latency arrays, so latency that climbs as data piles
// up shows as a rising series instead of hiding in one run-wide percentile.
import { percentile } from './fleet-edge.ts';

/**
 * Minute boundaries in latency arrays that only grow (requests append as they finish): each mark
 * is the arrays' lengths at the end of a minute, so a minute's latencies are what was appended
 * between two marks.
 */
export class MinuteMarks {
  readonly #series: readonly number[][];
  readonly #marks: number[][] = [];

  constructor(series: readonly number[][]) {
    this.#series = series;
  }

  /** Called at the end of every minute but the last; the last runs to the arrays' ends. */
  mark(): void {
    this.#marks.push(this.#series.map((s) => s.length));
  }

  /** Each minute's latencies, every series together, in the order minutes ran. */
  minutes(): number[][] {
    const bounds = [this.#series.map(() => 0), ...this.#marks, this.#series.map((s) => s.length)];
    return bounds
      .slice(1)
      .map((end, m) => this.#series.flatMap((s, i) => s.slice(bounds[m]![i], end[i])));
  }
}

const round = (x: number, digits: number) => Number(x.toFixed(digits));

/**
 * p50 and p99 of each minute (ms, to a tenth; 0 for a minute in which nothing finished), and the
 * last minute's p99 over the first's (null when the first minute saw no request).
 */
export function latencyByMinute(minutes: number[][]): {
  p50ByMinuteMs: number[];
  p99ByMinuteMs: number[];
  lastToFirstP99Ratio: number | null;
} {
  const sorted = minutes.map((ms) => [...ms].sort((a, b) => a - b));
  const p = (q: number) => sorted.map((ms) => percentile(ms, q));
  const p99 = p(99);
  const first = p99[0] ?? 0;
  return {
    p50ByMinuteMs: p(50).map((x) => round(x, 1)),
    p99ByMinuteMs: p99.map((x) => round(x, 1)),
    lastToFirstP99Ratio: first > 0 ? round((p99.at(-1) ?? 0) / first, 2) : null,
  };
}
