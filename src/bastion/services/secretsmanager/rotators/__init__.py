"""Built-in rotators, named by the end of their RotationLambdaARN
(`arn:aws:lambda:<region>:<account>:function:bastion-rotator-<name>`)."""

from __future__ import annotations

from bastion.services.secretsmanager.rotators.builtin import (
    postgresql_alternating_users,
    postgresql_single_user,
    random_password_rotator,
)

BUILTIN = {
    "postgresql-single-user": postgresql_single_user,
    "postgresql-alternating-users": postgresql_alternating_users,
    "random-password": random_password_rotator,
}

__all__ = ["BUILTIN"]
