"""ingest/html.py on its own: structure kept, scripts, styles, navigation and page chrome dropped."""

from __future__ import annotations

from ingest.html import html_to_text

PAGE = """<!doctype html>
<html><head><title>强制性产品认证 &amp; CCC Guide</title>
<style>p { color: red; }</style><script>var secret = "脚本内容";</script></head>
<body>
<header><a href="/">首页 Home</a></header>
<nav><ul><li>导航 Navigation</li><li>关于我们</li></ul></nav>
<main>
<h1>强制性产品认证（CCC）</h1>
<p>第十条　认证机构的注册资本不得少于人民币３００万元；
   并有１０名以上专职认证人员。</p>
<h2>Scope 适用范围</h2>
<ul><li>Products in the catalogue need CCC: 电源适配器、灯具！</li><li>Exports are exempt.</li></ul>
<form><input name="q"><button>搜索 Search</button></form>
<noscript>请启用 JavaScript</noscript>
</main>
<aside>相关链接 Related</aside>
<footer>版权所有 © 2026</footer>
</body></html>"""


def test_headings_paragraphs_and_list_items_keep_their_structure() -> None:
    text, title = html_to_text(PAGE)
    assert title == "强制性产品认证 & CCC Guide"
    assert text.split("\n\n") == [
        "# 强制性产品认证（CCC）",
        "第十条 认证机构的注册资本不得少于人民币３００万元； 并有１０名以上专职认证人员。",  # runs of space, one
        "## Scope 适用范围",
        "Products in the catalogue need CCC: 电源适配器、灯具！",
        "Exports are exempt.",
    ]


def test_scripts_styles_navigation_forms_and_chrome_are_dropped() -> None:
    text, _ = html_to_text(PAGE)
    for dropped in ("脚本内容", "color: red", "首页", "导航", "关于我们", "搜索", "JavaScript", "相关链接", "版权所有"):
        assert dropped not in text


def test_table_rows_become_column_value_blocks() -> None:
    table = """<table>
    <tr><th>国家 Country</th><th>协议 Agreement</th><th></th></tr>
    <tr><td>沙特 Saudi Arabia</td><td>IECEE CB（互认）</td><td>since 2026</td></tr>
    <tr><td>New Zealand</td><td></td><td>FTA：中新</td></tr>
    </table>"""
    text, title = html_to_text(table)
    assert title == ""
    assert text.split("\n\n") == [
        "国家 Country: 沙特 Saudi Arabia\n协议 Agreement: IECEE CB（互认）\ncolumn 3: since 2026",
        "国家 Country: New Zealand\ncolumn 3: FTA：中新",
    ]


def test_entities_and_nested_skipped_blocks() -> None:
    markup = "<p>A &lt; B &amp; 甲＞乙</p><nav><nav>内层</nav>外层</nav><p>结束 end。</p>"
    text, _ = html_to_text(markup)
    assert text == "A < B & 甲＞乙\n\n结束 end。"
