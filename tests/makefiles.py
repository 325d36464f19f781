"""Real documents of every supported format, made by the tests (Chinese, English and mixed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

ZH_LINES = [
    "第十条 取得认证机构资质，应当符合下列条件：注册资本不得少于人民币３００万元，",
    "并有１０名以上相应领域的专职认证人员。",
    "第十一条 市场监管总局应当自受理申请之日起45日内作出是否批准的决定。",
]
EN_LINE = "CCC certification applies to products listed in the catalogue."


def make_pdf(path: Path, pages: list[list[str]], *, encrypt: str | None = None, header: str = "") -> Path:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    pdf = canvas.Canvas(str(path), encrypt=encrypt)
    for number, lines in enumerate(pages, start=1):
        pdf.setFont("STSong-Light", 11)
        if header:
            pdf.drawString(72, 810, header)
        y = 770
        for line in lines:
            pdf.drawString(72, y, line)
            y -= 18
        pdf.drawString(300, 30, str(number))
        pdf.showPage()
    pdf.save()
    return path


def make_scanned_pdf(path: Path) -> Path:
    """A PDF page with only graphics and no text layer, as a scanner produces."""
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path))
    pdf.rect(72, 400, 300, 200, fill=1)
    pdf.showPage()
    pdf.save()
    return path


def make_docx(path: Path) -> Path:
    import docx

    document = docx.Document()
    document.core_properties.title = "出口认证指南 Export guide"
    document.add_heading("第一章 总则", level=1)
    document.add_paragraph("认证机构的注册资本不得少于人民币300万元。")
    document.add_heading("CE marking", level=2)
    document.add_paragraph("CE marking shows conformity with EU requirements such as the EMC Directive.")
    table = document.add_table(rows=2, cols=2)
    table.rows[0].cells[0].text, table.rows[0].cells[1].text = "市场 Market", "标志 Mark"
    table.rows[1].cells[0].text, table.rows[1].cells[1].text = "沙特 Saudi Arabia", "SASO / SABER"
    document.save(str(path))
    return path


def make_xlsx(path: Path) -> Path:
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "多边 Multilateral"
    sheet.append(["名称 Name", "类型 Type", "成员 Parties", "范围 Scope", "对出口商的意义 Meaning for exporters"])
    sheet.append(
        [
            "IAF MLA",
            "multilateral",
            "IAF accreditation bodies",
            "认证 certification",
            "Accredited certificates are recognised by other signatories.",
        ]
    )
    sheet.append(
        [
            "GCC 互认",
            "bilateral",
            "中国 China; 沙特阿拉伯 Saudi Arabia",
            "检测 testing",
            "沙特 SASO 接受中方认证结果 (within agreed scopes).",
        ]
    )
    second = workbook.create_sheet("双边 Bilateral")
    second.append(["名称 Name", "范围 Scope"])
    second.append(["中新 China-New Zealand", "电气产品 electrical products"])
    workbook.save(str(path))
    return path


def make_html(path: Path) -> Path:
    path.write_text(
        "<html><head><title>CCC 指南</title><script>document.write('x')</script></head><body>"
        "<nav>Home | About</nav><h1>强制性产品认证</h1><p>列入目录的产品<b>必须</b>经过认证，方可出厂、销售、进口。</p>"
        "<h2>Penalties</h2><p>Selling uncertified catalogue products is fined.</p>"
        "<table><tr><th>项目 Item</th><th>期限 Time</th></tr>"
        "<tr><td>决定 Decision</td><td>45日 45 days</td></tr></table>"
        "<footer>© 2026 example</footer></body></html>",
        encoding="utf-8",
    )
    return path


def make_csv(path: Path, encoding: str = "utf-8") -> Path:
    rows = [
        "名称 Name,类型 Type,成员 Parties,范围 Scope",
        "ILAC MRA,multilateral,ILAC accreditation bodies,检测 testing",
        "APAC MRA,regional,亚太 Asia Pacific,认证 certification",
        '"GCC, SASO",bilateral,"China; Saudi Arabia",认证 certification',
    ]
    path.write_bytes(("\n".join(rows) + "\n").encode(encoding))
    return path


CJK_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")


def render_page(lines: list[str], *, size: int = 34, width: int = 1400, indent: bool = True) -> Any:
    """A scanned page as an image: `lines` set in a real CJK font (WenQuanYi Micro Hei), one per line, an article's
    first line indented two characters as Chinese laws are. Headings start with "## " and are set larger."""
    from PIL import Image, ImageDraw, ImageFont

    body = ImageFont.truetype(str(CJK_FONT), size)
    heading = ImageFont.truetype(str(CJK_FONT), round(size * 1.6))
    height = 120 + sum(round(size * (2.6 if line.startswith("## ") else 1.6)) for line in lines)
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    y = 60.0
    for line in lines:
        if line.startswith("## "):
            draw.text((60, y), line[3:], font=heading, fill=0)
            y += size * 2.6
            continue
        x = 60 + (2 * size if indent and line.startswith("第") else 0)
        draw.text((x, y), line, font=body, fill=0)
        y += size * 1.6
    return image


def make_image_pdf(path: Path, pages: list[Any], dpi: int = 200) -> Path:
    """An image-only PDF (no text layer), one page per image, as a scanner writes it."""
    pages[0].save(path, save_all=True, append_images=pages[1:], resolution=dpi)
    return path
