"""Flash Cards: Bolt Card issuance, SUN verification, tap-to-pay and merchant settlement."""
