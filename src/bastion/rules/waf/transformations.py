"""AWS WAF text transformations (the `TextTransformation` Type enum), applied in priority order.

Values travel through the engine as `str` holding latin-1-decoded bytes, so a byte-level
transformation (URL decoding, hex, Base64) stays reversible and cheap; characters above
U+00FF appear only after an entity or escape decode produced them.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import html
import re
from collections.abc import Callable, Mapping, Sequence

Transform = Callable[[str], str]

_WS = " \t\n\r\f\v"


def _latin1(b: bytes) -> str:
    return b.decode("latin-1")


_PCT = re.compile(r"%([0-9A-Fa-f]{2})")
_PCT_U = re.compile(r"%[uU]([0-9A-Fa-f]{4})")


def url_decode(s: str) -> str:
    if "%" not in s and "+" not in s:
        return s
    s = s.replace("+", " ")
    if "%" not in s:
        return s
    return _PCT.sub(lambda m: chr(int(m.group(1), 16)), s)


def url_decode_uni(s: str) -> str:
    if "%" not in s and "+" not in s:
        return s

    def uni(m: re.Match[str]) -> str:
        code = int(m.group(1), 16)
        if 0xFF01 <= code <= 0xFF5E:  # full-width ASCII
            code -= 0xFEE0
        return chr(code) if code < 0x100 else chr(code & 0xFF) if code < 0xFF01 else chr(code)

    return url_decode(_PCT_U.sub(uni, s))


_ENTITY = re.compile(r"&(#[xX][0-9A-Fa-f]+|#[0-9]+|[A-Za-z][A-Za-z0-9]{1,31});?")


def html_entity_decode(s: str) -> str:
    if "&" not in s:
        return s

    def ent(m: re.Match[str]) -> str:
        body = m.group(1)
        try:
            if body[0] == "#":
                code = int(body[2:], 16) if body[1] in "xX" else int(body[1:])
                return chr(code) if 0 < code < 0x110000 else m.group(0)
        except ValueError:
            return m.group(0)
        out = html.unescape("&" + body + ";")
        return out if not out.startswith("&") else m.group(0)

    return _ENTITY.sub(ent, s)


def compress_white_space(s: str) -> str:
    return re.sub(r"[\t\n\r\f\v ]+", " ", s)


def cmd_line(s: str) -> str:
    s = re.sub(r"[\\\"'^]", "", s)
    s = re.sub(r"\s+(?=[/(])", "", s)
    s = re.sub(r"[,;]", " ", s)
    s = re.sub(r"\s+", " ", s)
    return s.lower()


def cmd_line_win(s: str) -> str:
    s = re.sub(r"[\"'^]", "", s)
    s = re.sub(r"\s+(?=[/(])", "", s)
    s = re.sub(r"[,;]", " ", s)
    s = re.sub(r"\s+", " ", s)
    return s.lower()


def cmd_line_unix(s: str) -> str:
    s = re.sub(r"[\\\"']", "", s)
    s = re.sub(r"\s+(?=[/(])", "", s)
    s = re.sub(r"\s+", " ", s)
    return s.lower()


_B64_CHUNK = re.compile(r"[A-Za-z0-9+/]+={0,2}")


def base64_decode(s: str) -> str:
    try:
        raw = s.strip().encode("latin-1")
        pad = (-len(raw)) % 4
        return _latin1(base64.b64decode(raw + b"=" * pad, validate=True))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return s


def base64_decode_ext(s: str) -> str:
    """Forgiving Base64: ignores characters outside the alphabet, accepts the URL-safe one."""
    cleaned = re.sub(r"[^A-Za-z0-9+/]", "", s.replace("-", "+").replace("_", "/"))
    cleaned = cleaned[: len(cleaned) - len(cleaned) % 4]
    try:
        return _latin1(base64.b64decode(cleaned))
    except (binascii.Error, ValueError):
        return s


def hex_decode(s: str) -> str:
    try:
        return _latin1(bytes.fromhex(s.strip()))
    except ValueError:
        out = re.sub(r"[0-9A-Fa-f]{2}", lambda m: chr(int(m.group(0), 16)), s)
        return out


def sql_hex_decode(s: str) -> str:
    def dec(m: re.Match[str]) -> str:
        digits = m.group(1)
        if len(digits) % 2:
            digits = digits[:-1]
        return _latin1(bytes.fromhex(digits))

    return re.sub(r"0[xX]([0-9A-Fa-f]{2,})", dec, s)


def md5(s: str) -> str:
    return _latin1(
        hashlib.md5(s.encode("latin-1", "surrogatepass"), usedforsecurity=False).digest()
    )


def sha256(s: str) -> str:
    return _latin1(hashlib.sha256(s.encode("latin-1", "surrogatepass")).digest())


_COMMENT = re.compile(r"/\*.*?(?:\*/|$)", re.S)


def replace_comments(s: str) -> str:
    return _COMMENT.sub(" ", s)


def remove_comments_char(s: str) -> str:
    for token in ("/*", "*/", "--", "#"):
        s = s.replace(token, "")
    return s


_ESC = re.compile(
    r"\\(?:x([0-9A-Fa-f]{1,2})|u([0-9A-Fa-f]{4})|([0-7]{1,3})|([abfnrtv\\?'\"])|(.))", re.S
)
_SIMPLE_ESC = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def escape_seq_decode(s: str) -> str:
    if "\\" not in s:
        return s

    def dec(m: re.Match[str]) -> str:
        hx, uni, octal, simple, other = m.groups()
        if hx:
            return chr(int(hx, 16))
        if uni:
            return chr(int(uni, 16))
        if octal:
            return chr(int(octal, 8) & 0xFF)
        if simple:
            return _SIMPLE_ESC.get(simple, simple)
        return other

    return _ESC.sub(dec, s)


_JS = re.compile(
    r"\\(?:u\{([0-9A-Fa-f]{1,6})\}|u([0-9A-Fa-f]{4})|x([0-9A-Fa-f]{2})|([0-7]{1,3})|(.))", re.S
)


def js_decode(s: str) -> str:
    if "\\" not in s:
        return s

    def dec(m: re.Match[str]) -> str:
        brace, uni, hx, octal, other = m.groups()
        if brace:
            code = int(brace, 16)
            return chr(code) if code < 0x110000 else ""
        if uni:
            code = int(uni, 16)
            if 0xFF01 <= code <= 0xFF5E:
                code -= 0xFEE0
            return chr(code)
        if hx:
            return chr(int(hx, 16))
        if octal:
            return chr(int(octal, 8) & 0xFF)
        return _SIMPLE_ESC.get(other, other)

    return _JS.sub(dec, s)


def js_decode_ext(s: str) -> str:
    return js_decode(js_decode(s))


_CSS = re.compile(r"\\([0-9A-Fa-f]{1,6})\s?|\\(.)", re.S)


def css_decode(s: str) -> str:
    if "\\" not in s:
        return s

    def dec(m: re.Match[str]) -> str:
        if m.group(1):
            code = int(m.group(1), 16)
            return chr(code) if 0 < code < 0x110000 else ""
        return "" if m.group(2) == "\n" else m.group(2)

    return _CSS.sub(dec, s)


def normalize_path(s: str) -> str:
    if not s:
        return s
    absolute = s.startswith("/")
    trailing = s.endswith("/") and len(s) > 1
    out: list[str] = []
    for part in s.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if out and out[-1] != "..":
                out.pop()
            elif not absolute:
                out.append("..")
            continue
        out.append(part)
    result = ("/" if absolute else "") + "/".join(out)
    if trailing and not result.endswith("/"):
        result += "/"
    return result or ("/" if absolute else "")


def normalize_path_win(s: str) -> str:
    return normalize_path(s.replace("\\", "/"))


def remove_nulls(s: str) -> str:
    return s.replace("\x00", "")


def replace_nulls(s: str) -> str:
    return s.replace("\x00", " ")


def remove_whitespace(s: str) -> str:
    return re.sub(r"\s+", "", s)


def utf8_to_unicode(s: str) -> str:
    """Decode UTF-8 byte sequences (carried as latin-1 chars) and write non-ASCII as %uHHHH."""
    try:
        text = s.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return s
    return "".join(c if ord(c) < 0x80 else f"%u{ord(c):04x}" for c in text)


TRANSFORMS: dict[str, Transform] = {
    "NONE": lambda s: s,
    "COMPRESS_WHITE_SPACE": compress_white_space,
    "HTML_ENTITY_DECODE": html_entity_decode,
    "LOWERCASE": str.lower,
    "UPPERCASE": str.upper,
    "CMD_LINE": cmd_line,
    "CMD_LINE_WIN": cmd_line_win,
    "CMD_LINE_UNIX": cmd_line_unix,
    "URL_DECODE": url_decode,
    "URL_DECODE_UNI": url_decode_uni,
    "BASE64_DECODE": base64_decode,
    "BASE64_DECODE_EXT": base64_decode_ext,
    "HEX_DECODE": hex_decode,
    "SQL_HEX_DECODE": sql_hex_decode,
    "MD5": md5,
    "SHA256": sha256,
    "REPLACE_COMMENTS": replace_comments,
    "REMOVE_COMMENTS_CHAR": remove_comments_char,
    "ESCAPE_SEQ_DECODE": escape_seq_decode,
    "CSS_DECODE": css_decode,
    "JS_DECODE": js_decode,
    "JS_DECODE_EXT": js_decode_ext,
    "NORMALIZE_PATH": normalize_path,
    "NORMALIZE_PATH_WIN": normalize_path_win,
    "REMOVE_NULLS": remove_nulls,
    "REPLACE_NULLS": replace_nulls,
    "REMOVE_WHITESPACE": remove_whitespace,
    "UTF8_TO_UNICODE": utf8_to_unicode,
    "TRIM": lambda s: s.strip(_WS),
    "TRIM_LEFT": lambda s: s.lstrip(_WS),
    "TRIM_RIGHT": lambda s: s.rstrip(_WS),
}

MAX_TRANSFORMATIONS = 10


def transformation_names(transformations: Sequence[Mapping]) -> tuple[str, ...]:
    """The transformation types sorted by Priority (AWS applies the lowest first); NONE dropped."""
    ordered = sorted(transformations, key=lambda t: int(t.get("Priority", 0)))
    return tuple(t["Type"] for t in ordered if t.get("Type") != "NONE")


def compile_pipeline(names: Sequence[str]) -> Transform | None:
    """One function applying `names` in order; None when there is nothing to apply."""
    funcs = [TRANSFORMS[n] for n in names]
    if not funcs:
        return None
    if len(funcs) == 1:
        return funcs[0]

    def run(s: str) -> str:
        for f in funcs:
            s = f(s)
        return s

    return run


# --- Bastion's multi-decoding used by its managed detectors --------------------------------

_B64_TOKEN = re.compile(r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{12,}={0,2}")
_PRINTABLE = re.compile(r"[\x20-\x7e\t\r\n]")


def _printable_ratio(s: str) -> float:
    if not s:
        return 0.0
    return len(_PRINTABLE.findall(s)) / len(s)


_B64_SHORT_WHOLE = re.compile(r"[A-Za-z0-9+/_-]{8,11}={0,2}")


def _b64_variants(s: str) -> list[str]:
    out = []
    toks = [m.group(0) for m in _B64_TOKEN.finditer(s)]
    whole = s.strip()
    # A short value that is Base64 from end to end, padded to a multiple of 4 (`YQp3aG9hbWk=`).
    if not toks and len(whole) % 4 == 0 and _B64_SHORT_WHOLE.fullmatch(whole):
        toks = [whole]
    for tok in toks:
        if tok.isdigit() or (tok.isalpha() and (tok.islower() or tok.isupper())):
            continue
        cleaned = tok.replace("-", "+").replace("_", "/").rstrip("=")
        cleaned += "=" * ((-len(cleaned)) % 4)
        try:
            dec = base64.b64decode(cleaned, validate=True)
        except (binascii.Error, ValueError):
            continue
        text = _latin1(dec)
        if len(text) >= 6 and _printable_ratio(text) > 0.95:
            out.append(text)
    return out


_HIGH_LATIN1 = re.compile("[\x80-\xff]")


def deep_decode(s: str) -> tuple[str, ...]:
    """The distinct readings of `s` an attacker may rely on: the raw value, up to three
    rounds of URL decoding (with %u and full-width forms), HTML entities, JS/JSON escapes,
    and Base64 tokens that decode to text. Each reading is whitespace-normalised and any
    NUL removed."""
    seen: list[str] = []

    def add(v: str) -> None:
        v = v.replace("\x00", "")
        if v not in seen:
            seen.append(v)

    add(s)
    cur = s
    for _ in range(3):
        nxt = url_decode_uni(cur) if "%" in cur else cur
        if nxt == cur:
            break
        add(nxt)
        cur = nxt
    for v in list(seen):
        if "&" in v:
            add(html_entity_decode(html_entity_decode(v)))
        if "\\" in v:
            add(js_decode_ext(v))
    for v in list(seen):
        if "%" in v:
            add(url_decode_uni(v))
    if len(s) >= 8:
        for v in list(seen)[:2]:
            for d in _b64_variants(v):
                add(d)
                if "%" in d:
                    add(url_decode(d))
    # UTF-8 sequences carried as latin-1 characters: also read them as text.
    for v in list(seen):
        if _HIGH_LATIN1.search(v):
            with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
                add(v.encode("latin-1").decode("utf-8"))
    return tuple(seen)
