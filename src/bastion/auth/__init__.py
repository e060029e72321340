"""Principals and credentials, request authentication, and authorization."""
