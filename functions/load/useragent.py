"""User-agent strings to browser, OS, device class and a bot flag: pure, cached, good enough.

A few ordered rules instead of a UA database: Beacon reports shares by browser and device, where
the big families are what matters, and a wrong guess about a rare browser costs nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

# Crawlers, link previewers, headless browsers and HTTP libraries: traffic that is not a person.
_BOT = re.compile(
    r"bot\b|bot/|crawl|spider|slurp|mediapartners|headless|phantomjs|puppeteer|playwright|"
    r"selenium|lighthouse|pingdom|uptime|monitor|preview|facebookexternalhit|embedly|"
    r"curl/|wget/|python-requests|python-urllib|aiohttp|httpx|go-http-client|okhttp|java/|"
    r"apache-httpclient|libwww|node-fetch|axios/|scrapy|postman|insomnia|^$",
    re.IGNORECASE,
)

# (name, pattern) in order: the first match wins, so look-alikes come before what they imitate
# (Edge and Opera say "Chrome", Chrome says "Safari").
_BROWSERS = (
    ("Edge", re.compile(r"Edg(e|A|iOS)?/")),
    ("Opera", re.compile(r"OPR/|Opera")),
    ("Samsung Internet", re.compile(r"SamsungBrowser/")),
    ("Firefox", re.compile(r"Firefox/|FxiOS/")),
    ("Chrome", re.compile(r"Chrome/|CriOS/|Chromium/")),
    ("Safari", re.compile(r"Version/[\d.]+.*Safari/")),
    ("Internet Explorer", re.compile(r"MSIE |Trident/")),
)
_SYSTEMS = (
    ("iOS", re.compile(r"iPhone|iPad|iPod")),
    ("Android", re.compile(r"Android")),
    ("Windows", re.compile(r"Windows")),
    ("ChromeOS", re.compile(r"CrOS")),
    ("macOS", re.compile(r"Mac OS X|Macintosh")),
    ("Linux", re.compile(r"Linux|X11")),
)
_TABLET = re.compile(r"iPad|Tablet|Kindle|Silk/|PlayBook|Android(?!.*Mobile)", re.IGNORECASE)
_MOBILE = re.compile(r"Mobi|iPhone|iPod|Android.*Mobile|Windows Phone", re.IGNORECASE)
_DESKTOP_SYSTEMS = {"Windows", "macOS", "Linux", "ChromeOS"}


@dataclass(frozen=True)
class UserAgent:
    browser: str  # a family name, or "Other"
    os: str  # a family name, or "Other"
    device: str  # desktop, mobile, tablet, bot or other
    is_bot: bool


def _first(rules: tuple[tuple[str, re.Pattern[str]], ...], text: str) -> str:
    for name, pattern in rules:
        if pattern.search(text):
            return name
    return "Other"


@lru_cache(maxsize=4096)  # a site sees few distinct agents; parsing each once is plenty
def parse_user_agent(text: str) -> UserAgent:
    text = text.strip()
    browser, system = _first(_BROWSERS, text), _first(_SYSTEMS, text)
    is_bot = bool(_BOT.search(text))
    if is_bot:
        device = "bot"
    elif _TABLET.search(text):
        device = "tablet"
    elif _MOBILE.search(text):
        device = "mobile"
    elif system in _DESKTOP_SYSTEMS:
        device = "desktop"
    else:
        device = "other"
    return UserAgent(browser=browser, os=system, device=device, is_bot=is_bot)
