"""django-q2 tasks of the ledger: the periodic reconciliation (hourly, see apps.py)."""
import logging

from flashpay.ledger import services

logger = logging.getLogger(__name__)


def ledger_reconcile_task(fix: bool = False) -> dict:
    """Check every cached balance against the entries; logs findings and returns a summary.

    Safe to run twice (read-only unless ``fix``); ``fix`` rewrites mismatching caches under lock.
    """
    report = services.ledger_reconcile(fix=fix)
    summary = {
        "ok": report.ok,
        "accounts_checked": report.accounts_checked,
        "mismatches": [m.account_id for m in report.mismatches],
        "posted_total_msat": report.posted_total_msat,
        "unbalanced_transaction_ids": report.unbalanced_transaction_ids,
        "fixed": report.fixed,
    }
    if report.ok:
        logger.info("ledger reconciliation ok: %d accounts", report.accounts_checked)
    else:
        logger.error("ledger reconciliation found problems: %s", summary)
    return summary
