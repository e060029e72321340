"""The data plane: the forward proxy (and, beside it, the edge reverse proxy)."""
