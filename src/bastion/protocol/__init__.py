"""Wire format <-> plain dicts, driven only by botocore's service models."""
