// Tests how numbers read on the pages: val_bpb, significant figures, SI prefixes, durations, ids.
import { describe, expect, test } from 'vitest';
import { fmtAgo, fmtBpb, fmtCount, fmtDuration, fmtNum, fmtSi, shortId } from './format.ts';

describe('format', () => {
  test('val_bpb to four places, a dash when there is none', () => {
    expect(fmtBpb(1.234567)).toBe('1.2346');
    expect(fmtBpb(null)).toBe('—');
    expect(fmtBpb(undefined)).toBe('—');
  });

  test.each([
    [0, '0'],
    [12, '12'],
    [0.123456, '0.123'],
    [3.14159, '3.14'],
    [0.0005, '5.0e−4'],
  ])('fmtNum(%d) = %s', (x, text) => expect(fmtNum(x)).toBe(text));

  test.each([
    [7.6e12, 'FLOP', '7.60 TFLOP'],
    [456e9, 'FLOP', '456 GFLOP'],
    [12_345, 'FLOP', '12.3 kFLOP'],
    [5, 'FLOP', '5.00 FLOP'],
    [0, 'FLOP', '0 FLOP'],
    [Number.NaN, 'FLOP', '0 FLOP'],
  ])('fmtSi(%d, %s) = %s', (x, unit, text) => expect(fmtSi(x, unit)).toBe(text));

  test('counts without a unit', () => {
    expect(fmtCount(110_000)).toBe('110k');
    expect(fmtCount(2_500_000)).toBe('2.50M');
  });

  test.each([
    [3.21, '3.2 s'],
    [42.4, '42 s'],
    [600, '10 min'],
    [3 * 3600 + 25 * 60, '3 h 25 min'],
    [30 * 3600, '30 h 0 min'],
    [50 * 3600, '2 d 2 h'],
  ])('fmtDuration(%d) = %s', (s, text) => expect(fmtDuration(s)).toBe(text));

  test('times in words, relative to now', () => {
    const now = 1_000_000_000;
    expect(fmtAgo(now - 5_000, now)).toBe('5 seconds ago');
    expect(fmtAgo(now - 120_000, now)).toBe('2 minutes ago');
    expect(fmtAgo(now - 3 * 3_600_000, now)).toBe('3 hours ago');
    expect(fmtAgo(now - 86_400_000, now)).toBe('yesterday');
  });

  test('ids shortened to a prefix only when long', () => {
    expect(shortId('v_0123456789abcdef')).toBe('v_012345');
    expect(shortId('v_01234567')).toBe('v_01234567');
  });
});
