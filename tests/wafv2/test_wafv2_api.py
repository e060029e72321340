"""The WAFv2 API with boto3: CRUD, LockToken, AWS's errors, capacity, managed groups."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError


def vis(name: str) -> dict:
    return {"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True, "MetricName": name}


def code(exc: pytest.ExceptionInfo) -> str:
    return exc.value.response["Error"]["Code"]


def byte_rule(name: str, priority: int, constraint: str = "CONTAINS", transforms: int = 1):
    return {
        "Name": name,
        "Priority": priority,
        "Statement": {
            "ByteMatchStatement": {
                "SearchString": b"bad",
                "FieldToMatch": {"QueryString": {}},
                "TextTransformations": [
                    {"Priority": i, "Type": t}
                    for i, t in enumerate(["LOWERCASE", "URL_DECODE", "NONE"][:transforms])
                ],
                "PositionalConstraint": constraint,
            }
        },
        "Action": {"Block": {}},
        "VisibilityConfig": vis(name),
    }


@pytest.fixture
def waf(server):
    return server.client("wafv2")


def test_ip_set_crud_and_lock_token(waf, server):
    account = server.runtime.settings.account_id
    summary = waf.create_ip_set(
        Name="office",
        Scope="REGIONAL",
        IPAddressVersion="IPV4",
        Addresses=["10.0.0.0/8"],
        Description="head office",
    )["Summary"]
    assert summary["ARN"] == (
        f"arn:aws:wafv2:us-east-1:{account}:regional/ipset/office/{summary['Id']}"
    )
    got = waf.get_ip_set(Name="office", Scope="REGIONAL", Id=summary["Id"])
    assert got["IPSet"]["Addresses"] == ["10.0.0.0/8"]
    assert got["LockToken"] == summary["LockToken"]
    nxt = waf.update_ip_set(
        Name="office",
        Scope="REGIONAL",
        Id=summary["Id"],
        Addresses=["10.0.0.0/8", "192.0.2.1/32"],
        LockToken=summary["LockToken"],
    )["NextLockToken"]
    with pytest.raises(ClientError) as exc:
        waf.update_ip_set(
            Name="office",
            Scope="REGIONAL",
            Id=summary["Id"],
            Addresses=[],
            LockToken=summary["LockToken"],
        )
    assert code(exc) == "WAFOptimisticLockException"
    assert exc.value.response["Error"]["Message"].startswith(
        "AWS WAF couldn\u2019t save your changes"
    )
    with pytest.raises(ClientError) as exc:
        waf.create_ip_set(Name="office", Scope="REGIONAL", IPAddressVersion="IPV4", Addresses=[])
    assert code(exc) == "WAFDuplicateItemException"
    with pytest.raises(ClientError) as exc:
        waf.create_ip_set(
            Name="bad", Scope="REGIONAL", IPAddressVersion="IPV4", Addresses=["10.0.0.300/32"]
        )
    assert code(exc) == "WAFInvalidParameterException"
    assert "field: IP_ADDRESS" in exc.value.response["Error"]["Message"]
    listed = waf.list_ip_sets(Scope="REGIONAL")["IPSets"]
    assert [(s["Name"], s["LockToken"]) for s in listed] == [("office", nxt)]
    waf.delete_ip_set(Name="office", Scope="REGIONAL", Id=summary["Id"], LockToken=nxt)
    with pytest.raises(ClientError) as exc:
        waf.get_ip_set(Name="office", Scope="REGIONAL", Id=summary["Id"])
    assert code(exc) == "WAFNonexistentItemException"


def test_cloudfront_scope(waf, server):
    account = server.runtime.settings.account_id
    s = waf.create_regex_pattern_set(
        Name="r", Scope="CLOUDFRONT", RegularExpressionList=[{"RegexString": "^/a"}]
    )["Summary"]
    assert s["ARN"].startswith(f"arn:aws:wafv2:us-east-1:{account}:global/regexpatternset/r/")
    assert waf.list_regex_pattern_sets(Scope="REGIONAL")["RegexPatternSets"] == []
    other = server.client("wafv2", region="eu-west-1")
    with pytest.raises(ClientError) as exc:
        other.list_web_acls(Scope="CLOUDFRONT")
    assert code(exc) == "WAFInvalidParameterException"


def test_web_acl_capacity_references_and_deletion_rules(waf):
    ip = waf.create_ip_set(Name="ips", Scope="REGIONAL", IPAddressVersion="IPV4", Addresses=[])[
        "Summary"
    ]
    rules = [
        byte_rule("a", 0, "EXACTLY", 1),  # 2 + 10
        byte_rule("b", 1, "CONTAINS", 2),  # 10 + 20
        {
            "Name": "ips",
            "Priority": 2,
            "Statement": {"IPSetReferenceStatement": {"ARN": ip["ARN"]}},
            "Action": {"Block": {}},
            "VisibilityConfig": vis("ips"),
        },  # 2
        {
            "Name": "crs",
            "Priority": 3,
            "Statement": {
                "ManagedRuleGroupStatement": {
                    "VendorName": "AWS",
                    "Name": "AWSManagedRulesCommonRuleSet",
                }
            },
            "OverrideAction": {"None": {}},
            "VisibilityConfig": vis("crs"),
        },  # 700
    ]
    capacity = waf.check_capacity(Scope="REGIONAL", Rules=rules)["Capacity"]
    assert capacity == 12 + 30 + 2 + 700
    acl = waf.create_web_acl(
        Name="acl",
        Scope="REGIONAL",
        DefaultAction={"Allow": {}},
        Rules=rules,
        VisibilityConfig=vis("acl"),
    )["Summary"]
    got = waf.get_web_acl(Name="acl", Scope="REGIONAL", Id=acl["Id"])
    assert got["WebACL"]["Capacity"] == capacity
    assert got["WebACL"]["Rules"][0]["Statement"]["ByteMatchStatement"]["SearchString"] == b"bad"
    assert got["WebACL"]["LabelNamespace"].endswith(":webacl:acl:")
    with pytest.raises(ClientError) as exc:
        waf.delete_ip_set(Name="ips", Scope="REGIONAL", Id=ip["Id"], LockToken=ip["LockToken"])
    assert code(exc) == "WAFAssociatedItemException"
    with pytest.raises(ClientError) as exc:
        waf.create_web_acl(
            Name="ghost",
            Scope="REGIONAL",
            DefaultAction={"Allow": {}},
            Rules=[
                {
                    **rules[2],
                    "Statement": {
                        "IPSetReferenceStatement": {
                            "ARN": ip["ARN"].replace(
                                ip["Id"], "00000000-0000-0000-0000-000000000000"
                            )
                        }
                    },
                }
            ],
            VisibilityConfig=vis("ghost"),
        )
    assert code(exc) == "WAFNonexistentItemException"
    with pytest.raises(ClientError) as exc:
        waf.create_web_acl(
            Name="dup",
            Scope="REGIONAL",
            DefaultAction={"Allow": {}},
            Rules=[byte_rule("x", 0), byte_rule("x", 1)],
            VisibilityConfig=vis("dup"),
        )
    assert code(exc) == "WAFDuplicateItemException"
    big = [
        {
            "Name": f"crs{i}",
            "Priority": i,
            "Statement": {
                "ManagedRuleGroupStatement": {
                    "VendorName": "AWS",
                    "Name": "AWSManagedRulesCommonRuleSet",
                }
            },
            "OverrideAction": {"None": {}},
            "VisibilityConfig": vis(f"crs{i}"),
        }
        for i in range(8)
    ]
    with pytest.raises(ClientError) as exc:
        waf.create_web_acl(
            Name="big",
            Scope="REGIONAL",
            DefaultAction={"Allow": {}},
            Rules=big,
            VisibilityConfig=vis("big"),
        )
    assert code(exc) == "WAFLimitsExceededException"
    with pytest.raises(ClientError) as exc:
        waf.update_web_acl(
            Name="acl",
            Scope="REGIONAL",
            Id=acl["Id"],
            LockToken="00000000-0000-0000-0000-000000000000",
            DefaultAction={"Block": {}},
            VisibilityConfig=vis("acl"),
        )
    assert code(exc) == "WAFOptimisticLockException"
    nxt = waf.update_web_acl(
        Name="acl",
        Scope="REGIONAL",
        Id=acl["Id"],
        LockToken=acl["LockToken"],
        DefaultAction={"Block": {}},
        Rules=[],
        VisibilityConfig=vis("acl"),
    )["NextLockToken"]
    got = waf.get_web_acl(Name="acl", Scope="REGIONAL", Id=acl["Id"])
    assert got["WebACL"]["DefaultAction"] == {"Block": {}} and got["LockToken"] == nxt
    waf.delete_ip_set(Name="ips", Scope="REGIONAL", Id=ip["Id"], LockToken=ip["LockToken"])
    waf.delete_web_acl(Name="acl", Scope="REGIONAL", Id=acl["Id"], LockToken=nxt)
    assert waf.list_web_acls(Scope="REGIONAL")["WebACLs"] == []


def test_invalid_statement_is_rejected(waf):
    rule = byte_rule("a", 0)
    rule["Statement"] = {
        "NotStatement": {
            "Statement": {"RateBasedStatement": {"Limit": 100, "AggregateKeyType": "IP"}}
        }
    }
    with pytest.raises(ClientError) as exc:
        waf.create_web_acl(
            Name="bad",
            Scope="REGIONAL",
            DefaultAction={"Allow": {}},
            Rules=[rule],
            VisibilityConfig=vis("bad"),
        )
    assert code(exc) == "WAFInvalidParameterException"
    assert "RateBasedStatement" in exc.value.response["Error"]["Message"]


def test_rule_groups(waf):
    with pytest.raises(ClientError) as exc:
        waf.create_rule_group(
            Name="small",
            Scope="REGIONAL",
            Capacity=5,
            Rules=[byte_rule("a", 0)],
            VisibilityConfig=vis("small"),
        )
    assert code(exc) == "WAFLimitsExceededException"
    with pytest.raises(ClientError) as exc:
        waf.create_rule_group(
            Name="huge", Scope="REGIONAL", Capacity=1501, Rules=[], VisibilityConfig=vis("huge")
        )
    assert code(exc) == "WAFLimitsExceededException"
    rg = waf.create_rule_group(
        Name="g",
        Scope="REGIONAL",
        Capacity=100,
        Rules=[byte_rule("a", 0)],
        VisibilityConfig=vis("g"),
    )["Summary"]
    rule = {
        "Name": "g",
        "Priority": 0,
        "Statement": {"RuleGroupReferenceStatement": {"ARN": rg["ARN"]}},
        "OverrideAction": {"Count": {}},
        "VisibilityConfig": vis("g"),
    }
    assert waf.check_capacity(Scope="REGIONAL", Rules=[rule])["Capacity"] == 100
    acl = waf.create_web_acl(
        Name="acl",
        Scope="REGIONAL",
        DefaultAction={"Allow": {}},
        Rules=[rule],
        VisibilityConfig=vis("acl"),
    )["Summary"]
    with pytest.raises(ClientError) as exc:
        waf.delete_rule_group(Name="g", Scope="REGIONAL", Id=rg["Id"], LockToken=rg["LockToken"])
    assert code(exc) == "WAFAssociatedItemException"
    got = waf.get_rule_group(ARN=rg["ARN"])
    assert got["RuleGroup"]["Capacity"] == 100
    assert got["RuleGroup"]["LabelNamespace"].endswith(":rulegroup:g:")
    waf.delete_web_acl(Name="acl", Scope="REGIONAL", Id=acl["Id"], LockToken=acl["LockToken"])
    waf.delete_rule_group(Name="g", Scope="REGIONAL", Id=rg["Id"], LockToken=got["LockToken"])


def test_quota_of_regex_sets(waf):
    for i in range(10):
        waf.create_regex_pattern_set(
            Name=f"r{i}", Scope="REGIONAL", RegularExpressionList=[{"RegexString": "a"}]
        )
    with pytest.raises(ClientError) as exc:
        waf.create_regex_pattern_set(
            Name="r10", Scope="REGIONAL", RegularExpressionList=[{"RegexString": "a"}]
        )
    assert code(exc) == "WAFLimitsExceededException"


def test_managed_rule_groups(waf):
    groups = waf.list_available_managed_rule_groups(Scope="REGIONAL")["ManagedRuleGroups"]
    names = {g["Name"] for g in groups}
    assert {"AWSManagedRulesCommonRuleSet", "AWSManagedRulesSQLiRuleSet"} <= names
    crs = waf.describe_managed_rule_group(
        VendorName="AWS", Name="AWSManagedRulesCommonRuleSet", Scope="REGIONAL"
    )
    assert crs["Capacity"] == 700
    assert "NoUserAgent_HEADER" in {r["Name"] for r in crs["Rules"]}
    assert crs["LabelNamespace"] == "awswaf:managed:aws:core-rule-set:"
    with pytest.raises(ClientError) as exc:
        waf.describe_managed_rule_group(VendorName="AWS", Name="Nope", Scope="REGIONAL")
    assert code(exc) == "WAFNonexistentItemException"


def test_logging_configuration_and_tags(waf, server):
    account = server.runtime.settings.account_id
    acl = waf.create_web_acl(
        Name="acl",
        Scope="REGIONAL",
        DefaultAction={"Allow": {}},
        Rules=[],
        VisibilityConfig=vis("acl"),
        Tags=[{"Key": "team", "Value": "web"}],
    )["Summary"]
    with pytest.raises(ClientError) as exc:
        waf.put_logging_configuration(
            LoggingConfiguration={
                "ResourceArn": acl["ARN"],
                "LogDestinationConfigs": [f"arn:aws:logs:us-east-1:{account}:log-group:other"],
            }
        )
    assert code(exc) == "WAFInvalidParameterException"
    dest = "arn:aws:s3:::aws-waf-logs-bucket"
    out = waf.put_logging_configuration(
        LoggingConfiguration={
            "ResourceArn": acl["ARN"],
            "LogDestinationConfigs": [dest],
            "LoggingFilter": {
                "DefaultBehavior": "DROP",
                "Filters": [
                    {
                        "Behavior": "KEEP",
                        "Requirement": "MEETS_ANY",
                        "Conditions": [{"ActionCondition": {"Action": "BLOCK"}}],
                    }
                ],
            },
        }
    )
    assert out["LoggingConfiguration"]["LogDestinationConfigs"] == [dest]
    got = waf.get_logging_configuration(ResourceArn=acl["ARN"])["LoggingConfiguration"]
    assert got["LoggingFilter"]["DefaultBehavior"] == "DROP"
    assert len(waf.list_logging_configurations(Scope="REGIONAL")["LoggingConfigurations"]) == 1
    waf.delete_logging_configuration(ResourceArn=acl["ARN"])
    with pytest.raises(ClientError) as exc:
        waf.get_logging_configuration(ResourceArn=acl["ARN"])
    assert code(exc) == "WAFNonexistentItemException"
    waf.tag_resource(ResourceARN=acl["ARN"], Tags=[{"Key": "env", "Value": "prod"}])
    waf.untag_resource(ResourceARN=acl["ARN"], TagKeys=["team"])
    tags = waf.list_tags_for_resource(ResourceARN=acl["ARN"])["TagInfoForResource"]["TagList"]
    assert tags == [{"Key": "env", "Value": "prod"}]


def test_associations_need_a_real_load_balancer(waf, server):
    acl = waf.create_web_acl(
        Name="acl",
        Scope="REGIONAL",
        DefaultAction={"Allow": {}},
        Rules=[],
        VisibilityConfig=vis("acl"),
    )["Summary"]
    account = server.runtime.settings.account_id
    ghost = f"arn:aws:elasticloadbalancing:us-east-1:{account}:loadbalancer/app/x/0123456789abcdef"
    with pytest.raises(ClientError) as exc:
        waf.associate_web_acl(WebACLArn=acl["ARN"], ResourceArn=ghost)
    assert code(exc) == "WAFNonexistentItemException"
    with pytest.raises(ClientError) as exc:
        waf.associate_web_acl(WebACLArn=acl["ARN"], ResourceArn=f"arn:aws:s3:::bucket-{account}")
    assert code(exc) == "WAFInvalidParameterException"
    elb = server.client("elbv2")
    lb = elb.create_load_balancer(Name="lb")["LoadBalancers"][0]["LoadBalancerArn"]
    waf.associate_web_acl(WebACLArn=acl["ARN"], ResourceArn=lb)
    with pytest.raises(ClientError) as exc:
        waf.delete_web_acl(Name="acl", Scope="REGIONAL", Id=acl["Id"], LockToken=acl["LockToken"])
    assert code(exc) == "WAFAssociatedItemException"
    elb.delete_load_balancer(LoadBalancerArn=lb)
    assert waf.list_resources_for_web_acl(WebACLArn=acl["ARN"])["ResourceArns"] == []
    waf.delete_web_acl(Name="acl", Scope="REGIONAL", Id=acl["Id"], LockToken=acl["LockToken"])
