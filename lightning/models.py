"""Models of the lightning app."""
