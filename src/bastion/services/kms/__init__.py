"""AWS KMS: keys, real cryptography, key policies, grants, rotation, deletion, import."""
