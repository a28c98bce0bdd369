"""Which platforms this build can connect to: the built-in packages plus configured plugins.

A plugin is an importable module with a module-level ``CONNECTOR`` that is a
:class:`~connectors.base.ConnectorSpec`; it is how a platform is developed outside this tree
(and how the test suite plugs in its double).
"""

from __future__ import annotations

import importlib

from connectors.base import ConnectorSpec
from connectors.bigcommerce.connector import CONNECTOR as BIGCOMMERCE
from connectors.shipbob.connector import CONNECTOR as SHIPBOB
from connectors.shipstation.connector import CONNECTOR as SHIPSTATION
from connectors.shopify.connector import CONNECTOR as SHOPIFY
from connectors.wix.connector import CONNECTOR as WIX

BUILTIN: dict[str, ConnectorSpec] = {
    "bigcommerce": BIGCOMMERCE,
    "shipbob": SHIPBOB,
    "shipstation": SHIPSTATION,
    "shopify": SHOPIFY,
    "wix": WIX,
}
"""Platform name → spec for every connector shipped in ``connectors/``."""


class PluginError(Exception):
    """A configured plugin module cannot be used."""


def load_plugin(module_name: str) -> ConnectorSpec:
    """Import ``module_name`` and return its ``CONNECTOR``.

    Raises :class:`PluginError` with a one-line reason when the module cannot be imported or
    does not export a spec.
    """
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # any import-time failure is the plugin's, reported as such
        raise PluginError(f'cannot import "{module_name}": {type(exc).__name__}: {exc}') from None
    spec = getattr(module, "CONNECTOR", None)
    if not isinstance(spec, ConnectorSpec):
        raise PluginError(f'"{module_name}" has no CONNECTOR of type ConnectorSpec')
    return spec
