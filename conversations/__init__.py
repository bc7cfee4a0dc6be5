"""The platform-neutral engine: events in, decisions, messages out."""
