"""The notes' HTML parsed by libxml2 gives the element tree of WeasyPrint's own HTML5 parser
(tinyhtml5), so the PDF is the same bytes."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
import tinyhtml5

from geoportal.rules.note import htmltree

PAGE = """<!DOCTYPE html>
<html lang="fr">
<head>
<meta charset="utf-8">
<title>Note n° 1 – TF 1/C</title>
<style>body { margin: 0 }</style>
</head>
<body>
<div class="verify"><img class="qr" src="data:image/png;base64,iVBORw0KGgo=" alt="QR">
  <p>Note n° <b>NRU-1</b>, signée<br>
    Vérifiez&nbsp;: <span class="url">http://127.0.0.1/verify/NRU-1</span></p>
</div>
<main>
<!-- a comment -->
<table class="facts">
  <tr><th>Demandeur</th><td>M. d&#39;Essai &amp; fils</td></tr>
  <tr><th>Commune</th>
      <td>Dar Bouazza – <span lang="ar">دار بوعزة</span></td></tr>
</table>
<figure>
  <svg xmlns="http://www.w3.org/2000/svg" width="174.0mm" height="96.0mm"
    viewBox="0 0 174 96" class="map"><defs><pattern id="h" patternUnits="userSpaceOnUse"
    width="1.6" height="1.6" patternTransform="rotate(-45)"><line x1="0" y1="0" x2="0"
    y2="1.6" stroke="#c51b7d"/></pattern></defs><path d="M0,0L1,1Z" fill="url(#h)"/><text
    x="1" y="2" text-anchor="middle">TF 1/C</text></svg>
  <div class="legend"><span><svg xmlns="http://www.w3.org/2000/svg" width="5mm"
    height="3.2mm" viewBox="0 0 5 3.2" class="key"><rect x="0.3" y="0.3" width="4.4"
    height="2.6"/></svg> Zone C</span></div>
</figure>
<table class="figures">
  <tr><th>Zone</th><th class="num">Surface</th></tr>
  <tr class="total"><td>Total</td><td class="num">1 000 m²</td></tr>
</table>
<ul class="staff">
  <li>Une observation</li><li>Une autre</li>
</ul>
</main>
</body>
</html>"""


def shape(element: ET.Element) -> list[tuple[object, ...]]:
    """Every element of a tree in order: its tag, attributes, text and tail."""
    return [(e.tag, sorted(e.attrib.items()), e.text, e.tail) for e in element.iter()]


def test_a_page_of_the_notes_templates_gives_tinyhtml5s_tree() -> None:
    mine = shape(htmltree.parse(PAGE))
    assert mine == shape(tinyhtml5.parse(PAGE, namespace_html_elements=False))
    tags = [tag for tag, *_ in mine]
    assert tags.count("tbody") == 2  # the rows' implied row groups
    assert "{http://www.w3.org/2000/svg}pattern" in tags
    attributes = {name for _, attrib, *_ in mine for name, _value in attrib}
    assert {"viewBox", "patternUnits", "patternTransform"} <= attributes  # SVG case kept


def test_the_weasyprint_document_of_the_tree_gives_the_pdf_of_weasyprints_parser() -> None:
    from weasyprint import HTML

    ours = htmltree.weasyprint_html(PAGE).write_pdf(pdf_identifier=b"0" * 32, pdf_tags=True)
    theirs = HTML(string=PAGE).write_pdf(pdf_identifier=b"0" * 32, pdf_tags=True)
    assert ours == theirs


def test_the_notes_user_agent_stylesheet_matches_no_selector_against_every_element() -> None:
    from weasyprint.html import UA_STYLESHEET

    lean = htmltree.user_agent_stylesheet()
    assert htmltree.weasyprint_html(PAGE)._ua_stylesheets() == [lean]
    assert lean.matcher.other_selectors == [] and lean.matcher.lang_attr_selectors == []
    assert len(UA_STYLESHEET.matcher.other_selectors) >= 20  # WeasyPrint's, for comparison
    # the page margin boxes' alignment is WeasyPrint's
    assert len(lean.page_rules) == len(UA_STYLESHEET.page_rules)


def test_the_page_renders_the_same_pdf_with_weasyprints_user_agent_stylesheet(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from weasyprint import HTML

    lean = htmltree.weasyprint_html(PAGE).write_pdf(pdf_identifier=b"0" * 32, pdf_tags=True)
    monkeypatch.setattr(htmltree._document_class(), "_ua_stylesheets", HTML._ua_stylesheets)
    full = htmltree.weasyprint_html(PAGE).write_pdf(pdf_identifier=b"0" * 32, pdf_tags=True)
    assert lean == full
