"""`convert`: an official checkpoint -> a Hub-ready hf_jepa folder (model, processor, config, card), checked to load
back with `AutoModelForPreTraining`; and the `hf-jepa convert` command."""

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch
from transformers import AutoModelForPreTraining, HfArgumentParser, PreTrainedModel

from ...engine.run_files import locked_output_dir, prepare_output_dir, staged_folder
from ...registry import METHODS, default_processor, get_method, load_object, method_of_model_type
from ..cards import write_model_card
from .checkpoint import load_checkpoint
from .config_inference import parse_config_overrides
from .report import OFFICIAL_LICENSES, ConversionReport

# checkpoint dict, config overrides, report -> our `...ForPreTraining` holding the checkpoint's weights.
Converter = Callable[[dict, dict, ConversionReport], PreTrainedModel]
# From the method table (`Method.converter`).
CONVERTERS: dict[str, Converter] = {m.name: load_object(m.converter) for m in METHODS.values() if m.converter}
# What `--from` accepts: every method; one without a converter yet is refused with a clear message.
SOURCES = tuple(METHODS)


def get_converter(source: str) -> Converter:
    if source in CONVERTERS:
        return CONVERTERS[source]
    if source in SOURCES:
        raise ValueError(f"`--from {source}` is not yet supported; converters exist for {sorted(CONVERTERS)}.")
    raise ValueError(f"`--from` must be one of {list(SOURCES)}, got {source!r}.")


def architecture(config) -> str:
    image, patch = config.image_size, config.patch_size
    return (
        f"{type(config).__name__}: ViT {config.hidden_size} wide, {config.num_hidden_layers} deep, "
        f"{config.num_attention_heads} heads, patch {patch}, image {image}, "
        f"{f'{config.num_frames} frames in tubelets of {config.tubelet_size}, ' if config.is_video else ''}"
        f"{config.position_embedding_type} positions{', CLS token' if config.use_cls_token else ''}"
    )


def verify_folder(output_dir: str, model: PreTrainedModel) -> None:
    """The written folder loads with `AutoModelForPreTraining` (our registered classes only: no remote code is
    trusted) into the same class with exactly the converted weights."""
    loaded, info = AutoModelForPreTraining.from_pretrained(
        output_dir, output_loading_info=True, trust_remote_code=False
    )
    problems = {kind: keys for kind, keys in info.items() if keys and kind != "error_msgs"}
    if type(loaded) is not type(model) or problems:
        raise RuntimeError(f"{output_dir} loads as {type(loaded).__name__} with {problems}.")
    saved = loaded.state_dict()
    different = [key for key, value in model.state_dict().items() if not torch.equal(value, saved[key])]
    if different:
        raise RuntimeError(f"{output_dir} does not load back the converted weights: {different[:5]}.")


def convert(
    method: str, checkpoint: str, output_dir: str, config_overrides: str | Mapping | None = None
) -> ConversionReport:
    """Convert the official `method` checkpoint file `checkpoint` into our pretraining model and write it to
    `output_dir` with its image processor, config.json and model card (README.md).

    `config_overrides`: config fields that win over what the checkpoint tells (a dict, a JSON object, or a JSON
    file), e.g. the number of heads of a model whose width is not a released one. Returns the report: where each
    part came from, what was ignored (optimizer state, ...) and what was left at our init.
    """
    converter = get_converter(method)
    overrides = parse_config_overrides(config_overrides, get_method(method).config_class)
    report = ConversionReport(method=method, checkpoint=os.fspath(checkpoint), output_dir=os.fspath(output_dir))
    model = converter(load_checkpoint(checkpoint), overrides, report)
    report.architecture = architecture(model.config)

    with staged_folder(output_dir) as staging:  # the folder appears only when complete and checked
        model.save_pretrained(staging)  # safetensors
        default_processor(method_of_model_type(model.config.model_type), model.config).save_pretrained(staging)
        # `results={}`: a converted model has no hf_jepa evaluation (never a stale eval_results.json of the folder).
        license = OFFICIAL_LICENSES.get(report.official)
        write_model_card(staging, results={}, model_id=output_dir, source=report.card_note(), license=license)
        verify_folder(staging, model)
    return report


@dataclass
class ConvertArguments:
    source: str = field(
        metadata={
            "aliases": ["--from"],
            "choices": list(SOURCES),
            "help": "The official code that wrote the checkpoint.",
        }
    )
    output_dir: str = field(metadata={"help": "Where to write the hf_jepa folder (model, processor, config, card)."})
    checkpoint: str | None = field(
        default=None, metadata={"help": "The checkpoint file (usually given as the positional argument CKPT)."}
    )
    config: str | None = field(
        default=None,
        metadata={
            "help": "Config fields that override what the checkpoint tells: a JSON object or a JSON file, e.g. "
            "'{\"num_attention_heads\": 4}' for a model whose width is not a released one."
        },
    )
    overwrite_output_dir: bool = field(
        default=False, metadata={"help": "Replace the files of an earlier conversion or run in --output_dir."}
    )


def convert_command(argv: list[str]) -> ConversionReport:
    """`hf-jepa convert --from METHOD CKPT --output_dir OUT [--config JSON]`."""
    parser = HfArgumentParser(
        ConvertArguments,
        prog="hf-jepa convert",
        usage=f"hf-jepa convert --from {{{','.join(SOURCES)}}} CKPT --output_dir OUT [--config JSON]",
        description="Convert a checkpoint written by the official code of "
        f"{', '.join(METHODS[name].title for name in CONVERTERS)} (V-JEPA also V-JEPA 2) into an hf_jepa folder "
        "(safetensors) with its image or video processor and model card, loadable with AutoModelForPreTraining "
        "after `import hf_jepa`. The file is read with weights-only loading: nothing in it is executed.",
    )
    args, rest = parser.parse_args_into_dataclasses(argv, return_remaining_strings=True)
    unknown = [item for item in rest if item.startswith("-")]
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    files = [args.checkpoint] if args.checkpoint else []
    files += rest
    if len(files) != 1:
        parser.error(f"expected one checkpoint file CKPT, got {files or 'none'}.")
    with locked_output_dir(args.output_dir):
        prepare_output_dir(args.output_dir, args.overwrite_output_dir, command="hf-jepa convert")
        report = convert(args.source, files[0], args.output_dir, args.config)
    print(report.summary())
    print(
        f"Wrote {report.output_dir}. Load it with:\n"
        "  import hf_jepa\n"
        "  from transformers import AutoModel, AutoModelForPreTraining\n"
        f"  encoder = AutoModel.from_pretrained({report.output_dir!r})\n"
        f"  full = AutoModelForPreTraining.from_pretrained({report.output_dir!r})"
    )
    return report


__all__ = ["CONVERTERS", "SOURCES", "ConvertArguments", "convert", "convert_command", "get_converter"]
