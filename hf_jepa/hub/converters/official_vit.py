"""The official ViT's state-dict names (timm's, shared by the I-JEPA, MAE and DINO code) mapped onto our model, and the
steps every converter shares: build the model from the inferred config, fill it, account for every key.

Our `TransformerBlock` keeps timm's parameter names (`norm1`, `attn.qkv` with q, k, v stacked in that order,
`attn.proj`, `norm2`, `mlp.fc1`, `mlp.fc2`), so an official block maps onto ours by renaming its prefix only
(`blocks.3.` -> `layers.3.`), the fused qkv as it is. Only the parts around the blocks have other names.
"""

import math

import torch
import torch.nn as nn
from transformers import PreTrainedModel
from transformers.initialization import no_init_weights

from ...models.configuration_ssl_vit import SSLViTConfig
from ...models.position_embeddings import sincos_3d
from ...registry import method_of_model_type
from .checkpoint import StateDictReader
from .report import ConversionReport

Names = tuple[tuple[str, str], ...]  # (our name prefix, official name prefix), first match wins

ENCODER_NAMES: Names = (
    ("embeddings.patch_embeddings.projection.", "patch_embed.proj."),
    ("embeddings.cls_token", "cls_token"),
    ("layers.", "blocks."),
    ("layernorm.", "norm."),
)
# The official tables are built in float64 and stored in float32, as ours; anything further apart is another table.
FIXED_TABLE_TOLERANCE = 1e-5


def official_name(name: str, names: Names) -> str:
    """Our parameter name (relative to a module) -> the official one; names without a rule are the same."""
    for ours, theirs in names:
        if name.startswith(ours):
            return theirs + name[len(ours) :]
    return name


def copy_weights(
    weights: dict,
    module: nn.Module,
    our_prefix: str,
    reader: StateDictReader,
    source_prefix: str,
    names: Names,
    skip: tuple[str, ...] = (),
) -> None:
    """Put every entry of `module`'s state dict (except `skip`) into `weights` under `our_prefix`, read from the
    official key `source_prefix + official_name(...)` and checked against our shape."""
    for name, ours in module.state_dict().items():
        if name not in skip:
            source = source_prefix + official_name(name, names)
            weights[our_prefix + name] = reader.take(source, ours.shape, needed_for=our_prefix + name)


def check_fixed_table(
    reader: StateDictReader, key: str, table: torch.Tensor, cls_row: bool, needed_for: str, kind: str = "2-D"
) -> torch.Tensor:
    """Consume the official fixed sin-cos table at `key` ([1, (1 +) N, D]) after checking it equals ours (`table`
    [N, D]; with `cls_row` the official one starts with a zero CLS row; `kind` "2-D" or "3-D" names it in errors).
    We do not save fixed tables but recompute them, so a checkpoint whose table differs is a model we would not
    reproduce: refuse it."""
    num, dim = table.shape
    saved = reader.take(key, (1, num + int(cls_row), dim), needed_for=needed_for)[0].float()
    expected = torch.cat([table.new_zeros(1, dim), table]) if cls_row else table
    difference = (saved - expected.float()).abs().max().item()
    if not difference <= FIXED_TABLE_TOLERANCE:
        raise ValueError(
            f"{reader.saved_name(key)} is not the fixed {kind} sin-cos table hf_jepa computes for `{needed_for}` "
            f"(largest difference {difference:.3g}, tolerance {FIXED_TABLE_TOLERANCE}): the converted model would "
            "not reproduce this checkpoint."
        )
    return saved


def fixed_3d_table_grid(reader: StateDictReader, key: str) -> tuple[int, int, int] | None:
    """The (time, height, width) token grid of the official fixed 3-D sin-cos table at `key` ([1, N, D]), read from
    its values: the row count alone does not say how N splits into frames and a square frame. The one grid
    T x S x S = N whose table (ours, `sincos_3d`) the saved one equals; None when no grid gives it."""
    _, num, dim = reader.shape(key)
    saved = reader.state[key][0].float()
    for frames in (t for t in range(1, num + 1) if num % t == 0):
        side = math.isqrt(num // frames)
        if side * side == num // frames:
            table = sincos_3d(dim, (frames, side, side))
            if (saved - table).abs().max().item() <= FIXED_TABLE_TOLERANCE:
                return frames, side, side
    return None


def copy_encoder(
    weights: dict, encoder: nn.Module, our_prefix: str, reader: StateDictReader, source_prefix: str = ""
) -> None:
    """An official ViT backbone (keys under `source_prefix`) -> our encoder module (`SSLViTModel`) at `our_prefix`."""
    config: SSLViTConfig = encoder.config
    embeddings = encoder.embeddings
    positions, cls = "embeddings.position_embeddings", "embeddings.cls_token"
    copy_weights(weights, encoder, our_prefix, reader, source_prefix, ENCODER_NAMES, skip=(positions, cls))
    pos_key, cls_rows = f"{source_prefix}pos_embed", int(config.use_cls_token)
    cls_token = None
    if config.use_cls_token:
        cls_token = reader.take(f"{source_prefix}cls_token", embeddings.cls_token.shape, our_prefix + cls)
    if config.position_embedding_type == "learned":  # DINO: a trained [1, 1 + N, D] table, CLS row first
        num, dim = embeddings.position_embeddings.shape
        table = reader.take(pos_key, (1, cls_rows + num, dim), needed_for=our_prefix + positions)
        weights[our_prefix + positions] = table[0, cls_rows:]
        if cls_token is not None:
            # Our table has no CLS row: its position goes into the CLS token, the only token it is ever added to.
            # Identical at the native resolution (and at others for the CLS token: DINO never resizes that row;
            # the patch rows are resized bicubically, by output size here and by a scale factor in DINO).
            cls_token = cls_token + table[:, :1]
    elif config.position_embedding_type == "sincos":  # I-JEPA, MAE, V-JEPA: fixed, saved but not trained
        kind = "3-D" if config.is_video else "2-D"  # MAE's table has a zero CLS row
        table = embeddings.position_embeddings
        check_fixed_table(reader, pos_key, table, config.use_cls_token, our_prefix + positions, kind=kind)
    # Rotary positions (V-JEPA 2) have no table: a converter decides about a stale `pos_embed` in the checkpoint.
    if cls_token is not None:
        weights[our_prefix + cls] = cls_token


def build_model(config: SSLViTConfig) -> PreTrainedModel:
    """Our `...ForPreTraining` for `config`, not initialised: every weight is about to be loaded (parts left out
    of the checkpoint are initialised by `finish`)."""
    method = method_of_model_type(config.model_type)
    with no_init_weights():
        return method.pretraining_class(config)


def finish(
    model: PreTrainedModel,
    weights: dict[str, torch.Tensor],
    readers: list[StateDictReader],
    report: ConversionReport,
    initialize: tuple[str, ...] = (),
) -> PreTrainedModel:
    """Initialise the modules named in `initialize` (absent from the checkpoint) our way, load `weights` into all
    the rest (every entry of the state dict must be there), and refuse checkpoint keys that nothing read."""
    for name in initialize:
        model.get_submodule(name).apply(model._init_weights)
    expected = {key for key in model.state_dict() if not key.startswith(tuple(f"{name}." for name in initialize))}
    missing, extra = sorted(expected - set(weights)), sorted(set(weights) - expected)
    if missing or extra:  # a converter bug, not a checkpoint problem
        raise RuntimeError(f"conversion left {missing[:5]} unfilled and produced unknown {extra[:5]}.")
    model.load_state_dict(weights, strict=False)
    for reader in dict.fromkeys(readers):  # a reader may feed two parts (DINO: one backbone for both encoders)
        reader.check_consumed(type(model).__name__)
        report.record(reader)
    return model.eval()


__all__ = [
    "ENCODER_NAMES",
    "FIXED_TABLE_TOLERANCE",
    "build_model",
    "check_fixed_table",
    "copy_encoder",
    "copy_weights",
    "finish",
    "fixed_3d_table_grid",
    "official_name",
]
