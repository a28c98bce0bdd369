"""Wix (Stores Catalog V1, eCommerce Orders and Fulfillments): client, wire, mapping, sandbox."""
