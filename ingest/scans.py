"""Scanned pages: decoding images and rendering PDF pages safely, and reading a file's pages with OCR.

Limits come before work: an image's size is read from its header and refused over `OcrSettings.max_pixels` before
a pixel is decoded (so a decompression bomb costs nothing), a PDF page is rendered at a lower resolution when the
chosen one would exceed the limit, and a file with more scanned pages than `max_pages` is refused before the first
is read. A page that cannot be decoded, rendered or read is recorded in the `OcrReport` with the reason, and the
other pages still go in.
"""

from __future__ import annotations

import io
import math
import statistics
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ingest.errors import IngestError
from ingest.ocr import Ocr, OcrSettings

if TYPE_CHECKING:
    from ingest.ocr import Image

PageProgress = Callable[[int, int], None]
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
SECONDS_PER_PAGE = 20  # a dense A4 page on 2 busy cores (docs/ingestion.md), for the page-limit error's estimate


@dataclass
class OcrReport:
    """What OCR did for one file: pages read, mean confidence of the lines kept, low-confidence lines dropped,
    pages that failed (page number -> reason), and scanned pages left out because OCR is off (with why)."""

    pages: int = 0
    lines: int = 0
    mean_confidence: float | None = None
    dropped_lines: int = 0
    failed_pages: dict[int, str] = field(default_factory=dict)
    left_out: list[int] = field(default_factory=list)
    left_out_reason: str = ""
    seconds: float = 0.0

    def summary(self) -> str:
        """One line for the ingest report, e.g. "OCR: 12 pages, mean confidence 0.97, 3 low-confidence lines
        dropped; page 7 failed: ..."."""
        parts = []
        if self.pages:
            confidence = f", mean confidence {self.mean_confidence:.2f}" if self.mean_confidence is not None else ""
            parts.append(f"OCR read {self.pages} page{'s' if self.pages != 1 else ''}{confidence}")
            if self.dropped_lines:
                parts.append(f"{self.dropped_lines} low-confidence lines dropped")
            parts.append(f"{self.seconds:.1f} s")
        for page, reason in self.failed_pages.items():
            parts.append(f"page {page} failed: {reason}")
        if self.left_out:
            pages = ", ".join(str(n) for n in self.left_out[:10]) + (" ..." if len(self.left_out) > 10 else "")
            parts.append(f"scanned page(s) {pages} left out: {self.left_out_reason}")
        return "; ".join(parts)


def check_page_count(name: str, count: int, settings: OcrSettings) -> None:
    if count > settings.max_pages:
        raise IngestError(
            f"{name} has {count:,} scanned pages to read with OCR, over the limit of {settings.max_pages:,} a file "
            f"(about {count * SECONDS_PER_PAGE / 60:,.0f} minutes on 2 cores); split it, or raise the limit with "
            "--ocr-max-pages"
        )


def _too_large(name: str, width: int, height: int, settings: OcrSettings) -> IngestError:
    return IngestError(
        f"{name} is {width:,} x {height:,} pixels ({width * height / 1e6:,.0f} megapixels), over the OCR limit of "
        f"{settings.max_pixels / 1e6:,.0f}; scale it down (a page scanned at 300 dpi is about 9 megapixels)"
    )


def _to_rgb(frame: Any) -> Image:
    """An RGB array of a decoded frame: photos turned upright by their EXIF tag, transparency put on white (text in
    a PNG with a transparent background is otherwise black on black), 16-bit and CMYK converted."""
    import numpy as np
    from PIL import Image as PILImage
    from PIL import ImageOps

    frame = ImageOps.exif_transpose(frame) or frame
    if frame.mode in ("RGBA", "LA", "PA") or (frame.mode == "P" and "transparency" in frame.info):
        frame = frame.convert("RGBA")
        white = PILImage.new("RGBA", frame.size, (255, 255, 255, 255))
        frame = PILImage.alpha_composite(white, frame)
    elif frame.mode in ("I;16", "I;16B", "I;16L", "I"):
        frame = frame.point(lambda v: v / 256).convert("L")
    return np.asarray(frame.convert("RGB"))


def image_pages(name: str, raw: bytes, settings: OcrSettings) -> list[Callable[[], Image]]:
    """For each page (frame) of an image file, a function that decodes it (call them in order).

    Raises `IngestError` for a file that is not a readable PNG, JPEG or TIFF, or that is over the pixel limit.
    """
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    try:
        with warnings.catch_warnings():  # Pillow only warns between its two limits: refuse those as well
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            image = PILImage.open(io.BytesIO(raw))
            count = getattr(image, "n_frames", 1)
    except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning) as exc:
        raise IngestError(f"{name} is refused as a decompression bomb: {exc}") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise IngestError(f"{name} is not a readable image (damaged, or not PNG, JPEG or TIFF): {exc}") from None
    if image.format not in ("PNG", "JPEG", "TIFF", "MPO"):
        raise IngestError(f"{name} is a {image.format} image; certkb reads PNG, JPEG and TIFF")
    width, height = image.size
    if width * height > settings.max_pixels:
        raise _too_large(name, width, height, settings)
    check_page_count(name, count, settings)

    def decoder(index: int) -> Callable[[], Image]:
        def decode() -> Image:
            image.seek(index)
            w, h = image.size
            if w * h > settings.max_pixels:
                raise _too_large(f"page {index + 1}", w, h, settings)
            image.load()
            return _to_rgb(image)

        return decode

    return [decoder(index) for index in range(count)]


def pdf_page_renderer(raw: bytes, settings: OcrSettings) -> Callable[[int], Image]:
    """A function rendering page `number` (1-based) of a PDF to an RGB array at `settings.dpi`, or at the highest
    resolution under the pixel limit for an oversized page."""
    import numpy as np
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(raw)

    def render(number: int) -> Image:
        page = document[number - 1]
        try:
            width, height = page.get_size()  # in points, 72 to the inch
            scale = settings.dpi / 72
            if width * height * scale * scale > settings.max_pixels:
                scale = math.sqrt(settings.max_pixels / max(width * height, 1.0))
            bitmap = page.render(scale=scale, rev_byteorder=True)
            try:
                array = np.array(bitmap.to_numpy()[:, :, :3])
            finally:
                bitmap.close()
        finally:
            page.close()
        return array

    return render


def read_pages(
    ocr: Ocr,
    pages: Sequence[tuple[int, Callable[[], Image]]],
    on_page: PageProgress | None = None,
) -> tuple[dict[int, list[str]], OcrReport]:
    """OCR each (page number, decode) in turn: the paragraphs of every page read, and the report. A page whose
    decoding or reading raises is recorded as failed with the reason; the others are unaffected."""
    report = OcrReport()
    found: dict[int, list[str]] = {}
    confidences: list[float] = []
    started = time.perf_counter()
    for done, (number, decode) in enumerate(pages, start=1):
        try:
            page = ocr.read(decode())
        except IngestError as exc:
            report.failed_pages[number] = str(exc)
        except MemoryError:
            report.failed_pages[number] = "out of memory while reading the page"
        except Exception as exc:  # a damaged page in an otherwise good file: report it, keep the rest
            report.failed_pages[number] = f"{type(exc).__name__}: {exc}"
        else:
            found[number] = page.paragraphs
            confidences.extend(page.confidences)
            report.dropped_lines += page.dropped
            report.pages += 1
        if on_page:
            on_page(done, len(pages))
    report.lines = len(confidences)
    report.mean_confidence = round(statistics.fmean(confidences), 4) if confidences else None
    report.seconds = round(time.perf_counter() - started, 2)
    return found, report
