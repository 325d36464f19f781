"""Scanned test documents made from real text: the laws in ../shared/realdocs and documents of the shipped corpus,
typeset on A4 pages with a real CJK font and saved as page images (PNG) and image-only PDFs, with the exact text of
every page beside them for measuring OCR.

    .venv/bin/python benchmarks/make_scans.py [--out benchmarks/.cache/scans] [--font PATH]

Variants (one folder each):
  clean-200   a clean scan at 200 dpi (grayscale, lossless)
  clean-300   the same at 300 dpi (for choosing the resolution PDF pages are rendered at)
  scan-200    200 dpi as a worn office scanner makes it: tilted by up to 1.5 degrees, noise, blur, JPEG at quality 60
  twocol-200  two columns of smaller type under a full-width title, 200 dpi

Each folder holds, per document, `NAME.pdf` (image-only, no text layer), `NAME-pNN.png` and `NAME-pNN.txt` (the text
set on that page, one line per printed line). Headings are set larger, the first line of a paragraph is indented
two characters as Chinese documents are, every page has a running header and a page number. Nothing is committed:
the files are made again in seconds. Needs the WenQuanYi Micro Hei font (Debian: fonts-wqy-microhei).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import CACHE, REALDOCS, ROOT

DEFAULT_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
A4_INCHES = (8.27, 11.69)
LAWS = [
    "certification-accreditation-regulation",
    "food-safety-law",
    "foreign-trade-law",
    "import-export-commodity-inspection-law",
    "industrial-product-production-license-regulation",
    "metrology-law",
    "product-quality-law",
    "standardization-law",
]
CORPUS = ["policies/china-certification-system.zh.md", "policies/china-certification-system.en.md",
          "standards/ce-marking.en.md", "standards/ccc.zh.md"]  # fmt: skip
VARIANTS = {
    "clean-200": {"dpi": 200, "columns": 1, "worn": False},
    "clean-300": {"dpi": 300, "columns": 1, "worn": False},
    "scan-200": {"dpi": 200, "columns": 1, "worn": True},
    "twocol-200": {"dpi": 200, "columns": 2, "worn": False},
}
_CLOSING = set("，。、；：？！）》」』”’,.;:?!)")


@dataclass
class Block:
    kind: str  # title | heading | para
    text: str


def blocks_of(markdown: str) -> list[Block]:
    """Title, headings and paragraphs of a Markdown document (front matter, tables' rules and links removed)."""
    markdown = re.sub(r"\A---\n.*?\n---\n", "", markdown, flags=re.DOTALL)
    blocks = []
    for raw in re.split(r"\n\s*\n", markdown):
        text = " ".join(line.strip() for line in raw.strip().splitlines())
        text = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", text).replace("**", "").replace("`", "")
        if not text or re.fullmatch(r"[|\-: ]+", text) or text.startswith("<!--"):
            continue
        heading = re.match(r"^(#{1,6})\s+(.*)", text)
        if heading:
            blocks.append(Block("title" if len(heading.group(1)) == 1 else "heading", heading.group(2)))
        else:
            blocks.append(Block("para", re.sub(r"^[-*]\s+", "· ", text)))
    return blocks


def _tokens(text: str) -> list[str]:
    """Line-breaking units: a Latin word with its following space, or one CJK character."""
    return re.findall(r"[A-Za-z0-9@#%&+\-/.,:;()'\"!?<>=_\[\]]+ ?|\s|.", text)


def wrap(text: str, font: Any, width: float, indent: float) -> list[str]:
    lines: list[str] = []
    current, used = "", indent
    for token in _tokens(text):
        size = font.getlength(token)
        if current and used + size > width and token.strip() and token[0] not in _CLOSING:
            lines.append(current.rstrip())
            current, used = "", 0.0
            if not token.strip():
                continue
        current += token
        used += size
    if current.strip():
        lines.append(current.rstrip())
    return lines


def typeset(blocks: list[Block], title: str, dpi: int, columns: int, font_path: Path) -> list[tuple[Any, list[str]]]:
    """Pages as (grayscale image, the lines set on it)."""
    from PIL import Image, ImageDraw, ImageFont

    def px(points: float) -> int:
        return round(points * dpi / 72)

    body_pt = 12 if columns == 1 else 10.5
    fonts = {
        "title": ImageFont.truetype(str(font_path), px(18)),
        "heading": ImageFont.truetype(str(font_path), px(14)),
        "para": ImageFont.truetype(str(font_path), px(body_pt)),
        "furniture": ImageFont.truetype(str(font_path), px(9)),
    }
    page_w, page_h = round(A4_INCHES[0] * dpi), round(A4_INCHES[1] * dpi)
    margin = px(72)
    gap = px(24)
    column_w = (page_w - 2 * margin - (columns - 1) * gap) / columns
    pages: list[tuple[Any, list[str]]] = []
    state: dict[str, Any] = {}

    def new_page() -> None:
        image = Image.new("L", (page_w, page_h), 255)
        draw = ImageDraw.Draw(image)
        number = len(pages) + 1
        header = fonts["furniture"]
        draw.text((margin, px(40)), title, font=header, fill=0)
        footer = f"- {number} -"
        draw.text(((page_w - header.getlength(footer)) / 2, page_h - px(45)), footer, font=header, fill=0)
        pages.append((image, [title]))
        state.update(draw=draw, column=0, y=float(margin), column_top=float(margin), lines=pages[-1][1], footer=footer)

    def place(line: str, font: Any, x_offset: float, centred: bool, line_h: float) -> None:
        if state["y"] + line_h > page_h - margin:
            if state["column"] + 1 < columns:
                state["column"] += 1
                state["y"] = state["column_top"]
            else:
                state["lines"].append(state["footer"])
                new_page()
        x = margin + state["column"] * (column_w + gap)
        if centred:
            x += (column_w - font.getlength(line)) / 2
        state["draw"].text((x + x_offset, state["y"]), line, font=font, fill=0)
        state["lines"].append(line)
        state["y"] += line_h

    new_page()
    for block in blocks:
        font = fonts[block.kind]
        size = font.size
        if block.kind == "title":
            # the title runs across the page, the columns start under it
            for line in wrap(block.text, font, page_w - 2 * margin, 0):
                saved = state["column"]
                state["column"] = 0
                x = (page_w - font.getlength(line)) / 2
                state["draw"].text((x, state["y"]), line, font=font, fill=0)
                state["lines"].append(line)
                state["y"] += size * 1.6
                state["column"] = saved
            state["y"] += size * 0.5
            state["column_top"] = state["y"]
            continue
        indent = 2 * size if block.kind == "para" and re.match(r"[\u4e00-\u9fff第（]", block.text) else 0
        lines = wrap(block.text, font, column_w, indent)
        if block.kind == "heading":
            state["y"] += size * 0.4
        for number, line in enumerate(lines):
            place(line, font, indent if number == 0 else 0, block.kind == "heading", size * 1.5)
        state["y"] += size * (0.6 if block.kind == "para" else 0.4)
    state["lines"].append(state["footer"])
    return pages


def wear(image: Any, seed: int) -> Any:
    """What a worn scanner does: a small tilt, grain, a little blur."""
    import numpy as np
    from PIL import Image, ImageFilter

    rng = random.Random(seed)
    angle = rng.uniform(-1.5, 1.5)
    tilted = image.rotate(angle, resample=Image.BICUBIC, expand=False, fillcolor=255)
    blurred = tilted.filter(ImageFilter.GaussianBlur(0.6))
    noise = np.random.default_rng(seed).normal(0, 14, (image.height, image.width))
    grey = np.clip(np.asarray(blurred, dtype=np.float32) * 0.92 + 12 + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(grey)


def sources(realdocs: Path) -> list[tuple[str, str]]:
    found = [(name, (realdocs / "zh-laws" / f"{name}.md").read_text(encoding="utf-8")) for name in LAWS]
    for relative in CORPUS:
        path = ROOT / "corpus" / relative
        found.append((path.name.removesuffix(".md"), path.read_text(encoding="utf-8")))
    return found


def make(out: Path, realdocs: Path, font: Path, variants: list[str]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for variant in variants:
        spec = VARIANTS[variant]
        folder = out / variant
        folder.mkdir(parents=True, exist_ok=True)
        counts = {}
        for seed, (name, markdown) in enumerate(sources(realdocs)):
            blocks = blocks_of(markdown)
            title = next((b.text for b in blocks if b.kind == "title"), name)
            pages = typeset(blocks, title, spec["dpi"], spec["columns"], font)
            images = []
            for number, (image, lines) in enumerate(pages, start=1):
                if spec["worn"]:
                    image = wear(image, seed * 1000 + number)
                stem = f"{name}-p{number:02d}"
                image.save(folder / f"{stem}.png")
                (folder / f"{stem}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
                images.append(image)
            pdf_options: dict[str, Any] = {"save_all": True, "append_images": images[1:], "resolution": spec["dpi"]}
            if spec["worn"]:
                pdf_options["quality"] = 60
            images[0].save(folder / f"{name}.pdf", **pdf_options)
            counts[name] = len(pages)
        summary[variant] = counts
        print(f"{variant}: {sum(counts.values())} pages of {len(counts)} documents in {folder}", file=sys.stderr)
    (out / "manifest.json").write_text(json.dumps(summary, ensure_ascii=False, indent=1), encoding="utf-8")
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=CACHE / "scans")
    parser.add_argument("--realdocs", type=Path, default=REALDOCS)
    parser.add_argument("--font", type=Path, default=DEFAULT_FONT)
    parser.add_argument("--variant", action="append", choices=sorted(VARIANTS), help="default: all")
    args = parser.parse_args()
    if not args.font.is_file():
        sys.exit(f"no font at {args.font}: install fonts-wqy-microhei or pass --font")
    make(args.out, args.realdocs, args.font, args.variant or list(VARIANTS))


if __name__ == "__main__":
    main()
