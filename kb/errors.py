"""The one error hierarchy of certkb.

Every message says what happened and how to fix it. Only the edges (CLI, REST API, web UI) turn these into
exit codes, HTTP statuses or notices; library code raises them and never prints.
"""

from __future__ import annotations


class CertkbError(Exception):
    """Base class of every error certkb raises on purpose."""


class ConfigError(CertkbError):
    """A setting, flag or argument has a value certkb cannot use."""


class MissingDependencyError(CertkbError):
    """An optional package is needed for what was asked; the message names the package to install."""


class KnowledgeBaseNotFoundError(CertkbError):
    """There is no knowledge base at the given place (nothing has been ingested there yet)."""


class EmbedderMismatchError(CertkbError):
    """The knowledge base was built with a different embedder than the one asked for.

    Vectors from two embedders live in different spaces: comparing them gives silent garbage, so certkb refuses.
    """


class StoreError(CertkbError):
    """The vector store (embedded Chroma or a Chroma server) failed or cannot be reached."""


class FilterError(ConfigError):
    """A search filter names an unknown field or has an unusable value."""


class GlossaryError(CertkbError):
    """A glossary file (the shipped one or a site's, `<kb dir>/glossary.tsv`) has a line certkb cannot use; the
    message names the file and the line."""


# LLMError and BusyError are raised only by bot/, yet live here on purpose: the hierarchy is one module that every
# edge (CLI, REST API, web UI) translates in one place, and kb is the layer everyone already imports, so hosting
# them costs kb no dependency on bot.
class LLMError(CertkbError):
    """The chat model failed: endpoint unreachable, timed out, refused the request, or returned nothing usable."""


class BusyError(CertkbError):
    """Too many answers are in progress (or this client asked too often): try again shortly. Nothing was lost."""

    def __init__(self, message: str, retry_after: int = 10, status: int = 503) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status  # 503: the service is full; 429: this client asked too often
