"""The report mail built from its figures (functions/alerts/report.py): pure, no I/O.

Mail clients strip scripts, block remote images and draw little CSS, so the HTML part is tables
with inline styles only, and its bars are table cells of a set width and colour; the plain-text
part carries the same figures for clients that show no HTML. Every value from events (search
queries, error types) is escaped.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from functions.settings import Settings

Format = Callable[[Any], str]
BAR_COLOUR = "#2563eb"
BAR_WIDTH = 160  # pixels of the longest bar
GOOD, BAD, FLAT = "#15803d", "#b91c1c", "#6b7280"
NONE = "n/a"  # no figure: no event, or nothing to compare with


def _number(value: Any) -> str:
    if value is None:
        return NONE
    number = float(value)
    return f"{number:,.0f}" if number == int(number) or abs(number) >= 100 else f"{number:,.2f}"


def _money(value: Any) -> str:
    return NONE if value is None else f"{float(value):,.2f}"


def _percent(value: Any) -> str:
    return NONE if value is None else f"{100 * float(value):.1f} %"


# (label, key in kpi_totals, format, is a rate, up is good)
KPI_ROWS: tuple[tuple[str, str, Format, bool, bool], ...] = (
    ("Events", "events", _number, False, True),
    ("Active users per day", "avg_active_users", _number, False, True),
    ("New users", "new_users", _number, False, True),
    ("Sessions", "sessions", _number, False, True),
    ("Revenue", "revenue", _money, False, True),
    ("Transactions", "transactions", _number, False, True),
    ("Average order", "avg_order_value", _money, False, True),
    ("Conversion", "conversion_rate", _percent, True, True),
    ("Error rate", "error_rate", _percent, True, False),
    ("Monthly active users (last day)", "mau", _number, False, True),
)


def change(current: Any, previous: Any, *, rate: bool) -> tuple[str, float]:
    """The change as text, and its sign (+1, -1, 0): percentage points for rates, else percent."""
    now, before = float(current or 0), float(previous or 0)
    if rate:
        points = round(100 * (now - before), 1)  # the sign of what is shown, not of noise
        return (f"{points:+.1f} pp", (points > 0) - (points < 0)) if points else ("±0", 0)
    if before == 0:
        return ("new", 1) if now else (NONE, 0)
    percent = round(100 * (now - before) / before, 1)
    return (f"{percent:+.1f} %", (percent > 0) - (percent < 0)) if percent else ("±0 %", 0)


def subject(figures: dict[str, Any]) -> str:
    kpis, before = figures["kpis"], figures["previous_kpis"]
    events, _ = change(kpis["events"], before["events"], rate=False)
    revenue, _ = change(kpis["revenue"], before["revenue"], rate=False)
    label = "Week of" if figures["period"] == "week" else "Day"
    return (
        f"[Beacon] {label} {figures['start']}: {_number(kpis['events'])} events ({events}), "
        f"{_money(kpis['revenue'])} {figures['currency']} revenue ({revenue})"
    )


def kpi_lines(figures: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(label, this period, previous period, change, colour) per KPI."""
    kpis, before = figures["kpis"], figures["previous_kpis"]
    lines = []
    for label, key, fmt, rate, up_is_good in KPI_ROWS:
        text, sign = change(kpis[key], before[key], rate=rate)
        colour = FLAT if sign == 0 else GOOD if (sign > 0) == up_is_good else BAD
        money = f" {figures['currency']}" if fmt is _money else ""
        lines.append((label + money, fmt(kpis[key]), fmt(before[key]), text, colour))
    return lines


def _bar(value: float, largest: float, colour: str = BAR_COLOUR) -> str:
    width = max(1, round(BAR_WIDTH * value / largest)) if largest > 0 and value > 0 else 1
    return (
        f"<table role='presentation' cellpadding='0' cellspacing='0' border='0'><tr>"
        f"<td width='{width}' height='10' bgcolor='{colour}' style='background:{colour};"
        f"width:{width}px;height:10px;font-size:0;line-height:0'>&nbsp;</td></tr></table>"
    )


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[int]) -> str:
    """Rows of already-escaped HTML cells."""
    style = "padding:4px 8px;border-bottom:1px solid #e5e7eb;font-size:13px"
    head = "".join(
        f"<th align='{'right' if i in numeric else 'left'}' style='{style};color:#6b7280'>"
        f"{html.escape(h)}</th>"
        for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f"<td align='{'right' if i in numeric else 'left'}' style='{style}'>{cell}</td>"
            for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return (
        "<table role='presentation' cellpadding='0' cellspacing='0' border='0' width='100%' "
        f"style='border-collapse:collapse'><tr>{head}</tr>{body}</table>"
    )


def _section(title: str, content: str) -> str:
    return (
        f"<h2 style='font-size:16px;margin:24px 0 8px;color:#111827'>{html.escape(title)}</h2>"
        f"{content}"
    )


def _none(text: str) -> str:
    return f"<p style='color:#6b7280;font-size:13px;margin:0'>{html.escape(text)}</p>"


def _bar_table(
    headers: Sequence[str],
    rows: Sequence[tuple[Sequence[str], float]],
    colour: str,
    empty: str,
) -> str:
    """A table of (cells, bar value) rows, the bar drawn as its third column, scaled to the
    largest; the numbers (every column after the first) right-aligned."""
    if not rows:
        return _none(empty)
    largest = max(value for _, value in rows)
    cells = [[*row[:2], _bar(value, largest, colour), *row[2:]] for row, value in rows]
    return _table(headers, cells, set(range(1, len(headers))) - {2})


def _sections(figures: dict[str, Any]) -> list[tuple[str, str]]:
    e = html.escape
    kpis = _table(
        ("", f"{figures['start']} to {figures['end']}", "before", "change"),
        [
            (e(label), e(now), e(before), f"<b style='color:{colour}'>{e(text)}</b>")
            for label, now, before, text, colour in kpi_lines(figures)
        ],
        {1, 2, 3},
    )
    revenue = [
        (
            [
                e(r["currency"]),
                e(_money(r["revenue"])),
                e(_number(r["transactions"])),
                e(change(r["revenue"], r["previous_revenue"], rate=False)[0]),
            ],
            float(r["revenue"] or 0),
        )
        for r in figures["revenue"]
    ]
    funnel = [
        (
            [e(f"{i}. {step['step']}"), e(_number(step["users"])), e(_percent(step["conversion"]))],
            float(step["users"]),
        )
        for i, step in enumerate(figures["funnel"], 1)
    ]
    searches = [
        (
            [
                e(r["query"] or "(empty)"),
                e(_number(r["zero_result_searches"])),
                e(_number(r["searches"])),
            ],
            float(r["zero_result_searches"]),
        )
        for r in figures["zero_result_searches"]
    ]
    errors = [
        (
            [
                e(r["error_type"]),
                e(_number(r["events"])),
                e(_number(r["previous_events"])),
                e(change(r["events"], r["previous_events"], rate=False)[0]),
            ],
            float(r["growth"]),
        )
        for r in figures["growing_errors"]
    ]
    return [
        ("Key figures", kpis),
        (
            "Revenue by currency",
            _bar_table(
                ("Currency", "Revenue", "", "Transactions", "Change"),
                revenue,
                BAR_COLOUR,
                "No revenue in this period.",
            ),
        ),
        (
            "Funnel: " + " → ".join(figures["funnel_steps"]),
            _bar_table(("Step", "Users", "", "From the first"), funnel, "#0891b2", "No users."),
        ),
        (
            "Top searches without results",
            _bar_table(
                ("Query", "Without results", "", "Searches"),
                searches,
                "#d97706",
                "Every search found something.",
            ),
        ),
        (
            "Errors that grew most",
            _bar_table(
                ("Error type", "Events", "", "Before", "Change"), errors, BAD, "No error type grew."
            ),
        ),
    ]


def html_body(figures: dict[str, Any]) -> str:
    e = html.escape
    url = figures["dashboard_url"]
    link = (
        f"<p style='margin:24px 0'><a href='{e(url, quote=True)}' style='background:#2563eb;"
        "color:#ffffff;padding:8px 14px;border-radius:6px;text-decoration:none'>"
        "Open the dashboard</a></p>"
        if url
        else _none("No dashboard link: set BEACON_DASHBOARD_URL.")
    )
    period = "Week" if figures["period"] == "week" else "Day"
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{e(subject(figures))}</title></head>"
        "<body style='margin:0;background:#f5f6f8'>"
        "<table role='presentation' width='100%' cellpadding='0' cellspacing='0' border='0'>"
        "<tr><td align='center' style='padding:16px'>"
        "<table role='presentation' width='640' cellpadding='0' cellspacing='0' border='0' "
        "style='background:#ffffff;border:1px solid #e5e7eb;border-radius:8px'>"
        "<tr><td style='padding:20px;font-family:Helvetica,Arial,sans-serif;color:#1f2937'>"
        f"<h1 style='font-size:20px;margin:0 0 4px'>Beacon: {period} of {e(figures['start'])}</h1>"
        f"<p style='color:#6b7280;font-size:13px;margin:0'>{e(figures['start'])} to "
        f"{e(figures['end'])} (UTC) against {e(figures['previous_start'])} to "
        f"{e(figures['previous_end'])}; money in {e(figures['currency'])} unless named.</p>"
        + "".join(_section(title, content) for title, content in _sections(figures))
        + link
        + "</td></tr></table></td></tr></table></body></html>"
    )


def text_body(figures: dict[str, Any]) -> str:
    lines = [
        subject(figures),
        "",
        f"{figures['start']} to {figures['end']} (UTC) against "
        f"{figures['previous_start']} to {figures['previous_end']}",
        "",
        "Key figures (this period / before / change)",
    ]
    lines += [
        f"  {label}: {now} / {before} / {text}"
        for label, now, before, text, _ in kpi_lines(figures)
    ]
    lines += ["", "Revenue by currency"]
    lines += [
        f"  {r['currency']}: {_money(r['revenue'])} in {_number(r['transactions'])} transactions"
        f" ({change(r['revenue'], r['previous_revenue'], rate=False)[0]})"
        for r in figures["revenue"]
    ] or ["  none"]
    lines += ["", "Funnel"]
    lines += [
        f"  {i}. {s['step']}: {_number(s['users'])} ({_percent(s['conversion'])})"
        for i, s in enumerate(figures["funnel"], 1)
    ]
    lines += ["", "Top searches without results"]
    lines += [
        f"  {r['query'] or '(empty)'}: {_number(r['zero_result_searches'])} of "
        f"{_number(r['searches'])}"
        for r in figures["zero_result_searches"]
    ] or ["  none"]
    lines += ["", "Errors that grew most"]
    lines += [
        f"  {r['error_type']}: {_number(r['events'])} (before {_number(r['previous_events'])})"
        for r in figures["growing_errors"]
    ] or ["  none"]
    url = figures["dashboard_url"] or "(no dashboard link: set BEACON_DASHBOARD_URL)"
    lines += ["", f"Dashboard: {url}", ""]
    return "\n".join(lines)


def build_report_message(
    figures: dict[str, Any], settings: Settings, recipients: Sequence[str]
) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = subject(figures)
    message["From"] = settings.alert_from
    message["To"] = ", ".join(recipients) or "undisclosed-recipients:;"
    message["Date"] = formatdate(usegmt=True)
    # One Message-ID per period: a mail sent again (accepted, but its report_log row failed to
    # write) folds into the first in mail clients.
    message["Message-ID"] = f"<report-{figures['period']}-{figures['start']}@beacon>"
    message.set_content(text_body(figures))
    message.add_alternative(html_body(figures), subtype="html")
    return message
