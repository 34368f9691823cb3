"""Who plays: player rows in PostgreSQL, their profiles cached in Redis, and the
admin actions on them (create, ban, unban), each audited."""
