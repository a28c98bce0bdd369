"""ShipBob (Developer API 2026-01): the reference fulfillment provider."""
