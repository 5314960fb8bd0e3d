"""Where hf_jepa keeps what it builds once and reuses (the moving digits, image decodability checks)."""

import os


def cache_root() -> str:
    """`$HF_JEPA_CACHE`, else `~/.cache/hf_jepa`."""
    return os.environ.get("HF_JEPA_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "hf_jepa")


__all__ = ["cache_root"]
