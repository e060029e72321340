"""The ELBv2 subset that creates edge listeners, with boto3."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from support import free_port


def code(exc: pytest.ExceptionInfo) -> str:
    return exc.value.response["Error"]["Code"]


def test_load_balancer_lifecycle_without_vpcs(server):
    elb = server.client("elbv2")
    account = server.runtime.settings.account_id
    lb = elb.create_load_balancer(Name="web", Tags=[{"Key": "env", "Value": "dev"}])
    view = lb["LoadBalancers"][0]
    assert view["LoadBalancerArn"].startswith(
        f"arn:aws:elasticloadbalancing:us-east-1:{account}:loadbalancer/app/web/"
    )
    assert view["State"] == {"Code": "active"} and view["Type"] == "application"
    again = elb.create_load_balancer(Name="web")["LoadBalancers"][0]
    assert again["LoadBalancerArn"] == view["LoadBalancerArn"]  # idempotent, as on AWS
    with_vpc = elb.create_load_balancer(
        Name="web2", Subnets=["subnet-a", "subnet-b"], SecurityGroups=["sg-1"]
    )["LoadBalancers"][0]
    assert with_vpc["SecurityGroups"] == ["sg-1"]
    assert [z["SubnetId"] for z in with_vpc["AvailabilityZones"]] == ["subnet-a", "subnet-b"]
    names = [lb["LoadBalancerName"] for lb in elb.describe_load_balancers()["LoadBalancers"]]
    assert names == ["web", "web2"]
    with pytest.raises(ClientError) as exc:
        elb.describe_load_balancers(Names=["nope"])
    assert code(exc) == "LoadBalancerNotFound"
    tags = elb.describe_tags(ResourceArns=[view["LoadBalancerArn"]])["TagDescriptions"][0]
    assert tags["Tags"] == [{"Key": "env", "Value": "dev"}]
    elb.delete_load_balancer(LoadBalancerArn=view["LoadBalancerArn"])
    elb.delete_load_balancer(LoadBalancerArn=view["LoadBalancerArn"])  # no error
    assert len(elb.describe_load_balancers()["LoadBalancers"]) == 1


def test_target_groups_listeners_and_errors(server):
    elb = server.client("elbv2")
    lb = elb.create_load_balancer(Name="web")["LoadBalancers"][0]["LoadBalancerArn"]
    tg = elb.create_target_group(Name="app", Protocol="HTTP", Port=8080, TargetType="ip")[
        "TargetGroups"
    ][0]
    with pytest.raises(ClientError) as exc:
        elb.register_targets(TargetGroupArn=tg["TargetGroupArn"], Targets=[{"Id": "i-123"}])
    assert code(exc) == "InvalidTarget"
    elb.register_targets(
        TargetGroupArn=tg["TargetGroupArn"],
        Targets=[{"Id": "127.0.0.1"}, {"Id": "127.0.0.1", "Port": 9090}],
    )
    health = elb.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])
    assert {h["TargetHealth"]["State"] for h in health["TargetHealthDescriptions"]} == {"unused"}
    port = free_port()
    with pytest.raises(ClientError) as exc:
        elb.create_listener(
            LoadBalancerArn=lb,
            Protocol="HTTP",
            Port=port,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"] + "x"}],
        )
    assert code(exc) == "TargetGroupNotFound"
    listener = elb.create_listener(
        LoadBalancerArn=lb,
        Protocol="HTTP",
        Port=port,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}],
    )["Listeners"][0]
    assert listener["Port"] == port and listener["Protocol"] == "HTTP"
    with pytest.raises(ClientError) as exc:
        elb.create_listener(
            LoadBalancerArn=lb,
            Protocol="HTTP",
            Port=port,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}],
        )
    assert code(exc) == "DuplicateListener"
    with pytest.raises(ClientError) as exc:
        elb.create_listener(
            LoadBalancerArn=lb,
            Protocol="HTTPS",
            Port=free_port(),
            DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}],
        )
    assert code(exc) == "ValidationError"
    health = elb.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])
    assert {h["TargetHealth"]["State"] for h in health["TargetHealthDescriptions"]} == {"healthy"}
    assert elb.describe_target_groups(Names=["app"])["TargetGroups"][0]["LoadBalancerArns"] == [lb]
    with pytest.raises(ClientError) as exc:
        elb.delete_target_group(TargetGroupArn=tg["TargetGroupArn"])
    assert code(exc) == "ResourceInUse"
    assert len(elb.describe_listeners(LoadBalancerArn=lb)["Listeners"]) == 1
    elb.delete_listener(ListenerArn=listener["ListenerArn"])
    with pytest.raises(ClientError) as exc:
        elb.describe_listeners(ListenerArns=[listener["ListenerArn"]])
    assert code(exc) == "ListenerNotFound"
    elb.delete_target_group(TargetGroupArn=tg["TargetGroupArn"])
    with pytest.raises(ClientError) as exc:
        elb.describe_target_groups(TargetGroupArns=[tg["TargetGroupArn"]])
    assert code(exc) == "TargetGroupNotFound"
