"""Lightning backends behind one interface, BOLT11 and LNURL."""
