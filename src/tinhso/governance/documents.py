"""The reports as files: the roadmap's annual report and the monthly KPI report, in DOCX (python-docx) and PDF (fpdf2).

Each report is written once as a list of blocks (headings, paragraphs, tables, charts); `to_docx` and `to_pdf`
render the same blocks. Charts are PNG images drawn with Pillow. The PDF embeds DejaVu Sans (Debian's
fonts-dejavu-core), which covers Vietnamese; text is NFC-normalised so every letter is one glyph.
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from tinhso.governance.report import AnnualReport, MonthlyReport
from tinhso.kit.errors import ServiceUnavailable
from tinhso.kit.i18n import gettext

FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"))
BLUE = (11, 92, 173)
STATUS_COLOURS = {
    "met": (46, 125, 50),
    "watch": (240, 165, 0),
    "alert": (176, 0, 32),
    "unknown": (150, 150, 150),
}


@dataclass
class Heading:
    text: str
    level: int = 1


@dataclass
class Para:
    text: str
    muted: bool = False


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]
    widths: list[int]  # relative column widths


@dataclass
class Chart:
    png: bytes
    alt: str


Block = Heading | Para | Table | Chart


@lru_cache
def font_path(bold: bool = False) -> Path:
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    for folder in FONT_DIRS:
        if (folder / name).is_file():
            return folder / name
    raise ServiceUnavailable(
        "report_font_missing",
        "The report font {name} is not installed (Debian package fonts-dejavu-core)",
        name=name,
    )


def _nfc(text: Any) -> str:
    return unicodedata.normalize("NFC", "" if text is None else str(text))


# --- charts -----------------------------------------------------------------------------------------


def bar_chart(
    title: str,
    bars: Sequence[tuple[str, float | None, str]],
    unit: str = "",
    scale_max: float | None = None,
) -> bytes:
    """A horizontal bar chart as PNG: one bar per (label, value, status colour key); None draws 'no value'."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(str(font_path()), 22)
    bold = ImageFont.truetype(str(font_path(True)), 26)
    row, label_w, width = 44, 620, 1600
    height = 70 + row * max(len(bars), 1) + 20
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    draw.text((10, 14), _nfc(title), fill=(0, 0, 0), font=bold)
    top = 70
    values = [v for _, v, _ in bars if v is not None]
    top_value = scale_max or (max(values) if values else 1.0) or 1.0
    span = width - label_w - 160
    for i, (label, value, status) in enumerate(bars):
        y = top + i * row
        text = _nfc(label)
        while draw.textlength(text, font=font) > label_w - 20 and len(text) > 4:
            text = text[:-2]
        if text != _nfc(label):
            text = text.rstrip() + "…"
        draw.text((10, y + 8), text, fill=(30, 30, 30), font=font)
        if value is None:
            draw.text((label_w, y + 8), "—", fill=(120, 120, 120), font=font)
            continue
        length = max(2, int(span * min(value, top_value) / top_value))
        draw.rectangle((label_w, y + 6, label_w + length, y + row - 8), fill=STATUS_COLOURS.get(status, BLUE))
        shown = f"{value:,.1f}".rstrip("0").rstrip(".") + (f" {unit}" if unit else "")
        draw.text((label_w + length + 10, y + 8), shown, fill=(30, 30, 30), font=font)
    out = io.BytesIO()
    img.save(out, "PNG", optimize=True)
    return out.getvalue()


# --- renderers --------------------------------------------------------------------------------------


def to_docx(title: str, blocks: list[Block], landscape: bool = False) -> bytes:
    from docx import Document
    from docx.enum.section import WD_ORIENT
    from docx.shared import Cm, Pt, RGBColor

    doc = Document()
    doc.core_properties.title = _nfc(title)
    section = doc.sections[0]
    if landscape:
        section.orientation = WD_ORIENT.LANDSCAPE
        section.page_width, section.page_height = section.page_height, section.page_width
    for margin in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, margin, Cm(1.5))
    usable = int(section.page_width or Cm(29.7 if landscape else 21)) - 2 * Cm(1.5)
    doc.styles["Normal"].font.name = "Times New Roman"
    doc.styles["Normal"].font.size = Pt(11)
    for block in blocks:
        if isinstance(block, Heading):
            doc.add_heading(_nfc(block.text), level=block.level)
        elif isinstance(block, Para):
            run = doc.add_paragraph().add_run(_nfc(block.text))
            if block.muted:
                run.font.color.rgb = RGBColor(0x55, 0x55, 0x55)
        elif isinstance(block, Table):
            table = doc.add_table(rows=1, cols=len(block.headers))
            table.style = "Table Grid"
            for cell, text in zip(table.rows[0].cells, block.headers, strict=True):
                cell.text = ""
                cell.paragraphs[0].add_run(_nfc(text)).bold = True
            for values in block.rows:
                cells = table.add_row().cells
                for cell, text in zip(cells, values, strict=True):
                    cell.text = _nfc(text)
            total = sum(block.widths)
            for i, w in enumerate(block.widths):
                for cell in table.columns[i].cells:
                    cell.width = int(usable * w / total)
        else:
            doc.add_picture(io.BytesIO(block.png), width=min(usable, Cm(17)))
            doc.add_paragraph(_nfc(block.alt)).runs[0].italic = True
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def to_pdf(title: str, blocks: list[Block], landscape: bool = False) -> bytes:
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    pdf = FPDF(orientation="L" if landscape else "P", format="A4")
    pdf.set_title(_nfc(title))
    pdf.set_creator("tinhso")
    pdf.add_font("dejavu", "", str(font_path()))
    pdf.add_font("dejavu", "B", str(font_path(True)))
    pdf.set_auto_page_break(True, margin=15)
    pdf.set_margins(15, 15, 15)
    pdf.add_page()
    pdf.set_font("dejavu", size=10)
    for block in blocks:
        if isinstance(block, Heading):
            pdf.set_font("dejavu", "B", size={1: 15, 2: 12}.get(block.level, 11))
            pdf.multi_cell(0, 7, _nfc(block.text), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
            pdf.set_font("dejavu", size=10)
        elif isinstance(block, Para):
            pdf.set_text_color(85 if block.muted else 0)
            pdf.multi_cell(0, 5.5, _nfc(block.text), new_x="LMARGIN", new_y="NEXT")
            pdf.set_text_color(0)
            pdf.ln(1)
        elif isinstance(block, Table):
            pdf.set_font("dejavu", size=8)
            with pdf.table(
                col_widths=tuple(block.widths),
                headings_style=FontFace(emphasis="BOLD", color=255, fill_color=BLUE),
                line_height=4.5,
                text_align="LEFT",
            ) as table:
                table.row([_nfc(h) for h in block.headers])
                for values in block.rows:
                    table.row([_nfc(v) for v in values])
            pdf.set_font("dejavu", size=10)
            pdf.ln(3)
        else:
            width = min(pdf.epw, 180)
            pdf.image(io.BytesIO(block.png), w=width, alt_text=_nfc(block.alt))
            pdf.ln(3)
    return bytes(pdf.output())


# --- the two reports --------------------------------------------------------------------------------


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    text = f"{value:,.2f}".rstrip("0").rstrip(".")
    return text if unit == "count" else f"{text} {unit}"


def annual_blocks(rep: AnnualReport, lang: str) -> tuple[str, list[Block]]:
    def _(msg: str, **params: Any) -> str:
        return gettext(msg, lang, **params)

    title = _(
        "Implementation of the digital architecture framework (Decision 4520/QĐ-UBND) — year {year}",
        year=rep.year,
    )
    totals = rep.totals
    bars = [
        (_("total." + key), float(totals[key]), status)
        for key, status in (
            ("done", "met"),
            ("in_progress", "watch"),
            ("not_started", "unknown"),
            ("blocked", "alert"),
            ("late", "alert"),
        )
    ]
    rows = []
    for r in rep.rows:
        t = r.task
        last = r.reports[-1] if r.reports else None
        evidence = "; ".join(
            e.get("title", "") + (f" [{e['filename']}]" if e.get("filename") else "")
            for p in r.reports
            for e in p.evidence
        )
        rows.append(
            [
                t.code,
                t.title,
                ", ".join(r.lead),
                t.deadline_text or "—",
                _("task." + t.status) + (f" · {_('late')}" if r.late else ""),
                str(t.percent),
                (last.comment if last else "") + (f"\n{evidence}" if evidence else ""),
            ]
        )
    blocks: list[Block] = [
        Heading(title, 1),
        Para(_("As of {date}", date=rep.as_of.strftime("%d/%m/%Y")), muted=True),
        Table([_("Summary"), ""], [[_("total." + k), str(v)] for k, v in totals.items()], [3, 1]),
        Chart(bar_chart(_("Tasks by status"), bars), _("Tasks by status")),
        Heading(_("Tasks"), 2),
        Table(
            [_("Task"), _("Content"), _("Lead agency"), _("Deadline"), _("Status"), "%", _("Latest comment")],
            rows,
            [8, 40, 18, 12, 12, 5, 25],
        ),
    ]
    return title, blocks


def monthly_blocks(rep: MonthlyReport) -> tuple[str, list[Block]]:
    def _(msg: str, **params: Any) -> str:
        return gettext(msg, rep.lang, **params)

    title = _("Monthly KPI report — {month}", month=rep.label)
    counts = rep.counts
    blocks: list[Block] = [
        Heading(title, 1),
        Para(
            _(
                "KPIs meeting their target: {met}; to watch: {watch}; in alert: {alert}; no value: {unknown}.",
                **counts,
            )
        ),
    ]
    for g in rep.groups:
        blocks.append(Heading(g.name, 2))
        percent = [i for i in g.items if i.definition.unit == "%"]
        if any(i.last for i in percent):
            bars = [(i.name, i.last.value if i.last else None, i.target_status) for i in percent]
            blocks.append(Chart(bar_chart(g.name, bars, "%", 100.0), _("Chart: {group}", group=g.name)))
        rows = [
            [
                i.definition.code,
                i.name,
                _fmt(i.last.value if i.last else None, i.definition.unit),
                _fmt(i.definition.target, i.definition.unit),
                _("target_" + i.target_status)
                if i.last
                else _("Not measured yet" if i.status == "not_measured" else "Not computed"),
            ]
            for i in g.items
        ]
        blocks.append(
            Table([_("Code"), _("KPI"), _("Value"), _("Target"), _("Status")], rows, [14, 46, 14, 12, 14])
        )
    return title, blocks


def render(title: str, blocks: list[Block], fmt: str, landscape: bool = False) -> bytes:
    return to_pdf(title, blocks, landscape) if fmt == "pdf" else to_docx(title, blocks, landscape)


MEDIA_TYPES = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}
