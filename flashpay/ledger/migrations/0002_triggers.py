"""PostgreSQL triggers that hold the ledger's rules in the database itself (no-op on SQLite)."""
from django.db import migrations

# (1) Balanced transactions: checked at COMMIT (deferred), so a transaction and its entries can be
#     inserted in any order within one database transaction. Fired for every new transaction row
#     (catches one with no entries at all) and every new entry (catches entries added later).
# (2) Entries are append-only: UPDATE and DELETE are refused.
# (3) Transactions keep their identity; the only status moves are pending -> posted | voided.
# (4) Room for HOT updates of the cached balances.
# Errors use SQLSTATE class 23 (integrity constraint violation) so Django raises IntegrityError.
FORWARD = """
CREATE FUNCTION ledger_transaction_check_balanced() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    txn_id bigint;
    legs integer;
    total numeric;
BEGIN
    IF TG_TABLE_NAME = 'ledger_entry' THEN
        txn_id := NEW.transaction_id;
    ELSE
        txn_id := NEW.id;
    END IF;
    SELECT count(*), coalesce(sum(amount_msat), 0) INTO legs, total
      FROM ledger_entry WHERE transaction_id = txn_id;
    IF legs < 2 THEN
        RAISE EXCEPTION 'ledger transaction % has % entries, at least two are required', txn_id, legs
            USING ERRCODE = 'check_violation';
    END IF;
    IF total <> 0 THEN
        RAISE EXCEPTION 'ledger transaction % is unbalanced: its entries sum to % msat', txn_id, total
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$;

CREATE CONSTRAINT TRIGGER ledger_transaction_balanced
    AFTER INSERT ON ledger_transaction
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_transaction_check_balanced();

CREATE CONSTRAINT TRIGGER ledger_entry_balanced
    AFTER INSERT ON ledger_entry
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_transaction_check_balanced();

CREATE FUNCTION ledger_entry_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger entries are append-only: % of entry % refused', TG_OP, OLD.id
        USING ERRCODE = 'restrict_violation',
              HINT = 'correct a mistake with a reversing transaction';
END;
$$;

CREATE TRIGGER ledger_entry_append_only
    BEFORE UPDATE OR DELETE ON ledger_entry
    FOR EACH ROW EXECUTE FUNCTION ledger_entry_refuse_change();

CREATE FUNCTION ledger_transaction_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'ledger transactions are never deleted: transaction % refused', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF (NEW.id, NEW.idempotency_key, NEW.is_hold, NEW.reverses_id, NEW.created_at,
        NEW.description, NEW.metadata)
       IS DISTINCT FROM
       (OLD.id, OLD.idempotency_key, OLD.is_hold, OLD.reverses_id, OLD.created_at,
        OLD.description, OLD.metadata) THEN
        RAISE EXCEPTION 'ledger transaction % is immutable except for its status', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF NEW.status IS DISTINCT FROM OLD.status
       AND NOT (OLD.status = 'pending' AND NEW.status IN ('posted', 'voided')) THEN
        RAISE EXCEPTION 'ledger transaction % cannot go from % to %', OLD.id, OLD.status, NEW.status
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER ledger_transaction_guard
    BEFORE UPDATE OR DELETE ON ledger_transaction
    FOR EACH ROW EXECUTE FUNCTION ledger_transaction_guard();

-- Every posting rewrites its accounts' cached balances; free room in each page lets those
-- updates stay HOT (no index writes) on the busiest rows.
ALTER TABLE ledger_account SET (fillfactor = 50);
"""

BACKWARD = """
ALTER TABLE ledger_account RESET (fillfactor);
DROP TRIGGER IF EXISTS ledger_transaction_guard ON ledger_transaction;
DROP FUNCTION IF EXISTS ledger_transaction_guard();
DROP TRIGGER IF EXISTS ledger_entry_append_only ON ledger_entry;
DROP FUNCTION IF EXISTS ledger_entry_refuse_change();
DROP TRIGGER IF EXISTS ledger_entry_balanced ON ledger_entry;
DROP TRIGGER IF EXISTS ledger_transaction_balanced ON ledger_transaction;
DROP FUNCTION IF EXISTS ledger_transaction_check_balanced();
"""


def _on_postgresql(sql):
    def run(apps, schema_editor):
        # SQLite (`make run` migrates it) has no such triggers; there the services enforce the same rules.
        if schema_editor.connection.vendor == "postgresql":
            # Without parameters, so the '%' placeholders of RAISE are left alone.
            with schema_editor.connection.cursor() as cursor:
                cursor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]

    operations = [migrations.RunPython(_on_postgresql(FORWARD), _on_postgresql(BACKWARD))]
