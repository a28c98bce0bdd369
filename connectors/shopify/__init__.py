"""Shopify (Admin GraphQL API, version 2026-01): client, wire types, mapping and sandbox."""
