-- Trust holes closed (docs/trust.md).
-- Open leases by address: the claim counts them (trust/policy.ts MAX_OPEN_LEASES_PER_ADDRESS).
CREATE INDEX leases_open_by_address ON leases (ip_hash, deadline) WHERE status = 'open' AND ip_hash IS NOT NULL;

-- Who verified whom: both directions of every pair of volunteers that agreed in one quorum, with the
-- witness's address (salted hash) when it had one. Standing alone (trusted-single) needs
-- MIN_WITNESSES distinct witnessing identities (addresses, or keys without one): two colluders
-- verifying each other never make one of them trusted. A spot check never goes to a volunteer that
-- ever witnessed the checked one's work, or shares an address with such a witness.
CREATE TABLE witnesses (
  volunteer_id TEXT NOT NULL REFERENCES volunteers(id),
  witness_id TEXT NOT NULL REFERENCES volunteers(id),
  witness_ip TEXT,
  first_at INTEGER NOT NULL,
  PRIMARY KEY (volunteer_id, witness_id)
);

-- Display names and campaign names stored before control and bidirectional characters were refused
-- (shared/display-text.ts): a display name that holds one is dropped (the volunteer shows its id).
UPDATE volunteers SET display_name = NULL WHERE display_name GLOB '*[' || char(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 127, 8203, 8206, 8207, 1564, 8234, 8235, 8236, 8237, 8238, 8294, 8295, 8296, 8297, 8232, 8233, 65279) || ']*';
