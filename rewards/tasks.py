"""django-q2 tasks of the rewards app (scheduled in RewardsConfig.ready()); each calls one service."""
from __future__ import annotations

from rewards.services.campaigns import campaigns_end_due
from rewards.services.lifecycle import awards_expire, awards_mature
from rewards.services.members import member_tiers_recompute


def awards_mature_task() -> int:
    return awards_mature()


def awards_expire_task() -> int:
    return awards_expire()


def campaigns_end_due_task() -> int:
    return campaigns_end_due()


def member_tiers_recompute_task() -> int:
    return member_tiers_recompute()
