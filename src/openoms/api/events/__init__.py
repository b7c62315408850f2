"""The event catalog: every event type openoms records to its outbox, read by any scope."""
