"""Benchmarks: the results schema (shared with the demo apps), the timing harness, phone-results ingest, the report."""
