"""The catalogues: messages.pot holds every marked string, zh_CN translates each one, and no
template shows text outside gettext."""

from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from webapp.config import LOCALES

PROJECT = Path(__file__).resolve().parent.parent.parent
# The keywords beside Babel's defaults, as the Makefile's BABEL_KEYWORDS gives them.
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None, "lazy_pgettext": ((1, "c"), 2)}
TRANSLATED = [code for code in LOCALES if code != "en"]
# Templates whose text is not translated yet (none: every template is).
EXCLUDED_TEMPLATES = ()


def _key(message, context):
    return (context, message[0] if isinstance(message, tuple) else message)


def extracted():
    """``{(context, msgid)}`` of every string marked in the code and templates now."""
    with (PROJECT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found = extract_from_dir(
        str(PROJECT), method_map, options_map, keywords=KEYWORDS, comment_tags=()
    )
    return {_key(message, context) for _, _, message, _, context in found}


def read_catalogue(path):
    with path.open("rb") as source:
        return read_po(source)


def test_messages_pot_holds_exactly_the_marked_strings():
    template = read_catalogue(PROJECT / "messages.pot")
    in_pot = {_key(m.id, m.context) for m in template if m.id}
    marked = extracted()
    assert marked - in_pot == set(), "new strings: run `make translations` and translate them"
    assert in_pot - marked == set(), "strings no longer used: run `make translations`"


@pytest.mark.parametrize("locale", TRANSLATED)
def test_every_message_is_translated_and_none_is_fuzzy(locale):
    template = read_catalogue(PROJECT / "messages.pot")
    catalogue = read_catalogue(PROJECT / "translations" / locale / "LC_MESSAGES" / "messages.po")
    missing, fuzzy = [], []
    for message in template:
        if not message.id:
            continue
        translated = catalogue.get(message.id, context=message.context)
        strings = translated.string if translated else None
        if isinstance(strings, tuple):
            strings = all(strings) and strings
        if not strings:
            missing.append(message.id)
        elif translated.fuzzy:
            fuzzy.append(message.id)
    assert not missing, f"{locale}: untranslated {missing}"
    assert not fuzzy, f"{locale}: fuzzy (check, then drop the flag) {fuzzy}"
    # Placeholders: a translation uses exactly the names of its python-format msgid.
    problems = [(m.id, [str(e) for e in errors]) for m, errors in catalogue.check()]
    assert not problems, problems


def _template_text(env, source):
    """The literal text of a template outside {% trans %} blocks, with every Jinja
    construct replaced by a NUL (so text split by an expression stays split)."""
    parts, in_trans, after_block_begin = [], False, False
    for _, kind, value in env.lex(source):
        if kind == "block_begin":
            after_block_begin = True
            parts.append("\0")
            continue
        if kind == "whitespace":
            parts.append("\0")
            continue
        if after_block_begin and kind == "name":
            in_trans = value in ("trans", "pluralize") or (in_trans and value != "endtrans")
        after_block_begin = False
        parts.append(value if kind == "data" and not in_trans else "\0")
    return "".join(parts)


class _Text(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts, self.depth = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "code"):
            self.depth += 1
        elif not self.depth:
            self.parts += [v or "" for k, v in attrs if k in ("placeholder", "title", "alt")]
            self.parts += [v or "" for k, v in attrs if k == "aria-label"]

    def handle_endtag(self, tag):
        if tag in ("script", "style", "code") and self.depth:
            self.depth -= 1

    def handle_data(self, data):
        if not self.depth:
            self.parts.append(data)


def test_no_template_text_outside_gettext(app, english_in_text):
    templates = PROJECT / "templates"
    offenders = {}
    for path in sorted(templates.rglob("*")):
        name = path.relative_to(templates).as_posix()
        if not path.is_file() or name.startswith(EXCLUDED_TEMPLATES):
            continue
        text = _template_text(app.jinja_env, path.read_text(encoding="utf-8"))
        if path.suffix == ".html":
            parser = _Text()
            parser.feed(text)
            text = " ".join(parser.parts)
        words = english_in_text(text.replace("\0", " "))
        if words:
            offenders[name] = words
    assert offenders == {}, "wrap these in {{ _('…') }} or {% trans %}"
