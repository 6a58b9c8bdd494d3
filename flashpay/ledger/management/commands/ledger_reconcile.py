"""manage.py ledger_reconcile: check the cached balances against the ledger entries."""
from django.core.management.base import BaseCommand, CommandError

from flashpay.ledger import services


class Command(BaseCommand):
    help = (
        "Recompute every ledger account's balances from its entries, report mismatching caches, "
        "check that all posted entries sum to zero; exit non-zero on any finding. "
        "--fix rewrites the mismatching caches (each rewrite is logged)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--fix", action="store_true", help="rewrite mismatching caches from the entries"
        )

    def handle(self, *args, fix: bool = False, **options):
        report = services.ledger_reconcile(fix=fix)
        for mismatch in report.mismatches:
            cached, computed = mismatch.cached, mismatch.computed
            self.stdout.write(
                f"MISMATCH account {mismatch.account_id} {mismatch.account}: "
                f"cached posted={cached.posted.value} pending_debit={cached.pending_debit.value} "
                f"pending_credit={cached.pending_credit.value}; entries say "
                f"posted={computed.posted.value} pending_debit={computed.pending_debit.value} "
                f"pending_credit={computed.pending_credit.value}"
            )
        if report.posted_total_msat:
            self.stdout.write(f"POSTED TOTAL is {report.posted_total_msat} msat, not zero")
        for txn_id in report.unbalanced_transaction_ids:
            self.stdout.write(f"UNBALANCED transaction {txn_id}")
        for receivable in report.receivables:
            self.stdout.write(f"RECEIVABLE account {receivable.account_id} {receivable.account}: owes {receivable.owed.value} msat")
        self.stdout.write(
            f"checked {report.accounts_checked} accounts: {len(report.mismatches)} mismatch(es), "
            f"posted total {report.posted_total_msat} msat, "
            f"{len(report.receivables)} receivable(s) owing {report.receivables_total_msat} msat"
            + (f", {report.fixed} cache(s) rewritten" if fix else "")
        )
        # Rewritten caches are now right, but the run still found a problem worth a look.
        if not report.ok:
            raise CommandError("ledger reconciliation found mismatches")
