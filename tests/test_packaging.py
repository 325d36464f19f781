"""A plain, non-editable install must carry prompts/, corpus/ and the example question sets, and find them."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from helpers import ROOT

pytestmark = pytest.mark.slow


def test_wheel_ships_corpus_prompts_and_question_sets_and_finds_them(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    wheel = next(tmp_path.glob("certkb-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    shipped_corpus = sorted(n for n in names if n.startswith("kb/_shipped/corpus/"))
    expected = sorted(
        "kb/_shipped/corpus/" + p.relative_to(ROOT / "corpus").as_posix()
        for p in (ROOT / "corpus").rglob("*")
        if p.is_file()
    )
    assert shipped_corpus == expected
    assert "kb/_shipped/prompts/README.md" in names
    assert "kb/glossary.tsv" in names
    assert "bot/static/favicon.svg" in names  # the API docs' icon, served by /api/static
    question_sets = sorted(f"bot/question_sets/{p.name}" for p in (ROOT / "bot" / "question_sets").glob("*.md"))
    assert len(question_sets) == 4 and set(question_sets) <= set(names)

    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    probe = (
        "import kb.resources as r, bot.questions as q; print(r.corpus_dir()); print(r.prompts_dir()); "
        "print(q.SHIPPED_DIR); print(len(q.shipped_sets()))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(target)},
    ).stdout.split()
    assert out == [
        str(target / "kb" / "_shipped" / "corpus"),
        str(target / "kb" / "_shipped" / "prompts"),
        str(target / "bot" / "question_sets"),
        "4",
    ]
