// Edits to a valid request's JSON, for fuzzing: a value replaced (by a wrongly typed, boundary,
// huge or deeply nested one, by a raw literal like NaN or 1e999 that JSON.stringify cannot write,
// or by a twin of the same format), a key deleted, or an unknown key added, anywhere in it.
import fc from 'fast-check';
import { signCanonical } from '../../shared/crypto.ts';
import { leaf, rawNumber, value, weirdString } from './arbitraries.ts';

type Path = (string | number)[];
export type Edit =
  | { path: Path; kind: 'set'; value: unknown }
  | { path: Path; kind: 'raw'; token: string }
  | { path: Path; kind: 'twin'; noise: number[] }
  | { path: Path; kind: 'delete' }
  | { path: Path; kind: 'extra'; key: string; value: unknown };

/** Put where an inner signature goes; `resign` fills it in once the payload's edits are known. */
export const SIGNATURE_SLOT = 'signature-to-be-made-over-the-edited-payload';
/** What a twin edit makes of the slot: `resign` fills it with a twin of the right signature. */
const TWIN_SIGNATURE_SLOT = 'twin-of-the-signature-over-the-edited-payload';
const RAW = (i: number) => `raw-literal-${i}`;

function pathsOf(x: unknown, prefix: Path = []): Path[] {
  if (x === null || typeof x !== 'object') return [prefix];
  const children = Object.entries(x).flatMap(([k, c]) =>
    pathsOf(c, [...prefix, Array.isArray(x) ? Number(k) : k]),
  );
  return [prefix, ...children];
}

const valueAt = (root: unknown, path: Path) =>
  path.reduce<unknown>((o, k) => (isObject(o) ? o[k] : undefined), root);

/** Paths to the leaves of `base` (not objects or arrays), an array's first element standing for all. */
export function leafPaths(base: unknown): Path[] {
  return pathsOf(base).filter(
    (p) => !isObject(valueAt(base, p)) && !p.some((k) => typeof k === 'number' && k > 0),
  );
}

/** Paths to the numbers in `base`, an array's first element standing for all. */
export function numberPaths(base: unknown): Path[] {
  return leafPaths(base).filter((p) => typeof valueAt(base, p) === 'number');
}

/** One to three edits at paths that exist in `base`. */
export function edits(base: unknown): fc.Arbitrary<Edit[]> {
  const path = fc.constantFrom(...pathsOf(base));
  const noise = fc.array(fc.nat(), { minLength: 1, maxLength: 8 });
  const edit: fc.Arbitrary<Edit> = fc.oneof(
    { arbitrary: fc.record({ path, kind: fc.constant('set' as const), value }), weight: 4 },
    {
      arbitrary: fc.record({ path, kind: fc.constant('raw' as const), token: rawNumber }),
      weight: 2,
    },
    { arbitrary: fc.record({ path, kind: fc.constant('twin' as const), noise }), weight: 4 },
    { arbitrary: fc.record({ path, kind: fc.constant('delete' as const) }), weight: 1 },
    {
      arbitrary: fc.record({
        path,
        kind: fc.constant('extra' as const),
        key: weirdString,
        value: leaf,
      }),
      weight: 1,
    },
  );
  return fc.array(edit, { minLength: 1, maxLength: 3 });
}

/** The edited document as JSON text, raw literals spliced in where JSON.stringify cannot write them. */
export function applyEdits(base: unknown, list: Edit[]): string {
  let root: unknown = structuredClone(base);
  const raws: string[] = [];
  for (const e of list) {
    // prettier-ignore
    const replacement =
      e.kind === 'set' ? e.value
      : e.kind === 'raw' ? RAW(raws.push(e.token) - 1)
      : e.kind === 'twin' ? twin(valueAt(root, e.path), e.noise)
      : undefined;
    if (e.path.length === 0) {
      if (e.kind === 'delete') return '';
      root = e.kind === 'extra' ? withKey(root, e.key, e.value) : replacement;
      continue;
    }
    const parent = valueAt(root, e.path.slice(0, -1));
    if (!isObject(parent)) continue; // an earlier edit replaced or removed this path
    const key = e.path.at(-1)!;
    if (e.kind === 'delete') delete parent[key];
    else
      define(parent, key, e.kind === 'extra' ? withKey(parent[key], e.key, e.value) : replacement);
  }
  let text = JSON.stringify(root) ?? '';
  raws.forEach((token, i) => (text = text.replaceAll(JSON.stringify(RAW(i)), token)));
  return text;
}

const HEX = '0123456789abcdef';
const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * A different value of the same kind and format (a hex hash stays hex of its length, a key or
 * token stays base64url, an integer stays an integer), so that the request passes the schema and
 * the edge's later checks, of signatures, leases, hashes and budgets, have to refuse it.
 */
function twin(x: unknown, noise: number[]): unknown {
  const n = (i: number) => noise[i % noise.length]!;
  if (x === SIGNATURE_SLOT) return TWIN_SIGNATURE_SLOT;
  if (typeof x === 'boolean') return !x;
  if (typeof x === 'number') {
    const step = 1 + (n(0) % 3);
    if (!Number.isInteger(x)) return x * (1 + step / 1000);
    return x > step && n(1) % 2 ? x - step : x + step;
  }
  if (typeof x !== 'string' || x.length === 0) return x;
  // prettier-ignore
  const alphabet = /^[0-9a-f]+$/.test(x) ? HEX : /^[A-Za-z0-9_-]+$/.test(x) ? BASE64URL : 'abcdefghijklmnopqrstuvwxyz';
  const out = [...x]
    .map((c, i) => (n(i) % 4 === 0 ? alphabet[n(i + 1) % alphabet.length]! : c))
    .join('');
  if (out !== x) return out;
  return alphabet[(alphabet.indexOf(x[0]!) + 1) % alphabet.length] + x.slice(1);
}

function isObject(x: unknown): x is Record<string | number, unknown> {
  return x !== null && typeof x === 'object';
}

function withKey(target: unknown, key: string, v: unknown): unknown {
  return define(isObject(target) && !Array.isArray(target) ? target : {}, key, v);
}

// defineProperty rather than assignment, so that "__proto__" becomes a key in the JSON rather
// than the object's prototype.
function define(o: object, key: string | number, v: unknown): object {
  return Object.defineProperty(o, key, {
    value: v,
    enumerable: true,
    writable: true,
    configurable: true,
  });
}

/**
 * Signs `field` of the edited body and fills the signature slot (or its twin), when both are still
 * there, so that the edit itself, not a stale inner signature, is what the edge has to judge.
 */
export async function resign(
  text: string,
  field: 'payload' | 'result',
  keys: CryptoKeyPair,
): Promise<string> {
  const [slot, twinSlot] = [JSON.stringify(SIGNATURE_SLOT), JSON.stringify(TWIN_SIGNATURE_SLOT)];
  if (!text.includes(slot) && !text.includes(twinSlot)) return text;
  let signature = 'A'.repeat(86);
  try {
    signature = await signCanonical(
      keys.privateKey,
      (JSON.parse(text) as Record<string, unknown>)[field],
    );
  } catch {
    // Not JSON, or not canonical JSON (a lone surrogate, Infinity): refused before any signature check.
  }
  const twinned = twin(signature, [7, 1, 4, 2]) as string;
  return text.replace(slot, JSON.stringify(signature)).replace(twinSlot, JSON.stringify(twinned));
}
