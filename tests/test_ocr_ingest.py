"""Scanned files through the loaders and the pipeline: which pages are read, page numbers, sidecars, OCR off, a
failing page, and hostile input (damaged images, decompression bombs, huge pages, 500-page scans).

The files are real (PNG, JPEG, TIFF, image-only and mixed PDFs made here); the OCR engine is a scripted one that
says which page it was given, because what is under test is what ingestion does around the engine. The real
engine reads real rendered text in test_ocr_real.py.
"""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import ROOT
from makefiles import ZH_LINES, make_image_pdf, make_pdf

from ingest.chunker import Chunker
from ingest.errors import EmptyDocumentError, IngestError, UnsupportedFileError
from ingest.layout import OcrLine
from ingest.loaders import load_document
from ingest.ocr import Ocr, OcrSettings
from ingest.pipeline import Ingester
from kb.knowledge_base import KnowledgeBase


def _box(y: float, width: float = 900) -> tuple[tuple[float, float], ...]:
    return ((100.0, y), (100.0 + width, y), (100.0 + width, y + 34.0), (100.0, y + 34.0))


class PageEngine:
    """Reads a page as the article its grey level names: a page filled with grey g holds "第g条 ...". Lines of low
    confidence come along, and `fail_on` grey levels raise, as a damaged page makes a real engine do."""

    def __init__(self, fail_on: tuple[int, ...] = ()) -> None:
        self.fail_on = fail_on
        self.seen: list[int] = []

    def read(self, image: Any) -> list[OcrLine]:
        grey = int(np.median(image[:, :, 0]))
        number = round(grey / 10)
        self.seen.append(number)
        if number in self.fail_on:
            raise RuntimeError("onnxruntime: invalid input")
        return [
            OcrLine(f"第{number}条 认证机构应当在第{number}页规定的期限内作出决定，", 0.97, _box(100)),  # type: ignore[arg-type]
            OcrLine(f"CCC applies（page {number}）。", 0.95, _box(150, 400)),  # type: ignore[arg-type]
            OcrLine("~~ ..", 0.21, _box(300, 60)),  # type: ignore[arg-type]
        ]


def page_image(number: int, size: tuple[int, int] = (200, 280)) -> Any:
    from PIL import Image

    return Image.new("RGB", size, (number * 10,) * 3)


def test_an_image_only_pdf_is_read_page_by_page_with_page_numbers_and_a_sidecar(tmp_path: Path) -> None:
    path = make_image_pdf(tmp_path / "notice.pdf", [page_image(n) for n in (3, 4, 5)])
    (tmp_path / "notice.pdf.meta.yaml").write_text("title: 扫描通知 Scanned notice\ndoc_type: law\n", encoding="utf-8")
    engine = PageEngine()
    pages: list[tuple[int, int]] = []
    doc = load_document(path, ocr=Ocr(engine), on_page=lambda done, total: pages.append((done, total)))
    assert engine.seen == [3, 4, 5] and pages == [(1, 3), (2, 3), (3, 3)]
    assert doc.meta.title == "扫描通知 Scanned notice" and doc.meta.doc_type == "law"
    assert "~~" not in doc.text
    assert doc.ocr is not None and doc.ocr.pages == 3 and doc.ocr.dropped_lines == 3
    assert doc.ocr.mean_confidence == pytest.approx(0.96)
    chunks = Chunker().chunk(doc, "d1", "notice.pdf")
    assert [(c.meta.article, c.meta.page) for c in chunks] == [("第3条", 1), ("第4条", 2), ("第5条", 3)]
    assert chunks[1].text == "第4条 认证机构应当在第4页规定的期限内作出决定，CCC applies（page 4）。"


def test_a_mixed_pdf_keeps_its_text_pages_and_reads_only_the_scanned_ones(tmp_path: Path) -> None:
    text_pdf = make_pdf(tmp_path / "text.pdf", [ZH_LINES, ["第十二条 外商投资的认证机构应当依法登记。"]])
    scan_pdf = make_image_pdf(tmp_path / "scan.pdf", [page_image(7)])
    import pypdf

    writer = pypdf.PdfWriter()
    for source, index in ((text_pdf, 0), (scan_pdf, 0), (text_pdf, 1)):
        writer.add_page(pypdf.PdfReader(source).pages[index])
    mixed = tmp_path / "mixed.pdf"
    with open(mixed, "wb") as handle:
        writer.write(handle)
    engine = PageEngine()
    doc = load_document(mixed, ocr=Ocr(engine))
    assert engine.seen == [7]  # the text pages were not rendered or read
    assert doc.ocr is not None and doc.ocr.pages == 1
    pages = {c.meta.article: c.meta.page for c in Chunker().chunk(doc, "d", "mixed.pdf")}
    assert pages == {"第十条": 1, "第十一条": 1, "第7条": 2, "第十二条": 3}


def test_with_ocr_off_scans_say_why_and_a_mixed_pdf_keeps_its_text(tmp_path: Path) -> None:
    off = Ocr.off("OCR is turned off (--no-ocr or CERTKB_OCR=0)")
    with pytest.raises(EmptyDocumentError, match="scanned images, and OCR is turned off"):
        load_document(make_image_pdf(tmp_path / "scan.pdf", [page_image(3)]), ocr=off)
    png = tmp_path / "notice.png"
    page_image(3).save(png)
    with pytest.raises(EmptyDocumentError, match=r"notice\.png is an image: its text can only be read with OCR, and"):
        load_document(png, ocr=off)
    import pypdf

    writer = pypdf.PdfWriter()
    writer.add_page(pypdf.PdfReader(make_pdf(tmp_path / "t.pdf", [ZH_LINES])).pages[0])
    writer.add_page(pypdf.PdfReader(tmp_path / "scan.pdf").pages[0])
    with open(tmp_path / "mixed.pdf", "wb") as handle:
        writer.write(handle)
    doc = load_document(tmp_path / "mixed.pdf", ocr=off)
    assert "第十条" in doc.text and doc.ocr is not None
    assert doc.ocr.left_out == [2] and "page(s) 2 left out: OCR is turned off" in doc.ocr.summary()


def test_the_pipeline_reports_ocr_per_file_and_reads_scans_left_out_once_ocr_is_on(tmp_path: Path) -> None:
    import pypdf

    folder = tmp_path / "docs"
    folder.mkdir()
    writer = pypdf.PdfWriter()
    writer.add_page(pypdf.PdfReader(make_pdf(tmp_path / "t.pdf", [ZH_LINES])).pages[0])
    writer.add_page(pypdf.PdfReader(make_image_pdf(tmp_path / "s.pdf", [page_image(9)])).pages[0])
    with open(folder / "mixed.pdf", "wb") as handle:
        writer.write(handle)
    page_image(4).save(folder / "notice.png")
    kb = KnowledgeBase.open(tmp_path / "kb", embedder="fake", create=True)

    first = Ingester(kb, ocr=Ocr.off("OCR is not installed")).sync([folder])
    assert first.added == ["docs/mixed.pdf"]
    assert "OCR is not installed" in first.failed["docs/notice.png"]
    assert first.ocr["docs/mixed.pdf"].left_out == [2]
    assert all("第9条" not in hit.text for hit in kb.search("第9条 认证机构", k=5))

    engine = PageEngine()
    pages: list[tuple[int, int]] = []
    second = Ingester(kb, ocr=Ocr(engine)).sync([folder], on_page=lambda d, t: pages.append((d, t)))
    assert sorted(second.added) == ["docs/notice.png"] and second.updated == ["docs/mixed.pdf"]
    assert sorted(engine.seen) == [4, 9] and pages == [(1, 1), (1, 1)]
    assert second.ocr["docs/mixed.pdf"].pages == 1 and second.ocr["docs/notice.png"].pages == 1
    hit = kb.search("第9条 认证机构", k=1, mode="lexical")[0]
    assert hit.meta.source == "docs/mixed.pdf" and hit.meta.page == 2
    assert kb.stats().chunks == sum(entry["chunks"] for entry in Ingester(kb).documents())  # the old copy is gone

    third = Ingester(kb, ocr=Ocr(PageEngine())).sync([folder])
    assert sorted(third.skipped) == ["docs/mixed.pdf", "docs/notice.png"] and third.ocr == {}


def test_a_failing_page_is_reported_and_the_other_pages_go_in(tmp_path: Path) -> None:
    path = make_image_pdf(tmp_path / "scan.pdf", [page_image(n) for n in (3, 4, 5)])
    doc = load_document(path, ocr=Ocr(PageEngine(fail_on=(4,))))
    assert doc.ocr is not None and doc.ocr.pages == 2
    assert doc.ocr.failed_pages == {2: "RuntimeError: onnxruntime: invalid input"}
    assert "page 2 failed: RuntimeError" in doc.ocr.summary()
    assert [(c.meta.article, c.meta.page) for c in Chunker().chunk(doc, "d", "scan.pdf")] == [
        ("第3条", 1),
        ("第5条", 3),
    ]
    with pytest.raises(EmptyDocumentError, match="no text found by OCR on its 1 scanned pages"):
        load_document(make_image_pdf(tmp_path / "one.pdf", [page_image(4)]), ocr=Ocr(PageEngine(fail_on=(4,))))


def test_multi_page_tiff_and_jpeg_are_documents_with_pages(tmp_path: Path) -> None:
    tiff = tmp_path / "report.tiff"
    page_image(3).save(tiff, save_all=True, append_images=[page_image(6), page_image(8)], compression="tiff_lzw")
    doc = load_document(tiff, ocr=Ocr(PageEngine()))
    assert [(c.meta.article, c.meta.page) for c in Chunker().chunk(doc, "d", "r.tiff")] == [
        ("第3条", 1),
        ("第6条", 2),
        ("第8条", 3),
    ]
    jpeg = tmp_path / "photo.jpg"
    page_image(5).save(jpeg, quality=95)
    doc = load_document(jpeg, ocr=Ocr(PageEngine()))
    assert doc.text.startswith("第5条") and doc.page_starts == ()  # one page: no page numbers to cite


def test_a_transparent_png_is_read_on_white(tmp_path: Path) -> None:
    from PIL import Image

    seen: list[int] = []

    class Grey:
        def read(self, image: Any) -> list[OcrLine]:
            seen.append(int(image[:, :, 0].min()))
            return [OcrLine("第一条 透明背景的扫描件。", 0.9, _box(10))]  # type: ignore[arg-type]

    transparent = Image.new("RGBA", (120, 80), (0, 0, 0, 0))  # black, fully transparent: a blank page
    transparent.save(tmp_path / "clear.png")
    load_document(tmp_path / "clear.png", ocr=Ocr(Grey()))
    assert seen == [255]


def _png(width: int, height: int, idat: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("name", "content", "error", "message"),
    [
        ("noise.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, IngestError, "not a readable image"),
        ("text.jpg", "第一条 这不是图片。".encode(), IngestError, "not a readable image"),
        ("empty-header.tif", b"II*\x00", IngestError, "not a readable image"),
        ("anim.gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", UnsupportedFileError, "unsupported file type .gif"),
    ],
)
def test_damaged_and_unsupported_images_give_clear_errors(
    tmp_path: Path, name: str, content: bytes, error: type, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(error, match=message):
        load_document(path, ocr=Ocr(PageEngine()))


@pytest.mark.parametrize(
    ("side", "message"),
    [
        (40_000, r"bomb.png is refused as a decompression bomb: Image size \(1600000000 pixels\)"),
        (20_000, r"bomb.png is refused as a decompression bomb: Image size \(400000000 pixels\)"),
        (9_000, r"bomb.png is 9,000 x 9,000 pixels \(81 megapixels\), over the OCR limit of 60"),
    ],
)
def test_a_decompression_bomb_is_refused_from_its_header(tmp_path: Path, side: int, message: str) -> None:
    # up to 40,000 x 40,000 pixels (1.6 gigapixels, 200 MB decoded at one bit a pixel) in a file of a few KB
    row = b"\x00" * (1 + side // 8)
    bomb = _png(side, side, zlib.compress(row * side, 9))
    assert len(bomb) < 300_000
    (tmp_path / "bomb.png").write_bytes(bomb)
    engine = PageEngine()
    with pytest.raises(IngestError, match=message):
        load_document(tmp_path / "bomb.png", ocr=Ocr(engine))
    assert engine.seen == []


def test_a_truncated_image_fails_its_page_with_the_reason(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    page_image(3, (600, 800)).save(buffer, format="PNG", compress_level=0)
    (tmp_path / "cut.png").write_bytes(buffer.getvalue()[:5000])
    with pytest.raises(EmptyDocumentError, match=r"cut\.png: OCR could not read it \(page 1: .*truncated"):
        load_document(tmp_path / "cut.png", ocr=Ocr(PageEngine()))


def test_a_huge_pdf_page_is_rendered_under_the_pixel_limit(tmp_path: Path) -> None:
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(tmp_path / "poster.pdf"), pagesize=(14_400, 14_400))  # 200 x 200 inches
    pdf.rect(100, 100, 1000, 1000, fill=1)
    pdf.showPage()
    pdf.save()
    sizes: list[int] = []

    class Size:
        def read(self, image: Any) -> list[OcrLine]:
            sizes.append(image.shape[0] * image.shape[1])
            return [OcrLine("海报 Poster", 0.9, _box(10))]  # type: ignore[arg-type]

    limit = OcrSettings(max_pixels=4_000_000)
    doc = load_document(tmp_path / "poster.pdf", ocr=Ocr(Size(), limit))  # at 200 dpi: 1.6 gigapixels
    assert doc.text == "海报 Poster" and 3_900_000 < sizes[0] <= 4_000_000


def test_a_500_page_scan_is_refused_before_any_page_is_read(tmp_path: Path) -> None:
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(tmp_path / "archive.pdf"))
    for _ in range(500):
        pdf.rect(72, 400, 300, 200, fill=1)  # graphics only: a scanned page as far as text goes
        pdf.showPage()
    pdf.save()
    engine = PageEngine()
    with pytest.raises(IngestError, match="has 500 scanned pages to read with OCR, over the limit of 200 a file"):
        load_document(tmp_path / "archive.pdf", ocr=Ocr(engine))
    assert engine.seen == []
    tiff = tmp_path / "fax.tif"
    page_image(3).save(tiff, save_all=True, append_images=[page_image(4)] * 4)
    with pytest.raises(IngestError, match=r"fax\.tif has 5 scanned pages to read with OCR, over the limit of 3"):
        load_document(tiff, ocr=Ocr(engine, OcrSettings(max_pages=3)))


def test_settings_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="between 50 and 600 dpi"):
        OcrSettings(dpi=10)
    with pytest.raises(ValueError, match="confidence threshold"):
        OcrSettings(min_confidence=1.5)


def _cli(*args: str, kb: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CERTKB_KB_DIR": str(kb)}
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True, encoding="utf-8", env=env,
        cwd=ROOT, timeout=300,
    )  # fmt: skip


def test_the_cli_turns_ocr_off_and_checks_its_limit(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    page_image(3).save(folder / "notice.png")
    (folder / "guide.md").write_text("# 指南 Guide\n\n第一条 认证机构应当公正。\n", encoding="utf-8")
    result = _cli("ingest", str(folder), "--no-ocr", "--embedder", "fake", kb=tmp_path / "kb")
    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith("added 1, updated 0, deleted 0, skipped 0, failed 1;")
    assert (
        "FAILED docs/notice.png: notice.png is an image: its text can only be read with OCR, and OCR is turned off"
        in (result.stderr)
    )
    result = _cli("ingest", str(folder), "--ocr-max-pages", "0", "--embedder", "fake", kb=tmp_path / "kb")
    assert result.returncode == 2 and "--ocr-max-pages: the OCR page limit must be at least 1" in result.stderr


def test_ocr_settings_come_from_the_environment_and_a_missing_engine_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from kb.errors import ConfigError
    from kb.settings import Settings

    assert Settings.from_env({"CERTKB_OCR": "0"}).ocr is False and Settings.from_env({}).ocr is True
    with pytest.raises(ConfigError, match="CERTKB_OCR must be 1 or 0"):
        Settings.from_env({"CERTKB_OCR": "maybe"})
    assert Ocr.from_settings(Settings.from_env({"CERTKB_OCR": "off"})).off_reason.startswith("OCR is turned off")
    import ingest.ocr

    monkeypatch.setattr(ingest.ocr, "find_spec", lambda name: None)
    off = Ocr.default()
    assert (
        not off.available
        and off.off_reason == "OCR is not installed (install it with scripts/setup.sh, or: pip install 'certkb[ocr]')"
    )


def test_ocr_runs_on_the_headless_opencv_without_the_gui_build() -> None:
    """The GUI build needs libGL, which servers lack; uv's override in pyproject.toml keeps it out of the install."""
    from importlib.metadata import PackageNotFoundError, distribution

    pytest.importorskip("rapidocr_onnxruntime", reason="the ocr extra is not installed (Python 3.13+?)")
    assert distribution("opencv-python-headless").version
    with pytest.raises(PackageNotFoundError):
        distribution("opencv-python")


def test_the_admin_upload_takes_images_whose_content_matches_their_name() -> None:
    from bot.service import check_upload
    from kb.errors import ConfigError

    png, tiff = io.BytesIO(), io.BytesIO()
    page_image(3).save(png, format="PNG")
    page_image(3).save(tiff, format="TIFF")
    assert check_upload("notice.png", png.getvalue()) == "notice.png"
    assert check_upload("report.TIF", tiff.getvalue()) == "report.tif"
    with pytest.raises(ConfigError, match=r"photo\.jpg is not really a \.jpg file"):
        check_upload("photo.jpg", png.getvalue())
