"""Per-file ingestion errors: the message is what the report shows next to the file name."""

from __future__ import annotations

from kb.errors import CertkbError


class IngestError(CertkbError):
    """One file could not be ingested; the others still are."""


class UnsupportedFileError(IngestError):
    pass


class EmptyDocumentError(IngestError):
    pass
