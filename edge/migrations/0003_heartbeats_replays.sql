-- Lease heartbeats (progress and deadline extension) and the replay guard's memory of signatures.
ALTER TABLE leases ADD COLUMN last_step INTEGER;
ALTER TABLE leases ADD COLUMN last_loss REAL;
ALTER TABLE leases ADD COLUMN heartbeat_at INTEGER;

CREATE TABLE seen_requests (
  signature_hash TEXT PRIMARY KEY,   -- SHA-256 of a volunteer request signature
  seen_at INTEGER NOT NULL
);
CREATE INDEX seen_requests_by_time ON seen_requests (seen_at);
