"""Languages and time zones: which ones a request gets, and stored times shown in them.

The language is the user's own choice (``/account``), else the browser's
``Accept-Language``, else ``DEFAULT_LOCALE``; an anonymous visitor's choice in the
navigation bar is kept in a cookie. Times are stored as naive UTC and shown in the user's
zone (else ``DEFAULT_TIMEZONE``), always naming the zone.
"""

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from babel import Locale, support
from flask import current_app, has_app_context, has_request_context, request
from flask_babel import Domain, get_locale, gettext
from flask_login import current_user

from .config import LOCALES
from .extensions import babel

#: Each UI language in its own words, for the language switcher (never translated).
LANGUAGE_NAMES = {"en": "English", "zh_CN": "简体中文"}
LOCALE_COOKIE = "bi_locale"
# Traditional-script tags are not read as zh_CN: the next language the browser names wins.
_TRADITIONAL = ("zh-hant", "zh-tw", "zh-hk", "zh-mo")


def N_(text):  # noqa: N802 (the conventional name, a keyword of babel.cfg)
    """Mark ``text`` for the catalogue without translating it here."""
    return text


def shown(text):
    """``text`` in the request's language: lazy strings translate themselves, plain ones
    (from a package that registered them unmarked) are looked up in the catalogue."""
    if isinstance(text, str):
        return gettext(text)
    return text


def accepted_locale(accept_languages):
    """The first of ``LOCALES`` the browser's ``Accept-Language`` asks for, or None.

    ``zh``, ``zh-CN``, ``zh-Hans`` and ``zh-SG`` mean zh_CN; ``en-GB`` means en.
    """
    for tag, quality in accept_languages:
        tag = tag.strip().lower().replace("_", "-")
        if quality <= 0 or tag == "*":
            continue
        if tag == "zh" or (tag.startswith("zh-") and not tag.startswith(_TRADITIONAL)):
            return "zh_CN"
        primary = tag.split("-")[0]
        for code in LOCALES:
            if code.lower().replace("_", "-") == tag or code == primary:
                return code
    return None


def _user_value(name):
    if not has_request_context() or not getattr(current_user, "is_authenticated", False):
        return None
    return getattr(current_user, name, None)


def select_locale():
    """The request's language: the user's setting, the cookie, the browser, else None
    (Flask-Babel then uses ``DEFAULT_LOCALE``)."""
    if not has_request_context():
        return None
    if request.path.startswith("/api/"):
        return "en"  # the API answers programs: its messages stay English
    own = _user_value("locale")
    if own in LOCALES:
        return own
    cookie = request.cookies.get(LOCALE_COOKIE)
    if cookie in LOCALES:
        return cookie
    return accepted_locale(request.accept_languages)


def locale_code(locale):
    """Our code (a folder of translations/) for a Babel locale: Babel reads ``zh_CN`` as
    ``zh_Hans_CN``, the script being implied."""
    name = str(locale)
    for code in LOCALES:
        if name == code or str(Locale.parse(code)) == name:
            return code
    return name


class CatalogueDomain(Domain):
    """Flask-Babel's message domain, reading each language from its code's folder
    (``translations/zh_CN``), where gettext alone would look for ``zh_Hans_CN`` or ``zh``."""

    def get_translations(self):
        locale = get_locale()
        if locale is None:
            return support.NullTranslations()
        key = (str(locale), self.domain[0])
        if key not in self.cache:
            translations = support.Translations()
            for folder in self.translation_directories:
                names = [locale_code(locale), str(locale)]
                catalogue = support.Translations.load(folder, names, self.domain[0])
                translations.merge(catalogue)
                if hasattr(catalogue, "plural"):  # merge() does not copy the plural rule
                    translations.plural = catalogue.plural
            self.cache[key] = translations
        return self.cache[key]


def current_locale():
    """The request's locale code, such as ``zh_CN`` (``DEFAULT_LOCALE`` outside requests)."""
    locale = get_locale()
    return locale_code(locale) if locale else current_app.config["DEFAULT_LOCALE"]


def html_lang():
    """The ``lang`` attribute of the pages: ``zh-CN`` or ``en``."""
    return current_locale().replace("_", "-")


def time_zone_name():
    """The user's IANA time zone, else ``DEFAULT_TIMEZONE`` (UTC outside the app)."""
    own = _user_value("timezone")
    if own:
        return own
    return current_app.config["DEFAULT_TIMEZONE"] if has_app_context() else "UTC"


def local_time(value, seconds=False, zone=False):
    """A stored naive UTC time in the user's zone: ``2026-11-28 02:05`` (``seconds`` adds
    them; ``zone`` appends the zone's name, ``2026-11-28 02:05 (Asia/Shanghai)``)."""
    if value is None:
        return ""
    name = time_zone_name()
    local = value.replace(tzinfo=UTC).astimezone(ZoneInfo(name))
    text = local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    return f"{text} ({name})" if zone else text


def day_start_utc(day):
    """The naive UTC time at which ``day`` begins in the user's zone."""
    start = datetime.combine(day, time(), tzinfo=ZoneInfo(time_zone_name()))
    return start.astimezone(UTC).replace(tzinfo=None)


def register(app):
    """Bind Flask-Babel and give the templates the language and time helpers."""
    babel.init_app(
        app,
        default_locale=app.config["DEFAULT_LOCALE"],
        default_timezone=app.config["DEFAULT_TIMEZONE"],
        locale_selector=select_locale,
    )
    babel.domain_instance = CatalogueDomain()  # in place of Flask-Babel's cached default
    # {% trans %} blocks may wrap lines: their msgids are whitespace-normalised.
    app.jinja_env.policies["ext.i18n.trimmed"] = True
    app.jinja_env.filters["localtime"] = local_time
    app.jinja_env.filters["shown"] = shown
    app.jinja_env.globals.update(
        time_zone_name=time_zone_name,
        current_locale=current_locale,
        html_lang=html_lang,
        language_names=LANGUAGE_NAMES,
    )
