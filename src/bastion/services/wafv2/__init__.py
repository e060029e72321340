"""AWS WAFv2: web ACLs, rule groups, IP sets, regex pattern sets, logging, sampling."""
