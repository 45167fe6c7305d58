"""Audit log API: query the hash-chained log, verify it, and show people who read their data."""
