"""The command line: serve (one process or several), migrate, users, token, reseed;
the embedded servers and the demo players."""
