// bench:soak's latency per minute: minutes cut where the marks say, across every series, and the
// percentiles and last/first ratio of a hand-made run.
import { describe, expect, it } from 'vitest';
import { latencyByMinute, MinuteMarks } from './minute-latency.ts';

describe('MinuteMarks', () => {
  it("cuts each series at the marks; the last minute runs to the arrays' ends", () => {
    const lease: number[] = [];
    const result: number[] = [];
    const marks = new MinuteMarks([lease, result]);
    lease.push(1, 2);
    result.push(3);
    marks.mark();
    result.push(4, 5);
    marks.mark();
    lease.push(6);
    result.push(7);
    expect(marks.minutes()).toEqual([
      [1, 2, 3],
      [4, 5],
      [6, 7],
    ]);
  });

  it('gives one minute, everything, without marks', () => {
    const ms = [5, 6];
    expect(new MinuteMarks([ms]).minutes()).toEqual([[5, 6]]);
  });
});

describe('latencyByMinute', () => {
  it('takes each minute’s p50 and p99 and the last p99 over the first', () => {
    const first = Array.from({ length: 100 }, (_, i) => i + 1); // p50 50, p99 99
    const second: number[] = []; // nothing finished
    const third = Array.from({ length: 200 }, (_, i) => 2 * (i + 1)); // p50 200, p99 396
    expect(latencyByMinute([first, second, third])).toEqual({
      p50ByMinuteMs: [50, 0, 200],
      p99ByMinuteMs: [99, 0, 396],
      lastToFirstP99Ratio: 4,
    });
  });

  it('has no ratio when the first minute saw no request', () => {
    expect(latencyByMinute([[], [10]]).lastToFirstP99Ratio).toBeNull();
  });
});
