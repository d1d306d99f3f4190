// Numbers as researchers read them: val_bpb to four places, FLOPs with SI prefixes, durations and
// times in words.

export function fmtBpb(x: number | null | undefined): string {
  return x == null ? '—' : x.toFixed(4);
}

/** Three significant figures; exponent form for the very small (learning rates). */
export function fmtNum(x: number): string {
  if (x === 0) return '0';
  if (Math.abs(x) < 0.01) return x.toExponential(1).replace('e-', 'e−');
  if (Number.isInteger(x)) return String(x);
  return Number(x.toPrecision(3)).toString();
}

const SI = ['', 'k', 'M', 'G', 'T', 'P', 'E', 'Z'];

/** 1.23 TFLOP, 456 GFLOP… */
export function fmtSi(x: number, unit: string): string {
  if (!Number.isFinite(x) || x <= 0) return `0 ${unit}`;
  const k = Math.min(SI.length - 1, Math.floor(Math.log10(x) / 3));
  const v = x / 1000 ** k;
  return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${SI[k]}${unit}`;
}

/** 110k, 2.5M: counts without a unit. */
export function fmtCount(x: number): string {
  return fmtSi(x, '').replace(' ', '').trim();
}

export function fmtDuration(seconds: number): string {
  if (seconds < 10) return `${Math.max(0, seconds).toFixed(1)} s`;
  if (seconds < 60) return `${Math.round(seconds)} s`;
  const m = Math.round(seconds / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

const relative = new Intl.RelativeTimeFormat('en', { numeric: 'auto' });

export function fmtAgo(t: number, now = Date.now()): string {
  const s = (t - now) / 1000;
  if (Math.abs(s) < 60) return relative.format(Math.round(s), 'second');
  if (Math.abs(s) < 3600) return relative.format(Math.round(s / 60), 'minute');
  if (Math.abs(s) < 86400) return relative.format(Math.round(s / 3600), 'hour');
  return relative.format(Math.round(s / 86400), 'day');
}

export function fmtDate(t: number): string {
  return new Date(t).toLocaleString('en', { dateStyle: 'medium', timeStyle: 'short' });
}

/** v_0123456789abcdef… → v_012345 (ids are derived from keys: the prefix is enough to tell apart). */
export function shortId(id: string): string {
  return id.length > 10 ? id.slice(0, 8) : id;
}
