"""Rewards: earning rules, campaigns, points, redemption and analytics."""
