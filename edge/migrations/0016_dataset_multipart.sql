-- Resumable uploads of large dataset files (edge/src/routes/dataset-uploads.ts): one R2 multipart
-- upload per file, staged under dataset-uploads/<id> until its whole-file SHA-256 is checked, and
-- the parts the edge holds, each with the SHA-256 the client declared and the edge checked. Rows
-- older than the upload TTL are aborted by the sweep (edge/src/dataset-sweep.ts).
CREATE TABLE dataset_uploads (
  id TEXT PRIMARY KEY,
  r2_upload_id TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  part_bytes INTEGER NOT NULL,
  researcher_id TEXT NOT NULL REFERENCES researchers(id),
  created_at INTEGER NOT NULL,
  UNIQUE (researcher_id, sha256)
);
CREATE INDEX dataset_uploads_by_age ON dataset_uploads (created_at);

CREATE TABLE dataset_upload_parts (
  upload_id TEXT NOT NULL REFERENCES dataset_uploads(id) ON DELETE CASCADE,
  part_number INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  etag TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  PRIMARY KEY (upload_id, part_number)
);
