"""The checks of ``switching=`` (entropy-adaptive decoding, :mod:`corral.samplers.entropy_switch`), apart from the
sampler so that :mod:`corral.options` imports them without importing the runners."""

from __future__ import annotations

import math
import numbers
from corral.errors import ConfigurationError

__all__ = ["SWITCHINGS", "check_switching", "validate_switching"]

#: The values of ``switching=`` (besides ``None``).
SWITCHINGS = ("entropy",)
_NOT_MODELS = ("auto", "ngram", "forced", "fastforward")


def validate_switching(switching, threshold, window) -> None:
    """``ConfigurationError`` unless ``switching`` is ``None`` or ``"entropy"``, ``threshold`` a real number (not
    NaN; ``±inf`` allowed) and ``window`` an integer ``>= 1``; non-default ``threshold``/``window`` need
    ``switching``."""
    if switching is not None and switching not in SWITCHINGS:
        raise ConfigurationError(f"switching must be None or 'entropy', got {switching!r}")
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or math.isnan(threshold):
        raise ConfigurationError(f"switch_threshold must be a number of nats (±inf allowed), got {threshold!r}")
    if isinstance(window, bool) or not isinstance(window, numbers.Integral) or window < 1:
        raise ConfigurationError(f"switch_window must be an integer >= 1, got {window!r}")


def check_switching(options) -> None:
    """The checks of ``switching=`` across the option groups of ``options`` (a ``corral.options.GenerateOptions``):
    masked decoding only, with a small model as ``draft=``."""
    spec, method = options.speculation, options.sampling.method
    if spec.switching is None:
        default = type(spec)()
        if (spec.switch_threshold, spec.switch_window) != (default.switch_threshold, default.switch_window):
            raise ConfigurationError("switch_threshold= and switch_window= are for switching='entropy'")
        return
    if method != "lcd":
        raise ConfigurationError(
            f"switching='entropy' is lossy (its output law is neither the target's ℓ nor π), so the exact "
            f"method={method!r} does not take it; use method='lcd', or drop switching= for exact speculation")
    draft = spec.draft
    if draft is None or (isinstance(draft, str) and draft in _NOT_MODELS) or isinstance(draft, (list, tuple)):
        raise ConfigurationError(f"switching='entropy' needs a small model as draft=: 'model' (the embedded draft "
                                 f"model), a model or a model folder; got draft={draft!r}")
    if spec.draft_length != "adaptive":
        raise ConfigurationError("draft_length= does not apply to switching='entropy' (nothing is drafted)")
