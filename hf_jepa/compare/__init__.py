"""`hf-jepa compare`: every method on equal terms (same backbone, data, resolution and budget), evaluated with the same
protocols, compared with each other and with the blog's claims, in tables, pictures and a report."""

from .budget import Budget
from .presets import PRESETS, Variant, default_methods, resolve_variants
from .similarity import cka_matrix, linear_cka

__all__ = ["Budget", "PRESETS", "Variant", "cka_matrix", "default_methods", "linear_cka", "resolve_variants"]
