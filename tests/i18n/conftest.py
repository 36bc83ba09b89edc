"""Fixtures of the language tests: compiled catalogues, and a finder of English words left
on a page (or in a template) that should have been translated."""

import re
from html.parser import HTMLParser

import pytest

from ..helpers import compile_catalogues

# Words that stay as they are in every language: product names and codes, "English" (the
# switcher's name of that language in its own words) and "system", the audit log's name of
# the platform as an actor (typed as it is into the actor filter).
ALLOWED = {
    "API", "BI", "Bearer", "CPU", "CSV", "Ctrl", "EHLO", "English", "HTTP", "HTTPS", "ID",
    "IP", "JSON", "SMTP", "SSL", "STARTTLS", "TLS", "URL", "UTC", "system",
    # The Email Service: mail products and their consoles, as their Chinese pages name them,
    # and protocol words (SMTP commands, OAuth, DNS, PEM, URI, "Web" application).
    "Cloud", "Entra", "Exchange", "Gmail", "Google", "Microsoft", "Office", "Online",
    "Outlook", "PowerShell", "QQ", "Workspace",
    "AUTH", "DATA", "DNS", "FROM", "MAIL", "OAuth", "PEM", "RCPT", "TO", "URI", "Web",
}  # fmt: skip
# Addresses, links (any scheme, smtp:// too), time zone names and anything code-like
# (card:42, auth.login, bin_x): a token with a digit, an underscore or inner punctuation is
# not a word of the UI.
NOT_WORDS = re.compile(r"\S+@\S+|[a-z]+://\S*|[A-Za-z]+/[A-Za-z0-9_/+-]+")
TOKEN = re.compile(r"[A-Za-z0-9_]+(?:[-.:'/+][A-Za-z0-9_]+)*")
WORD = re.compile(r"[A-Za-z]{2,}")
# Elements whose text is code or recorded data, shown as it is: <code>, and an audit
# event's recorded changes (field names and values as they were stored).
SKIPPED_TAGS = {"script", "style", "code"}
SKIPPED_CLASSES = {"changes-list"}
SHOWN_ATTRIBUTES = {"placeholder", "title", "aria-label", "alt"}


def english_in(text):
    """The English words in ``text`` (allowed names, addresses and codes removed)."""
    found = []
    for token in TOKEN.findall(NOT_WORDS.sub(" ", text)):
        if WORD.fullmatch(token) and token not in ALLOWED:
            found.append(token)
    return found


class _Visible(HTMLParser):
    """Collects the text a reader sees or hears: text, button values, titles, labels."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts, self.skipping = [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = set((attrs.get("class") or "").split())
        if tag in SKIPPED_TAGS or classes & SKIPPED_CLASSES:
            self.skipping.append(tag)
        elif self.skipping and tag == self.skipping[-1]:
            self.skipping.append(tag)  # the same tag nested inside a skipped one
        if self.skipping:
            return
        for name in SHOWN_ATTRIBUTES & set(attrs):
            self.parts.append(attrs[name] or "")
        if tag == "input" and attrs.get("type") in ("submit", "button"):
            self.parts.append(attrs.get("value") or "")

    def handle_startendtag(self, tag, attrs):
        if tag != "input" or self.skipping:
            return
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag):
        if self.skipping and tag == self.skipping[-1]:
            self.skipping.pop()

    def handle_data(self, data):
        if not self.skipping:
            self.parts.append(data)


def visible_text(html):
    """The text of an HTML page or fragment, without code and recorded data."""
    parser = _Visible()
    parser.feed(html)
    parser.close()
    return " ".join(parser.parts)


@pytest.fixture(scope="session", autouse=True)
def catalogues():
    """The compiled catalogues (built here when `make` has not built them)."""
    compile_catalogues()


@pytest.fixture
def english_words():
    """``english_words(html)``: the English words a reader of the page would see."""
    return lambda html: english_in(visible_text(html))


@pytest.fixture
def english_in_text():
    """``english_in_text(text)``: the English words in plain text (no HTML)."""
    return english_in
