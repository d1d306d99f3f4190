-- Datasets added at run time (npm run dataset -- add, POST /api/datasets): who registered one, its
-- manifest (served to volunteers, who fetch its token files by SHA-256 from R2) and its size.
-- Built-in datasets keep NULLs: no owner, manifest and files served as static assets.
ALTER TABLE datasets ADD COLUMN researcher_id TEXT REFERENCES researchers(id);
ALTER TABLE datasets ADD COLUMN manifest_json TEXT;
ALTER TABLE datasets ADD COLUMN bytes INTEGER;
CREATE INDEX datasets_by_researcher ON datasets (researcher_id);
