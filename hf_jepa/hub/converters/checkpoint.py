"""Reading official checkpoints safely, and a reader that accounts for every key it hands out.

Nothing here runs code from a checkpoint: files are opened with `torch.load(weights_only=True)`, which only rebuilds
tensors and plain containers, plus exactly one allow-listed class, `argparse.Namespace` (MAE and DINO pickle their
command line under `args`). A file that needs anything else is refused.
"""

import argparse
import os
import pickle
import re
from collections.abc import Mapping

import torch

# Prefixes that wrappers add to every key of a part: DistributedDataParallel (`module.`) and the JEPA mask wrappers
# (`backbone.`). They are removed only when every key of the part carries them.
WRAPPER_PREFIXES = ("module.", "backbone.")


def load_checkpoint(path: str) -> dict:
    """The checkpoint at `path` as a dict, loaded on the CPU with weights-only unpickling."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"checkpoint `{path}` is not a file.")
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise ValueError(_refusal(path, str(error))) from None
    except (RuntimeError, EOFError, OSError) as error:  # not a torch.save archive at all (or empty, or truncated)
        reason = f"{type(error).__name__}: {error}" if str(error) else "the file is empty or truncated"
        raise ValueError(f"checkpoint `{path}` is not a complete file written by torch.save ({reason}).") from None
    if not isinstance(checkpoint, Mapping):
        raise ValueError(f"checkpoint `{path}` holds a {type(checkpoint).__name__}, expected a dict.")
    return dict(checkpoint)


def _refusal(path: str, message: str) -> str:
    blocked = re.search(r"GLOBAL ([\w.]+)", message)
    if blocked:
        return (
            f"refusing checkpoint `{path}`: unpickling it needs `{blocked.group(1)}`, and hf_jepa only rebuilds "
            "tensors, plain containers and argparse.Namespace. Loading it otherwise could execute code from the file, "
            "which hf_jepa never does. If you trust the file, load it yourself and save only its state dicts."
        )
    reason = message.split("WeightsUnpickler error:")[-1].split("Check the documentation")[0].strip()
    return f"checkpoint `{path}` cannot be read with weights-only loading ({reason}); hf_jepa loads no other way."


def strip_wrapper_prefixes(state: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], str]:
    """Remove the wrapper prefixes (`module.`, then `backbone.`, as often as they are shared by every key) ->
    (state dict without them, the prefix removed)."""
    state, removed = dict(state), ""
    while state:
        prefix = next((p for p in WRAPPER_PREFIXES if all(key.startswith(p) for key in state)), None)
        if prefix is None:
            break
        state = {key[len(prefix) :]: value for key, value in state.items()}
        removed += prefix
    return state, removed


def entry(checkpoint: dict, key: str, expected: str) -> "StateDictReader":
    """A reader for the state dict stored under the top-level `key`; `expected` says what the file should be."""
    if key not in checkpoint:
        raise ValueError(f"the checkpoint has no `{key}` entry (it has {sorted(map(str, checkpoint))}): {expected}.")
    return StateDictReader(checkpoint[key], key)


def _shape(shape) -> tuple[int, ...]:
    return tuple(int(s) for s in shape)


class StateDictReader:
    """One state dict of a checkpoint (e.g. `target_encoder`), read key by key.

    Every `take` is recorded, so that `check_consumed` can refuse a checkpoint with keys that no part of our model
    received. Errors name the part and the key as written in the file (wrapper prefix included).
    """

    def __init__(self, state: Mapping, part: str):
        if not isinstance(state, Mapping):
            raise ValueError(f"checkpoint entry `{part}` is a {type(state).__name__}, expected a state dict.")
        self.part = part
        self.state, self.prefix = strip_wrapper_prefixes(state)
        for key, value in self.state.items():
            if not isinstance(value, torch.Tensor):
                raise ValueError(f"`{part}` entry `{self.prefix}{key}` is a {type(value).__name__}, not a tensor.")
        self.taken: set[str] = set()

    def __contains__(self, key: str) -> bool:
        return key in self.state

    def __len__(self) -> int:
        return len(self.state)

    def keys(self, prefix: str = "") -> list[str]:
        return [key for key in self.state if key.startswith(prefix)]

    def saved_name(self, key: str) -> str:
        return f"`{self.part}` key `{self.prefix}{key}`"

    def _get(self, key: str, needed_for: str | None) -> torch.Tensor:
        if key not in self.state:
            purpose = f" (needed for `{needed_for}`)" if needed_for else ""
            raise ValueError(f"the checkpoint's `{self.part}` has no key `{self.prefix}{key}`{purpose}.")
        return self.state[key]

    def shape(self, key: str, needed_for: str | None = None) -> tuple[int, ...]:
        """The shape of `key`, without consuming it (for inferring the config)."""
        return _shape(self._get(key, needed_for).shape)

    def take(self, key: str, expected_shape=None, needed_for: str | None = None) -> torch.Tensor:
        """The tensor at `key`, checked against `expected_shape`; `needed_for` names what it fills in our model."""
        tensor = self._get(key, needed_for)
        if expected_shape is not None and _shape(tensor.shape) != _shape(expected_shape):
            target = f"`{needed_for}`" if needed_for else "the model"
            raise ValueError(
                f"{self.saved_name(key)} has shape {_shape(tensor.shape)}, but {target} needs "
                f"{_shape(expected_shape)} in the model that the checkpoint's other shapes (and --config) describe."
            )
        self.taken.add(key)
        return tensor

    def num_blocks(self, prefix: str) -> int:
        """Number of transformer blocks stored as `{prefix}{i}.*`: the largest index + 1 (a gap is then a missing
        key, reported as such)."""
        pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
        indices = [int(m.group(1)) for m in map(pattern.match, self.state) if m]
        return max(indices) + 1 if indices else 0

    def check_consumed(self, model_name: str) -> None:
        """Refuse keys that no part of the converted model received."""
        left = sorted(set(self.state) - self.taken)
        if left:
            listed = ", ".join(f"`{self.prefix}{key}`" for key in left[:8]) + (" ..." if len(left) > 8 else "")
            raise ValueError(
                f"the checkpoint's `{self.part}` has {len(left)} key(s) that {model_name} has no place for: {listed}. "
                "It is not the official layout this converter reads."
            )


__all__ = ["StateDictReader", "WRAPPER_PREFIXES", "entry", "load_checkpoint", "strip_wrapper_prefixes"]
