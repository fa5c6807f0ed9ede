"""What users can do: one module per feature.

`handlers.core` holds the actions themselves, plain functions every chat front calls; the other
modules are Slack's listeners for them, registered on the Bolt app by `handlers.wiring`. This
package's own import loads nothing of Slack, so a front other than Slack can use the core.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from handlers.wiring import FEATURES, Wiring, register_all

__all__ = ["FEATURES", "Wiring", "register_all"]


def __getattr__(name: str) -> Any:
    """`from handlers import Wiring, register_all` still works; Bolt is loaded only then."""
    if name in __all__:
        from handlers import wiring

        return getattr(wiring, name)
    raise AttributeError(f"module 'handlers' has no attribute {name!r}")
