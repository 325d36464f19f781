"""OCR: the text of a page image, as paragraphs in reading order, offline.

The engine is RapidOCR (`rapidocr-onnxruntime`, the `ocr` extra): PaddleOCR's PP-OCRv4 mobile detection and
Chinese+English recognition models, shipped inside the wheel and run by onnxruntime on the CPU. Nothing is
downloaded, ever. It loads on the first page read (about 1 s), not at import.

`Ocr` wraps an engine with what ingestion needs: lines below `min_confidence` are dropped (and counted), the rest go
through `ingest.layout` into paragraphs. `Ocr.default()` is the engine when it is installed and OCR is not turned
off; otherwise an `Ocr` that is off and says why, which the loaders put in their message for a scanned file.

>>> ocr = Ocr.off("OCR is turned off (--no-ocr)")
>>> ocr.available, ocr.off_reason
(False, 'OCR is turned off (--no-ocr)')
"""

from __future__ import annotations

import statistics
import sys
from dataclasses import dataclass, field
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any, Protocol

from ingest.layout import OcrLine, page_paragraphs

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from kb.settings import Settings

    Image = npt.NDArray[np.uint8]

INSTALL_HINT = "install it with scripts/setup.sh, or: pip install 'certkb[ocr]'"


@dataclass(frozen=True)
class OcrSettings:
    """How scanned pages are read, and the limits that keep a hostile or enormous file from running away.

    `dpi`: the resolution PDF pages are rendered at (200 measured best for speed and accuracy, docs/ingestion.md);
    `min_confidence`: lines the engine is less sure of are dropped and counted in the report; `max_pages`: a file
    with more scanned pages is refused before any is read (at about 20 s a dense page on 2 cores, 200 pages take
    an hour); `max_pixels`: an image larger than this is refused before it is decoded (a decompression
    bomb is a small file that decodes to gigabytes), and a PDF page is rendered at a lower resolution to fit.
    """

    dpi: int = 200
    min_confidence: float = 0.5
    max_pages: int = 200
    max_pixels: int = 60_000_000
    threads: int = 0  # onnxruntime's threads per model; 0 for its default (the machine's cores)

    def __post_init__(self) -> None:
        if not 50 <= self.dpi <= 600:
            raise ValueError(f"the OCR resolution must be between 50 and 600 dpi, got {self.dpi}")
        if not 0 <= self.min_confidence < 1:
            raise ValueError(f"the OCR confidence threshold must be between 0 and 1, got {self.min_confidence}")
        if self.max_pages < 1 or self.max_pixels < 1_000_000:
            raise ValueError("the OCR page limit must be at least 1 and the pixel limit at least 1,000,000")


class OcrEngine(Protocol):
    """Finds and reads the text lines of one image (an RGB array, height x width x 3)."""

    def read(self, image: Image) -> list[OcrLine]: ...


def unavailable_reason() -> str | None:
    """Why OCR cannot run in this environment, or None when it can."""
    if sys.version_info >= (3, 13):
        return "OCR needs Python 3.12 or older (rapidocr-onnxruntime is not built for newer versions)"
    missing = [name for name in ("rapidocr_onnxruntime", "cv2", "pypdfium2") if find_spec(name) is None]
    if missing:
        return f"OCR is not installed ({INSTALL_HINT})"
    return None


class RapidOcrEngine:
    """PP-OCRv4 mobile (Chinese and English) from the rapidocr-onnxruntime wheel; the models load on first use.

    Text is found on the page shrunk to `detect_side` pixels on its long side (finding lines does not need every
    pixel, and detection is the cost that grows with the page) and read from the page at full resolution, up to
    `max_side` pixels (RapidOCR's default shrinks anything over 2,000, losing small print on a 200-dpi A4 page).
    The line-orientation classifier is off: on upright documents it gained nothing and once turned a good line
    upside down, which then read as nothing (docs/ingestion.md). The engine's own score threshold is off too, so
    that `Ocr` can count what it drops.
    """

    def __init__(self, threads: int = 0, detect_side: int = 1280, max_side: int = 3600) -> None:
        self.threads = threads
        self.detect_side = detect_side
        self.max_side = max_side
        self._engine: Any = None

    def _load(self) -> Any:
        from rapidocr_onnxruntime import RapidOCR

        options: dict[str, Any] = {
            "text_score": 0.0,
            "max_side_len": self.max_side,
            "use_cls": False,
            "det_limit_type": "max",
            "det_limit_side_len": self.detect_side,
            "rec_batch_num": 1,  # batched, a short English line padded to a long Chinese one lost its spaces
        }
        if self.threads > 0:
            options.update(intra_op_num_threads=self.threads, inter_op_num_threads=1)
        return RapidOCR(**options)

    def read(self, image: Image) -> list[OcrLine]:
        if self._engine is None:
            self._engine = self._load()
        result, _ = self._engine(image[:, :, ::-1].copy(), text_score=0.0)  # the engine expects OpenCV's BGR
        lines = []
        for box, text, score in result or []:
            corners = tuple((float(x), float(y)) for x, y in box)
            lines.append(OcrLine(str(text), float(score), (corners[0], corners[1], corners[2], corners[3])))
        return lines


@dataclass
class PageText:
    """What OCR made of one page: its paragraphs and the confidences of the lines kept."""

    paragraphs: list[str]
    confidences: list[float] = field(default_factory=list)
    dropped: int = 0

    @property
    def mean_confidence(self) -> float | None:
        return statistics.fmean(self.confidences) if self.confidences else None


class Ocr:
    """An OCR engine with the ingestion settings, or OCR switched off with the reason (`Ocr.off`).

    >>> class Fake:
    ...     def read(self, image):
    ...         box = ((10.0, 10.0), (300.0, 10.0), (300.0, 40.0), (10.0, 40.0))
    ...         return [OcrLine("第一条 为了规范认证活动。", 0.98, box), OcrLine("~~", 0.2, box)]
    >>> page = Ocr(Fake()).read(None)
    >>> page.paragraphs, page.dropped
    (['第一条 为了规范认证活动。'], 1)
    """

    def __init__(self, engine: OcrEngine | None, settings: OcrSettings | None = None, off_reason: str = "") -> None:
        self.engine = engine
        self.settings = settings or OcrSettings()
        self.off_reason = off_reason if engine is None else ""
        if engine is None and not off_reason:
            self.off_reason = "OCR is not enabled"

    @classmethod
    def off(cls, reason: str) -> Ocr:
        return cls(None, off_reason=reason)

    @classmethod
    def default(cls, enabled: bool = True, settings: OcrSettings | None = None) -> Ocr:
        """RapidOCR when installed and `enabled`, else OCR off with the reason."""
        if not enabled:
            return cls.off("OCR is turned off (--no-ocr or CERTKB_OCR=0)")
        reason = unavailable_reason()
        if reason is not None:
            return cls.off(reason)
        settings = settings or OcrSettings()
        return cls(RapidOcrEngine(threads=settings.threads), settings)

    @classmethod
    def from_settings(cls, settings: Settings, **limits: Any) -> Ocr:
        """OCR as `settings` say (`ocr` on or off, `threads`), with `limits` overriding `OcrSettings` fields."""
        return cls.default(settings.ocr, OcrSettings(threads=settings.threads, **limits))

    @property
    def available(self) -> bool:
        return self.engine is not None

    def read(self, image: Image) -> PageText:
        if self.engine is None:
            raise RuntimeError(self.off_reason)
        lines = self.engine.read(image)
        kept = [line for line in lines if line.confidence >= self.settings.min_confidence and line.text.strip()]
        return PageText(page_paragraphs(kept), [line.confidence for line in kept], len(lines) - len(kept))
