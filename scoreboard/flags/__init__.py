"""Anomaly flags: detectors over the event stream, the review queue, the webhook."""
