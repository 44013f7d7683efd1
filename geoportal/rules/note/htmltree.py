"""The notes' HTML as the element tree WeasyPrint lays out, parsed by libxml2 (lxml) instead
of WeasyPrint's pure-Python HTML5 parser (tinyhtml5: 12 ms of a note's render, 0.2 ms here).

The tree is the one tinyhtml5 builds for the notes' templates, which are well-formed HTML:
elements in no namespace, SVG elements and attributes in the SVG namespace with their
HTML5 case (``viewBox``), the ``tbody`` a table's rows imply, no whitespace before
``<head>``, the text after ``</body>`` in the body. The tests compare both trees for every
kind of note; other HTML goes to WeasyPrint's own parser.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from functools import lru_cache
from typing import Any

SVG = "{http://www.w3.org/2000/svg}"


def _svg_names() -> tuple[dict[str, str], dict[str, str]]:
    from tinyhtml5.constants import adjust_foreign_attributes, adjust_svg_attributes

    foreign = {name: f"{{{space}}}{local}"
               for name, (_prefix, local, space) in adjust_foreign_attributes.items()}
    return dict(adjust_svg_attributes), foreign


@lru_cache(maxsize=1)
def lxml_comment() -> Any:
    """lxml's tag of comments."""
    import lxml.etree

    return lxml.etree.Comment


def _convert(source: Any, svg: bool, names: tuple[dict[str, str], dict[str, str]]
             ) -> ET.Element:
    tag = source.tag
    attrib = dict(source.attrib)
    if svg or tag == "svg":
        svg = True
        tag = SVG + tag
        cases, foreign = names
        attrib = {foreign.get(k, cases.get(k, k)): v for k, v in attrib.items()}
    element = ET.Element(tag, attrib)
    element.text = source.text
    rows = None
    for child in source:
        converted: Any
        if isinstance(child.tag, str):
            converted = _convert(child, svg, names)
        elif child.tag is lxml_comment():
            converted = ET.Comment(child.text)
        else:  # processing instructions: none in HTML
            continue
        converted.tail = child.tail
        if tag == "table" and converted.tag == "tr":  # rows go in an implied tbody
            if rows is None:
                rows = ET.SubElement(element, "tbody")
            rows.append(converted)
        else:
            rows = None
            element.append(converted)
    return element


def parse(html: str) -> ET.Element:
    """The root ``html`` element of a note's page, as tinyhtml5 would build it."""
    import lxml.html

    root = _convert(lxml.html.document_fromstring(html), False, _svg_names())
    root.text = None  # whitespace before <head> is dropped
    body = root[-1]
    if len(body):  # text after </body> and </html> goes at the end of the body
        body[-1].tail = (body[-1].tail or "") + (body.tail or "")
    body.tail = None
    return root


@lru_cache(maxsize=1)
def user_agent_stylesheet() -> Any:
    """The notes' user-agent stylesheet (``ua.css``: WeasyPrint's without the selectors
    matched against every element), parsed once per process."""
    from importlib.resources import files

    from weasyprint import CSS

    return CSS(string=files(__package__).joinpath("ua.css").read_text("utf-8"))


@lru_cache(maxsize=1)
def _document_class() -> Any:
    import cssselect2
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    class ParsedHTML(HTML):
        """WeasyPrint's HTML document of a tree already parsed."""

        def __init__(self, root: ET.Element) -> None:  # what HTML.__init__ sets
            self.base_url = None  # the notes have no <base>: their images are data URIs
            self.url_fetcher = URLFetcher()
            self.media_type = "print"
            self.wrapper_element = cssselect2.ElementWrapper.from_html_root(
                root, content_language=None)
            self.etree_element = self.wrapper_element.etree_element

        def _ua_stylesheets(self, forms: bool = False) -> list[Any]:
            return [user_agent_stylesheet()]

    return ParsedHTML


def weasyprint_html(html: str) -> Any:
    """A WeasyPrint ``HTML`` document of the note's page, from the tree of ``parse``."""
    return _document_class()(parse(html))
