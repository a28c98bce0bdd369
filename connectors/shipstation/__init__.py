"""ShipStation V1 (ssapi): orders, mark-as-shipped, fulfillments, webhooks, and a sandbox."""
