"""Cross-site scripting detection with an HTML/JS tokenizer.

The value is scanned the way a browser would meet it in the three places an injection
lands: in HTML text (tags, with their attributes parsed), inside an attribute value (a
quote breakout followed by a new attribute), and inside a script string (a quote breakout
followed by an expression that calls something). Harmless markup (`<b>`, `<a href=https:>`,
`a < b`) passes: only executable constructs count — script-capable tags, event-handler
attributes, script URLs (after removing the whitespace, control characters and entity
tricks browsers ignore), CSS expressions, and JS sinks reached from a breakout.
"""

from __future__ import annotations

import re
from functools import lru_cache

DANGEROUS_TAGS = frozenset(
    [
        "script",
        "iframe",
        "frame",
        "frameset",
        "object",
        "embed",
        "applet",
        "base",
        "meta",
        "link",
        "style",
        "svg",
        "math",
        "xml",
        "import",
        "isindex",
        "template",
        "portal",
        "set",
        "animate",
        "handler",
        "listener",
        "xss",
    ]
)
# Tags dangerous only with certain attributes are handled by the attribute rules.
URL_ATTRS = frozenset(
    [
        "href",
        "src",
        "action",
        "formaction",
        "data",
        "xlink:href",
        "background",
        "dynsrc",
        "lowsrc",
        "poster",
        "code",
        "codebase",
        "content",
        "to",
        "from",
        "values",
        "by",
        "srcdoc",
        "ping",
        "manifest",
    ]
)
SCRIPT_SCHEMES = re.compile(
    r"^(?:javascript|vbscript|livescript|mocha|data:(?:text/html|"
    r"image/svg|application/(?:x-)?(?:javascript|xhtml|ecmascript)|"
    r"text/(?:x-)?(?:javascript|ecmascript|xml)))"
)
_TAG = re.compile(r"<[\s/]*([a-z!?][\w:.-]*)", re.I)
_ATTR = re.compile(
    r"""[\s/"'`]([a-z_:][\w:.-]*)\s*(?:=\s*("[^"]*"?|'[^']*'?|`[^`]*`?|[^\s>]*))?""", re.I
)
_EVENT = re.compile(r"^on[a-z]{3,}$")
_STRIP_URL = re.compile(
    r"[\x00-\x20\x7f\"'`]|&(?:tab|newline|nbsp|#0*9|#0*10|#0*13|#x0*[9ad]);?", re.I
)
_BREAKOUT_ATTR = re.compile(
    r"""["'`]\s*[/\s]*(?:\s|/)?(on[a-z]{3,}|style|src|href|formaction|autofocus)\s*=""", re.I
)
_EVENT_ANYWHERE = re.compile(
    r"(?:^|[\s\"'`/;])on(?:error|load|mouse\w+|focus\w*|blur|click|dblclick|key\w+|change|"
    r"submit|toggle|begin|end|animation\w+|transition\w+|pointer\w+|wheel|scroll|drag\w*|drop|"
    r"input|select|copy|cut|paste|resize|message|hashchange|pageshow|popstate|unload|"
    r"beforeunload|play|pause|canplay|ended|invalid|search|show|start|finish|auxclick|"
    r"contextmenu|readystatechange|loadstart|loadend|progress|abort|beforeprint|afterprint)"
    r"\s*=\s*[\"'`]?[\w$.\[\](]",
    re.I,
)
SINKS = (
    r"alert|prompt|confirm|eval|settimeout|setinterval|function|fetch|atob|import|"
    r"document\.(?:write\w*|cookie|domain|location|body)|window\.(?:location|open|name)|"
    r"location(?:\.href)?|top\.|self\.|parent\.|constructor|string\.fromcharcode|"
    r"new\s+image|xmlhttprequest|navigator\.sendbeacon|\[\s*['\"]\w+['\"]\s*\]"
)
_JS_BREAKOUT = re.compile(
    r"""(?:^|["'`])\s*\)?\s*(?:[;,+\-*/|&^%]|\?\?|&&|\|\|)\s*(?:void\s+|new\s+|typeof\s+)?"""
    r"(?:" + SINKS + r")\s*(?:[(`=.\[]|$)",
    re.I,
)
_SINK_CALL = re.compile(
    r"(?:^|[^\w.])(?:alert|prompt|confirm)\s*(?:\(\s*(?:[\d'\"`/]|document|window|this|"
    r"string\.fromcharcode|top|self|origin|location)|`)",
    re.I,
)
_COOKIE_THEFT = re.compile(r"document\.cookie|document\.domain", re.I)
_CSS_EXPR = re.compile(
    r"expression\s*\(|-moz-binding|behavior\s*:|url\s*\(\s*['\"]?\s*"
    r"(?:javascript|vbscript|data:text/html)",
    re.I,
)
_PREFILTER = re.compile(
    r"[<>\"'`]|javascript|vbscript|script|on\w+\s*=|alert|prompt|"
    r"confirm|eval|expression|data:|document\.|window\.|&#|\\u",
    re.I,
)


def _url_is_script(value: str) -> bool:
    v = _STRIP_URL.sub("", value.lower())
    return bool(SCRIPT_SCHEMES.match(v))


def _tag_attack(s: str, start: int, name: str) -> str | None:
    name_l = name.lower().rstrip("/")
    close = s.find(">", start)
    if close < 0:
        close = len(s)
    body = s[start:close]
    if name_l in DANGEROUS_TAGS:
        if name_l in (
            "svg",
            "math",
            "style",
            "link",
            "meta",
            "set",
            "animate",
            "template",
            "xml",
            "import",
        ):
            # These run script only with an event handler, a script URL or script content.
            pass
        else:
            return "tag:" + name_l
    for m in _ATTR.finditer(body):
        attr = m.group(1).lower()
        val = m.group(2) or ""
        if _EVENT.match(attr):
            return "event:" + attr
        if attr in URL_ATTRS and val and _url_is_script(val.strip("\"'`")):
            return "url:" + attr
        if attr == "style" and _CSS_EXPR.search(val):
            return "css"
        if attr == "srcdoc":
            return "srcdoc"
        if (
            name_l == "meta"
            and attr == "http-equiv"
            and "refresh" in val.lower()
            and "url" in body.lower()
            and _url_is_script(body.lower().split("url=", 1)[-1])
        ):
            return "meta-refresh"
        if name_l == "link" and attr == "rel" and "import" in val.lower():
            return "link-import"
    if name_l in ("svg", "math") and re.search(
        r"<\s*(?:script|animate|set|handler)", s[close:], re.I
    ):
        return "svg-script"
    if name_l == "style" and _CSS_EXPR.search(s[close:]):
        return "style-expression"
    return None


@lru_cache(maxsize=16384)
def detect_xss(value: str) -> str | None:
    """The construct that makes `value` an XSS payload, or None."""
    if len(value) < 4 or not _PREFILTER.search(value):
        return None
    s = value
    # 1. HTML text context: tags.
    if "<" in s:
        for m in _TAG.finditer(s):
            name = m.group(1)
            if name.startswith("!"):
                if name.lower().startswith("![cdata[") and "script" in s.lower():
                    return "cdata"
                continue
            if name.startswith("?"):
                continue
            r = _tag_attack(s, m.end(), name)
            if r:
                return r
    # 2. Attribute-value context: quote breakout then a new attribute.
    if any(q in s for q in "\"'`"):
        for m in _BREAKOUT_ATTR.finditer(s):
            attr = m.group(1).lower()
            rest = s[m.end() :].lstrip(" \"'`")
            if attr.startswith("on") and rest[:1] and re.match(r"[\w$.\[(]", rest):
                return "attr-breakout"
            if attr in ("src", "href", "formaction") and _url_is_script(rest):
                return "attr-breakout"
            if attr == "style" and _CSS_EXPR.search(rest):
                return "attr-breakout"
    if _EVENT_ANYWHERE.search(s):
        head = s.lstrip()
        if head[:2].lower() == "on" or any(q in s for q in "\"'`/<"):
            return "event-handler"
    # 3. A script URL as the whole value (redirects, links).
    stripped = s.strip()
    if stripped[:1].isalpha() and _url_is_script(stripped[:40]) and ":" in stripped:
        return "script-url"
    # 4. Script-string context: breakout then a sink.
    if _JS_BREAKOUT.search(s):
        return "js-breakout"
    if _SINK_CALL.search(s):
        return "js-sink"
    low = s.lower()
    if "</script" in low:
        return "script-close"
    if _CSS_EXPR.search(s) and ("style" in low or "{" in s or ":" in s):
        return "css"
    return None


def is_xss(value: str) -> bool:
    return detect_xss(value) is not None
