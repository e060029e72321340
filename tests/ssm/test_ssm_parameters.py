"""Parameter Store end to end with boto3: put/get/selectors/paths/history/labels/tags."""

from __future__ import annotations

import botocore.exceptions
import pytest


def _code(call, **kwargs) -> str:
    with pytest.raises(botocore.exceptions.ClientError) as info:
        call(**kwargs)
    return info.value.response["Error"]["Code"]


def test_put_get_types_versions_and_selectors(server):
    ssm = server.client("ssm")
    first = ssm.put_parameter(Name="/app/host", Value="db.local", Type="String")
    assert (first["Version"], first["Tier"]) == (1, "Standard")
    ssm.put_parameter(Name="/app/list", Value="a,b,c", Type="StringList")
    ssm.put_parameter(Name="/app/x", Value="x", Type="String")
    ssm.put_parameter(Name="/app/secret", Value="hunter2", Type="SecureString")
    got = ssm.get_parameter(Name="/app/secret", WithDecryption=True)["Parameter"]
    assert got["Value"] == "hunter2" and got["Type"] == "SecureString"
    assert got["ARN"] == "arn:aws:ssm:us-east-1:000000000000:parameter/app/secret"
    raw = ssm.get_parameter(Name="/app/secret")["Parameter"]["Value"]
    assert raw != "hunter2" and len(raw) > 20  # base64 ciphertext
    assert _code(ssm.put_parameter, Name="/app/host", Value="y", Type="String") == (
        "ParameterAlreadyExists"
    )
    assert ssm.put_parameter(Name="/app/host", Value="v2", Overwrite=True)["Version"] == 2
    assert ssm.get_parameter(Name="/app/host:1")["Parameter"]["Value"] == "db.local"
    sel = ssm.get_parameter(Name="/app/host:1")["Parameter"]
    assert sel["Selector"] == ":1" and sel["Name"] == "/app/host"
    ssm.label_parameter_version(Name="/app/host", ParameterVersion=1, Labels=["prod"])
    assert ssm.get_parameter(Name="/app/host:prod")["Parameter"]["Version"] == 1
    assert _code(ssm.get_parameter, Name="/app/host:9") == "ParameterVersionNotFound"
    assert _code(ssm.get_parameter, Name="/nope") == "ParameterNotFound"
    # by ARN
    arn = "arn:aws:ssm:us-east-1:000000000000:parameter/app/host"
    assert ssm.get_parameter(Name=arn)["Parameter"]["Value"] == "v2"
    out = ssm.get_parameters(
        Names=["/app/x", "/app/host", "/missing", "/app/secret"], WithDecryption=True
    )
    assert [p["Name"] for p in out["Parameters"]] == ["/app/host", "/app/secret", "/app/x"]
    assert out["InvalidParameters"] == ["/missing"]
    # StringList
    assert ssm.get_parameter(Name="/app/list")["Parameter"]["Value"] == "a,b,c"


def test_validation_rules(server):
    ssm = server.client("ssm")
    assert _code(ssm.put_parameter, Name="/aws/x", Value="v", Type="String") == (
        "ValidationException"
    )
    assert _code(ssm.put_parameter, Name="a/b", Value="v", Type="String") == "ValidationException"
    deep = "/" + "/".join(f"l{i}" for i in range(16))
    assert _code(ssm.put_parameter, Name=deep, Value="v", Type="String") == (
        "HierarchyLevelLimitExceededException"
    )
    ok = "/" + "/".join(f"l{i}" for i in range(15))
    ssm.put_parameter(Name=ok, Value="v", Type="String")
    assert _code(ssm.put_parameter, Name="/big", Value="x" * 4097, Type="String") == (
        "ValidationException"
    )
    assert (
        ssm.put_parameter(Name="/big", Value="x" * 5000, Type="String", Tier="Advanced")["Tier"]
        == "Advanced"
    )
    assert _code(
        ssm.put_parameter, Name="/big2", Value="x" * 8193, Type="String", Tier="Advanced"
    ) in ("ValidationException",)
    assert (
        ssm.put_parameter(Name="/it", Value="x" * 5000, Type="String", Tier="Intelligent-Tiering")[
            "Tier"
        ]
        == "Advanced"
    )
    assert (
        ssm.put_parameter(Name="/it2", Value="small", Type="String", Tier="Intelligent-Tiering")[
            "Tier"
        ]
        == "Standard"
    )
    assert _code(ssm.put_parameter, Name="/big", Value="y", Overwrite=True, Tier="Standard") == (
        "ValidationException"
    )
    assert (
        _code(ssm.put_parameter, Name="/pat", Value="abc", Type="String", AllowedPattern="^[0-9]+$")
        == "ParameterPatternMismatchException"
    )
    ssm.put_parameter(Name="/pat", Value="123", Type="String", AllowedPattern="^[0-9]+$")
    assert (
        _code(ssm.put_parameter, Name="/ami", Value="nope", Type="String", DataType="aws:ec2:image")
        == "ValidationException"
    )
    ssm.put_parameter(
        Name="/ami", Value="ami-0123456789abcdef0", Type="String", DataType="aws:ec2:image"
    )
    assert ssm.get_parameter(Name="/ami")["Parameter"]["DataType"] == "aws:ec2:image"
    assert (
        _code(
            ssm.put_parameter,
            Name="/t",
            Value="v",
            Type="String",
            Tags=[{"Key": "a", "Value": "b"}],
            Overwrite=True,
        )
        == "ValidationException"
    )


def test_paths_paging_filters_and_describe(server):
    ssm = server.client("ssm")
    for i in range(13):
        ssm.put_parameter(Name=f"/svc/a/p{i:02d}", Value=str(i), Type="String")
    ssm.put_parameter(Name="/svc/a/deep/x", Value="d", Type="SecureString")
    ssm.put_parameter(Name="/svc/top", Value="t", Type="String")
    one = ssm.get_parameters_by_path(Path="/svc")["Parameters"]
    assert [p["Name"] for p in one] == ["/svc/top"]
    names, token, pages = [], None, 0
    while True:
        kwargs = {"Path": "/svc/a", "Recursive": True, "MaxResults": 5, "WithDecryption": True}
        if token:
            kwargs["NextToken"] = token
        page = ssm.get_parameters_by_path(**kwargs)
        pages += 1
        names += [p["Name"] for p in page["Parameters"]]
        token = page.get("NextToken")
        if not token:
            break
    assert len(names) == 14 and pages >= 3 and "/svc/a/deep/x" in names
    secure = ssm.get_parameters_by_path(
        Path="/svc",
        Recursive=True,
        WithDecryption=True,
        ParameterFilters=[{"Key": "Type", "Values": ["SecureString"]}],
    )["Parameters"]
    assert [(p["Name"], p["Value"]) for p in secure] == [("/svc/a/deep/x", "d")]
    assert (
        _code(
            ssm.get_parameters_by_path,
            Path="/svc",
            ParameterFilters=[{"Key": "Name", "Values": ["x"]}],
        )
        == "InvalidFilterKey"
    )
    paginator = ssm.get_paginator("describe_parameters")
    described = [
        p
        for page in paginator.paginate(
            ParameterFilters=[{"Key": "Name", "Option": "BeginsWith", "Values": ["/svc/a/p"]}],
            PaginationConfig={"PageSize": 4},
        )
        for p in page["Parameters"]
    ]
    assert len(described) == 13
    by_path = ssm.describe_parameters(
        ParameterFilters=[{"Key": "Path", "Option": "OneLevel", "Values": ["/svc"]}]
    )["Parameters"]
    assert [p["Name"] for p in by_path] == ["/svc/top"]
    by_type = ssm.describe_parameters(
        ParameterFilters=[{"Key": "Type", "Values": ["SecureString"]}]
    )["Parameters"]
    assert [p["Name"] for p in by_type] == ["/svc/a/deep/x"]
    assert by_type[0]["KeyId"] == "alias/aws/ssm"
    assert (
        _code(
            ssm.describe_parameters,
            ParameterFilters=[{"Key": "Name", "Option": "Recursive", "Values": ["x"]}],
        )
        == "InvalidFilterOption"
    )


def test_history_labels_version_limit_delete_and_tags(server):
    ssm = server.client("ssm")
    ssm.put_parameter(Name="/h", Value="v1", Type="String", Tags=[{"Key": "team", "Value": "a"}])
    for i in range(2, 4):
        ssm.put_parameter(Name="/h", Value=f"v{i}", Overwrite=True)
    history = ssm.get_parameter_history(Name="/h")["Parameters"]
    assert [h["Value"] for h in history] == ["v1", "v2", "v3"]
    res = ssm.label_parameter_version(
        Name="/h", ParameterVersion=1, Labels=["good", "1bad", "awsbad", "ok.2"]
    )
    assert sorted(res["InvalidLabels"]) == ["1bad", "awsbad"]
    ssm.label_parameter_version(Name="/h", Labels=["good"])  # latest: moves the label
    history = ssm.get_parameter_history(Name="/h")["Parameters"]
    assert history[0]["Labels"] == ["ok.2"] and history[2]["Labels"] == ["good"]
    assert _code(
        ssm.label_parameter_version,
        Name="/h",
        ParameterVersion=2,
        Labels=[f"l{i}" for i in range(11)],
    ) in ("ValidationException", "ParameterVersionLabelLimitExceeded")
    ssm.label_parameter_version(Name="/h", ParameterVersion=2, Labels=[f"l{i}" for i in range(10)])
    assert (
        _code(ssm.label_parameter_version, Name="/h", ParameterVersion=2, Labels=["one-more"])
        == "ParameterVersionLabelLimitExceeded"
    )
    out = ssm.unlabel_parameter_version(Name="/h", ParameterVersion=2, Labels=["l0", "zzz"])
    assert out["RemovedLabels"] == ["l0"] and out["InvalidLabels"] == ["zzz"]
    # the oldest version carries a label: the 101st version fails
    for i in range(4, 101):
        ssm.put_parameter(Name="/h", Value=f"v{i}", Overwrite=True)
    assert _code(ssm.put_parameter, Name="/h", Value="v101", Overwrite=True) == (
        "ParameterMaxVersionLimitExceeded"
    )
    ssm.unlabel_parameter_version(Name="/h", ParameterVersion=1, Labels=["ok.2"])
    assert ssm.put_parameter(Name="/h", Value="v101", Overwrite=True)["Version"] == 101
    versions = [
        p["Version"]
        for page in ssm.get_paginator("get_parameter_history").paginate(Name="/h")
        for p in page["Parameters"]
    ]
    assert len(versions) == 100 and versions[0] == 2
    # tags
    tags = ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId="/h")["TagList"]
    assert tags == [{"Key": "team", "Value": "a"}]
    ssm.add_tags_to_resource(
        ResourceType="Parameter", ResourceId="/h", Tags=[{"Key": "env", "Value": "prod"}]
    )
    ssm.remove_tags_from_resource(ResourceType="Parameter", ResourceId="/h", TagKeys=["team"])
    assert ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId="/h")["TagList"] == [
        {"Key": "env", "Value": "prod"}
    ]
    tagged = ssm.describe_parameters(ParameterFilters=[{"Key": "tag:env", "Values": ["prod"]}])[
        "Parameters"
    ]
    assert [p["Name"] for p in tagged] == ["/h"]
    # delete
    ssm.put_parameter(Name="/d1", Value="1", Type="String")
    ssm.put_parameter(Name="/d2", Value="2", Type="String")
    ssm.delete_parameter(Name="/h")
    assert _code(ssm.delete_parameter, Name="/h") == "ParameterNotFound"
    out = ssm.delete_parameters(Names=["/d1", "/d2", "/d3"])
    assert out["DeletedParameters"] == ["/d1", "/d2"] and out["InvalidParameters"] == ["/d3"]
