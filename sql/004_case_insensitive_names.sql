-- Usernames and emails are unique whatever their case: "ALICE" is alice, and so is
-- Alice@Example.com. (Fails, naming the index, if a database already holds such a
-- pair; rename one of them and migrate again.)
CREATE UNIQUE INDEX users_username_lower_key ON users (lower(username));
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));
