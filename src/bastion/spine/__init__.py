"""The spine: the audit log (CloudTrail records), and later the event bus and scheduler."""
