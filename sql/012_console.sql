-- The admin console's player search: a username prefix, whatever its case.
-- text_pattern_ops lets LIKE 'prefix%' use the index under any collation.
CREATE INDEX users_username_prefix ON users (lower(username) text_pattern_ops);
-- The audit log is read newest first by its id (a page per cursor): its primary key.
