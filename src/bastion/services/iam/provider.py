"""The IAM provider: one class composing the per-resource modules.

users (users, tags, boundaries), keys (access keys), groups, roles, policies (managed
policies and versions), inline (inline policies and attachments), account
(GetAccountAuthorizationDetails). SimulatePrincipalPolicy/SimulateCustomPolicy live with
the authorizer.
"""

from __future__ import annotations

from sqlalchemy import Table
from sqlalchemy.sql.elements import ColumnElement

from bastion.services.iam.account import AccountMixin
from bastion.services.iam.groups import GroupsMixin
from bastion.services.iam.inline import InlinePoliciesMixin
from bastion.services.iam.keys import AccessKeysMixin
from bastion.services.iam.policies import ManagedPoliciesMixin
from bastion.services.iam.roles import RolesMixin
from bastion.services.iam.simulate import SimulationOperations
from bastion.storage.iam_tables import (
    iam_attachments,
    iam_group_members,
    iam_groups,
    iam_inline_policies,
    iam_policies,
    iam_policy_versions,
    iam_roles,
    iam_user_boundaries,
)
from bastion.storage.schema import access_keys, iam_users


class IamProvider(
    AccessKeysMixin,
    GroupsMixin,
    RolesMixin,
    ManagedPoliciesMixin,
    InlinePoliciesMixin,
    AccountMixin,
    SimulationOperations,
):
    service = "iam"
    # Parents first; STS sessions belong to the STS provider.
    state_tables = (
        iam_users,
        access_keys,
        iam_groups,
        iam_group_members,
        iam_roles,
        iam_policies,
        iam_policy_versions,
        iam_inline_policies,
        iam_attachments,
        iam_user_boundaries,
    )

    def initial_rows(self, table: Table) -> ColumnElement[bool] | None:
        """The bootstrap administrator and its first key survive a reset."""
        if table is iam_users:
            return iam_users.c.is_admin.is_(True)
        if table is access_keys:
            return access_keys.c.access_key_id == self._bootstrap_key_id
        return None

    def clear_caches(self) -> None:
        self._credentials.invalidate()
