"""Catalog rules: when a store's item has changed in what travels to the fulfillment provider.

Name, weight, dimensions, barcode and image URL travel (DESIGN.md, products). The hub keeps,
per storefront channel and SKU, the :func:`digest` of those fields as that channel last showed
them, and asks the provider to update the product only when that channel's own item changed:
two stores that spell one SKU differently then never undo each other's update on every read.
Pure functions.
"""

from __future__ import annotations

import hashlib

import msgspec

from connectors.model import Item


def digest(item: Item) -> str:
    """A short digest of the item's travelling fields; the same fields give the same digest,
    whatever else (options, update time, store id) differs."""
    fields = (item.name, item.weight, item.dimensions, item.barcode, item.image_url)
    return hashlib.sha256(msgspec.json.encode(fields)).hexdigest()[:16]
