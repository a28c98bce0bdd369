"""The GraphQL documents the Shopify client sends, verbatim.

Every document here is validated against Shopify's published 2026-01 schema by
``tests/shopify/test_conformance.py`` (variables' types included), so a field renamed upstream
fails a test instead of a sync. Page sizes are variables, because Shopify prices a query by
them (see :mod:`connectors.shopify.cost`): the defaults below keep each page under the
1000-point single-query limit, and a read that Shopify still refuses as too costly
(``MAX_COST_EXCEEDED``) is asked again with a smaller page.
"""

from __future__ import annotations

PRODUCTS_PAGE_SIZE = 17
"""Products per page, each with its first :data:`PRODUCT_VARIANTS_PAGE_SIZE` variants:
2 + 17 * (6 + 10 * 5) = 954 points, the most that fits under 1000."""
PRODUCT_VARIANTS_PAGE_SIZE = 10
"""Variants read with their product; a product with more reads the rest with
:data:`MORE_VARIANTS`, :data:`MORE_VARIANTS_PAGE_SIZE` at a time."""
MORE_VARIANTS_PAGE_SIZE = 100
"""1 + 2 + 100 * 5 = 503 points."""
ORDERS_PAGE_SIZE = 9
"""Orders per page: an order with 50 lines (and their variant) is 106 points; 2 + 9 * 106 = 956."""
ORDER_LINES_PAGE_SIZE = 50
INVENTORY_BATCH = 250
"""Shopify's limit on every input array: at most 250 quantities per ``inventorySetQuantities``."""

_VARIANT_FIELDS = """
fragment VariantFields on ProductVariant {
  id
  sku
  barcode
  title
  updatedAt
  selectedOptions { name value }
  inventoryItem {
    id
    measurement { weight { value unit } }
  }
}
"""

# Products, not variants: ``ProductVariantSortKeys`` has no UPDATED_AT, and only a read sorted
# by its replication value can promote the cursor page by page. A variant edit bumps its
# product's updatedAt (Shopify sends ``products/update`` for it).
PRODUCTS = (
    """
query Products($first: Int!, $variantsFirst: Int!, $after: String, $query: String) {
  products(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id
      title
      status
      updatedAt
      featuredMedia { preview { image { url } } }
      variants(first: $variantsFirst) {
        pageInfo { hasNextPage endCursor }
        nodes { ...VariantFields }
      }
    }
  }
}
"""
    + _VARIANT_FIELDS
)

MORE_VARIANTS = (
    """
query MoreVariants($id: ID!, $first: Int!, $after: String) {
  product(id: $id) {
    variants(first: $first, after: $after) {
      pageInfo { hasNextPage endCursor }
      nodes { ...VariantFields }
    }
  }
}
"""
    + _VARIANT_FIELDS
)

_ORDER_FIELDS = """
fragment OrderFields on Order {
  id
  name
  createdAt
  updatedAt
  cancelledAt
  test
  note
  displayFinancialStatus
  displayFulfillmentStatus
  customAttributes { key value }
  shippingAddress {
    name
    firstName
    lastName
    company
    address1
    address2
    city
    provinceCode
    zip
    countryCodeV2
    phone
  }
  shippingLine { title }
  lineItems(first: 50) {
    pageInfo { hasNextPage }
    nodes { id sku title quantity currentQuantity unfulfilledQuantity variant { id } }
  }
}
"""

ORDERS = (
    """
query Orders($first: Int!, $after: String, $query: String) {
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {
    pageInfo { hasNextPage endCursor }
    nodes { ...OrderFields }
  }
}
"""
    + _ORDER_FIELDS
)

# By GID, not by search: ``nodes`` reads the order itself, not a search index that may lag.
ORDERS_BY_ID = (
    """
query OrdersById($ids: [ID!]!) {
  nodes(ids: $ids) { ...OrderFields }
}
"""
    + _ORDER_FIELDS
)
"""At most :data:`ORDERS_PAGE_SIZE` ids a call: priced like a page of orders."""

# Two documents, not one: fulfillment orders and fulfillments with their lines' variants
# (needed to match lines without SKU) cost over 1000 points in a single query.
FULFILLMENT_ORDERS = """
query FulfillmentOrders($id: ID!) {
  order(id: $id) {
    id
    fulfillmentOrders(first: 5) {
      nodes {
        id
        status
        assignedLocation { location { id } }
        lineItems(first: 50) {
          nodes { id sku remainingQuantity totalQuantity variant { id } }
        }
      }
    }
  }
}
"""
"""Up to 5 fulfillment orders (one per location the order is assigned to): 2 + 5 * 105 = 527."""

FULFILLMENTS = """
query Fulfillments($id: ID!) {
  order(id: $id) {
    id
    fulfillments(first: 10) {
      id
      trackingInfo { company number url }
      fulfillmentLineItems(first: 20) {
        pageInfo { hasNextPage }
        nodes { quantity lineItem { id sku variant { id } } }
      }
    }
  }
}
"""
"""The order's first 10 fulfillments with up to 20 lines each: 1 + 10 * 64 = 641 points."""

VARIANTS_BY_SKU_PAGE = 50
"""Variants per SKU lookup page: 2 + 50 * 4 = 202 points, for a search string of 50 terms
(more pages when Shopify's prefix matching finds more variants than terms)."""

# Where each SKU of an inventory push lives: its inventory item and current quantity.
VARIANTS_BY_SKU = """
query VariantsBySku($first: Int!, $after: String, $query: String!, $locationId: ID!) {
  productVariants(first: $first, after: $after, query: $query) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id
      sku
      inventoryItem {
        id
        inventoryLevel(locationId: $locationId) {
          quantities(names: ["available"]) { name quantity }
        }
      }
    }
  }
}
"""

# The re-read after a stale compare-and-set: current quantities of up to 250 items.
INVENTORY_LEVELS = """
query InventoryLevels($ids: [ID!]!, $locationId: ID!) {
  nodes(ids: $ids) {
    ... on InventoryItem {
      id
      inventoryLevel(locationId: $locationId) {
        quantities(names: ["available", "on_hand"]) { name quantity }
      }
    }
  }
}
"""

# The @idempotent directive goes on the mutation field itself (it is declared ``on FIELD``):
# replaying the same key returns the first attempt's result instead of applying it twice.
INVENTORY_SET_QUANTITIES = """
mutation InventorySetQuantities($input: InventorySetQuantitiesInput!, $key: String!) {
  inventorySetQuantities(input: $input) @idempotent(key: $key) {
    inventoryAdjustmentGroup {
      id
      changes { name delta quantityAfterChange item { id } location { id } }
    }
    userErrors { code field message }
  }
}
"""

FULFILLMENT_CREATE = """
mutation FulfillmentCreate($fulfillment: FulfillmentInput!, $message: String) {
  fulfillmentCreate(fulfillment: $fulfillment, message: $message) {
    fulfillment {
      id
      name
      status
      createdAt
      trackingInfo { company number url }
    }
    userErrors { field message }
  }
}
"""

ALL = {
    "Products": PRODUCTS,
    "MoreVariants": MORE_VARIANTS,
    "Orders": ORDERS,
    "OrdersById": ORDERS_BY_ID,
    "FulfillmentOrders": FULFILLMENT_ORDERS,
    "Fulfillments": FULFILLMENTS,
    "VariantsBySku": VARIANTS_BY_SKU,
    "InventoryLevels": INVENTORY_LEVELS,
    "InventorySetQuantities": INVENTORY_SET_QUANTITIES,
    "FulfillmentCreate": FULFILLMENT_CREATE,
}
"""Every document the client may send, by operation name (the conformance suite walks it)."""
