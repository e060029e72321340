"""Seals every secret at rest under a keyring whose terms are wrapped by the root key."""

from bastion.barrier.barrier import Barrier, BarrierError
from bastion.barrier.seals import KeyFileSeal, PassphraseSeal, RootKeySeal, seal_from_settings

__all__ = [
    "Barrier",
    "BarrierError",
    "KeyFileSeal",
    "PassphraseSeal",
    "RootKeySeal",
    "seal_from_settings",
]
