"""The managed rule groups' rules, as WAFv2 rule structures.

Besides AWS's statements they use two Bastion-internal pieces only managed groups may use:
`BastionDetectStatement` (one of Bastion's detectors on a field) and the
`BASTION_DEEP_DECODE` transformation, which inspects every reading of a value an attacker
may rely on (raw, URL-decoded up to three times, HTML entities, JS/JSON escapes, Base64).
"""

from __future__ import annotations

from typing import Any

DEEP = [{"Priority": 0, "Type": "BASTION_DEEP_DECODE"}]
URL_LOWER = [{"Priority": 0, "Type": "URL_DECODE"}, {"Priority": 1, "Type": "LOWERCASE"}]

QUERY_ARGS = {"BastionQueryParts": {}}
QUERY_STRING = {"QueryString": {}}
URI_PATH = {"UriPath": {}}
BODY = {"BastionBodyValues": {"OversizeHandling": "CONTINUE"}}
RAW_BODY = {"Body": {"OversizeHandling": "CONTINUE"}}
COOKIES = {
    "Cookies": {"MatchPattern": {"All": {}}, "MatchScope": "ALL", "OversizeHandling": "CONTINUE"}
}
# Every header but the cookies (inspected by the _COOKIE rules) and, for URL-based
# detectors, the ones that legitimately carry this site's own URLs.
HEADERS = {
    "Headers": {
        "MatchPattern": {"ExcludedHeaders": ["cookie"]},
        "MatchScope": "VALUE",
        "OversizeHandling": "CONTINUE",
    }
}
HEADERS_ALL = {
    "Headers": {"MatchPattern": {"All": {}}, "MatchScope": "VALUE", "OversizeHandling": "CONTINUE"}
}
HEADERS_NO_URLS = {
    "Headers": {
        "MatchPattern": {
            "ExcludedHeaders": [
                "cookie",
                "host",
                "origin",
                "referer",
                "x-forwarded-host",
                "x-forwarded-for",
                "forwarded",
                "x-real-ip",
            ]
        },
        "MatchScope": "VALUE",
        "OversizeHandling": "CONTINUE",
    }
}

_SUFFIX = {
    "HEADER": "Header",
    "QUERYSTRING": "QueryString",
    "QUERYARGUMENTS": "QueryArguments",
    "URIPATH": "URIPath",
    "BODY": "Body",
    "COOKIE": "Cookie",
    "METHOD": "Method",
}


def label_name(rule: str) -> str:
    """AWS's label spelling of a rule name: `SQLi_QUERYARGUMENTS` -> `SQLi_QueryArguments`."""
    parts = rule.split("_")
    return "_".join(_SUFFIX.get(p, p) for p in parts)


def ip_list_arn(short: str) -> str:
    return f"arn:aws:wafv2:bastion:aws:managed-ip-list/{short}"


def _rule(
    ns: str, name: str, statement: dict, action: str = "Block", addition: bool = False
) -> dict[str, Any]:
    r: dict[str, Any] = {
        "Name": name,
        "Priority": 0,
        "Action": {action: {}},
        "Statement": statement,
        "RuleLabels": [{"Name": ns + label_name(name)}],
        "VisibilityConfig": {
            "SampledRequestsEnabled": True,
            "CloudWatchMetricsEnabled": True,
            "MetricName": name,
        },
    }
    if addition:
        r["bastion_addition"] = True
    return r


def _det(detector: str, field: dict, tt: list | None = None) -> dict:
    return {
        "BastionDetectStatement": {
            "Detector": detector,
            "FieldToMatch": field,
            "TextTransformations": tt if tt is not None else DEEP,
        }
    }


def _regex(rx: str, field: dict, tt: list | None = None) -> dict:
    return {
        "RegexMatchStatement": {
            "RegexString": rx,
            "FieldToMatch": field,
            "TextTransformations": tt or URL_LOWER,
        }
    }


def _size(field: dict, op: str, size: int) -> dict:
    return {
        "SizeConstraintStatement": {
            "FieldToMatch": field,
            "ComparisonOperator": op,
            "Size": size,
            "TextTransformations": [{"Priority": 0, "Type": "NONE"}],
        }
    }


def _group(name: str, description: str, ns: str, rules: list[dict]) -> dict:
    for i, r in enumerate(rules):
        r["Priority"] = i
    return {
        "Name": name,
        "Description": description,
        "LabelNamespace": ns,
        "Rules": rules,
        "VersionName": "Version_1.0",
    }


BAD_BOTS = (
    r"(?:nikto|sqlmap|nessus|nmap|masscan|zgrab|dirbuster|gobuster|wfuzz|ffuf|"
    r"feroxbuster|wpscan|acunetix|netsparker|w3af|havij|openvas|jorgee|zmeu|nuclei|"
    r"arachni|skipfish|whatweb|commix|xsstrike|morfeus|paros|webinspect|appscan|"
    r"brutus|hydra|fimap|grabber|sqlninja|dotdotpwn|metasploit|httpx/|masscan)"
)
RESTRICTED_EXT = (
    r"\.(?:log|backup|bak|bk|cfg|conf|config|ini|sql|sqlite3?|db|mdb|old|orig|"
    r"swp|save|tmp|temp|env|git|svn|htaccess|htpasswd|pem|key|crt|p12|pfx|jks|"
    r"ps1|bat|cmd|vbs|dll|inc|dist|lock|yml|yaml|toml)$"
)
EXPLOITABLE_PATHS = (
    r"(?:^|/)(?:web-inf|meta-inf|\.git|\.svn|\.hg|\.bzr|\.env|\.aws|\.ssh|"
    r"\.ds_store|\.idea|server-status|server-info|actuator/(?:env|heapdump|"
    r"jolokia|gateway|trace|mappings|shutdown)|jmx-console|invoker/"
    r"(?:jmxinvokerservlet|ejbinvokerservlet)|axis2/axis2-admin|"
    r"cgi-bin/(?:php|test-cgi|printenv)|vendor/phpunit|solr/admin|"
    r"_ignition/execute-solution|console/login|hudson|jenkins/script|"
    r"manager/html|\.well-known/\.\.|struts2?-showcase|wls-wsat|_async/)"
)
ADMIN_PATHS = (
    r"^/(?:admin|administrator|wp-admin|wp-login\.php|phpmyadmin|pma|adminer|"
    r"admin\.php|admin-console|manager/html|cpanel|webadmin|siteadmin|controlpanel|"
    r"admin_area|backend/admin|_admin|sysadmin|joomla/administrator)(?:/|$|\?|\.)"
)

CRS_NS = "awswaf:managed:aws:core-rule-set:"
KBI_NS = "awswaf:managed:aws:known-bad-inputs:"
SQL_NS = "awswaf:managed:aws:sql-database:"
LINUX_NS = "awswaf:managed:aws:linux-os:"
UNIX_NS = "awswaf:managed:aws:posix-os:"
PHP_NS = "awswaf:managed:aws:php-app:"
ADMIN_NS = "awswaf:managed:aws:admin-protection:"
REP_NS = "awswaf:managed:aws:amazon-ip-list:"
ANON_NS = "awswaf:managed:aws:anonymous-ip-list:"


def _crs() -> dict:
    ns = CRS_NS
    ua = {"SingleHeader": {"Name": "user-agent"}}
    return _group(
        "AWSManagedRulesCommonRuleSet",
        "Contains rules that are generally applicable to web applications. This "
        "provides protection against exploitation of a wide range of vulnerabilities, "
        "including those described in OWASP publications.",
        ns,
        [
            _rule(ns, "NoUserAgent_HEADER", {"NotStatement": {"Statement": _size(ua, "GT", 0)}}),
            _rule(ns, "UserAgent_BadBots_HEADER", _regex(BAD_BOTS, ua)),
            _rule(ns, "SizeRestrictions_QUERYSTRING", _size(QUERY_STRING, "GT", 2048)),
            _rule(
                ns,
                "SizeRestrictions_Cookie_HEADER",
                _size({"SingleHeader": {"Name": "cookie"}}, "GT", 10240),
            ),
            _rule(
                ns,
                "SizeRestrictions_BODY",
                _size({"Body": {"OversizeHandling": "CONTINUE"}}, "GT", 8192),
            ),
            _rule(ns, "SizeRestrictions_URIPATH", _size(URI_PATH, "GT", 1024)),
            _rule(ns, "EC2MetaDataSSRF_BODY", _det("metadata_ssrf", BODY)),
            _rule(ns, "EC2MetaDataSSRF_COOKIE", _det("metadata_ssrf", COOKIES)),
            _rule(ns, "EC2MetaDataSSRF_URIPATH", _det("metadata_ssrf", URI_PATH)),
            _rule(ns, "EC2MetaDataSSRF_QUERYARGUMENTS", _det("metadata_ssrf", QUERY_ARGS)),
            _rule(ns, "GenericLFI_QUERYARGUMENTS", _det("lfi", QUERY_ARGS)),
            _rule(ns, "GenericLFI_URIPATH", _det("traversal", URI_PATH)),
            _rule(ns, "GenericLFI_BODY", _det("lfi", BODY)),
            _rule(ns, "RestrictedExtensions_URIPATH", _regex(RESTRICTED_EXT, URI_PATH)),
            _rule(
                ns,
                "RestrictedExtensions_QUERYARGUMENTS",
                _regex(RESTRICTED_EXT, {"AllQueryArguments": {}}),
            ),
            _rule(ns, "GenericRFI_QUERYARGUMENTS", _det("rfi", QUERY_ARGS)),
            _rule(ns, "GenericRFI_BODY", _det("rfi", BODY)),
            _rule(ns, "GenericRFI_URIPATH", _det("rfi", URI_PATH)),
            _rule(ns, "CrossSiteScripting_COOKIE", _det("xss", COOKIES)),
            _rule(ns, "CrossSiteScripting_QUERYARGUMENTS", _det("xss", QUERY_ARGS)),
            _rule(ns, "CrossSiteScripting_BODY", _det("xss", BODY)),
            _rule(ns, "CrossSiteScripting_URIPATH", _det("xss", URI_PATH)),
            _rule(ns, "CrossSiteScripting_HEADER", _det("xss", HEADERS), addition=True),
            _rule(ns, "GenericSSRF_QUERYARGUMENTS", _det("ssrf", QUERY_ARGS), addition=True),
            _rule(ns, "GenericSSRF_BODY", _det("ssrf", BODY), addition=True),
            _rule(ns, "GenericSSRF_HEADER", _det("ssrf", HEADERS_NO_URLS), addition=True),
            _rule(ns, "GenericSSRF_COOKIE", _det("ssrf", COOKIES), addition=True),
            _rule(ns, "GenericRFI_HEADER", _det("rfi", HEADERS_NO_URLS), addition=True),
        ],
    )


def _kbi() -> dict:
    ns = KBI_NS
    return _group(
        "AWSManagedRulesKnownBadInputsRuleSet",
        "Contains rules that allow you to block request patterns that are known to be "
        "invalid and are associated with exploitation or discovery of "
        "vulnerabilities.",
        ns,
        [
            _rule(ns, "JavaDeserializationRCE_HEADER", _det("java_deser", HEADERS_ALL)),
            _rule(ns, "JavaDeserializationRCE_BODY", _det("java_deser", RAW_BODY)),
            _rule(ns, "JavaDeserializationRCE_URIPATH", _det("java_deser", URI_PATH)),
            _rule(ns, "JavaDeserializationRCE_QUERYSTRING", _det("java_deser", QUERY_STRING)),
            _rule(
                ns,
                "Host_localhost_HEADER",
                _regex(
                    r"^(?:localhost|127\.0\.0\.1|\[?::1\]?)(?::\d+)?$",
                    {"SingleHeader": {"Name": "host"}},
                ),
            ),
            _rule(
                ns,
                "PROPFIND_METHOD",
                {
                    "ByteMatchStatement": {
                        "SearchString": "PROPFIND",
                        "FieldToMatch": {"Method": {}},
                        "PositionalConstraint": "EXACTLY",
                        "TextTransformations": [{"Priority": 0, "Type": "UPPERCASE"}],
                    }
                },
            ),
            _rule(ns, "ExploitablePaths_URIPATH", _regex(EXPLOITABLE_PATHS, URI_PATH)),
            _rule(ns, "Log4JRCE_HEADER", _det("log4j", HEADERS_ALL)),
            _rule(ns, "Log4JRCE_QUERYSTRING", _det("log4j", QUERY_STRING)),
            _rule(ns, "Log4JRCE_BODY", _det("log4j", RAW_BODY)),
            _rule(ns, "Log4JRCE_URIPATH", _det("log4j", URI_PATH)),
            _rule(ns, "XXE_BODY", _det("xxe", RAW_BODY), addition=True),
            _rule(ns, "SSTI_QUERYARGUMENTS", _det("ssti", QUERY_ARGS), addition=True),
            _rule(ns, "SSTI_BODY", _det("ssti", BODY), addition=True),
            _rule(ns, "SSTI_HEADER", _det("ssti", HEADERS_ALL), addition=True),
            _rule(ns, "SSTI_URIPATH", _det("ssti", URI_PATH), addition=True),
            _rule(ns, "Shellshock_HEADER", _det("shellshock", HEADERS_ALL), addition=True),
        ],
    )


def _sqli() -> dict:
    ns = SQL_NS
    return _group(
        "AWSManagedRulesSQLiRuleSet",
        "Contains rules that allow you to block request patterns associated with "
        "exploitation of SQL databases, like SQL injection attacks.",
        ns,
        [
            _rule(ns, "SQLi_QUERYARGUMENTS", _det("sqli", QUERY_ARGS)),
            _rule(ns, "SQLiExtendedPatterns_QUERYARGUMENTS", _det("sqli_high", QUERY_ARGS)),
            _rule(ns, "SQLi_BODY", _det("sqli", BODY)),
            _rule(ns, "SQLiExtendedPatterns_BODY", _det("sqli_high", BODY)),
            _rule(ns, "SQLi_COOKIE", _det("sqli", COOKIES)),
            _rule(ns, "SQLi_URIPATH", _det("sqli", URI_PATH)),
            _rule(ns, "SQLi_HEADER", _det("sqli", HEADERS), addition=True),
            _rule(ns, "NoSQLi_QUERYSTRING", _det("nosql", QUERY_STRING), addition=True),
            _rule(ns, "NoSQLi_BODY", _det("nosql", RAW_BODY), addition=True),
            _rule(ns, "NoSQLi_HEADER", _det("nosql", HEADERS), addition=True),
        ],
    )


def _linux() -> dict:
    ns = LINUX_NS
    return _group(
        "AWSManagedRulesLinuxRuleSet",
        "Contains rules that block request patterns associated with exploitation of "
        "vulnerabilities specific to Linux, including LFI attacks.",
        ns,
        [
            _rule(ns, "LFI_URIPATH", _det("lfi", URI_PATH)),
            _rule(ns, "LFI_QUERYSTRING", _det("lfi", QUERY_ARGS)),
            _rule(ns, "LFI_HEADER", _det("lfi", HEADERS)),
            _rule(ns, "LFI_BODY", _det("lfi", BODY), addition=True),
            _rule(ns, "LFI_COOKIE", _det("lfi", COOKIES), addition=True),
        ],
    )


def _unix() -> dict:
    ns = UNIX_NS
    return _group(
        "AWSManagedRulesUnixRuleSet",
        "Contains rules that block request patterns associated with exploiting "
        "vulnerabilities specific to POSIX/POSIX-like OS, including LFI attacks.",
        ns,
        [
            _rule(ns, "UNIXShellCommandsVariables_QUERYARGUMENTS", _det("cmdi", QUERY_ARGS)),
            _rule(ns, "UNIXShellCommandsVariables_BODY", _det("cmdi", BODY)),
            _rule(ns, "UNIXShellCommandsVariables_HEADER", _det("cmdi", HEADERS), addition=True),
            _rule(ns, "UNIXShellCommandsVariables_COOKIE", _det("cmdi", COOKIES), addition=True),
            _rule(ns, "UNIXShellCommandsVariables_URIPATH", _det("cmdi", URI_PATH), addition=True),
        ],
    )


def _php() -> dict:
    ns = PHP_NS
    return _group(
        "AWSManagedRulesPHPRuleSet",
        "Contains rules that block request patterns associated with exploiting "
        "vulnerabilities specific to the use of the PHP, including injection of unsafe "
        "PHP functions.",
        ns,
        [
            _rule(ns, "PHPHighRiskMethodsVariables_HEADER", _det("php", HEADERS)),
            _rule(ns, "PHPHighRiskMethodsVariables_QUERYSTRING", _det("php", QUERY_ARGS)),
            _rule(ns, "PHPHighRiskMethodsVariables_BODY", _det("php", BODY)),
        ],
    )


def _admin() -> dict:
    ns = ADMIN_NS
    return _group(
        "AWSManagedRulesAdminProtectionRuleSet",
        "Contains rules that allow you to block external access to exposed admin pages.",
        ns,
        [
            _rule(
                ns,
                "AdminProtection_URIPATH",
                _regex(
                    ADMIN_PATHS, URI_PATH, [*URL_LOWER, {"Priority": 2, "Type": "NORMALIZE_PATH"}]
                ),
            ),
        ],
    )


def _ipset(short: str) -> dict:
    return {"IPSetReferenceStatement": {"ARN": ip_list_arn(short)}}


def _reputation() -> dict:
    ns = REP_NS
    return _group(
        "AWSManagedRulesAmazonIpReputationList",
        "This group contains rules that are based on Amazon threat intelligence. This "
        "is useful if you would like to block sources associated with bots or other "
        "threats.",
        ns,
        [
            _rule(ns, "AWSManagedIPReputationList", _ipset("reputation")),
            _rule(ns, "AWSManagedReconnaissanceList", _ipset("reconnaissance")),
            _rule(ns, "AWSManagedIPDDoSList", _ipset("ddos"), action="Count"),
        ],
    )


def _anonymous() -> dict:
    ns = ANON_NS
    return _group(
        "AWSManagedRulesAnonymousIpList",
        "Contains rules that allow you to block requests from services that allow "
        "obfuscation of viewer identity. This can include request originating from "
        "VPN, proxies, Tor nodes, and hosting providers.",
        ns,
        [
            _rule(ns, "AnonymousIPList", _ipset("anonymous")),
            _rule(ns, "HostingProviderIPList", _ipset("hosting")),
        ],
    )


GROUPS: list[dict] = [
    _crs(),
    _kbi(),
    _sqli(),
    _linux(),
    _unix(),
    _php(),
    _admin(),
    _reputation(),
    _anonymous(),
]
