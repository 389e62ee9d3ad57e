"""The report as one self-contained HTML page (inline CSS, charts as inline SVG, no script) and the
same page as PDF, drawn by WeasyPrint."""

from __future__ import annotations

import logging
from typing import Any

from django.core.cache import cache
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.safestring import SafeString
from django.utils.text import capfirst
from django.utils.translation import gettext

from campaigns.models import Campaign
from reports import charts
from reports.models import ReportLink
from reports.selectors import number, percent, report_content

SHARE_TICKS = (0.0, 0.25, 0.5, 0.75, 1.0)


def report_html(*, campaign: Campaign, pdf_url: str = "") -> str:
    """The report page. `pdf_url`: where the page offers its PDF (the share page); the downloaded
    file and the PDF itself offer none."""
    content = report_content(campaign=campaign)
    with translation.override(campaign.language):
        context = {**content, "charts": report_charts(content), "pdf_url": pdf_url}
        return render_to_string("reports/report.html", context)


# WeasyPrint logs every step of every PDF at INFO; the server's log wants none of it.
logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)


def report_pdf(*, campaign: Campaign) -> bytes:
    """The report page as PDF. WeasyPrint may fetch nothing but data: URIs: the page names no file
    or address, and a PDF is no way to reach either."""
    from PIL import ImageFile
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    # Importing WeasyPrint lets Pillow load truncated images in the whole process; a report has no
    # image, and the uploads this process checks must still be refused when cut short.
    ImageFile.LOAD_TRUNCATED_IMAGES = False

    fetcher = URLFetcher(allowed_protocols=("data",), fail_on_errors=False)
    return HTML(string=report_html(campaign=campaign), url_fetcher=fetcher).write_pdf()


# A share link may be opened by anyone who holds it, as often as they like: its page and PDF are
# drawn once and kept this long (the link's validity is still checked on every request).
SHARED_REPORT_SECONDS = 300


def kept_report_html(*, link: ReportLink, pdf_url: str) -> str:
    return _kept(f"report-link:{link.token_hash}:html", lambda: report_html(campaign=link.campaign, pdf_url=pdf_url))


def kept_report_pdf(*, link: ReportLink) -> bytes:
    return _kept(f"report-link:{link.token_hash}:pdf", lambda: report_pdf(campaign=link.campaign))


def _kept(key: str, draw):
    drawn = cache.get(key)
    if drawn is None:
        drawn = draw()
        cache.set(key, drawn, SHARED_REPORT_SECONDS)
    return drawn


def report_charts(content: dict[str, Any]) -> dict[str, Any]:
    """The charts of `report_content`, in its language (the caller activates it): the per-variant
    shares returned, each variant's moments and survey question's own chart set on its row as `chart`."""
    labels = content["labels"]
    emotions = content["emotions"]
    series = [capfirst(emotion["label"]) for emotion in emotions]

    def share_bars(block: dict[str, Any] | None, title: str) -> SafeString | None:
        if not block:
            return None
        groups = [
            charts.BarGroup(
                label=variant["label"],
                bars=[_bar(variant["classes"].get(emotion["class_name"])) for emotion in emotions],
            )
            for variant in block["variants"]
        ]
        return charts.bar_chart(
            title=title,
            groups=groups,
            series=series,
            ticks=SHARE_TICKS,
            tick_label=lambda tick: percent(tick),
            value_label=lambda value: percent(value),
        )

    def rating_bars(question: dict[str, Any]) -> SafeString:
        low, high = question["scale_min"], question["scale_max"]
        return charts.bar_chart(
            title=question["text"],
            groups=[
                charts.BarGroup(label=row["label"], bars=[_bar(row) if row["value"] is not None else None])
                for row in question["variants"]
            ],
            series=[labels["mean_rating"]],
            ticks=[float(tick) for tick in range(low, high + 1)],
            tick_label=lambda tick: number(tick, 0),
            value_label=lambda value: number(value, 1),
        )

    for variant in content["moments"]["variants"]:
        if not variant["rows"] and not variant["attention"]:
            continue  # no second with enough testers: nothing to draw
        variant["chart"] = charts.line_chart(
            title=variant["label"],
            series=[
                *(
                    charts.Series(label=capfirst(emotion["label"]), points=variant["series"][emotion["class_name"]])
                    for emotion in emotions
                ),
                charts.Series(label=gettext("Looking at the screen"), points=variant["attention"]),
            ],
            x_end=variant["end"],
            x_title=gettext("Seconds of the variant (media time; an image: since shown)"),
            y_ticks=SHARE_TICKS,
            tick_label=lambda tick: percent(tick),
            x_tick_label=lambda tick: number(tick, 0),
        )
    for question in content["survey"]["questions"]:
        if any(row["value"] is not None for row in question["variants"]):
            question["chart"] = rating_bars(question)
    return {
        "shares": share_bars(content["shares"], labels["estimated_share"]),
        "ratios": share_bars(content["ratios"], labels["tester_mean"]),
    }


def _bar(cell: dict[str, Any] | None) -> charts.Bar | None:
    if cell is None or cell["value"] is None:
        return None
    return charts.Bar(value=cell["value"], low=cell["low"], high=cell["high"])
