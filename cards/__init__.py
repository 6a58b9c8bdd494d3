"""Flash Cards: Bolt Card issuance, keys, programming and wipe links, SUN verification.

Key scheme: Bolt Card DETERMINISTIC keys (boltcard/boltcard docs/DETERMINISTIC.md). No
per-card secret is stored. A card row holds a reference to its IssuerKey (encrypted at rest
under settings.CARD_KEY_ENCRYPTION_KEY, see cards/keys.py), the chip UID once the programmer
app has sent it, the Bolt Card ID derived from it (what taps are looked up by) and a key
version that is bumped on every re-programming; K0..K4 are derived when needed
(cards/crypto.py). Random per-card keys were rejected: they would put five secrets per card in
the database and make a tap's ``p`` decryptable only by trying every card's K1.

Entry points for other code: ``cards.selectors.card_sun_authenticate`` (which card tapped, and
its counter), ``cards.services.card_counter_advance`` (atomic replay guard),
``cards.services.tap_log_record``, the status services and ``cards.crypto.sun_make`` to
simulate taps in tests and benchmarks.
"""
