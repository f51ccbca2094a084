"""The built documentation works offline: math typeset in a real browser, nothing fetched.

The site is built once (``mkdocs build --strict``) into a temporary folder and opened from
disk (``file://``) in headless Chromium with every network request sent to a dead proxy, as
a reader without a network would see it. On the math-heavy pages (and the API page whose
docstrings carry display math) every formula must be typeset by the KaTeX copy shipped with
the site (MathML present, no KaTeX parse error) and no TeX source may be left in the text a
reader sees. Statically, over every page of the site: no TeX outside the formulas (what the
Markdown failed to turn into one), every script, stylesheet, font, image or frame is shipped
with the site rather than loaded from another host, and every internal link names a file
that exists (the site is opened from disk, where a link to a folder shows a directory
listing). Search works opened from disk too, its excerpts typeset. The examples gallery ran
into the build: every script of ``examples/`` has its page, with its figures at 150 dpi or more.

Chromium is Debian's ``chromium`` package (``.ci/run`` installs it); without it the browser
test is skipped and says why.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

REPO = Path(__file__).resolve().parents[1]

# The pages with the most math (and a formula in a heading), and an API page whose docstrings
# hold display math; every other page gets the static check.
MATH_PAGES = [
    "theory.html",
    "results.html",
    "offline.html",
    "linear-geometry.html",
    "protocols.html",
    "api/conv_study.html",
]

# TeX source a reader must never see: a control word (\frac, \beta), the arithmatex
# delimiters \( \) \[ \], or a dollar delimiter next to math ($$, $x, x$).
RAW_TEX = re.compile(r"\\[A-Za-z]+|\\[()\[\]]|\$\$|\$[A-Za-z\\{]|[A-Za-z}]\$")

# A formula as pymdownx.arithmatex writes it: its TeX, escaped, with no markup inside.
ARITHMATEX_ELEMENT = re.compile(r'<(span|div) class="arithmatex">.*?</\1>', re.DOTALL)

# Text a reader sees that may legitimately hold TeX-like characters: code, and the TeX
# annotation KaTeX keeps inside its (visually hidden) MathML for copy and assistive tools.
SKIP_TEXT_OF = {"script", "style", "code", "pre", "annotation", "noscript"}

# Tags whose attribute loads something into the page (a link elsewhere is only followed when
# the reader clicks it, so <a href> is not a request).
LOADING_ATTRIBUTES = {
    "script": "src",
    "link": "href",
    "img": "src",
    "iframe": "src",
    "source": "src",
    "video": "src",
    "audio": "src",
    "embed": "src",
    "object": "data",
}

CHROMIUM_SECONDS = 60

# Shown by a web server at any address, so its links and loads are root-absolute: never
# opened from disk.
SERVER_ONLY_PAGES = {"404.html"}


VOID_ELEMENTS = {"meta", "link", "img", "br", "hr", "input", "source", "col", "wbr", "area"}


class _Page(HTMLParser):
    """One pass over a page: visible text, formulas, loads and links.

    With ``source=True`` (the HTML as built, before any script ran) the text of the formulas
    and of the navigation is left out as well: that is where the page still holds TeX on
    purpose, for the browser to typeset.
    """

    def __init__(self, *, source: bool = False) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.loads: list[str] = []
        self.links: list[str] = []
        self.math_elements = 0
        self.katex_roots = 0
        self.mathml = 0
        self.errors = 0
        self._source = source
        self._stack: list[tuple[str, bool]] = []  # (tag, whether its text is left out)

    def _leaves_out(self, tag: str, classes: list[str]) -> bool:
        if tag in SKIP_TEXT_OF:
            return True
        return self._source and (tag == "nav" or "arithmatex" in classes)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        classes = (attributes.get("class") or "").split()
        self.math_elements += "arithmatex" in classes
        self.katex_roots += "katex" in classes
        self.errors += "katex-error" in classes
        self.mathml += tag == "math"
        if tag in LOADING_ATTRIBUTES and attributes.get(LOADING_ATTRIBUTES[tag]):
            self.loads.append(attributes[LOADING_ATTRIBUTES[tag]])
        if tag == "a" and attributes.get("href"):
            self.links.append(attributes["href"])
        if tag not in VOID_ELEMENTS:
            skipped = bool(self._stack and self._stack[-1][1])
            self._stack.append((tag, skipped or self._leaves_out(tag, classes)))

    def handle_endtag(self, tag):
        if any(open_tag == tag for open_tag, _ in self._stack):
            while self._stack.pop()[0] != tag:
                pass

    def handle_data(self, data):
        if not (self._stack and self._stack[-1][1]):
            self.text.append(data)


def _parse(html: str, *, source: bool = False) -> _Page:
    page = _Page(source=source)
    page.feed(html)
    page.close()
    return page


def _raw_tex(page: _Page) -> list[str]:
    return sorted({match.group() for match in RAW_TEX.finditer("".join(page.text))})


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The documentation built with warnings as errors, as CI builds it."""
    pytest.importorskip("mkdocs", reason="the docs need the `dev` extra (mkdocs)")
    out = tmp_path_factory.mktemp("site")
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert build.returncode == 0, f"mkdocs build --strict failed:\n{build.stderr[-4000:]}"
    return out


@pytest.fixture(scope="module")
def browser(tmp_path_factory) -> list[str]:
    """Headless Chromium with its own profile and no network, or a skip that says why."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip(
            "headless Chromium is not installed (Debian: `apt-get install chromium`; "
            ".ci/run installs it)"
        )
    return [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
        # Every http(s) request goes to a closed local port: the page sees no network.
        "--proxy-server=http://127.0.0.1:9",
        "--proxy-bypass-list=<-loopback>",
    ]


def _pages(site: Path) -> list[Path]:
    return sorted(site.rglob("*.html"))


def _dump_dom(browser: list[str], uri: str, *options: str) -> str:
    """The DOM of ``uri`` after headless Chromium has run its scripts."""
    result = subprocess.run(
        [*browser, *options, "--dump-dom", uri],
        capture_output=True,
        text=True,
        timeout=CHROMIUM_SECONDS,
    )
    assert result.returncode == 0, f"chromium failed on {uri}:\n{result.stderr[-2000:]}"
    return result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("name", MATH_PAGES)
def test_math_is_typeset_offline(site, browser, name):
    page = site / name
    assert page.is_file(), f"{name} is missing from the built site"
    built = _parse(page.read_text(encoding="utf-8"))
    assert built.math_elements > 0, f"{name} has no math to check"

    rendered = _parse(_dump_dom(browser, page.as_uri()))
    assert rendered.errors == 0, f"{name}: {rendered.errors} formulas KaTeX could not parse"
    # KaTeX replaces each arithmatex element's content with one .katex root holding MathML;
    # the renderer adds elements of its own for the formulas of headings repeated in the
    # navigation, so the browser may count more formulas than the built HTML.
    assert rendered.math_elements >= built.math_elements
    assert rendered.katex_roots == rendered.math_elements, (
        f"{name}: {rendered.math_elements} formulas, {rendered.katex_roots} typeset"
    )
    assert rendered.mathml == rendered.math_elements
    assert not _raw_tex(rendered), f"{name} shows TeX source to the reader: {_raw_tex(rendered)}"


@pytest.mark.slow
def test_every_formula_of_the_site_parses(site, browser, tmp_path):
    # One page holding every formula of every page (those added later too), typeset by the
    # site's own KaTeX and renderer: none may fail to parse or use a command KaTeX lacks.
    formulas = []
    for page in _pages(site):
        html = page.read_text(encoding="utf-8")
        formulas += [m.group() for m in ARITHMATEX_ELEMENT.finditer(html)]
    assert len(formulas) > 500, f"only {len(formulas)} formulas found in the site"
    scripts = site / "javascripts"
    probe = tmp_path / "all-formulas.html"
    probe.write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<link rel='stylesheet' href='{(scripts / 'katex/katex.min.css').as_uri()}'>"
        f"</head><body>{''.join(formulas)}"
        f"<script src='{(scripts / 'katex/katex.min.js').as_uri()}'></script>"
        f"<script src='{(scripts / 'katex-render.js').as_uri()}'></script></body></html>",
        encoding="utf-8",
    )
    dom = _dump_dom(browser, probe.as_uri())
    rendered = _parse(dom)
    assert rendered.katex_roots == len(formulas)
    errors = re.findall(r'class="katex-error"[^>]*title="([^"]*)"', dom)
    assert not errors, f"{len(errors)} formulas KaTeX cannot parse: {errors[:5]}"
    # An unknown command is no parse error: KaTeX shows its name in red, as text.
    assert not _raw_tex(rendered), f"commands KaTeX does not know: {_raw_tex(rendered)}"


@pytest.mark.slow
def test_search_works_from_disk_with_typeset_results(site, browser):
    # Browsers refuse the search worker on file:// pages; the site ships a shim and an inlined
    # index for that. "?q=" opens the search with a query; the virtual-time budget lets the
    # worker answer before the DOM is read.
    page = site / "theory.html"
    dom = _dump_dom(browser, page.as_uri() + "?q=collapse", "--virtual-time-budget=15000")
    found = re.search(r'md-search-result__meta">\s*(\d+) matching document', dom)
    assert found, "the search gave no results opened from disk"
    rendered = _parse(dom)
    assert rendered.errors == 0
    assert not _raw_tex(rendered), f"search results show TeX source: {_raw_tex(rendered)}"


def test_raw_tex_pattern_catches_what_a_broken_formula_leaves():
    # The checks are only as good as this pattern: it must see the leftovers of the failures
    # the site has had (a $...$ ending on a space, a formula split by a table's "|", a reST
    # directive, an unrendered span), and must not flag ordinary prose.
    for broken in [r"$\lambda_1 = $ top", r"\(\beta^*\)", "$$", r"\frac{a}{b}", "$x$", "|m_k$"]:
        assert RAW_TEX.search(broken), broken
    for prose in ["costs $5 per run", "a \\ b", "eps_g(t) = 0.5", "x|y", "tau -> 0"]:
        assert not RAW_TEX.search(prose), prose


@pytest.mark.slow
def test_no_page_holds_tex_outside_its_formulas(site):
    # Every page, including those added later: TeX that the Markdown did not turn into a
    # formula (an unmatched dollar, a line read as a list item) stays text no script renders.
    leaks = {}
    for page in _pages(site):
        leftovers = _raw_tex(_parse(page.read_text(encoding="utf-8"), source=True))
        if leftovers:
            leaks[str(page.relative_to(site))] = leftovers[:10]
    assert not leaks, f"TeX outside the formulas: {leaks}"


@pytest.mark.slow
def test_everything_loaded_is_shipped_with_the_site(site):
    # Scripts, stylesheets, images and the fonts the stylesheets name (KaTeX's among them):
    # none from another host, and each local one present in the built site.
    loads = []
    for page in _pages(site):
        loads += [(page, url) for url in _parse(page.read_text(encoding="utf-8")).loads]
    for sheet in sorted(site.rglob("*.css")):
        css = sheet.read_text(encoding="utf-8")
        loads += [(sheet, url) for url in re.findall(r"url\(\s*['\"]?([^'\")\s]+)", css)]
    remote, missing = [], []
    for origin, url in loads:
        parts = urlsplit(url)
        where = f"{origin.relative_to(site)}: {url}"
        if parts.scheme in {"http", "https"} or url.startswith("//"):
            remote.append(where)
        elif not parts.scheme and parts.path and origin.name not in SERVER_ONLY_PAGES:
            if not (origin.parent / unquote(parts.path)).resolve().is_file():
                missing.append(where)
    assert not remote, "the site loads from the network:\n" + "\n".join(remote[:20])
    assert not missing, "the site loads files it does not ship:\n" + "\n".join(missing[:20])


@pytest.mark.slow
def test_internal_links_name_files_that_exist(site):
    broken = []
    for page in _pages(site):
        if page.name in SERVER_ONLY_PAGES:
            continue
        for href in _parse(page.read_text(encoding="utf-8")).links:
            parts = urlsplit(href)
            if parts.scheme or href.startswith(("//", "#")) or not parts.path:
                continue
            if not (page.parent / unquote(parts.path)).resolve().is_file():
                broken.append(f"{page.relative_to(site)}: {href}")
    assert not broken, "links that do not open a file from disk:\n" + "\n".join(broken[:20])


# A figure's <img> on an example's page, as the gallery writes it (images/mkd_glr_<name>_NNN).
GALLERY_FIGURE = re.compile(r'<img[^>]*\ssrc="(images/mkd_glr_[^"]+\.png)"')

# The gallery's figure resolution (docs/gallery.py), the least of every figure of the project.
GALLERY_MIN_DPI = 150


def _png_dpi(path: Path) -> float:
    """Horizontal resolution of a PNG from its pHYs chunk (pixels per metre), 0 without one."""
    data = path.read_bytes()
    at = 8  # after the signature
    while at + 8 <= len(data):
        length = int.from_bytes(data[at : at + 4], "big")
        kind = data[at + 4 : at + 8]
        if kind == b"pHYs":
            per_metre = int.from_bytes(data[at + 8 : at + 12], "big")
            return per_metre * 0.0254 if data[at + 16] == 1 else 0.0
        if kind == b"IDAT":  # pHYs, when present, comes before the image data
            return 0.0
        at += 12 + length
    return 0.0


@pytest.mark.slow
def test_every_example_runs_into_a_page_with_its_figures(site):
    # The gallery runs every script of examples/ when the site is built (a failing script
    # fails the build above): each has its page, drawing at least one figure of its own that
    # the site ships, at the gallery's resolution or more, and the index links to it.
    scripts = sorted((REPO / "examples").glob("*.py"))
    assert len(scripts) >= 8, f"the gallery has {len(scripts)} examples, not the 8 documented"
    index = (site / "examples" / "index.html").read_text(encoding="utf-8")
    for script in scripts:
        page = site / "examples" / f"{script.stem}.html"
        assert page.is_file(), f"{script.name} has no page in the built site"
        assert f'href="{script.stem}.html"' in index, f"the gallery index misses {script.name}"
        figures = GALLERY_FIGURE.findall(page.read_text(encoding="utf-8"))
        assert figures, f"{page.name} shows no figure"
        for src in figures:
            png = page.parent / src
            assert png.is_file(), f"{page.name}: {src} is not in the site"
            dpi = _png_dpi(png)
            assert dpi >= GALLERY_MIN_DPI - 0.5, f"{src} is saved at {dpi:.0f} dpi"
