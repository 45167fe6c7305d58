"""Text out of uploaded files: plain text, Markdown, HTML, DOCX and PDF (through pypdf, page by page)."""

from __future__ import annotations

import io
import re
import zipfile
from html.parser import HTMLParser

from defusedxml import ElementTree
from pypdf import PdfReader
from pypdf.errors import PdfReadError, PyPdfError

from tinhso.kit.errors import Unprocessable

MAX_FILE_BYTES = 5 * 1024 * 1024
W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


class _HTMLText(HTMLParser):
    BLOCKS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "table"}
    SKIP = {"script", "style", "head", "template", "noscript"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:  # noqa: ANN001 - HTMLParser's signature
        if tag in self.SKIP:
            self.skipping += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n\n" if tag != "br" else "\n")
            if tag.startswith("h") and len(tag) == 2:
                self.parts.append("#" * int(tag[1]) + " ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP and self.skipping:
            self.skipping -= 1
        elif tag in self.BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def html_text(markup: str) -> str:
    parser = _HTMLText()
    parser.feed(markup)
    parser.close()
    text = "".join(parser.parts)
    text = re.sub(r"[ \t\r\f\v]+", " ", text)
    return re.sub(r"\n\s*\n(\s*\n)+", "\n\n", text).strip()


def docx_text(data: bytes) -> str:
    """Paragraphs of a Word document (word/document.xml), headings marked with '#'."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            info = z.getinfo("word/document.xml")
            if info.file_size > 50 * MAX_FILE_BYTES:
                raise Unprocessable("document_unreadable", "The file cannot be read as {kind}", kind="DOCX")
            root = ElementTree.fromstring(z.read(info))
    except (zipfile.BadZipFile, KeyError, ElementTree.ParseError) as exc:
        raise Unprocessable("document_unreadable", "The file cannot be read as {kind}", kind="DOCX") from exc
    paragraphs = []
    for p in root.iter(f"{W}p"):
        text = "".join(t.text or "" for t in p.iter(f"{W}t")).strip()
        if not text:
            continue
        style = p.find(f"{W}pPr/{W}pStyle")
        level = style.get(f"{W}val", "") if style is not None else ""
        if level.lower().startswith("heading") and level[-1:].isdigit():
            text = "#" * int(level[-1]) + " " + text
        paragraphs.append(text)
    return "\n\n".join(paragraphs)


def pdf_text(data: bytes) -> str:
    """Text of a PDF, page by page (pages separated by a blank line); encrypted or broken files are refused."""
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise Unprocessable("document_encrypted", "The PDF is encrypted; upload it without a password")
        pages = []
        for page in reader.pages:
            text = re.sub(r"[ \t\r\f\v]+", " ", page.extract_text() or "")
            text = re.sub(r"\n\s*\n(\s*\n)+", "\n\n", text).strip()
            if text:
                pages.append(text)
    except Unprocessable:
        raise
    except (PdfReadError, PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        raise Unprocessable("document_unreadable", "The file cannot be read as {kind}", kind="PDF") from exc
    return "\n\n".join(pages)


def extract(filename: str, data: bytes) -> tuple[str, str]:
    """(format, text) of an uploaded file, by its extension."""
    if len(data) > MAX_FILE_BYTES:
        raise Unprocessable("document_too_large", "The file is larger than {limit} MB", limit=5)
    name = filename.lower()
    if name.endswith(".docx"):
        return "markdown", docx_text(data)
    if name.endswith(".pdf"):
        return "text", pdf_text(data)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Unprocessable("document_unreadable", "The file cannot be read as {kind}", kind="UTF-8") from exc
    if name.endswith((".html", ".htm")):
        return "markdown", html_text(text)
    if name.endswith((".md", ".markdown")):
        return "markdown", text
    if name.endswith(".txt"):
        return "text", text
    raise Unprocessable("document_format", "Upload a .txt, .md, .html, .docx or .pdf file")
