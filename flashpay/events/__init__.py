"""The events outbox: domain events written with the change, delivered by workers.

Emit inside the transaction that makes the change (``flashpay.events.services.event_emit``);
apps subscribe in ``AppConfig.ready()`` with ``flashpay.events.registry.register_handler(type,
"app.handlers.func")``. Handlers get the ``Event`` at least once and must be idempotent.
Tests can deliver synchronously with ``flashpay.events.tasks.dispatch_event(event.pk)``.
"""
