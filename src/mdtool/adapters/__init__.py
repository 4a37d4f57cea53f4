"""Venue adapters: each talks to one venue through its client library and yields records."""
