"""Bastion's structural detectors behind its managed rules (besides SQLi and XSS).

Each detector takes one decoded value and answers whether it carries the attack class,
looking for the construct an exploit needs rather than for words: a shell command needs a
command separator or substitution followed by a command and its arguments, a traversal
needs several `..` segments or a sensitive target, a server-side request forgery needs a
URL whose host is internal, a template injection needs an expression inside template
delimiters, and so on. Prose that merely mentions "bash", "echo" or "/etc/passwd" passes.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache

# --- command injection -------------------------------------------------------------------
UNIX_COMMANDS = (
    "cat|tac|id|whoami|uname|ls|pwd|wget|curl|nc|ncat|netcat|bash|sh|zsh|ksh|dash|csh|tcsh|"
    "python[23]?|perl|ruby|php|lua|node|ping|nslookup|dig|host|sleep|rm|chmod|chown|echo|"
    "printf|env|printenv|export|ifconfig|ip|netstat|ss|ps|kill|pkill|killall|telnet|ssh|scp|"
    "ftp|tftp|socat|awk|gawk|sed|grep|find|xargs|head|tail|more|less|base64|xxd|od|touch|"
    "mkfile|mkdir|cp|mv|dd|crontab|nohup|sudo|su|passwd|useradd|history|hostname|"
    "systemctl|service|mkfifo|mknod|busybox|eval|exec|timeout|time|tee|openssl|java|"
    "powershell|pwsh|cmd|net|reg|certutil|bitsadmin|mshta|rundll32|regsvr32|wmic|"
    "cscript|wscript|type|dir|ipconfig|systeminfo|tasklist|taskkill|whoami\\.exe|start"
)
_CMD_WORD = r"(?:(?:/usr)?(?:/s?bin/)?(?:" + UNIX_COMMANDS + r"))"
# What follows a command when it is run, not mentioned: end, another separator, an option,
# a path, a URL/IP, a redirection or a substitution.
_CMD_TAIL = (
    r"(?:\s*$|\s*[;|&`)\n]|\s+-{1,2}[a-z]|\s+[/~.$\\]|\s+[a-z]:\\|\s+\S*https?://|"
    r"\s+\d{1,3}(?:\.\d{1,3}){3}|\s*[<>]|\$\{?ifs|\s+\S+\s*[|;&>]|\s+[\"'][^\"']*[\"']\s*$|"
    r"\s+\S+\.(?:sh|py|pl|txt|php|exe|bat|ps1)\b|\s+\d+(?:\.\d+)?[smhd]?\s*$)"
)
_SEP = r"(?:;|\|\|?|&&?|\n|\r|%0a|`|\$\(|\$\{ifs\}|\bthen\b|\bdo\b)"
_CMD_AFTER_SEP = re.compile(_SEP + r"\s*\(?\s*" + _CMD_WORD + _CMD_TAIL, re.I)
_CMD_SUBST = re.compile(r"(?:\$\(|`)\s*" + _CMD_WORD + r"\b[^`)]*(?:\)|`|$)", re.I)
_CMD_NET = re.compile(
    _SEP + r"\s*(?:nslookup|dig|host|ping|traceroute|curl|wget|nc|ncat|telnet|ssh|ftp|tftp)"
    r"(?:\s+-{1,2}\w+(?:\s+\d+)?)*\s+[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}\b",
    re.I,
)
_CMD_BRACE = re.compile(r"(?:^|[;|&`(\n])\s*\{\s*" + _CMD_WORD + r"\s*,[^}]*\}", re.I)
_CMD_MISC = re.compile(
    r"/dev/(?:tcp|udp)/|\$\{?ifs\}?|\bbash\s+-[ci]\b|\bsh\s+-c\b|\bnc(?:at)?\s+(?:-\w+\s+)*"
    r"(?:-e|-c)\s|/bin/(?:ba|z|k|c|tc|da)?sh\b|\bbase64\s+-d\b.*\|\s*(?:ba)?sh|"
    r"\bpowershell(?:\.exe)?\s+-(?:e|enc|encodedcommand|nop|w|c|command|exec)\b|"
    r"\bcmd(?:\.exe)?\s+/[ck]\b|\bchmod\s+[+0-7]+x?\s|\bwget\s+\S*https?://|"
    r"\bcurl\s+(?:-\w+\s+)*\S*https?://\S*\s*\|\s*\w*sh|\bmkfifo\s|"
    r"\(\s*\)\s*\{\s*:?\s*;?\s*\}\s*;|\$\(\s*[a-z]+\s*\)|"
    r"\becho\s+[^|;]*\|\s*(?:ba)?sh\b|\brm\s+-[rf]{1,2}\s+/|\bcat\s+/etc/|"
    r"\b(?:certutil|bitsadmin)(?:\.exe)?\s+/|\bInvoke-(?:Expression|WebRequest)\b|\biex\s*\(",
    re.I,
)
_CMD_PREFILTER = re.compile(r"[;|&`$\n\r(]|/bin/|/dev/|powershell|cmd|certutil|iex", re.I)


@lru_cache(maxsize=16384)
def detect_cmdi(value: str) -> str | None:
    if len(value) < 2 or not _CMD_PREFILTER.search(value):
        return None
    s = value.replace("\\\n", "").replace("''", "").replace('""', "")
    s = s.replace("```", " ")
    s = re.sub(r"(?<=\w)\\(?=\w)", "", s)  # w\ho\ami
    if _CMD_MISC.search(s):
        return "shell-construct"
    if _CMD_SUBST.search(s):
        return "substitution"
    m = _CMD_AFTER_SEP.search(s)
    if m:
        return "separator-command"
    if _CMD_NET.search(s):
        return "network-command"
    if "{" in s and _CMD_BRACE.search(s):
        return "brace-expansion"
    return None


# --- path traversal and local file inclusion -----------------------------------------------
# Separators: '/' '\\', their percent forms, and overlong UTF-8 forms of '/' and '\\'
# (%c0%af, %e0%80%af, %c1%9c, %c0%2f ...) raw or once decoded to latin-1 characters.
_OVERLONG_SEP = r"(?:%c0%af|%e0%80%af|%c1%9c|%c0%2f|%c0%5c|\xc0\xaf|\xe0\x80\xaf|\xc1\x9c)"
_TRAVERSAL = re.compile(
    r"(?:\.{2,}[/\\]+|\.{2,}%2f|\.{2,}%5c|\.\.;/|\.{3,}/?|\.{2,}" + _OVERLONG_SEP + r"){2,}|"
    r"(?:^|[/\\=])\.\.[/\\](?:[\w.-]+[/\\])*(?:etc|proc|windows|boot|usr|var|"
    r"root|home|sys|winnt|inetpub|wwwroot|web-inf|app|config|\.)",
    re.I,
)
SENSITIVE_FILES = (
    r"etc/(?:passwd|shadow|group|hosts|issue|hostname|sudoers|crontab|mysql/|apache2?/|nginx/|"
    r"ssh/|fstab|resolv\.conf|motd|profile|environment)|proc/(?:self|\d+)/(?:environ|cmdline|"
    r"fd|maps|status|mem|cwd|root)|proc/version|var/log/|var/www/|root/\.|home/[^/]+/\.ssh|"
    r"\.ssh/(?:id_rsa|authorized_keys)|\.bash_history|\.htaccess|\.htpasswd|\.env\b|"
    r"web-inf/web\.xml|win\.ini|boot\.ini|system32|windows/system\.ini|"
    r"inetpub|wp-config\.php|config\.php|\.git/(?:config|head)|\.aws/credentials|"
    r"\.docker/config|id_rsa|localsettings\.php|etc/ssl/"
)
_SENSITIVE_PATH = re.compile(r"(?:^|[\s=:/\\\x00'\"]|\.\.)/?(?:" + SENSITIVE_FILES + r")", re.I)
_WRAPPERS = re.compile(
    r"^\s*(?:php|zip|phar|expect|data|glob|file|jar|netdoc|compress\.zlib|"
    r"compress\.bzip2|ogg|rar|ssh2(?:\.\w+)?)://|php://(?:filter|input|fd|memory|temp)",
    re.I,
)


@lru_cache(maxsize=16384)
def detect_traversal(value: str) -> str | None:
    if ".." not in value and "%2e" not in value.lower() and "/" not in value and "\\" not in value:
        return None
    s = value.replace("\x00", "")
    if _TRAVERSAL.search(s):
        return "traversal"
    return None


@lru_cache(maxsize=16384)
def detect_lfi(value: str) -> str | None:
    s = value.replace("\x00", "")
    if _WRAPPERS.search(s):
        return "wrapper"
    if "/" not in s and "\\" not in s:
        return None
    stripped = s.strip()
    low = stripped.lower().replace("\\", "/")
    # A sensitive file named as the whole value, after traversal, or as a file:// URL.
    m = _SENSITIVE_PATH.search(low)
    if m and (
        low.startswith(("/", "..", "file:", "c:", "~"))
        or ".." in low
        or m.start() == 0
        or "\x00" in value
        or re.match(r"^[\w./-]+$", low)
    ):
        return "sensitive-file"
    return detect_traversal(s)


# --- remote file inclusion and server-side request forgery ------------------------------------
_URL = re.compile(r"(?:(?<=[\s=\"'(])|^)([a-z][a-z0-9+.-]{1,15}):(//?|\\\\)([^\s\"'<>]*)", re.I)
_RFI_SCHEMES = frozenset(
    {
        "ftp",
        "ftps",
        "smb",
        "php",
        "data",
        "expect",
        "zip",
        "phar",
        "jar",
        "gopher",
        "dict",
        "ldap",
        "tftp",
        "file",
        "netdoc",
        "sftp",
        "ogg",
    }
)
_SSRF_SCHEMES = frozenset({"gopher", "dict", "file", "ldap", "tftp", "jar", "netdoc", "sftp"})
_META_HOSTS = re.compile(
    r"^(?:169\.254\.169\.254|169\.254\.170\.2|fd00:ec2::254|metadata\.google\.internal|"
    r"metadata|metadata\.azure\.com|100\.100\.100\.200|instance-data|"
    r"[\w.-]*\.(?:internal|local|localdomain|localtest\.me|nip\.io|xip\.io|sslip\.io)|"
    r"localhost|localtest\.me|0|0\.0\.0\.0|\[?::1?\]?|burpcollaborator\.net|"
    r"[\w.-]*\.(?:burpcollaborator\.net|oastify\.com|interact\.sh|requestbin\.net|ngrok\.io))$",
    re.I,
)


def _host_ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    h = host.strip("[]").lower()
    if not h:
        return None
    try:
        return ipaddress.ip_address(h)
    except ValueError:
        pass
    # Decimal, hex and octal IPv4 forms: 2130706433, 0x7f000001, 0177.0.0.1, 127.1
    parts = h.split(".")
    if 1 <= len(parts) <= 4 and all(re.fullmatch(r"0x[0-9a-f]+|\d+", p) for p in parts):
        try:
            nums = [
                int(p, 16)
                if p.startswith("0x")
                else int(p, 8)
                if len(p) > 1 and p.startswith("0")
                else int(p)
                for p in parts
            ]
        except ValueError:
            return None
        try:
            if len(nums) == 1:
                return ipaddress.IPv4Address(nums[0])
            if len(nums) == 2:
                return ipaddress.IPv4Address((nums[0] << 24) | nums[1])
            if len(nums) == 3:
                return ipaddress.IPv4Address((nums[0] << 24) | (nums[1] << 16) | nums[2])
            return ipaddress.IPv4Address(bytes(nums))
        except (ValueError, ipaddress.AddressValueError):
            return None
    return None


def _urls(value: str) -> list[tuple[str, str, str]]:
    out = []
    for m in _URL.finditer(value):
        scheme = m.group(1).lower()
        rest = m.group(3)
        authority = re.split(r"[/?#\\]", rest, maxsplit=1)[0]
        host = authority.rsplit("@", 1)[-1]
        host = host.split("]")[0] + "]" if host.startswith("[") else host.split(":")[0]
        out.append((scheme, host, rest))
    return out


@lru_cache(maxsize=16384)
def detect_ssrf(value: str) -> str | None:
    if ":" not in value:
        return None
    for scheme, host, _rest in _urls(value):
        if scheme in _SSRF_SCHEMES:
            return "scheme:" + scheme
        if scheme not in ("http", "https", "ftp", "ws", "wss"):
            continue
        if _META_HOSTS.match(host):
            return "internal-host"
        ip = _host_ip(host)
        if ip is not None:
            if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
                ip = ip.ipv4_mapped
            if (
                ip.is_private
                or ip.is_loopback
                or ip.is_link_local
                or ip.is_unspecified
                or ip.is_reserved
            ):
                return "internal-ip"
    return None


@lru_cache(maxsize=16384)
def detect_metadata_ssrf(value: str) -> str | None:
    """EC2 metadata service addresses in any encoding (the EC2MetaDataSSRF rules)."""
    low = value.lower()
    if "169.254" in low or "metadata" in low or "fd00:ec2" in low or "a9fe" in low:
        return "metadata"
    for _, host, _ in _urls(low):
        ip = _host_ip(host)
        if ip is not None and str(ip) in ("169.254.169.254", "169.254.170.2"):
            return "metadata"
    return None


_UNC = re.compile(r"^\s*(?:\\\\|//)[\w.-]+\.[a-z]{2,}[\\/][\w$.-]+[\\/]", re.I)


@lru_cache(maxsize=16384)
def detect_rfi(value: str) -> str | None:
    if "\\\\" in value and _UNC.search(value):
        return "unc"  # \\host.example\share\x.php: a file on an SMB server
    if ":" not in value:
        return None
    for scheme, host, rest in _urls(value):
        if scheme in _RFI_SCHEMES:
            return "scheme:" + scheme
        if scheme in ("http", "https"):
            ip = _host_ip(host)
            if ip is not None and not (ip.is_private or ip.is_loopback):
                return "ip-url"
            if rest.endswith("?") or (
                re.search(r"\.(?:txt|php\d?|phtml|inc|sh|pl|jsp|asp)\?*$", rest.split("#")[0], re.I)
                and rest.endswith("?")
            ):
                return "trailing-question"
            if re.search(r"\.(?:txt|inc)\?", rest, re.I) or re.search(
                r"(?:shell|c99|r57|"
                r"webshell|backdoor)\.\w+",
                rest,
                re.I,
            ):
                return "shell-url"
    return None


# --- Log4Shell ---------------------------------------------------------------------------------
_L4J_LOOKUP = re.compile(r"\$\{([^{}$]*)\}")
_L4J_SIMPLE = re.compile(r"^(?:lower|upper|::-|[a-z]*:-|env:[^:]*:-|sys:[^:]*:-|date:)", re.I)


@lru_cache(maxsize=16384)
def detect_log4j(value: str) -> str | None:
    if "${" not in value:
        return None
    s = value
    # Collapse nested obfuscation lookups: ${lower:j} -> j, ${::-n} -> n, ${env:X:-d} -> d
    for _ in range(8):

        def repl(m: re.Match[str]) -> str:
            inner = m.group(1)
            low = inner.lower()
            if low.startswith(("lower:", "upper:")):
                return inner.split(":", 1)[1]
            if ":-" in inner:
                return inner.split(":-", 1)[1]
            if low.startswith(
                (
                    "jndi:",
                    "java:",
                    "env:",
                    "sys:",
                    "ctx:",
                    "main:",
                    "bundle:",
                    "docker:",
                    "k8s:",
                    "spring:",
                    "web:",
                    "log4j:",
                    "base64:",
                    "sd:",
                    "marker:",
                    "map:",
                    "jvmrunargs:",
                )
            ):
                return "\x01" + low + "\x02"
            return m.group(0)

        nxt = _L4J_LOOKUP.sub(repl, s)
        if nxt == s:
            break
        s = nxt
    low = s.lower()
    if "\x01jndi:" in low or re.search(r"\$\{\s*j\s*n\s*d\s*i\s*:", low):
        return "jndi"
    if re.search(
        r"\x01(?:env|sys|java|ctx|main|bundle|docker|k8s|spring|web|base64|"
        r"jvmrunargs):",
        low,
    ):
        return "lookup"
    if re.search(r"jndi:(?:ldaps?|rmi|dns|iiop|corba|nds|nis|http)s?:", low):
        return "jndi"
    return None


# --- XML external entities ------------------------------------------------------------------
_XXE = re.compile(
    r"<!entity\s+(?:%\s*)?[\w.-]+\s+(?:system|public)\b|<!entity\s+%|"
    r"<!doctype\s+[\w:.-]+\s+(?:system|public)\s+[\"'][^\"']*(?://|file:|\.dtd)|"
    r"<xi:include\b|xmlns:xi\s*=|<!doctype\s+[\w:.-]+\s*\[\s*<!entity|"
    r"<!entity\s+[\w.-]+\s+[\"'][^\"']*&",
    re.I,
)


@lru_cache(maxsize=16384)
def detect_xxe(value: str) -> str | None:
    if "<!" not in value and "xi:" not in value.lower():
        return None
    return "xxe" if _XXE.search(value) else None


# --- NoSQL injection ------------------------------------------------------------------------
_NOSQL_OPS = (
    r"ne|eq|gt|gte|lt|lte|in|nin|regex|where|exists|or|and|nor|not|expr|"
    r"elemMatch|size|type|all|function|accumulator|lookup|jsonSchema|text|mod"
)
_NOSQL_KEY = re.compile(
    r"\[\s*\$(?:" + _NOSQL_OPS + r")\s*\]|^\$(?:" + _NOSQL_OPS + r")$|"
    r"[{,]\s*[\"']?\$(?:" + _NOSQL_OPS + r")[\"']?\s*:",
    re.I,
)
_NOSQL_JS = re.compile(
    r"(?:^|['\"`;)])\s*;?\s*(?:return\s+(?:true|1|this\.|db\.|[\w.]+\s*[=!]=)|"
    r"sleep\s*\(\s*\d|db\.\w+\.\w+\(|this\.\w+\s*(?:==|!=|\.match)|while\s*\(\s*true\s*\))|"
    r"\|\|\s*(?:['\"]\w*['\"]\s*==\s*['\"]|1\s*==\s*1)|'\s*&&\s*this\.|"
    r"\$where\b|\bmapreduce\b.*function|\bdb\.(?:getcollection|\w+\.find)\(",
    re.I,
)


@lru_cache(maxsize=16384)
def detect_nosql(value: str) -> str | None:
    if (
        "$" not in value
        and "return" not in value
        and "this." not in value
        and "db." not in value
        and "||" not in value
        and "while" not in value
        and "sleep" not in value
    ):
        return None
    if _NOSQL_KEY.search(value):
        return "operator"
    if _NOSQL_JS.search(value):
        return "js"
    return None


# --- server-side template injection -----------------------------------------------------------
_TEMPLATE_EXPR = re.compile(
    r"\{\{(.{0,300}?)\}\}|\{%(.{0,300}?)%\}|\$\{(.{0,300}?)\}|#\{(.{0,300}?)\}|"
    r"<%=?(.{0,300}?)%>|\*\{(.{0,300}?)\}|@\{(.{0,300}?)\}|\{\$(.{0,100}?)\}|"
    r"\[\[(.{0,300}?)\]\]|\{php\}|\{\{.{0,300}$|\{%.{0,300}$",
    re.S,
)
_SSTI_INNER = re.compile(
    r"__\w+__|\bconfig\b|\bself\b|request\.|\blipsum\b|\bcycler\b|\bjoiner\b|\bnamespace\b|"
    r"\bT\s*\(\s*java\.|java\.lang|Runtime|getRuntime|ProcessBuilder|\bexec\s*\(|popen|"
    r"os\.system|subprocess|\bimport\b|\bconstructor\b|\bglobals\b|\bbuiltins\b|"
    r"freemarker\.template|\?new\s*\(|_self\.env|registerUndefinedFilterCallback|getFilter|"
    r"\bsystem\s*\(|passthru|shell_exec|\beval\s*\(|\bclass\.|forName|\bfile\s*\(|"
    r"\bopen\s*\(|\bread\s*\(|\|\s*attr\s*\(|\|\s*join|\bmro\b|subclasses|"
    r"\bsettings\.|\bapp\.|\bweb\.|\benv\b|\bgetClass\b|\bnew\s+java|\bobject\.|"
    r"\btemplate\b.*\bnew\b|\bsmarty\.|\b(?:dump|include|source)\s*\(|\$\{|"
    r"^\s*-?\d+\s*[*+/%-]\s*-?\d+\s*$|^\s*['\"]\w*['\"]\s*\*\s*\d+\s*$|"
    r"^\s*\d+\s*\*\s*['\"]\w*['\"]\s*$",
    re.I,
)


_FREEMARKER = re.compile(
    r"<#(?:assign|if|list|include|import|attempt|setting)\b.{0,200}?(?:\?new\s*\(|\?api\b|"
    r"freemarker\.template\.utility|\bexec\s*\()",
    re.I | re.S,
)
SSTI_OPENERS = ("{{", "{%", "${", "#{", "<%", "*{", "@{", "{$", "[[", "{php", "<#")


@lru_cache(maxsize=16384)
def detect_ssti(value: str) -> str | None:
    if not any(t in value for t in SSTI_OPENERS):
        return None
    if "{php}" in value.lower():
        return "smarty"
    if "<#" in value and _FREEMARKER.search(value):
        return "freemarker"
    for m in _TEMPLATE_EXPR.finditer(value):
        inner = next((g for g in m.groups() if g is not None), m.group(0))
        # `${{7*7}}`: the expression is inside extra braces.
        if _SSTI_INNER.search(inner) or _SSTI_INNER.search(inner.strip("{} ")):
            return "template-expression"
    return None


# --- Java deserialization, PHP code, shellshock ---------------------------------------------
_JAVA_DESER = re.compile(
    r"rO0AB|aced0005|\xac\xed\x00\x05|java\.lang\.(?:Runtime|ProcessBuilder|reflect)|"
    r"org\.apache\.commons\.collections|ysoserial|com\.sun\.rowset|javax\.management|"
    r"org\.springframework\.beans|java\.rmi|InvokerTransformer|ChainedTransformer|"
    r"TemplatesImpl|JdbcRowSetImpl|@type\"\s*:\s*\"(?:com|org|java)\.",
    re.I,
)


_JAVA_HINTS = (
    "ro0ab",
    "aced0005",
    "\xac\xed",
    "java",
    "org.",
    "ysoserial",
    "com.sun",
    "transformer",
    "templatesimpl",
    "jdbcrowsetimpl",
    "@type",
)


@lru_cache(maxsize=16384)
def detect_java_deser(value: str) -> str | None:
    low = value.casefold()  # casefold: re.I also equates long s (U+017F) with 's'
    if not any(h in low for h in _JAVA_HINTS):  # every alternative holds one of these
        return None
    return "java" if _JAVA_DESER.search(value) else None


_PHP = re.compile(
    r"<\?(?:php|=)|\b(?:system|passthru|shell_exec|exec|popen|proc_open|pcntl_exec|assert|"
    r"eval|create_function|call_user_func(?:_array)?|preg_replace|base64_decode|"
    r"str_rot13|gzinflate|file_get_contents|file_put_contents|fopen|fwrite|include|require|"
    r"include_once|require_once|phpinfo|highlight_file|show_source|move_uploaded_file|"
    r"unserialize|assert_options|array_map|usort)\s*\(\s*(?:\$|['\"]|\)|base64|gz|str_|"
    r"file|chr|[a-z_]+\s*\()|\$_(?:GET|POST|REQUEST|COOKIE|SERVER|FILES|ENV|SESSION)\b|"
    r"\bphp://(?:input|filter)|\bO:\d+:\"[\w\\\\]+\":\d+:\{|\ballow_url_include\b|"
    r"\bauto_prepend_file\b|\bdisable_functions\b|\bphpinfo\s*\(\s*\)",
    re.I,
)


@lru_cache(maxsize=16384)
def detect_php(value: str) -> str | None:
    if (
        "(" not in value
        and "$_" not in value
        and "<?" not in value
        and "php" not in value.lower()
        and "O:" not in value
        and "allow_url" not in value
        and "auto_prepend" not in value
    ):
        return None
    return "php" if _PHP.search(value) else None


_SHELLSHOCK = re.compile(r"\(\s*\)\s*\{\s*(?::|_)?\s*;?\s*\}\s*;")


@lru_cache(maxsize=16384)
def detect_shellshock(value: str) -> str | None:
    return "shellshock" if _SHELLSHOCK.search(value) else None
