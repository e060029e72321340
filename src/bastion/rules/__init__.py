"""Pure engines with no I/O: proxy rules, event patterns, WAF statements, rate windows."""
