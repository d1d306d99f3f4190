-- Indexes for the researcher views: campaign leaderboards and leaders (rank by val_bpb within a
-- campaign), the corpus export (verified experiments in verification order, cursor-paged), and
-- the volunteer standings and fleet rate (results by volunteer, agreeing results by volunteer).
CREATE INDEX IF NOT EXISTS experiments_by_campaign_rank ON experiments (campaign_id, status, val_bpb, idx);
CREATE INDEX IF NOT EXISTS experiments_by_verification ON experiments (status, verified_at, id);
CREATE INDEX IF NOT EXISTS results_by_volunteer ON results (volunteer_id, created_at);
CREATE INDEX IF NOT EXISTS results_by_verdict ON results (verdict, volunteer_id);
