"""Debian's Chromium, headless, driven by Playwright (no downloaded browser)."""

from contextlib import contextmanager

CHROMIUM = "/usr/bin/chromium"


@contextmanager
def open_page(url: str):
    """Load *url*; yield ``(page, problems)``.

    *problems* collects console errors, uncaught page errors and every request
    that leaves the page's own server: the lab's page must need nothing else.
    """
    from playwright.sync_api import sync_playwright

    origin = url.split("/", 3)[:3]
    problems = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 800})
            page.on("console", lambda msg: msg.type == "error" and problems.append(msg.text))
            page.on("pageerror", lambda exc: problems.append(str(exc)))
            page.on("request", lambda request: request.url.split("/", 3)[:3] != origin
                    and problems.append(f"request to {request.url}"))
            response = page.goto(url)
            assert response.status == 200, response.status
            yield page, problems
        finally:
            browser.close()
