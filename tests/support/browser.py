"""Small helpers for Playwright tests of the pages."""

from __future__ import annotations


def wait_until(page, expression: str, timeout_ms: int, describe=None) -> None:
    """page.wait_for_function, by polling: the pages' CSP (no 'unsafe-eval') refuses the string
    that wait_for_function evaluates, while page.evaluate goes through the debugger. `describe`
    says what the page showed instead, for the failure message."""
    for _ in range(timeout_ms // 100):
        if page.evaluate(expression):
            return
        page.wait_for_timeout(100)
    seen = f"\nthe page showed: {describe()}" if describe is not None else ""
    raise AssertionError(f"still false after {timeout_ms} ms: {expression}{seen}")


def page_width(page) -> int:
    """How wide the page's content is: more than the viewport means it scrolls sideways."""
    return page.evaluate("document.documentElement.scrollWidth")
