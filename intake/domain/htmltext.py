"""Text of an HTML body, for phrase matching: tags dropped, blocks as lines."""

from __future__ import annotations

import re
from html import unescape

_BLOCK_TAGS = frozenset(
    "br p div tr li h1 h2 h3 h4 h5 h6 table ul ol blockquote pre hr section article".split()
)
_SKIP_TAGS = ("script", "style", "head", "title")
_TAG_NAME = re.compile(r"/?\s*([a-zA-Z][a-zA-Z0-9]*)")


def html_to_text(html: str) -> str:
    """Text of an HTML body: tags dropped, block ends as new lines, entities decoded."""
    lower = html.lower()
    out: list[str] = []
    i, n = 0, len(html)
    while i < n:
        start = html.find("<", i)
        if start < 0:
            out.append(html[i:])
            break
        out.append(html[i:start])
        if html.startswith("<!--", start):
            end = html.find("-->", start + 4)
            i = n if end < 0 else end + 3
            continue
        end = html.find(">", start + 1)
        if end < 0:
            break  # an unclosed tag: the rest is not text
        match = _TAG_NAME.match(html, start + 1, end)
        name = match.group(1).lower() if match else ""
        i = end + 1
        if name in _BLOCK_TAGS:
            out.append("\n")
        elif name in ("td", "th"):
            out.append(" ")
        if name in _SKIP_TAGS and not html.startswith("/", start + 1):
            close = lower.find(f"</{name}", i)
            i = n if close < 0 else close
    text = unescape("".join(out)).replace("\xa0", " ")
    lines = (" ".join(line.split()) for line in text.splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
