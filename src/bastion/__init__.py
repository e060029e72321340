"""Bastion: AWS's security services as one self-hosted server."""

__version__ = "0.1.0"
