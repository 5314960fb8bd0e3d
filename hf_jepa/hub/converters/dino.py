"""Official DINO checkpoints (facebookresearch/dino) -> `DINOSSLForPreTraining`.

Two formats: the training checkpoint (`main_dino.py`: `student` under `module.`, `teacher` without it, each a
backbone + `DINOHead`, and the loss's `center`), and the released backbone-only file (`*_pretrain.pth`: a bare ViT
state dict). Missing networks are copied from the ones present (the EMA teacher starts as a copy of the student);
heads absent on both sides are left at our init. The report says which.
"""

import re
from dataclasses import dataclass

import torch

from ...models import DINOSSLConfig, DINOSSLForPreTraining
from .checkpoint import StateDictReader
from .config_inference import NamedModel, config_from_args, encoder_config, named_model, resolve_heads
from .official_vit import build_model, copy_encoder, copy_weights, finish
from .report import ConversionReport

# `args.arch` of the official ViT factories.
ARCHS = {
    "vit_tiny": NamedModel(192, {"num_attention_heads": 3}),
    "vit_small": NamedModel(384, {"num_attention_heads": 6}),
    "vit_base": NamedModel(768, {"num_attention_heads": 12}),
}
ARGS_TO_CONFIG = {
    "teacher_temp": "teacher_temperature",
    "warmup_teacher_temp": "warmup_teacher_temperature",
    "local_crops_number": "num_local_crops",
    "global_crops_scale": "global_crop_scale",
    "local_crops_scale": "local_crop_scale",
}
NETWORKS = ("teacher", "student")
# Our (encoder, head) for each official network: the teacher is the EMA target we publish as `encoder`.
OURS = {"teacher": ("encoder", "teacher_head"), "student": ("student_encoder", "student_head")}
BATCH_NORM_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


@dataclass
class Network:
    """One official network of the checkpoint: its state dict, where its backbone keys start, and its head."""

    reader: StateDictReader
    backbone: str  # key prefix of the backbone ("backbone." in a training checkpoint, "" in a backbone-only file)
    has_head: bool


def _network(reader: StateDictReader) -> Network:
    backbone = "backbone." if any(key.startswith("backbone.") for key in reader.keys()) else ""
    return Network(reader, backbone, bool(reader.keys("head.")))


def read_networks(checkpoint: dict) -> dict[str, Network]:
    """The teacher and/or student of a training checkpoint, or the bare backbone of a released file (a teacher:
    DINO evaluates and releases the teacher)."""
    if any(name in checkpoint for name in NETWORKS):
        return {name: _network(StateDictReader(checkpoint[name], name)) for name in NETWORKS if name in checkpoint}
    if checkpoint and all(isinstance(value, torch.Tensor) for value in checkpoint.values()):
        reader = StateDictReader(checkpoint, "backbone")
        if "pos_embed" in reader:
            return {"teacher": Network(reader, "", has_head=False)}
    raise ValueError(
        "not an official DINO checkpoint: expected `teacher` / `student` entries (a training checkpoint) or a bare "
        f"ViT state dict (a released *_pretrain.pth file); found top-level keys {sorted(map(str, checkpoint))[:8]}."
    )


def mlp_num_layers(reader: StateDictReader) -> int:
    """Linear layers of the head MLP: a lone `head.mlp` Linear, or a Sequential with its Linears at `head.mlp.0`,
    `.2`, `.4`, ... (GELUs between; a gap is then reported as a missing key)."""
    if "head.mlp.weight" in reader:
        return 1
    pattern = re.compile(r"head\.mlp\.(\d+)\.")
    indices = [int(m.group(1)) for m in map(pattern.match, reader.keys("head.mlp.")) if m]
    if not indices:
        raise ValueError(f"the DINO head of `{reader.part}` has no MLP keys (`{reader.prefix}head.mlp.*`).")
    return max(indices) // 2 + 1


def head_config(network: Network, args) -> dict:
    """DINOHead sizes from the shapes: the MLP's linear layers, the weight-normed last layer, and
    `norm_last_layer` (prototype norms `weight_g` all 1: fixed, not trained)."""
    reader = network.reader
    batch_norm = [key for key in reader.keys("head.mlp.") if key.endswith(BATCH_NORM_BUFFERS)]
    if batch_norm or getattr(args, "use_bn_in_head", False):
        example = f" (e.g. `{reader.prefix}{batch_norm[0]}`)" if batch_norm else ""
        raise ValueError(
            f"the DINO head of `{reader.part}` uses batch norm (`use_bn_in_head`){example}: hf_jepa's DINOHead has "
            "none, so this head cannot be represented. Convert the released backbone-only file instead."
        )
    num_layers = mlp_num_layers(reader)
    out_size, bottleneck = reader.shape("head.last_layer.weight_v")
    weight_g = reader.state.get("head.last_layer.weight_g")
    fields = dict(
        head_num_layers=num_layers,
        head_bottleneck_size=bottleneck,
        head_output_size=out_size,
        head_norm_last_layer=weight_g is not None and bool(torch.all(weight_g == 1)),
    )
    if num_layers > 1:
        fields["head_hidden_size"] = reader.shape("head.mlp.0.weight")[0]
    return fields


def official_local_crop_size(fields: dict) -> int:
    """The official local crops are 96 px for 224 px globals: the same share of the image, in whole patches."""
    image = fields["image_size"] if isinstance(fields["image_size"], int) else min(fields["image_size"])
    patch = fields["patch_size"] if isinstance(fields["patch_size"], int) else max(fields["patch_size"])
    return 96 if image >= 224 else max(patch, round(image * 96 / 224 / patch) * patch)


def convert_dino(checkpoint: dict, overrides: dict, report: ConversionReport) -> DINOSSLForPreTraining:
    """Teacher -> `encoder` / `teacher_head`, student -> `student_encoder` / `student_head`, center -> `center`."""
    networks = read_networks(checkpoint)
    main = networks.get("teacher") or networks["student"]
    if main.reader.part != "backbone":  # a training checkpoint: optimizer state, epoch, ... are not converted
        report.ignore_entries(checkpoint, (*networks, "dino_loss", "args"))
    args = checkpoint.get("args")
    with_head = [networks[name] for name in ("student", "teacher") if name in networks and networks[name].has_head]

    fields = encoder_config(main.reader, main.backbone, prefix_rows=1, image_size=overrides.get("image_size"))
    fields.update(config_from_args(args, ARGS_TO_CONFIG), position_embedding_type="learned")
    if with_head:
        fields.update(head_config(with_head[0], args))  # the student's first: its `weight_g` says if it was trained
    fields.setdefault("local_crop_size", official_local_crop_size(fields))
    arch, note = named_model(getattr(args, "arch", None), ARCHS, fields["hidden_size"])
    report.notes += [note] if note else []
    fields.update(resolve_heads({"num_attention_heads": fields["hidden_size"]}, arch, overrides, hint=note))
    model = build_model(DINOSSLConfig(**{**fields, **overrides}))

    weights = {}
    for name, (encoder, head) in OURS.items():
        network = networks.get(name)
        backbone = network or main
        copy_encoder(weights, model.get_submodule(encoder), f"{encoder}.", backbone.reader, backbone.backbone)
        report.sources[encoder] = f"{backbone.reader.part} backbone"
        if network is None:
            report.notes.append(f"No {name} in the checkpoint: `{encoder}` is a copy of the {main.reader.part}.")
        head_network = network if network is not None and network.has_head else next(iter(with_head), None)
        if head_network is not None:
            names = (("mlp.0.", "mlp."),) if model.config.head_num_layers == 1 else ()  # a lone Linear, unwrapped
            copy_weights(weights, model.get_submodule(head), f"{head}.", head_network.reader, "head.", names)
            report.sources[head] = f"{head_network.reader.part} head"
            if head_network is not network:
                report.notes.append(f"No {name} head in the checkpoint: `{head}` is a copy of the other network's.")
    if not with_head:
        # Our init for the student head; the EMA teacher starts as its copy, as in training.
        model.student_head.apply(model._init_weights)
        for head in ("student_head", "teacher_head"):
            weights.update({f"{head}.{k}": v.clone() for k, v in model.student_head.state_dict().items()})
        report.notes.append(
            "The checkpoint has no DINO head: `student_head` is at hf_jepa's initialisation and `teacher_head` a copy "
            f"of it ({model.config.head_output_size} prototypes; set the head sizes with --config)."
        )

    readers = [network.reader for network in networks.values()]
    if "dino_loss" in checkpoint:
        loss_state = StateDictReader(checkpoint["dino_loss"], "dino_loss")
        weights["center"] = loss_state.take("center", model.center.shape, needed_for="center")
        readers.append(loss_state)
        report.sources["center"] = "dino_loss"
    else:
        weights["center"] = torch.zeros_like(model.center)
        report.notes.append("No `dino_loss` center in the checkpoint: the center starts at zero.")
    return finish(model, weights, readers, report)


__all__ = ["convert_dino"]
