"""Peer benchmarks for Bastion (see README.md); not part of the installed package."""
