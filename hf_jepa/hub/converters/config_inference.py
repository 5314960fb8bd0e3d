"""Our config from an official checkpoint: sizes from the tensor shapes, attention heads from the checkpoint's
command line or the table of released widths, and the user's `--config` overrides on top."""

import argparse
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

from .checkpoint import StateDictReader

# Heads of the released ViTs by width (ViT-Ti/S/B/L/H/g, as in the official I-JEPA, MAE and DINO configs). Shapes do
# not give the number of heads; at these widths every official model agrees on it.
OFFICIAL_HEADS_BY_WIDTH = {192: 3, 384: 6, 768: 12, 1024: 16, 1280: 16, 1408: 16}


@dataclass(frozen=True)
class NamedModel:
    """An official model name (MAE's `args.model`, DINO's `args.arch`) and the sizes it stands for."""

    hidden_size: int
    heads: dict[str, int]  # our config field -> number of heads


def encoder_config(reader: StateDictReader, prefix: str = "", prefix_rows: int = 0, image_size=None) -> dict:
    """Backbone fields of our config from an official ViT's keys under `prefix`: width, channels and patch from the
    patch projection (a video model's Conv3d also gives `tubelet_size`), depth from the blocks, MLP width, qkv bias,
    and the image size from the `pos_embed` rows (minus `prefix_rows` for a CLS row) unless `image_size` is given
    (video models must give it: their rows also count frames). Official models use square images."""
    shape = reader.shape(f"{prefix}patch_embed.proj.weight")
    width, channels, patch_h, patch_w = shape[0], shape[1], shape[-2], shape[-1]
    depth = reader.num_blocks(f"{prefix}blocks.")
    if depth == 0:
        raise ValueError(f"the checkpoint's `{reader.part}` has no transformer blocks (`{prefix}blocks.0.*`).")
    config = dict(
        hidden_size=width,
        num_channels=channels,
        patch_size=patch_h if patch_h == patch_w else [patch_h, patch_w],
        num_hidden_layers=depth,
        intermediate_size=reader.shape(f"{prefix}blocks.0.mlp.fc1.weight")[0],
        qkv_bias=f"{prefix}blocks.0.attn.qkv.bias" in reader,
        # Every official ViT builds its norms as LayerNorm(eps=1e-6); nothing in the weights says so.
        layer_norm_eps=1e-6,
    )
    if len(shape) == 5:  # Conv3d [D, C, tubelet, p, p]
        config["tubelet_size"] = shape[2]
    if image_size is None:
        num_patches = reader.shape(f"{prefix}pos_embed")[1] - prefix_rows
        side = math.isqrt(num_patches)
        if side * side != num_patches:
            raise ValueError(
                f"{reader.saved_name(prefix + 'pos_embed')} has {num_patches} patch positions, not a square grid: "
                "give the image size with --config '{\"image_size\": [height, width]}'."
            )
        image_size = side * patch_h if patch_h == patch_w else [side * patch_h, side * patch_w]
    config["image_size"] = image_size
    return config


def named_model(name, known: Mapping[str, NamedModel], width: int) -> tuple[NamedModel | None, str | None]:
    """The official model `name` from the checkpoint's args (None when absent, unknown, or of another width than the
    weights: args that describe another model are not trusted) and, when it is not used, a note saying why."""
    if name is None:
        return None, None
    model = known.get(name)
    if model is None:
        return None, f"The checkpoint's args name the model `{name}`, which this converter does not know."
    if model.hidden_size != width:
        return None, (
            f"The checkpoint's args name `{name}` ({model.hidden_size} wide), but its weights are {width} wide: "
            "the args were not used for the number of heads."
        )
    return model, None


def resolve_heads(
    widths: dict[str, int],
    model: NamedModel | None,
    overrides: dict,
    hint: str | None = None,
    table: Mapping[int, int] = OFFICIAL_HEADS_BY_WIDTH,
) -> dict:
    """Number of heads for each field of `widths` (config field -> width of the layers it applies to): from
    `overrides`, else the named official `model`, else `table` (released width -> heads). One clear error lists every
    field that stays unknown (with `hint`: why the checkpoint's args did not tell)."""
    heads, unknown = {}, []
    for field, width in widths.items():
        if field in overrides:
            heads[field] = overrides[field]
        elif model is not None and field in model.heads:
            heads[field] = model.heads[field]
        elif width in table:
            heads[field] = table[width]
        else:
            unknown.append(field)
    if unknown:
        sizes = ", ".join(f"`{field}` (layers {widths[field]} wide)" for field in unknown)
        example = "{" + ", ".join(f'"{field}": N' for field in unknown) + "}"
        raise ValueError(
            f"cannot tell the number of attention heads for {sizes}: shapes do not give it, and the width is not one "
            f"of the released ViT widths {dict(table)}. {hint + ' ' if hint else ''}"
            f"Give it with --config '{example}'."
        )
    return heads


def config_from_args(args, names: Mapping[str, str]) -> dict:
    """Recipe fields of our config from the checkpoint's command line: `names` maps an official argument to our
    config field (tuples become lists, as in config.json)."""
    if not isinstance(args, argparse.Namespace):
        return {}
    values = vars(args)
    config = {ours: values[theirs] for theirs, ours in names.items() if values.get(theirs) is not None}
    return {key: list(value) if isinstance(value, tuple) else value for key, value in config.items()}


def parse_config_overrides(value: str | Mapping | None, config_class) -> dict:
    """`--config`: a JSON object, a JSON file holding one, or a dict -> config fields that win over what the
    checkpoint tells."""
    if value is None or value == "":
        return {}
    if isinstance(value, Mapping):
        overrides = dict(value)
    else:
        text = value
        if os.path.isfile(value):
            with open(value, encoding="utf-8") as handle:
                text = handle.read()
        try:
            overrides = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"`--config` must be a JSON object or a JSON file, got {value!r} ({error}).") from None
        if not isinstance(overrides, dict):
            raise ValueError(f"`--config` must be a JSON object of config fields, got {value!r}.")
    known = set(config_class.__dataclass_fields__)
    for key in overrides:
        if key not in known:
            raise ValueError(f"`--config`: {config_class.__name__} has no field {key!r}.")
    return overrides


__all__ = [
    "OFFICIAL_HEADS_BY_WIDTH",
    "NamedModel",
    "config_from_args",
    "encoder_config",
    "named_model",
    "parse_config_overrides",
    "resolve_heads",
]
