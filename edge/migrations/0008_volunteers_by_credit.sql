-- A volunteer's rank (GET /api/volunteers/:id) counts the volunteers with more credit: an index
-- keeps that a range count instead of a scan of every volunteer.
CREATE INDEX volunteers_by_credit ON volunteers (credit_total);
