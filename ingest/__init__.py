"""Ingestion: files in, chunks with metadata out (`ingest.pipeline` runs the stages).

Only constants live here, so the command line can show its defaults without importing the loaders.
"""

DEFAULT_MAX_BYTES = 50 * 1024 * 1024  # files larger than this are skipped and reported
