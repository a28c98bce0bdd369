"""The ShipBob sandbox's catalog past creation: products listed with ShipBob's filters, variants
updated (``PATCH /product/{id}/variants``) and bundles declared.

A bundle is a variant with a ``bundle_definition``: its components by variant id and units
each, served with the component's product id, SKU and name. The sandbox gives a bundle made
with the hook no inventory item of its own (it holds no units: ShipBob picks its
components), and a product whose variants include a bundle is of type ``Bundle``. A variant
updated with an empty ``bundle_definition`` is no bundle any more.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from connectors.shipbob import wire
from connectors.shipbob.mapping import product_updated_at
from connectors.shipbob.sandbox_checks import Errors
from connectors.shipbob.sandbox_state import Reply, SandboxState


class Catalog:
    """Catalog endpoints and hooks over ``state``; answers ``(status, body)`` like the state."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state

    def listed(self, query: dict[str, str]) -> list[wire.Product] | Errors:
        """``GET /product``'s products by id, filtered by ``SKU`` (a variant of exactly that
        SKU) and ``LastUpdatedTimestamp`` (changed at or after it); errors for a bad date."""
        since = None
        if "LastUpdatedTimestamp" in query:
            try:
                since = datetime.fromisoformat(query["LastUpdatedTimestamp"].replace("Z", "+00:00"))
            except ValueError:
                return {"LastUpdatedTimestamp": ["Not a valid date-time."]}
            if since.tzinfo is None:
                return {"LastUpdatedTimestamp": ["The date-time needs its UTC offset."]}
        sku = query.get("SKU")
        return sorted(
            (
                product
                for product in self.state.products.values()
                if (sku is None or any(v.sku == sku for v in product.variants))
                and (since is None or (product_updated_at(product) or product.created_on) >= since)
            ),
            key=lambda p: p.id,
        )

    def update_variants(self, product_id: int, body: bytes) -> Reply:
        """``PATCH /product/{id}/variants``: a JSON array of variant updates, each naming one
        of the product's variants by ``id``; only the fields given change. Nothing changes
        unless every update is valid (400 with ShipBob's error map otherwise)."""
        product = self.state.products.get(product_id)
        if product is None:
            return 404, None
        updates = msgspec.json.decode(body, type=list[wire.UpdateVariantRequest])
        variants = {v.id: v for v in product.variants}
        errors: Errors = {}
        if not updates:
            errors[""] = ["At least one variant is required."]
        for i, update in enumerate(updates):
            if update.id not in variants:
                errors[f"[{i}].id"] = [f"Variant {update.id} is not a variant of {product_id}."]
            if update.name is not None and not update.name.strip():
                errors[f"[{i}].name"] = ["The Name field cannot be empty."]
            if update.bundle_definition:
                errors |= self._check_parts(update.id, update.bundle_definition, f"[{i}]")
        if errors:
            return 400, errors
        now = self.state.now()
        for update in updates:
            variant = variants[update.id]
            if update.name is not None:
                variant.name = update.name
            if update.weight is not None:
                variant.weight = wire.WeightView(weight=update.weight, unit="oz")
            if (d := update.dimension) is not None:
                variant.dimension = wire.DimensionView(
                    length=d.length, width=d.width, height=d.height, unit="in"
                )
            if update.barcodes is not None:
                variant.barcodes = [wire.Barcode(value=b.value) for b in update.barcodes]
            if update.bundle_definition is not None:
                self._define(product, variant, update.bundle_definition)
            variant.updated_on = now
        product.updated_on = now
        return 200, [variants[update.id] for update in updates]

    def declare_bundle(self, body: dict[str, Any]) -> Reply:
        """Test hook: ``{"sku", "name"?, "components": {component SKU: units}}`` makes ``sku``
        a bundle of those components, creating it (a product of its own, with no inventory
        item) when ShipBob has no such SKU; empty ``components`` make it no bundle any more."""
        sku, parts = body.get("sku"), body.get("components")
        if not isinstance(sku, str) or not sku.strip() or not isinstance(parts, dict):
            return 400, {"": ['expected {"sku", "components": {sku: units}}']}
        definition = []
        for part_sku, units in parts.items():
            part = self.state.variant_by_sku(part_sku)
            if part is None:
                return 404, {"components": [f"no variant with sku {part_sku!r}"]}
            if part_sku == sku or not isinstance(units, int) or units < 1:
                return 400, {"components": [f"{part_sku}: not a component of {sku} ({units})"]}
            definition.append(wire.BundleComponentRequest(variant_id=part.id, quantity=units))
        found = self.state.find_variant(lambda variant: variant.sku == sku)
        if found is None:
            name = str(body.get("name") or sku)
            product = self.state.new_product(name, self.state.now())
            variant = self.state.new_variant(product, sku, name, product.created_on, stocked=False)
        else:
            product, variant = found
        self._define(product, variant, definition)
        variant.updated_on = product.updated_on = self.state.now()
        return 200, product

    def _check_parts(
        self, bundle_id: int, parts: list[wire.BundleComponentRequest], path: str
    ) -> Errors:
        errors: Errors = {}
        for j, part in enumerate(parts):
            field = f"{path}.bundle_definition[{j}]"
            if part.variant_id == bundle_id:
                errors[field] = ["A bundle cannot contain itself."]
            elif self._variant(part.variant_id) is None:
                errors[field] = [f"Variant {part.variant_id} was not found."]
            elif part.quantity < 1:
                errors[field] = ["Quantity must be at least 1."]
        return errors

    def _variant(self, variant_id: int) -> tuple[wire.Product, wire.Variant] | None:
        return self.state.find_variant(lambda variant: variant.id == variant_id)

    def _define(
        self,
        product: wire.Product,
        variant: wire.Variant,
        parts: list[wire.BundleComponentRequest],
    ) -> None:
        """Give ``variant`` the checked components ``parts`` (none: it is no bundle)."""
        views = []
        for part in parts:
            found = self._variant(part.variant_id)
            assert found is not None  # checked by _check_parts
            owner, component = found
            views.append(
                wire.BundleComponentView(
                    variant_id=component.id,
                    quantity=part.quantity,
                    product_id=owner.id,
                    variant_sku=component.sku,
                    variant_name=component.name,
                )
            )
        variant.bundle_definition = views or None
        bundled = any(v.bundle_definition for v in product.variants)
        product.type = "Bundle" if bundled else "Regular"
