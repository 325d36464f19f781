"""Reading order and paragraphs from OCR boxes, and the page cleaning after it: boxes written down in the test (as
an OCR engine returns them: fragments of a line, tilted pages, two columns), so every expectation is exact."""

from __future__ import annotations

import math

from ingest.cleaner import clean_paragraph_pages
from ingest.layout import OcrLine, page_paragraphs

H = 34.0  # a line's height in pixels: 12-point type at 200 dpi


def line(text: str, x: float, y: float, w: float, h: float = H, tilt_deg: float = 0.0, conf: float = 0.98) -> OcrLine:
    """A box at (x, y) of size w x h, turned by `tilt_deg` about the page's origin as a tilted scan turns it."""
    a = math.radians(tilt_deg)

    def turn(px: float, py: float) -> tuple[float, float]:
        return (px * math.cos(a) - py * math.sin(a), px * math.sin(a) + py * math.cos(a))

    return OcrLine(text, conf, (turn(x, y), turn(x + w, y), turn(x + w, y + h), turn(x, y + h)))


def law_page(tilt: float = 0.0) -> list[OcrLine]:
    """An article split by the engine at its wide space, wrapped lines, a second article, an English line."""
    return [
        line("第十条", 168, 100, 102, tilt_deg=tilt),
        line("取得认证机构资质，应当符合下列条件：注册资本不得少于人民币", 304, 100, 1000, tilt_deg=tilt),
        line("300万元，并有10名以上相应领域的专职认证人员。", 100, 150, 800, tilt_deg=tilt),
        line("第十一条市场监管总局应当自受理申请之日起45日内作出是否", 168, 220, 1136, tilt_deg=tilt),
        line("批准的决定。", 100, 270, 200, tilt_deg=tilt),
        line("Certification bodies must be approved by SAMR; foreign", 100, 340, 1204, tilt_deg=tilt),
        line("bodies follow the same rules (Art. 10).", 100, 390, 700, tilt_deg=tilt),
    ]


LAW_PARAGRAPHS = [
    "第十条 取得认证机构资质，应当符合下列条件：注册资本不得少于人民币300万元，并有10名以上相应领域的专职认证人员。",
    "第十一条 市场监管总局应当自受理申请之日起45日内作出是否批准的决定。",
    "Certification bodies must be approved by SAMR; foreign bodies follow the same rules (Art. 10).",
]


def test_fragments_of_a_line_wrapped_lines_and_articles_become_paragraphs() -> None:
    # the engine's order is no help: shuffled boxes give the same text
    shuffled = law_page()[::-1]
    assert page_paragraphs(shuffled) == LAW_PARAGRAPHS


def test_a_page_scanned_at_an_angle_reads_the_same() -> None:
    # 1.5 degrees over 1,200 pixels moves a line's end 31 pixels down: nearly a line's height
    assert page_paragraphs(law_page(tilt=1.5)) == LAW_PARAGRAPHS
    assert page_paragraphs(law_page(tilt=-1.2)) == LAW_PARAGRAPHS


def test_two_columns_are_read_column_by_column_under_a_full_width_title() -> None:
    left, right, width = 100, 760, 600
    boxes = [
        line("出口认证指南 Export certification guide", 300, 40, 760, h=56),
        line("- 1 -", 690, 1000, 60, h=24),
    ]
    left_lines = [
        "CCC 是中国的强制性产品认证，列入目录",
        "的产品必须获证后方可出厂、销售、进口。",
        "The mark is on it.",
    ]
    right_lines = [
        "欧盟的 CE 标志表示产品符合欧盟法规的",
        "基本要求，由制造商自我声明或经公告机构",
        "评定。CE is self-declared.",
    ]
    for n, (a, b) in enumerate(zip(left_lines, right_lines, strict=True)):
        y = 150 + 50 * n
        boxes.append(line(b, right, y, width if n < 2 else 560))  # the right column first: order must not matter
        boxes.append(line(a, left, y, width if n < 2 else 540))
    assert page_paragraphs(boxes) == [
        "## 出口认证指南 Export certification guide",
        "CCC 是中国的强制性产品认证，列入目录的产品必须获证后方可出厂、销售、进口。The mark is on it.",
        "欧盟的 CE 标志表示产品符合欧盟法规的基本要求，由制造商自我声明或经公告机构评定。CE is self-declared.",
        "- 1 -",
    ]


def test_a_box_the_engine_ran_across_the_gutter_is_cut_back_into_its_columns() -> None:
    # 第n条 lines of 12 characters (34 px each) in two columns 60 px apart; the engine merged the third rows
    left_text = ["一二三四五六七八九十甲乙", "子丑寅卯辰巳午未申酉戌亥", "（一）食品生产和加工，"]
    right_text = ["天地玄黄宇宙洪荒日月盈昃", "辰宿列张寒来暑往秋收冬藏", "定的职责，承担有关工作。"]
    boxes = [line("第一条 文章", 100, 40, 340)]
    for n in range(2):
        boxes.append(line(left_text[n], 100, 100 + 50 * n, 408))
        boxes.append(line(right_text[n], 568, 100 + 50 * n, 408))
    boxes.append(line(left_text[2] + right_text[2], 100, 200, 876))  # 11 + 12 characters, and the gutter
    for n in range(3, 6):
        boxes.append(line("左" * 12, 100, 100 + 50 * n, 408))
        boxes.append(line("右" * 12, 568, 100 + 50 * n, 408))
    text = "".join(page_paragraphs(boxes))
    assert text == "第一条 文章" + "".join(left_text) + "左" * 36 + "".join(right_text) + "右" * 36


def test_a_table_is_read_row_by_row_not_as_columns() -> None:
    rows = [("市场 Market", "标志 Mark", "期限 Time"), ("沙特 Saudi", "SABER", "45日"), ("欧盟 EU", "CE", "—")]
    boxes = [line(cell, 100 + 400 * c, 100 + 60 * r, 180) for r, row in enumerate(rows) for c, cell in enumerate(row)]
    assert page_paragraphs(boxes) == ["市场 Market 标志 Mark 期限 Time", "沙特 Saudi SABER 45日", "欧盟 EU CE —"]


def test_indents_gaps_and_larger_type_start_paragraphs() -> None:
    boxes = [
        line("第一章 总则", 500, 60, 220, h=55),
        line("为了加强计量监督管理，保障国家计量单位制的统一和量值的准确", 168, 150, 1136),
        line("可靠，制定本法。", 100, 200, 300),
        line("国家实行法定计量单位制度。国际单位制计量单位和国家选定的其", 168, 250, 1136),  # indented: a new one
        line("他计量单位，为国家法定计量单位。", 100, 300, 600),
        line("Units outside the SI need the approval of the State Council", 100, 420, 1200),  # far below: a new one
        line("metrology department.", 100, 470, 400),
    ]
    assert page_paragraphs(boxes) == [
        "## 第一章 总则",
        "为了加强计量监督管理，保障国家计量单位制的统一和量值的准确可靠，制定本法。",
        "国家实行法定计量单位制度。国际单位制计量单位和国家选定的其他计量单位，为国家法定计量单位。",
        "Units outside the SI need the approval of the State Council metrology department.",
    ]


def test_ragged_english_lines_stay_one_paragraph_and_hyphenated_words_are_mended() -> None:
    boxes = [
        line("The CE marking is the manufacturer's statement that a", 100, 100, 1040),
        line("product meets all EU laws that require the mark. It is nei-", 100, 150, 1120),
        line("ther a quality label nor an official certificate.", 100, 200, 900),
    ]
    assert page_paragraphs(boxes) == [
        "The CE marking is the manufacturer's statement that a product meets all EU laws that require the mark. "
        "It is neither a quality label nor an official certificate."
    ]


def test_an_empty_page_has_no_paragraphs() -> None:
    assert page_paragraphs([]) == []
    assert page_paragraphs([line("   ", 100, 100, 300)]) == []


def test_pages_lose_headers_and_numbers_and_a_paragraph_cut_by_a_page_break_is_whole() -> None:
    header = "中华人民共和国认证认可条例"
    pages = [
        [header, "第一条 为了规范认证认可活动，提高产品、服务的质量和管理水平，", "- 1 -"],
        [header, "促进经济和社会的发展，制定本条例。", "第二条 本条例所称认证，是指由认证机构证明。", "- 2 -"],
        [header, "## 第二章 认证机构", "第3页"],
        [header, "Article 10: a certification body needs registered capital of", "- 4 -"],
        [header, "at least RMB 3 million（３００万元）.", "- 5 -"],
    ]
    text, starts = clean_paragraph_pages(pages)
    assert text.split("\n\n") == [
        "第一条 为了规范认证认可活动，提高产品、服务的质量和管理水平，促进经济和社会的发展，制定本条例。",
        "第二条 本条例所称认证，是指由认证机构证明。",
        "## 第二章 认证机构",
        "Article 10: a certification body needs registered capital of at least RMB 3 million（３００万元）.",
    ]
    assert [text[s : s + 6] for s in starts] == ["第一条 为了", "促进经济和社", "## 第二章", "Articl", "at lea"]
