"""AWS Identity and Access Management."""
