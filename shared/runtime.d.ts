// The slice of the Web platform that shared/ may use. Browsers, workers, workerd and Node 22 all
// provide these globals; declaring them here keeps shared/ free of DOM, Workers and Node typings.

interface CryptoKey {
  readonly algorithm: { name: string };
  readonly extractable: boolean;
  readonly type: 'public' | 'private' | 'secret';
  readonly usages: string[];
}
interface CryptoKeyPair {
  privateKey: CryptoKey;
  publicKey: CryptoKey;
}
type BufferSourceLike = ArrayBuffer | ArrayBufferView;
interface SubtleCrypto {
  digest(algorithm: 'SHA-256', data: BufferSourceLike): Promise<ArrayBuffer>;
  generateKey(
    algorithm: { name: 'Ed25519' },
    extractable: boolean,
    usages: ('sign' | 'verify')[],
  ): Promise<CryptoKeyPair>;
  importKey(
    format: 'raw',
    keyData: BufferSourceLike,
    algorithm: { name: 'Ed25519' },
    extractable: boolean,
    usages: ('sign' | 'verify')[],
  ): Promise<CryptoKey>;
  exportKey(format: 'raw', key: CryptoKey): Promise<ArrayBuffer>;
  sign(
    algorithm: { name: 'Ed25519' },
    key: CryptoKey,
    data: BufferSourceLike,
  ): Promise<ArrayBuffer>;
  verify(
    algorithm: { name: 'Ed25519' },
    key: CryptoKey,
    signature: BufferSourceLike,
    data: BufferSourceLike,
  ): Promise<boolean>;
}
interface Crypto {
  readonly subtle: SubtleCrypto;
  getRandomValues<T extends ArrayBufferView>(array: T): T;
  randomUUID(): string;
}
declare var crypto: Crypto;

declare class TextEncoder {
  encode(input?: string): Uint8Array<ArrayBuffer>;
}
declare class TextDecoder {
  constructor(label?: string);
  decode(input?: BufferSourceLike): string;
}
declare function btoa(data: string): string;
declare function atob(data: string): string;
declare var console: { log(...a: unknown[]): void; warn(...a: unknown[]): void };
declare function setTimeout(fn: () => void, ms?: number): number;
declare function clearTimeout(id: number | undefined): void;
declare var performance: { now(): number };
