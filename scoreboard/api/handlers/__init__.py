"""Thin views: parse, call one service function, answer with the envelope."""
