"""Writes of the rewards app, one module per concern (this package holds no services itself):

- ``funding``: the funders (program budget, merchant funding accounts), operator top-ups, and
  the record of points refused for want of funds;
- ``members``: members and their accounts, joining (sign-up and referral bonuses), tiers,
  operator adjustments;
- ``earning``: earning rules and the award of points for a purchase (the stacking rule);
- ``campaigns``: campaigns, their state machine, and their grants (budget and caps);
- ``lifecycle``: maturing, clawback, reversal and expiry of awards, and the lots they leave;
- ``redemption``: points onto a Flash Card or for catalog items, and catalog codes;
- ``demo``: the development demo that ``seed_demo`` plants.
"""
