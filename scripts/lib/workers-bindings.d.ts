// The slice of the Workers D1 and R2 binding types that the edge's archive code (edge/src/archive)
// uses, so scripts — Node with DOM typings, not the Workers runtime's — can type-check and run it
// over node:sqlite and a directory (scripts/lib/node-bindings.ts).
interface D1Result<T = unknown> {
  results: T[];
  meta: { changes: number };
}
interface D1PreparedStatement {
  bind(...values: unknown[]): D1PreparedStatement;
  first<T = unknown>(column?: string): Promise<T | null>;
  all<T = unknown>(): Promise<D1Result<T>>;
  run(): Promise<D1Result>;
}
interface D1Database {
  prepare(sql: string): D1PreparedStatement;
  batch<T = unknown>(statements: D1PreparedStatement[]): Promise<D1Result<T>[]>;
}
interface R2Object {
  key: string;
}
interface R2ObjectBody extends R2Object {
  arrayBuffer(): Promise<ArrayBuffer>;
}
interface R2Bucket {
  head(key: string): Promise<R2Object | null>;
  get(key: string): Promise<R2ObjectBody | null>;
  put(
    key: string,
    value: Uint8Array,
    options?: {
      sha256?: string;
      httpMetadata?: { contentType?: string; contentEncoding?: string };
    },
  ): Promise<R2Object | null>;
}
