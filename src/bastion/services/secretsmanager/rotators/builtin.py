"""Built-in rotation functions, following AWS's Lambda rotation templates step by step.

Each is `rotator(event, api)`: `event` is the Lambda event (`Step`, `SecretId`,
`ClientRequestToken`), `api.call(operation, params)` calls Secrets Manager as the service.

- random-password: the secret is a password, or a JSON object with a "password" key;
  createSecret makes a new password, setSecret/testSecret have nothing to change.
- postgresql-single-user (AWS's SecretsManagerRDSPostgreSQLRotationSingleUser):
  `{"engine": "postgres", "host", "port", "username", "password", "dbname"}`; setSecret
  logs in as the user (pending, else current, else previous credentials) and runs
  `ALTER USER ... WITH PASSWORD`; testSecret logs in with the new password.
- postgresql-alternating-users (AWS's ...MultiUser): the secret also holds `masterarn`,
  the ARN of a secret with a superuser's credentials; each rotation switches between
  `<user>` and `<user>_clone`, creating the clone (granted the user's role) on first use.
"""

from __future__ import annotations

import json
import os
from typing import Any

import psycopg
from psycopg import sql

from bastion.errors import ServiceError

EXCLUDE_CHARACTERS = os.environ.get("BASTION_ROTATOR_EXCLUDE_CHARACTERS", "/@\"'\\")
CONNECT_TIMEOUT = 5


class RotatorError(Exception):
    pass


def _secret(api: Any, arn: str, stage: str, token: str | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {"SecretId": arn, "VersionStage": stage}
    if token:
        params["VersionId"] = token
    value = api.call("GetSecretValue", params)["SecretString"]
    return _parse(value)


def _parse(value: str) -> dict[str, Any]:
    try:
        parsed = json.loads(value)
    except ValueError:
        return {"__plain__": value}
    return parsed if isinstance(parsed, dict) else {"__plain__": value}


def _dump(secret: dict[str, Any]) -> str:
    if set(secret) == {"__plain__"}:
        return str(secret["__plain__"])
    return json.dumps(secret)


def _check(event: dict[str, Any], api: Any) -> bool:
    """AWS's handler preamble; True when there is nothing to do (already current)."""
    arn, token = event["SecretId"], event["ClientRequestToken"]
    metadata = api.call("DescribeSecret", {"SecretId": arn})
    if not metadata.get("RotationEnabled"):
        raise RotatorError(f"Secret {arn} is not enabled for rotation")
    versions = metadata.get("VersionIdsToStages") or {}
    if token not in versions:
        raise RotatorError(f"Secret version {token} has no stage for rotation of secret {arn}.")
    if "AWSCURRENT" in versions[token]:
        return True
    if "AWSPENDING" not in versions[token]:
        raise RotatorError(
            f"Secret version {token} not set as AWSPENDING for rotation of secret {arn}."
        )
    return False


def _pending_exists(api: Any, arn: str, token: str) -> bool:
    try:
        _secret(api, arn, "AWSPENDING", token)
    except ServiceError as err:
        if err.code == "ResourceNotFoundException":
            return False
        raise
    return True


def _new_password(api: Any) -> str:
    return api.call("GetRandomPassword", {"ExcludeCharacters": EXCLUDE_CHARACTERS})[
        "RandomPassword"
    ]


def _put_pending(api: Any, arn: str, token: str, secret: dict[str, Any]) -> None:
    api.call(
        "PutSecretValue",
        {
            "SecretId": arn,
            "ClientRequestToken": token,
            "SecretString": _dump(secret),
            "VersionStages": ["AWSPENDING"],
        },
    )


def _finish(api: Any, arn: str, token: str) -> None:
    metadata = api.call("DescribeSecret", {"SecretId": arn})
    current = None
    for version, stages in (metadata.get("VersionIdsToStages") or {}).items():
        if "AWSCURRENT" in stages:
            if version == token:
                return
            current = version
    params = {"SecretId": arn, "VersionStage": "AWSCURRENT", "MoveToVersionId": token}
    if current:
        params["RemoveFromVersionId"] = current
    api.call("UpdateSecretVersionStage", params)


# ------------------------------------------------------------------------ random password


def random_password_rotator(event: dict[str, Any], api: Any) -> None:
    if _check(event, api):
        return
    arn, token, step = event["SecretId"], event["ClientRequestToken"], event["Step"]
    if step == "createSecret":
        if _pending_exists(api, arn, token):
            return
        current = _secret(api, arn, "AWSCURRENT")
        if "__plain__" in current:
            current["__plain__"] = _new_password(api)
        else:
            current["password"] = _new_password(api)
        _put_pending(api, arn, token, current)
    elif step == "testSecret":
        _secret(api, arn, "AWSPENDING", token)
    elif step == "finishSecret":
        _finish(api, arn, token)


# ------------------------------------------------------------------------ PostgreSQL


def _connect(secret: dict[str, Any] | None) -> psycopg.Connection[Any] | None:
    if not secret or "username" not in secret:
        return None
    try:
        return psycopg.connect(
            host=secret.get("host", "127.0.0.1"),
            port=int(secret.get("port", 5432)),
            user=secret["username"],
            password=secret.get("password", ""),
            dbname=secret.get("dbname", "postgres"),
            connect_timeout=CONNECT_TIMEOUT,
            autocommit=True,
        )
    except psycopg.Error:
        return None


def _previous(api: Any, arn: str) -> dict[str, Any] | None:
    try:
        return _secret(api, arn, "AWSPREVIOUS")
    except ServiceError:
        return None


def _require_postgres(secret: dict[str, Any]) -> None:
    engine = secret.get("engine", "postgres")
    if engine not in ("postgres", "postgresql"):
        raise RotatorError(
            "Database engine must be set to 'postgres' in order to use this rotation"
        )
    for key in ("host", "username", "password"):
        if key not in secret:
            raise RotatorError(f"{key} key is missing from secret JSON")


def postgresql_single_user(event: dict[str, Any], api: Any) -> None:
    if _check(event, api):
        return
    arn, token, step = event["SecretId"], event["ClientRequestToken"], event["Step"]
    if step == "createSecret":
        current = _secret(api, arn, "AWSCURRENT")
        _require_postgres(current)
        if _pending_exists(api, arn, token):
            return
        current["password"] = _new_password(api)
        _put_pending(api, arn, token, current)
    elif step == "setSecret":
        pending = _secret(api, arn, "AWSPENDING", token)
        _require_postgres(pending)
        # AWS's template returns early when the pending password already logs in; Bastion
        # always sets it (idempotent), which stays right when the server trusts the
        # connection whatever the password (trust authentication).
        current = _secret(api, arn, "AWSCURRENT")
        conn = _connect(current) or _connect(pending) or _connect(_previous(api, arn))
        if conn is None:
            raise RotatorError(
                "setSecret: Unable to log into database with previous, current, or pending"
                f" secret of secret arn {arn}"
            )
        with conn:
            conn.execute(
                sql.SQL("ALTER USER {} WITH PASSWORD {}").format(
                    sql.Identifier(pending["username"]), sql.Literal(pending["password"])
                )
            )
    elif step == "testSecret":
        _test(api, arn, token)
    elif step == "finishSecret":
        _finish(api, arn, token)


def _test(api: Any, arn: str, token: str) -> None:
    pending = _secret(api, arn, "AWSPENDING", token)
    conn = _connect(pending)
    if conn is None:
        raise RotatorError(
            f"testSecret: Unable to log into database with pending secret of secret ARN {arn}"
        )
    with conn:
        conn.execute("SELECT NOW()")


def _alternate(username: str) -> str:
    return username[: -len("_clone")] if username.endswith("_clone") else username + "_clone"


def postgresql_alternating_users(event: dict[str, Any], api: Any) -> None:
    if _check(event, api):
        return
    arn, token, step = event["SecretId"], event["ClientRequestToken"], event["Step"]
    if step == "createSecret":
        current = _secret(api, arn, "AWSCURRENT")
        _require_postgres(current)
        if "masterarn" not in current:
            raise RotatorError("masterarn key is missing from secret JSON")
        if _pending_exists(api, arn, token):
            return
        current["username"] = _alternate(current["username"])
        current["password"] = _new_password(api)
        _put_pending(api, arn, token, current)
    elif step == "setSecret":
        current = _secret(api, arn, "AWSCURRENT")
        pending = _secret(api, arn, "AWSPENDING", token)
        if _alternate(current["username"]) != pending["username"]:
            raise RotatorError(
                f"Attempting to modify user {pending['username']} other than current user or"
                f" clone {current['username']}"
            )
        master = _secret(api, current["masterarn"], "AWSCURRENT")
        master.setdefault("dbname", pending.get("dbname", "postgres"))
        conn = _connect(master)
        if conn is None:
            raise RotatorError(
                f"setSecret: Unable to log into database using credentials in master secret"
                f" {current['masterarn']}"
            )
        with conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_roles WHERE rolname = %s", (pending["username"],)
            ).fetchone()
            user = sql.Identifier(pending["username"])
            password = sql.Literal(pending["password"])
            if exists is None:
                conn.execute(
                    sql.SQL("CREATE ROLE {} WITH LOGIN PASSWORD {}").format(user, password)
                )
                conn.execute(
                    sql.SQL("GRANT {} TO {}").format(sql.Identifier(current["username"]), user)
                )
            else:
                conn.execute(sql.SQL("ALTER USER {} WITH PASSWORD {}").format(user, password))
    elif step == "testSecret":
        _test(api, arn, token)
    elif step == "finishSecret":
        _finish(api, arn, token)
