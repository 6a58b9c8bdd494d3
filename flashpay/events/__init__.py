"""The events outbox: domain events written with the change, delivered by workers."""
