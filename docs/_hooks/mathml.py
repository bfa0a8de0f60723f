"""MkDocs hook: LaTeX math to MathML at build time, so pages need no JavaScript or network.

``$$ ... $$`` (display) and ``$ ... $`` (inline) outside code are replaced by
placeholders before Markdown runs (so ``_`` and ``*`` inside math are not read
as emphasis) and by MathML, rendered by ``latex2mathml``, afterwards.
"""

import re

from latex2mathml.converter import convert

_CODE = re.compile(r"(^```.*?^```[ \t]*$|`[^`\n]+`)", re.S | re.M)
_DISPLAY = re.compile(r"\$\$(.+?)\$\$", re.S)
_INLINE = re.compile(r"(?<![\\$\w])\$(?=\S)([^$\n]+?)(?<=\S)\$(?![\w$])")
_STORE = {}


def _placeholders(text, key):
    store = _STORE.setdefault(key, {})

    def put(latex, display):
        token = f"MATHML{len(store)}X{abs(hash(key)) % 10**8}"
        mathml = convert(latex.strip(), display="block" if display else "inline")
        if "\\" in mathml:  # latex2mathml passes unknown commands through as text
            raise ValueError(f"{key}: LaTeX that latex2mathml cannot render: {latex.strip()}")
        store[token] = mathml
        return f'\n\n<div class="math">{token}</div>\n\n' if display else token

    text = _DISPLAY.sub(lambda m: put(m.group(1), True), text)
    return _INLINE.sub(lambda m: put(m.group(1), False), text)


def on_page_markdown(markdown, page, **kwargs):
    key = page.file.src_uri
    _STORE[key] = {}
    parts = _CODE.split(markdown)
    for i in range(0, len(parts), 2):  # even parts are outside code
        parts[i] = _placeholders(parts[i], key)
    return "".join(parts)


def on_page_content(html, page, **kwargs):
    for token, mathml in _STORE.pop(page.file.src_uri, {}).items():
        html = html.replace(token, mathml)
    return html


_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|attr|mod|data|obj|exc):(<code>)~?")


def on_post_page(output, page, **kwargs):
    """Drop Sphinx roles (``:class:`x```) that numpydoc docstrings may carry."""
    return _ROLE.sub(r"\1", output)
