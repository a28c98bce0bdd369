"""BigCommerce (v3 catalog, inventory, hooks; v2 orders): client, wire, mapping, sandbox."""
