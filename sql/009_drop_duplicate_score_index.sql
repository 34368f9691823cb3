-- The seed's scores(user_id) index duplicates the one its UNIQUE(user_id) already
-- made (scores_user_id_key), which serves every lookup by player the same way. A
-- change of a total is not a HOT update (idx_scores_total_desc covers the column),
-- so each one wrote an entry into every index, this one too: Worker 1's totals
-- upsert ran about a fifth faster without it.
DROP INDEX IF EXISTS idx_scores_user_id;
