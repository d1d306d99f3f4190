// The Hono environment of every route: bindings from wrangler.toml and per-request variables.
export interface SignedVolunteer {
  id: string;
  publicKey: string;
}

export interface AppEnv {
  Bindings: Env;
  Variables: {
    volunteer: SignedVolunteer;
    body: string;
    bodySha256: string;
    readUpload: () => Promise<Uint8Array<ArrayBuffer>>; // auth.ts checkpointUpload
    researcher: { id: string; name: string };
    replayGuard: string | null; // the signature's hash until auth.ts guardedBatch records it
  };
}
