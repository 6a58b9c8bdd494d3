"""Lightning backends behind one interface, BOLT11, our node's invoices and their settlements (LNURL lives with its users: invoices, cards)."""
