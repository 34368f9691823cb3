"""Trusted writes: server keys, with which game servers write scores for players."""
