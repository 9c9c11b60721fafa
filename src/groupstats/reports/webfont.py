"""Chinese text that renders in any browser: the page's own CJK characters as an embedded web font.

A report page is opened on machines with and without a CJK system font. :func:`embed_cjk_font`
subsets the Noto Sans CJK SC font shipped with the dependencies (see
:func:`groupstats.reports.notebook.cjk_font_path`) to the characters the page uses, and embeds
it as a WOFF ``@font-face`` (tens of kilobytes for a report), used after the usual Latin fonts.
"""
from __future__ import annotations

import base64
import hashlib
import html as _html
import io
import os
import re
import threading
from pathlib import Path

FAMILY = "GS Noto Sans CJK SC"
#: Part of the cache key of a subset: change it when the subsetting options change.
_SUBSET_FORMAT = "woff-all-features-v1"
_FONT_STACK = (f'-apple-system, "Segoe UI", Helvetica, Arial, "{FAMILY}", "Noto Sans CJK SC", "PingFang SC", '
               '"Microsoft YaHei", sans-serif')


def page_characters(page: str) -> str:
    """The non-ASCII characters of a page's text (tags, styles, scripts and data URIs left out)."""
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S | re.I)
    text = re.sub(r"data:[^\"')]+", " ", text)
    text = _html.unescape(re.sub(r"<[^>]+>", " ", text))
    return "".join(sorted({c for c in text if ord(c) > 127}))


def _cache_file(font: Path, characters: str) -> Path:
    """Where the subset of ``font`` to ``characters`` is kept between runs: ``$GROUPSTATS_CACHE_DIR``,
    else ``$XDG_CACHE_HOME/groupstats``, else ``~/.cache/groupstats``; keyed by the font file, the
    fontTools version and the characters."""
    import fontTools

    root = os.environ.get("GROUPSTATS_CACHE_DIR") or Path(os.environ.get("XDG_CACHE_HOME") or
                                                          Path.home() / ".cache") / "groupstats"
    stat = font.stat()
    key = hashlib.sha256(repr((_SUBSET_FORMAT, str(font), stat.st_size, stat.st_mtime_ns, fontTools.version,
                               characters)).encode()).hexdigest()
    return Path(root) / "webfont" / f"{key}.woff"


def subset_woff(characters: str) -> bytes | None:
    """The shipped CJK font reduced to ``characters`` (plus ASCII), as WOFF bytes; None without it.

    Subsetting takes about a second; the result is kept on disk (:func:`_cache_file`), so a batch
    whose pages use the same characters as an earlier one reuses it.
    """
    from groupstats.reports.notebook import cjk_font_path

    path = cjk_font_path()
    if path is None or not characters:
        return None
    cached = None
    try:
        cached = _cache_file(Path(path), characters)
        data = cached.read_bytes()
        if data.startswith(b"wOFF"):
            return data
    except OSError:
        pass
    data = _subset_woff(path, characters)
    if cached is not None:
        try:  # write then rename: a reader never sees half a file
            cached.parent.mkdir(parents=True, exist_ok=True)
            part = cached.with_name(f"{cached.name}.{os.getpid()}-{threading.get_ident()}.part")
            part.write_bytes(data)
            os.replace(part, cached)
        except OSError:  # no writable cache: subset every time
            pass
    return data


def _subset_woff(path, characters: str) -> bytes:
    from fontTools import subset

    options = subset.Options()
    options.flavor = "woff"
    options.layout_features = ["*"]
    options.name_IDs = ["*"]
    options.notdef_outline = True
    font = subset.load_font(str(path), options, lazy=True)
    sub = subset.Subsetter(options)
    sub.populate(text=characters + "".join(chr(i) for i in range(32, 127)))
    sub.subset(font)
    buf = io.BytesIO()
    subset.save_font(font, buf, options)
    return buf.getvalue()


def font_css(page: str, characters: str | None = None) -> str:
    """A ``<style>`` with the embedded subset font and the font stacks that use it ('' if not needed).

    ``characters`` (default: the page's own) are the characters the font keeps.
    """
    chars = page_characters(page) if characters is None else characters
    if not any("\u2e80" <= c <= "\u9fff" or "\uff00" <= c <= "\uffef" or "\u3000" <= c <= "\u303f"
               for c in chars):
        return ""
    data = subset_woff(chars)
    if data is None:
        return ""
    b64 = base64.b64encode(data).decode("ascii")
    return ("<style>\n"
            f'@font-face {{ font-family: "{FAMILY}"; src: url(data:font/woff;base64,{b64}) format("woff"); '
            "font-weight: 400; }\n"  # one weight: bold text (headers) gets a synthesised bold, as Latin does
            f":root {{ --jp-content-font-family: {_FONT_STACK}; --jp-ui-font-family: {_FONT_STACK}; }}\n"
            f"body, table, th, td {{ font-family: {_FONT_STACK}; }}\n"
            "</style>\n")


_CACHE: dict[str, str] = {}


def embed_cjk_font(page: str, characters: str | None = None) -> str:
    """``page`` with the font of :func:`font_css` added at the end of its ``<head>``."""
    if characters is not None and page_characters(page) and not set(page_characters(page)) <= set(characters):
        characters = None
    key = characters if characters is not None else page_characters(page)
    if key not in _CACHE:
        _CACHE.clear()
        _CACHE[key] = font_css(page, characters)
    css = _CACHE[key]
    if not css:
        return page
    if "</head>" in page:
        return page.replace("</head>", css + "</head>", 1)
    return css + page
