// A small seeded RNG (sfc32, from PractRand's test suite) whose whole state is four uint32s, so it
// can be checkpointed and resumed exactly. Same seed → same stream in every runtime.

export type RngState = [number, number, number, number];

export class Rng {
  #s: Uint32Array;

  constructor(seed: number | RngState) {
    if (typeof seed === 'number') {
      this.#s = new Uint32Array([0x9e3779b9, 0x243f6a88, 0xb7e15162, seed >>> 0]);
      for (let i = 0; i < 12; i++) this.nextUint32(); // mix the seed into all four words
    } else {
      this.#s = new Uint32Array(seed);
    }
  }

  /** A child stream for one purpose (init, batches, dropout…), independent of the others. */
  static derive(seed: number, purpose: string): Rng {
    let h = 2166136261 ^ seed; // FNV-1a over the purpose, mixed with the seed
    for (let i = 0; i < purpose.length; i++) h = Math.imul(h ^ purpose.charCodeAt(i), 16777619);
    return new Rng(h >>> 0);
  }

  nextUint32(): number {
    const s = this.#s;
    const t = (((s[0]! + s[1]!) >>> 0) + s[3]!) >>> 0;
    s[3] = (s[3]! + 1) >>> 0;
    s[0] = s[1]! ^ (s[1]! >>> 9);
    s[1] = (s[2]! + (s[2]! << 3)) >>> 0;
    s[2] = ((s[2]! << 21) | (s[2]! >>> 11)) >>> 0;
    s[2] = (s[2]! + t) >>> 0;
    return t;
  }

  /** Uniform in [0, 1) with 32 bits of resolution. */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Standard normal (Box–Muller). */
  normal(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  get state(): RngState {
    const s = this.#s;
    return [s[0]!, s[1]!, s[2]!, s[3]!];
  }
}
