"""One package per AWS API. A provider maps operation names to plain handlers."""
