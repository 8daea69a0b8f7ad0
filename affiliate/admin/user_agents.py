"""A browser's User-Agent header cut down to "Firefox on Linux", for the list of an operator's
sessions: enough to tell one's laptop from one's phone.

A dozen patterns of our own rather than a parser library: the answer comes from a fixed
vocabulary (so what is stored and shown is never text a client wrote, and is no fingerprint),
and families this coarse need no regularly updated database of versions and devices.
"""
from __future__ import annotations

import re

# First match wins: Edge and Opera also say "Chrome", Chrome also says "Safari", and Android
# also says "Linux".
_BROWSERS = [
    ("Edge", r"\bEdg(e|A|iOS)?/"),
    ("Opera", r"\bOPR/|\bOpera\b"),
    ("Samsung Internet", r"\bSamsungBrowser/"),
    ("Firefox", r"\bFirefox/|\bFxiOS/"),
    ("Chromium", r"\bChromium/"),
    ("Chrome", r"\bChrome/|\bCriOS/|\bHeadlessChrome/"),
    ("Safari", r"\bVersion/[\d.]+.*\bSafari/"),
    ("curl", r"^curl/"),
    ("Python", r"^python-|^Python-urllib/"),
]
_SYSTEMS = [
    ("Windows", r"\bWindows\b"),
    ("Android", r"\bAndroid\b"),
    ("iOS", r"\b(iPhone|iPad|iPod)\b"),
    ("ChromeOS", r"\bCrOS\b"),
    ("macOS", r"\bMac OS X\b|\bMacintosh\b"),
    ("Linux", r"\bLinux\b|\bX11\b"),
]
_BROWSER_PATTERNS = [(name, re.compile(pattern)) for name, pattern in _BROWSERS]
_SYSTEM_PATTERNS = [(name, re.compile(pattern)) for name, pattern in _SYSTEMS]


def coarse(user_agent: str | None) -> str:
    """"Firefox on Linux", "Safari on iOS", "curl", or "unknown browser"."""
    header = (user_agent or "")[:512]
    browser = next((name for name, pattern in _BROWSER_PATTERNS if pattern.search(header)), None)
    system = next((name for name, pattern in _SYSTEM_PATTERNS if pattern.search(header)), None)
    if browser and system:
        return f"{browser} on {system}"
    if system:
        return f"a browser on {system}"
    return browser or "unknown browser"
