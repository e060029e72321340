"""First-run identity: the account, its administrator user and one access key.

The secret is sealed in storage and written once, in clear, to a 0600 credentials file
in the data directory (the only place it exists in clear outside memory), in the AWS
shared-credentials format so `AWS_SHARED_CREDENTIALS_FILE` can point at it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection, select

from bastion import ids
from bastion.arn import make_arn
from bastion.auth.credentials import secret_identity
from bastion.barrier import Barrier
from bastion.storage.files import write_private_file
from bastion.storage.schema import access_keys, accounts, iam_users

ADMIN_USER = "admin"
PROFILE = "bastion"


@dataclass(frozen=True, slots=True)
class BootstrapResult:
    account_id: str
    user_arn: str
    access_key_id: str
    secret_access_key: str = ""  # only set when created by this call

    def __repr__(self) -> str:
        return f"BootstrapResult({self.account_id!r}, {self.user_arn!r}, {self.access_key_id!r})"


def ensure_account(conn: Connection, account_id: str, now: datetime) -> None:
    exists = conn.execute(
        select(accounts.c.account_id).where(accounts.c.account_id == account_id)
    ).first()
    if exists is None:
        conn.execute(accounts.insert().values(account_id=account_id, created_at=now))


def create_access_key(
    conn: Connection, barrier: Barrier, account_id: str, user_name: str, now: datetime
) -> tuple[str, str]:
    """Create an Active key for a user; returns (access key id, secret)."""
    akid, secret = ids.access_key_id(), ids.secret_access_key()
    conn.execute(
        access_keys.insert().values(
            access_key_id=akid,
            account_id=account_id,
            user_name=user_name,
            status="Active",
            secret_sealed=barrier.seal(secret_identity(akid), secret.encode()),
            created_at=now,
        )
    )
    return akid, secret


def bootstrap_admin(
    conn: Connection, barrier: Barrier, account_id: str, now: datetime
) -> BootstrapResult:
    """Create the account's administrator and a key unless it already exists."""
    ensure_account(conn, account_id, now)
    arn = make_arn("iam", "", account_id, f"user/{ADMIN_USER}")
    existing = conn.execute(
        select(access_keys.c.access_key_id)
        .where(access_keys.c.account_id == account_id)
        .where(access_keys.c.user_name == ADMIN_USER)
        .order_by(access_keys.c.created_at)
    ).first()
    if existing is not None:
        return BootstrapResult(account_id, arn, existing[0])
    user = conn.execute(
        select(iam_users.c.user_name)
        .where(iam_users.c.account_id == account_id)
        .where(iam_users.c.user_name == ADMIN_USER)
    ).first()
    if user is None:
        conn.execute(
            iam_users.insert().values(
                account_id=account_id,
                user_name=ADMIN_USER,
                user_id=ids.unique_id("AIDA"),
                arn=arn,
                path="/",
                is_admin=True,
                tags="{}",
                created_at=now,
            )
        )
    akid, secret = create_access_key(conn, barrier, account_id, ADMIN_USER, now)
    return BootstrapResult(account_id, arn, akid, secret)


def credentials_text(access_key_id: str, secret: str, region: str) -> str:
    return (
        f"[{PROFILE}]\n"
        f"aws_access_key_id = {access_key_id}\n"
        f"aws_secret_access_key = {secret}\n"
        f"region = {region}\n"
    )


def write_credentials_file(path: Path, access_key_id: str, secret: str, region: str) -> None:
    write_private_file(path, credentials_text(access_key_id, secret, region).encode())
