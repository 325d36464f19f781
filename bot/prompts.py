"""Prompt and message templates from the shipped `prompts/` folder (format: `prompts/README.md`).

>>> t = Template.load("refusal", "zh")
>>> sorted(t.variables)
['related']
>>> "知识库" in t.render(related="- 产品质量法").text
True
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from kb.errors import ConfigError
from kb.resources import prompts_dir

_SECTION = re.compile(r"^## (system|user)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Rendered:
    """A filled template: `system` is empty for plain message templates."""

    system: str
    text: str


@dataclass(frozen=True)
class Template:
    purpose: str
    lang: str
    system: str
    text: str
    path: Path

    @property
    def variables(self) -> set[str]:
        names: set[str] = set()
        for part in (self.system, self.text):
            names.update(name for _, name, _, _ in string.Formatter().parse(part) if name is not None)
        return names

    @classmethod
    def load(cls, purpose: str, lang: str, folder: Path | None = None) -> Template:
        """The template for `purpose` in `lang`, or the English one when that language has none."""
        return _load(purpose, lang, folder or prompts_dir())

    def render(self, **values: str) -> Rendered:
        """Fill every variable; a missing or an unexpected one is an error, never a silent gap."""
        missing = self.variables - set(values)
        unused = set(values) - self.variables
        if missing or unused:
            problems = [f"missing {sorted(missing)}" if missing else "", f"unused {sorted(unused)}" if unused else ""]
            raise ConfigError(f"prompt {self.path}: variables {' and '.join(p for p in problems if p)}")
        return Rendered(self.system.format(**values).strip(), self.text.format(**values).strip())


@lru_cache(maxsize=64)
def _load(purpose: str, lang: str, folder: Path) -> Template:
    path = folder / f"{purpose}.{lang}.md"
    if not path.is_file():
        path = folder / f"{purpose}.en.md"
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the prompt template {path}: {exc.strerror or exc}") from None
    parts = _SECTION.split(raw)
    if len(parts) == 1:
        system, text = "", raw
    else:
        sections = dict(zip(parts[1::2], parts[2::2], strict=True))
        if set(sections) != {"system", "user"}:
            raise ConfigError(f"prompt {path}: a chat template needs both a '## system' and a '## user' section")
        system, text = sections["system"], sections["user"]
    template = Template(purpose, lang, system, text, path)
    try:
        template.variables  # noqa: B018  (parses the braces: an unbalanced one is reported here, at load)
    except ValueError as exc:
        raise ConfigError(f"prompt {path}: {exc} (write literal braces as {{{{ and }}}})") from None
    return template
