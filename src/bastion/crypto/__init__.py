"""The only user of `cryptography.hazmat`: AEAD framing, KDFs, and (later) KMS key specs."""
