"""Where the shipped `prompts/` and `corpus/` folders are.

In a source checkout (and an editable install) they sit at the top of the repository, beside `kb/`. A wheel built
from the repository carries them inside the package as `kb/_shipped/...` (see `pyproject.toml`), so a plain,
non-editable `pip install .` finds them too.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def shipped_dir(name: str) -> Path:
    """Return the shipped folder `name` ("prompts" or "corpus"), wherever this installation keeps it."""
    if name not in ("prompts", "corpus"):
        raise ValueError(f"unknown shipped folder {name!r}: expected 'prompts' or 'corpus'")
    for candidate in (_PACKAGE_DIR / "_shipped" / name, _PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"the shipped {name}/ folder is missing from this installation (looked in {_PACKAGE_DIR / '_shipped'} "
        f"and {_PACKAGE_DIR.parent}); reinstall certkb"
    )


def corpus_dir() -> Path:
    """The shipped starter corpus that `certkb` ingests for a newcomer."""
    return shipped_dir("corpus")


def prompts_dir() -> Path:
    """The shipped prompt templates."""
    return shipped_dir("prompts")
