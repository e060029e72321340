"""SQL injection detection with a SQL tokenizer, in the spirit of libinjection.

The input is lexed three times, as libinjection does: as it stands, as if it had been
pasted inside a '...' literal, and inside a "..." literal (the injection usually begins by
closing the application's quote). Tokens are folded into a small tree (function calls and
parenthesised groups become single operands, `a.b` names become one bareword) and
structural rules look for what an injection needs to do something: a UNION SELECT, a
stacked statement, a tautology or boolean/time oracle after an operand, a comment that
cuts the rest of the application's query off right after a quote breakout, a subquery.

LOW sensitivity uses the rules that ordinary text practically never satisfies; HIGH adds
the shorter and more ambiguous forms (bare `' or 1`, `1 order by 3`, whole statements).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+|/\*!\d*|\*/)
  | (?P<bc>/\*.*?(?:\*/|$))
  | (?P<lc>--(?![0-9])[^\n]*|\#[^\n]*|;\x00.*$)
  | (?P<sq>'(?:[^'\\]|\\.|'')*(?:'|$))
  | (?P<dq>"(?:[^"\\]|\\.|"")*(?:"|$))
  | (?P<bt>`[^`]*(?:`|$))
  | (?P<num>0x[0-9a-f]+|0b[01]+|\d+(?:\.\d*)?(?:e[+-]?\d+)?|\.\d+(?:e[+-]?\d+)?)
  | (?P<var>@@?[\w$.]*)
  | (?P<word>[^\W\d][\w$]*)
  | (?P<op><=>|<>|!=|<=|>=|\|\||&&|::|<<|>>|[=<>+\-*/%^|&~!:])
  | (?P<punct>[(),;.\[\]{}])
  | (?P<other>.)
    """,
    re.S | re.X,
)

STATEMENT_VERBS = frozenset(
    [
        "select",
        "insert",
        "update",
        "delete",
        "drop",
        "create",
        "alter",
        "truncate",
        "exec",
        "execute",
        "declare",
        "shutdown",
        "waitfor",
        "grant",
        "revoke",
        "merge",
        "call",
        "handler",
        "rename",
        "replace",
        "load",
    ]
)
KEYWORDS = frozenset(
    [
        "from",
        "where",
        "into",
        "as",
        "table",
        "values",
        "set",
        "limit",
        "offset",
        "distinct",
        "all",
        "by",
        "database",
        "schema",
        "procedure",
        "function",
        "view",
        "index",
        "user",
        "login",
        "delay",
        "time",
        "top",
        "case",
        "when",
        "then",
        "else",
        "end",
        "join",
        "on",
        "inner",
        "outer",
        "left",
        "right",
        "cross",
        "natural",
        "union",
        "intersect",
        "except",
        "order",
        "group",
        "having",
        "null",
        "outfile",
        "dumpfile",
        "char",
        "nchar",
        "varchar",
        "int",
        "using",
        "collate",
        "escape",
        "asc",
        "desc",
        "begin",
        "commit",
        "rollback",
        "tran",
        "transaction",
    ]
)
LOGIC = frozenset({"and", "or", "xor", "&&", "||"})
WORD_OPS = frozenset(
    {
        "like",
        "rlike",
        "regexp",
        "between",
        "in",
        "is",
        "not",
        "div",
        "mod",
        "sounds",
        "glob",
        "match",
        "against",
        "similar",
        "ilike",
    }
)
LITERAL_WORDS = frozenset({"true", "false", "null", "unknown", "current_user", "current_date"})
STRONG_FUNCS = frozenset(
    [
        "sleep",
        "pg_sleep",
        "benchmark",
        "load_file",
        "extractvalue",
        "updatexml",
        "xp_cmdshell",
        "sys_eval",
        "sys_exec",
        "receive_message",
        "dbms_pipe.receive_message",
        "utl_inaddr.get_host_address",
        "utl_http.request",
        "randomblob",
        "dbms_lock.sleep",
        "exp",
        "gtid_subset",
        "json_keys",
        "name_const",
        "polygon",
        "multipoint",
        "geometrycollection",
        "linestring",
        "multilinestring",
        "multipolygon",
        "get_lock",
        "make_set",
        "elt",
        "xmltype",
        "ctxsys.drithsx.sn",
        "dbms_xdb_version.checkin",
        "convert",
        "cast",
        "pg_read_file",
        "lo_import",
        "copy",
        "version",
        "database",
        "schema",
        "current_database",
        "user",
        "system_user",
        "session_user",
    ]
)
# SQL functions an injection uses to build an oracle; a call to one after a logic operator
# (`' and ascii(...)>1`) is an injection at any sensitivity.
SQL_FUNCS = STRONG_FUNCS | frozenset(
    [
        "ascii",
        "ord",
        "substring",
        "substr",
        "mid",
        "left",
        "right",
        "length",
        "len",
        "char",
        "chr",
        "concat",
        "concat_ws",
        "group_concat",
        "string_agg",
        "if",
        "iif",
        "ifnull",
        "isnull",
        "nullif",
        "coalesce",
        "count",
        "hex",
        "unhex",
        "bin",
        "md5",
        "sha1",
        "rand",
        "floor",
        "ceil",
        "round",
        "lower",
        "upper",
        "char_length",
        "instr",
        "locate",
        "position",
        "strcmp",
        "exists",
        "case",
        "unicode",
        "nchar",
        "db_name",
        "host_name",
        "suser_name",
        "@@version",
        "sqlite_version",
        "to_char",
        "to_number",
        "decode",
        "rawtohex",
        "utl_raw",
        "chr",
    ]
)
_INDICATORS = re.compile(
    r"information_schema|xp_cmdshell|sp_executesql|sp_oacreate|sqlite_master|pg_catalog\.|"
    r"sysobjects|syscolumns|msysaccessobjects|@@version|into\s+(?:out|dump)file|load_file\s*\(|"
    r"waitfor\s+(?:delay|time)\s|benchmark\s*\(\s*\d|pg_sleep\s*\(|dbms_pipe\.|utl_http\.|"
    r"utl_inaddr\.|sys\.user_objects|all_tables\b|mysql\.user\b"
)
_PREFILTER = re.compile(
    r"['\"`;#=<>()|&@*]|--|\b(?:union|select|or|and|xor|order|group|having|sleep|benchmark|"
    r"waitfor|insert|drop|delete|update|exec|execute|like|rlike|regexp|between|declare|"
    r"shutdown|information_schema|xp_cmdshell)\b"
)

OPERAND = frozenset("s1nvFQP")


@dataclass(slots=True)
class Tok:
    t: str  # s string, 1 number, n bareword, k keyword, E verb, U union, B order/group by,
    # f function name, F call, P paren group, Q subquery, o operator, & logic, v variable,
    # ( ) , ; . other
    v: str = ""
    closed: bool = True
    cmt: bool = False  # a comment follows this token
    kids: list[Tok] = field(default_factory=list)
    sel: bool = False  # contains a SELECT


def _lex(s: str, ctx: str) -> tuple[list[Tok], bool]:
    """Tokens of `s` (lowercased) read in quote context `ctx` ('' none, "'" or '"').

    Returns the tokens and whether any comment was seen."""
    toks: list[Tok] = []
    pos = 0
    saw_comment = False
    if ctx:
        # The input starts inside a ctx-quoted literal: it ends at the first unescaped quote.
        i = 0
        n = len(s)
        while i < n:
            c = s[i]
            if c == "\\":
                i += 2
                continue
            if c == ctx:
                if i + 1 < n and s[i + 1] == ctx:
                    i += 2
                    continue
                break
            i += 1
        if i >= n:
            return [Tok("s", s, closed=False)], False
        toks.append(Tok("s", s[:i], closed=True))
        pos = i + 1
    for m in _TOKEN.finditer(s, pos):
        kind = m.lastgroup
        text = m.group(0)
        if kind == "ws":
            continue
        if kind in ("bc", "lc"):
            saw_comment = True
            if toks:
                toks[-1].cmt = True
            else:
                toks.append(Tok("c", text))
            continue
        if kind in ("sq", "dq"):
            closed = len(text) > 1 and text[-1] == text[0]
            toks.append(Tok("s", text[1:-1] if closed else text[1:], closed=closed))
        elif kind == "bt":
            toks.append(Tok("n", text.strip("`")))
        elif kind == "num":
            toks.append(Tok("1", text))
        elif kind == "var":
            toks.append(Tok("v", text))
        elif kind == "word":
            toks.append(_word(text))
        elif kind == "op":
            if text in ("&&", "||"):
                toks.append(Tok("&", text))
            else:
                toks.append(Tok("o", text))
        elif kind == "punct":
            toks.append(Tok(text, text))
        else:
            toks.append(Tok("x", text))
    return toks, saw_comment


def _word(w: str) -> Tok:
    if w in LOGIC:
        return Tok("&", w)
    if w in STATEMENT_VERBS:
        return Tok("E", w)
    if w == "union":
        return Tok("U", w)
    if w in WORD_OPS:
        return Tok("o", w)
    if w in LITERAL_WORDS:
        return Tok("1", w)
    if w in KEYWORDS:
        return Tok("k", w)
    return Tok("n", w)


def _fold(toks: list[Tok]) -> list[Tok]:
    """Merge multi-word forms, qualified names and function-call names."""
    out: list[Tok] = []
    i = 0
    n = len(toks)
    while i < n:
        t = toks[i]
        nxt = toks[i + 1] if i + 1 < n else None
        if t.t == "k" and t.v in ("order", "group") and nxt is not None and nxt.v == "by":
            out.append(Tok("B", t.v + " by", cmt=nxt.cmt))
            i += 2
            continue
        if t.t == "k" and t.v in ("having", "limit", "procedure"):
            out.append(Tok("B", t.v, cmt=t.cmt))
            i += 1
            continue
        if t.t == "k" and t.v in ("intersect", "except"):
            t = Tok("U", t.v, cmt=t.cmt)
        if (
            t.t == "."
            and out
            and out[-1].t in ("n", "k", "v")
            and nxt is not None
            and (nxt.t in ("n", "k", "E") or nxt.v == "*")
        ):
            prev = out.pop()
            out.append(Tok("n", prev.v + "." + nxt.v, cmt=nxt.cmt))
            i += 2
            continue
        if (
            nxt is not None
            and nxt.t == "("
            and (
                t.t == "n"
                or (
                    t.t == "k"
                    and t.v
                    in ("char", "nchar", "user", "database", "schema", "left", "right", "if")
                )
            )
        ):
            t = Tok("f", t.v, cmt=t.cmt)
        if (
            t.t == "o"
            and t.v in ("-", "+", "~", "!")
            and nxt is not None
            and nxt.t == "1"
            and (not out or out[-1].t in ("o", "&", "(", ",", "k", "E", "B"))
        ):
            out.append(Tok("1", t.v + nxt.v, cmt=nxt.cmt))
            i += 2
            continue
        out.append(t)
        i += 1
    return out


def _tree(toks: list[Tok], i: int = 0, depth: int = 0) -> tuple[list[Tok], int]:
    """Group `f(...)` into F and `(...)` into P/Q. Stops at an unmatched ')' when nested."""
    out: list[Tok] = []
    n = len(toks)
    while i < n:
        t = toks[i]
        if t.t == "(" and depth < 20:
            kids, j = _tree(toks, i + 1, depth + 1)
            closing = toks[j] if j < n else None
            cmt = closing.cmt if closing is not None else False
            sel = any((k.t == "E" and k.v == "select") or k.sel for k in kids)
            if out and out[-1].t == "f":
                name = out.pop()
                out.append(Tok("F", name.v, kids=kids, sel=sel, cmt=cmt))
            else:
                qt = (
                    "Q"
                    if kids and kids[0].t == "E" and kids[0].v == "select" and _real_select(kids, 0)
                    else "P"
                )
                out.append(Tok(qt, "()", kids=kids, sel=sel, cmt=cmt))
            i = j + 1
            continue
        if t.t == ")" and depth > 0:
            return out, i
        out.append(t)
        i += 1
    return out, i


def _real_select(seq: list[Tok], i: int) -> bool:
    """seq[i] is SELECT: is it followed by a select list a query could have?"""
    if i + 1 >= len(seq):
        return False
    a = seq[i + 1]
    if a.t in ("1", "s", "v", "F", "Q", "P") or a.v in ("*", "distinct", "all", "top"):
        return True
    if a.t in ("n", "k"):
        b = seq[i + 2] if i + 2 < len(seq) else None
        if b is None:
            return False
        return b.t in (",", ")", ";", "o") or b.v in ("from", "as", "into") or a.cmt
    return False


def _end_after(seq: list[Tok], i: int) -> bool:
    """Nothing meaningful follows seq[i] (end, a comment or a statement separator)."""
    return i + 1 >= len(seq) or seq[i].cmt or seq[i + 1].t == ";"


def _statement(seq: list[Tok], i: int) -> bool:
    """seq[i] is a statement verb that really starts a statement."""
    v = seq[i].v
    a = seq[i + 1] if i + 1 < len(seq) else None
    b = seq[i + 2] if i + 2 < len(seq) else None
    if v == "select":
        return _real_select(seq, i)
    if a is None:
        return v in ("shutdown",)
    if v == "insert" or v == "replace":
        return a.v == "into"
    if v == "delete":
        return a.v == "from"
    if v == "update":
        return a.t == "n" and b is not None and b.v == "set"
    if v in ("drop", "create", "alter", "truncate"):
        return a.v in (
            "table",
            "database",
            "user",
            "procedure",
            "function",
            "view",
            "index",
            "schema",
            "login",
            "trigger",
        ) or (a.v == "temporary")
    if v in ("exec", "execute"):
        return a.t in ("n", "f", "F", "v", "P", "(") and (
            a.v.startswith(("xp_", "sp_", "master.")) or a.t in ("v", "P", "(") or v == "exec"
        )
    if v == "declare":
        return a.t == "v"
    if v == "waitfor":
        return a.v in ("delay", "time")
    if v == "shutdown":
        return a.t in (";",) or seq[i].cmt
    if v in ("load",):
        return a.v in ("data", "xml")
    return False


def _condition_at(
    seq: list[Tok], j: int, high: bool, first_breakout: bool, after_logic: bool
) -> bool:
    """Does a condition an injection would use start at seq[j]?"""
    n = len(seq)
    while j < n and ((seq[j].t == "o" and seq[j].v in ("not", "!")) or seq[j].t == "("):
        j += 1
    if j >= n:
        return False
    a = seq[j]
    if a.t == "Q" or (a.t in ("F", "P") and a.sel):
        return True
    if a.t == "F" and (a.v in SQL_FUNCS or a.v.split(".")[-1] in STRONG_FUNCS):
        return True
    if a.t == "P" and a.kids and _condition_at(a.kids, 0, high, first_breakout, after_logic):
        return True
    if a.t not in OPERAND:
        return False
    b = seq[j + 1] if j + 1 < n else None
    if b is not None and b.t == "o":
        c = seq[j + 2] if j + 2 < n else None
        if c is None:
            return False
        if c.t == "o" and c.v in ("-", "+", "not", "!") and j + 3 < n:
            c = seq[j + 3]
        if c.t not in OPERAND and c.t not in ("k",):
            return False
        if b.v in (
            "=",
            "<",
            ">",
            "<=",
            ">=",
            "<>",
            "!=",
            "<=>",
            "like",
            "rlike",
            "regexp",
            "is",
            "in",
            "between",
            "sounds",
            "not",
            "glob",
            "div",
            "*",
            "/",
            "-",
            "+",
            "%",
            "^",
            "|",
            "&",
            "mod",
            "similar",
            "ilike",
        ):
            if a.t in "s1vFQP" or c.t in "s1vFQP":
                return True
            return high and first_breakout
        return False
    if a.t in ("1", "s") and (b is None or a.cmt or b.t == ";"):
        # `' or 1--`, `' or true#`, `1 or 1;`
        if a.cmt or (b is not None and b.t == ";"):
            return True
        return (high or first_breakout) and a.t == "1"
    if b is not None and b.t == "B" and high:
        return True
    return bool(high and first_breakout and a.t == "n" and (b is None or a.cmt))


def _list_cut(seq: list[Tok], j: int) -> bool:
    """From `j`: a list of column numbers/names that the query is cut off after
    (`' group by 1,2,3--`)."""
    n = len(seq)
    while j < n and seq[j].t in ("1", "n", ","):
        if seq[j].cmt:
            return j + 1 >= n and seq[j].t != ","
        j += 1
    return False


def _check(seq: list[Tok], high: bool, breakout: bool, depth: int = 0) -> str | None:
    n = len(seq)
    for i, t in enumerate(seq):
        tt = t.t
        if tt == "U":
            j = i + 1
            while j < n and (seq[j].v in ("all", "distinct") or seq[j].t == "("):
                j += 1
            if j < n and (
                (seq[j].t == "E" and seq[j].v == "select")
                or seq[j].t == "Q"
                or (seq[j].t == "P" and seq[j].sel)
            ):
                return "union"
        elif tt == ";":
            if i + 1 < n and seq[i + 1].t == "E" and _statement(seq, i + 1):
                return "stacked"
        elif tt == "&":
            if (
                i > 0
                and (seq[i - 1].t in OPERAND or seq[i - 1].t == ")")
                # After a plain word outside any quote breakout (`a value or null`), only a
                # condition that holds at LOW counts: a bare literal there is prose.
                and _condition_at(
                    seq,
                    i + 1,
                    high and (breakout or seq[i - 1].t != "n"),
                    breakout and i == 1,
                    True,
                )
            ):
                return "tautology"
            if i == 0 and depth == 0 and breakout and _condition_at(seq, 1, high, True, True):
                return "tautology"
        elif tt == "Q":
            return "subquery"
        elif tt == "F":
            if t.sel:
                return "subquery"
            name = t.v.split(".")[-1]
            if name in STRONG_FUNCS or t.v in STRONG_FUNCS:
                prev = seq[i - 1] if i > 0 else None
                if name in (
                    "sleep",
                    "pg_sleep",
                    "benchmark",
                    "load_file",
                    "extractvalue",
                    "updatexml",
                    "xp_cmdshell",
                    "receive_message",
                    "randomblob",
                    "sys_eval",
                    "sys_exec",
                    "get_host_address",
                ) and (
                    prev is None
                    or prev.t in ("&", "o", ";", ",", "(", "E")
                    or (prev.t == "s" and breakout and i == 1)
                ):
                    return "function"
                if (
                    prev is not None
                    and prev.t in ("&", "o")
                    and i > 1
                    and (seq[i - 2].t in OPERAND or seq[i - 2].t == ")")
                ):
                    return "function"
        elif tt == "o" and breakout and i == 1:
            # `'+(select ...)+'`, `'||sleep(5)||'`, `'-1 or ...`
            if (
                i + 1 < n
                and seq[i + 1].t in ("Q", "F")
                and (seq[i + 1].sel or seq[i + 1].v in STRONG_FUNCS)
            ):
                return "operator"
        elif tt == "B":
            prev = seq[i - 1] if i > 0 else None
            nxt = seq[i + 1] if i + 1 < n else None
            if (
                prev is not None
                and (prev.t == "1" or prev.t == ")" or (prev.t == "s" and breakout and i == 1))
                and nxt is not None
                and nxt.t in ("1", "n", "F", "P", "Q")
                and (
                    nxt.cmt
                    or (high and (i + 2 >= n or seq[i + 2].t in (",", "o", "&", ";")))
                    or (i + 2 < n and seq[i + 2].t == "o" and nxt.t == "1")
                    or (prev.t == "s" and breakout and i == 1 and _list_cut(seq, i + 1))
                )
            ):
                return "orderby"
        elif tt == "E" and i == 0 and depth == 0 and _statement(seq, 0):
            if t.v != "select":
                return "statement"
            rest = {k.v for k in seq[1:]}
            if "from" in rest and ("*" in rest or any(k.t == "F" for k in seq[1:])):
                return "statement"
            if high and "from" in rest:
                j = next(k for k in range(1, n) if seq[k].v == "from")
                after = seq[j + 2] if j + 2 < n else None
                if (
                    j + 1 < n
                    and seq[j + 1].t == "n"
                    and (
                        after is None
                        or seq[j + 1].cmt
                        or after.t in (";", "B", "U")
                        or after.v in ("where", "limit", "join", "as", "inner", "left", "union")
                    )
                ):
                    return "statement"
        elif tt in ("P",) and t.kids and depth < 5:
            r = _check(t.kids, high, False, depth + 1)
            if r:
                return r
    if breakout and n >= 1 and seq[0].t == "s" and seq[0].closed:
        # `admin'--`, `admin')#`, `x';` : the application's query is cut off after a breakout.
        j = 0
        while j + 1 < n and seq[j + 1].t == ")":
            j += 1
        if seq[j].cmt and (j + 1 >= n):
            return "comment"
        if (
            j + 1 < n
            and seq[j + 1].t == ";"
            and (j + 2 >= n or seq[j + 1].cmt or (seq[j + 2].t == "E" and _statement(seq, j + 2)))
        ):
            return "comment"
        if seq[j].cmt and high:
            return "comment"
    return None


@lru_cache(maxsize=4096)
def _parse(s: str, ctx: str) -> list[Tok] | None:
    """The folded token tree of `s` read in quote context `ctx` (shared by LOW and HIGH:
    `_check` only reads it)."""
    toks, _ = _lex(s, ctx)
    if not toks:
        return None
    seq, _ = _tree(_fold(toks))
    return seq


@lru_cache(maxsize=16384)
def detect_sqli(value: str, high: bool = False) -> str | None:
    """The name of the rule that found SQL injection in `value`, or None."""
    if len(value) < 2:
        return None
    s = value.lower()
    if not _PREFILTER.search(s):
        return None
    if _INDICATORS.search(s):
        return "indicator"
    contexts = [""]
    if "'" in s:
        contexts.append("'")
    if '"' in s:
        contexts.append('"')
    for ctx in contexts:
        seq = _parse(s, ctx)
        if seq is None:
            continue
        # Unmatched ')' at top level (the app's own paren closing) are kept as atoms.
        r = _check(seq, high, bool(ctx))
        if r:
            return r
    return None


def is_sqli(value: str, high: bool = False) -> bool:
    if detect_sqli(value, high):
        return True
    # Long structured values: look at each piece (`a=1&b=x' or 1=1--`, multi-line bodies).
    if len(value) > 24 and ("&" in value or "\n" in value):
        for piece in re.split(r"[&\n]", value):
            _, eq, rhs = piece.partition("=")
            target = rhs if eq and "=" not in rhs[:1] else piece
            if target and target != value and detect_sqli(target, high):
                return True
    return False
