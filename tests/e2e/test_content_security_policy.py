"""In the browser: the CSP is enforced, so the "no CSP errors" checks elsewhere mean something."""

import pytest

from ..helpers import csp_violations

pytestmark = pytest.mark.browser


def test_browser_refuses_an_inline_style_and_the_check_sees_it(page, console_errors):
    page.goto("/login")
    with page.expect_console_message(lambda message: message.type == "error"):
        page.evaluate(
            "document.head.insertAdjacentHTML('beforeend', '<style>body { color: red }</style>')"
        )
    assert csp_violations(console_errors)
    assert page.evaluate("getComputedStyle(document.body).color") != "rgb(255, 0, 0)"
