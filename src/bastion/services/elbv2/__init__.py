"""Elastic Load Balancing v2 (the subset that creates edge listeners)."""
