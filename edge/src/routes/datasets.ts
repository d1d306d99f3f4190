// The datasets registered on this edge: what a campaign brief may name (and what the campaign
// form needs to run the admission policy in the browser before it submits). Researchers add their
// own at run time (npm run dataset -- add): each token file is uploaded on its own, checked against
// the SHA-256 it is named by and kept in R2 under it (CHECKPOINTS bucket, `datasets/` prefix); then
// the manifest registers the dataset once every file it names is there with the size it declares.
// Files are served by hash, immutable, with range requests.
import { Hono, type Context } from 'hono';
import { sha256 } from '../../../shared/crypto.ts';
import { DatasetManifest, manifestHash } from '../../../shared/dataset.ts';
import { parseBody, readCapped } from '../body.ts';
import {
  datasetOwner,
  insertDataset,
  listDatasets,
  researcherDatasets,
  uploadedManifest,
} from '../db/datasets.ts';
import { DATASET_LIMITS } from '../../../shared/dataset-upload.ts';
import { datasetFileKey, dropUnregistered } from '../dataset-sweep.ts';
import type { AppEnv } from '../env.ts';
import { fail } from '../errors.ts';
import { doc } from '../openapi.ts';
import { researcherAuth } from '../researcher-auth.ts';

const SHA = /^[0-9a-f]{64}$/;
const IMMUTABLE = 'public, max-age=31536000, immutable';

function shaParam(raw: string): string {
  if (!SHA.test(raw))
    fail(400, 'invalid_request', 'A dataset file is named by its SHA-256 (64 lowercase hex).');
  return raw;
}

/** Ids whose /api/datasets/<id>/manifest another route of this file answers. */
const RESERVED_IDS = new Set(['files', 'uploads']);

/** The problems of a manifest that parses: a consistent vocabulary, dtype and validation windows. */
function manifestIssues(m: DatasetManifest): { path: string; message: string }[] {
  const issues: { path: string; message: string }[] = [];
  if (RESERVED_IDS.has(m.id))
    issues.push({
      path: 'id',
      message: `The dataset id ${m.id} is reserved (/api/datasets/${m.id}/… is another route).`,
    });
  if (m.vocab.length < 2 || m.vocab.length > 65536)
    issues.push({ path: 'vocab', message: 'The vocabulary must have 2 to 65,536 tokens.' });
  if (m.tokenBytes.length !== m.vocab.length)
    issues.push({ path: 'tokenBytes', message: 'One byte count per vocabulary entry.' });
  if ((m.dtype === 'uint8') !== m.vocab.length <= 256)
    issues.push({
      path: 'dtype',
      message: 'The dtype is uint8 for a vocabulary of up to 256 tokens, else uint16.',
    });
  if (m.tokenizer === 'byte' && m.vocab.length !== 256)
    issues.push({ path: 'vocab', message: 'The byte tokenizer has exactly 256 tokens.' });
  const last = m.evalWindows.starts.reduce((a, b) => Math.max(a, b), -1);
  if (m.evalWindows.starts.length === 0 || last + m.evalWindows.maxContext + 1 > m.val.tokens)
    issues.push({
      path: 'evalWindows',
      message: 'Every validation window must fit in the validation tokens.',
    });
  if (m.train.sha256 === m.val.sha256)
    issues.push({ path: 'val', message: 'The train and validation files must differ.' });
  return issues;
}

export const datasets = new Hono<AppEnv>()
  .get(
    '/',
    doc({
      summary: 'The datasets campaigns may use, with their vocabulary size and manifest SHA-256.',
      errors: [],
    }),
    async (c) => {
      return c.json({ datasets: await listDatasets(c.env.DB) });
    },
  )
  .put(
    '/files/:id',
    doc({
      summary: `Upload one token file (raw bytes, at most ${DATASET_LIMITS.fileBytes} bytes), named by its SHA-256; stored only if its bytes hash to the name. Idempotent.`,
      auth: 'researcher',
      errors: [
        'missing_token',
        'bad_token',
        'invalid_request',
        'payload_too_large',
        'hash_mismatch',
      ],
    }),
    researcherAuth,
    async (c) => {
      const sha = shaParam(c.req.param('id'));
      const bytes = await readCapped(c, DATASET_LIMITS.fileBytes);
      if ((await sha256(bytes)) !== sha)
        fail(422, 'hash_mismatch', 'The uploaded bytes do not hash to the SHA-256 in the path.');
      const key = datasetFileKey(sha);
      if (!(await c.env.CHECKPOINTS.head(key))) {
        await c.env.CHECKPOINTS.put(key, bytes, {
          sha256: sha,
          httpMetadata: { contentType: 'application/octet-stream' },
          customMetadata: { uploadedBy: c.get('researcher').id, uploadedAt: String(Date.now()) },
        });
      }
      return c.json({ sha256: sha, bytes: bytes.byteLength }, 201);
    },
  )
  .get(
    '/files/:id',
    doc({
      summary: 'A dataset token file by its SHA-256: public, immutable, with range requests.',
      errors: ['invalid_request', 'unknown_file'],
    }),
    async (c) => {
      const sha = shaParam(c.req.param('id'));
      const range = c.req.header('range');
      const blob = await c.env.CHECKPOINTS.get(
        datasetFileKey(sha),
        range ? { range: c.req.raw.headers } : {},
      );
      if (!blob) fail(404, 'unknown_file', 'No dataset file has this SHA-256.');
      const headers: Record<string, string> = {
        'content-type': 'application/octet-stream',
        'cache-control': IMMUTABLE,
        etag: `"${sha}"`,
        'accept-ranges': 'bytes',
      };
      const r = blob.range as { offset?: number; length?: number } | undefined;
      if (range && r && (r.offset !== undefined || r.length !== undefined)) {
        const offset = r.offset ?? 0;
        const length = r.length ?? blob.size - offset;
        headers['content-range'] = `bytes ${offset}-${offset + length - 1}/${blob.size}`;
        headers['content-length'] = String(length);
        return new Response(blob.body, { status: 206, headers });
      }
      headers['content-length'] = String(blob.size);
      return new Response(blob.body, { status: 200, headers });
    },
  )
  .post(
    '/',
    doc({
      summary: `Register a dataset from its manifest (shared/dataset.ts) once its train and val files are uploaded: every file must be there with the size its token count implies. At most ${DATASET_LIMITS.datasetBytes} bytes per dataset and ${DATASET_LIMITS.perResearcher} datasets per researcher; an id is its registrant's, and a dataset never changes.`,
      auth: 'researcher',
      body: DatasetManifest,
      errors: [
        'missing_token',
        'bad_token',
        'invalid_json',
        'invalid_request',
        'payload_too_large',
        'invalid_manifest',
        'dataset_too_large',
        'dataset_taken',
        'dataset_limit',
        'missing_file',
        'size_mismatch',
      ],
    }),
    researcherAuth,
    async (c) => {
      const text = new TextDecoder().decode(await readCapped(c, DATASET_LIMITS.manifestBytes));
      const manifest = parseBody(text, DatasetManifest);
      const researcher = c.get('researcher').id;
      try {
        return await register(c, manifest, researcher);
      } catch (e) {
        // Refused: the files this researcher uploaded for it go too (no orphans in R2).
        const files = [manifest.train.sha256, manifest.val.sha256];
        await dropUnregistered(c.env.CHECKPOINTS, c.env.DB, researcher, files);
        throw e;
      }
    },
  )
  .get(
    '/:id/manifest',
    doc({
      summary:
        "An uploaded dataset's manifest (its token files are at /api/datasets/files/<sha256>).",
      errors: ['unknown_dataset'],
    }),
    async (c) => {
      const json = await uploadedManifest(c.env.DB, c.req.param('id'));
      if (json === null) fail(404, 'unknown_dataset', 'No uploaded dataset has this id.');
      return c.body(json, 200, { 'content-type': 'application/json; charset=utf-8' });
    },
  );

/** Registers a manifest whose files are uploaded, or refuses it (the caller cleans up). */
async function register(c: Context<AppEnv>, manifest: DatasetManifest, researcher: string) {
  const issues = manifestIssues(manifest);
  if (issues.length) fail(422, 'invalid_manifest', issues[0]!.message, issues);
  const per = manifest.dtype === 'uint8' ? 1 : 2;
  const files = [manifest.train, manifest.val];
  const total = files.reduce((n, f) => n + f.tokens * per, 0);
  if (total > DATASET_LIMITS.datasetBytes) {
    fail(
      413,
      'dataset_too_large',
      `A dataset is limited to ${DATASET_LIMITS.datasetBytes} bytes of tokens.`,
    );
  }
  const hash = await manifestHash(manifest);
  const owner = await datasetOwner(c.env.DB, manifest.id);
  if (owner) {
    if (owner.researcherId === researcher && owner.manifestSha256 === hash) {
      return c.json(
        {
          dataset: {
            id: manifest.id,
            name: manifest.name,
            vocabSize: manifest.vocab.length,
            manifestSha256: hash,
          },
        },
        200,
      );
    }
    fail(
      409,
      'dataset_taken',
      `The dataset id ${manifest.id} is taken (a registered dataset never changes: pick another id).`,
      [{ path: 'id', message: 'Taken.' }],
    );
  }
  if ((await researcherDatasets(c.env.DB, researcher)) >= DATASET_LIMITS.perResearcher) {
    fail(
      403,
      'dataset_limit',
      `A researcher may register at most ${DATASET_LIMITS.perResearcher} datasets.`,
    );
  }
  for (const [name, f] of [
    ['train', manifest.train],
    ['val', manifest.val],
  ] as const) {
    const head = await c.env.CHECKPOINTS.head(datasetFileKey(f.sha256));
    if (!head)
      fail(
        422,
        'missing_file',
        `The ${name} file ${f.sha256} is not uploaded yet (PUT /api/datasets/files/${f.sha256}).`,
        [{ path: `${name}.sha256`, message: 'Not uploaded.' }],
      );
    if (head.size !== f.tokens * per)
      fail(
        422,
        'size_mismatch',
        `The ${name} file has ${head.size} bytes, not the ${f.tokens * per} its ${f.tokens} ${manifest.dtype} tokens need.`,
        [{ path: `${name}.tokens`, message: 'Does not match the file.' }],
      );
  }
  const dataset = {
    id: manifest.id,
    name: manifest.name,
    vocabSize: manifest.vocab.length,
    manifestSha256: hash,
  };
  const inserted = await insertDataset(c.env.DB, {
    ...dataset,
    researcherId: researcher,
    manifestJson: JSON.stringify(manifest),
    bytes: total,
  });
  if (!inserted)
    fail(409, 'dataset_taken', `The dataset id ${manifest.id} is taken.`, [
      { path: 'id', message: 'Taken.' },
    ]);
  return c.json({ dataset }, 201);
}
