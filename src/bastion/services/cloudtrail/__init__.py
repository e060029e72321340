"""AWS CloudTrail: event history lookups over Bastion's audit log."""
