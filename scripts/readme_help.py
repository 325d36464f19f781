"""Write the real `certkb --help` texts into README.md (between <!-- help:CMD --> and <!-- /help -->).

.venv/bin/python scripts/readme_help.py          # rewrite README.md
.venv/bin/python scripts/readme_help.py --check  # exit 1 if README.md is stale (the tests run this)
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"(<!-- help:(?P<cmd>[a-z ]*) -->\n)```text\n.*?```\n(<!-- /help -->)", re.DOTALL)


def help_text(command: str) -> str:
    from bot.cli import build_parser

    os.environ["COLUMNS"] = "100"
    parser = build_parser()
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.suppress(SystemExit):
        parser.parse_args([*command.split(), "--help"])
    return buffer.getvalue()


def render(text: str) -> str:
    return BLOCK.sub(lambda m: f"{m.group(1)}```text\n{help_text(m.group('cmd'))}```\n{m.group(3)}", text)


def main() -> int:
    current = README.read_text(encoding="utf-8")
    fresh = render(current)
    if "--check" in sys.argv:
        if fresh != current:
            print("README.md's CLI help is stale: run .venv/bin/python scripts/readme_help.py", file=sys.stderr)
            return 1
        return 0
    README.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
