"""`hf-jepa export`: a saved model as transformers' own classes or as remote code, loadable without hf_jepa."""

from dataclasses import dataclass, field

from transformers import HfArgumentParser

from ..engine.run_files import check_distinct_folders, locked_output_dir, prepare_output_dir
from ..registry import saved_method
from .arguments import fill_help


@dataclass
class ExportArguments:
    model: str = field(metadata={"help": "A folder saved by `hf-jepa pretrain` (or any hf_jepa model folder)."})
    output_dir: str = field(metadata={"help": "Where to write the export: a new or empty folder."})
    format: str = field(
        default="transformers",
        metadata={
            "help": "'transformers': the published encoder as transformers' own class ({native_classes}), loadable "
            "with AutoModel without hf_jepa, deterministic features. 'transformers-pretraining': transformers' own "
            "pretraining class where it holds more than the encoder ({pretraining_classes}). 'remote-code': the "
            "full pretraining model with our model files and auto_map, loadable with trust_remote_code=True "
            "without hf_jepa.",
            "choices": ["transformers", "transformers-pretraining", "remote-code"],
        },
    )
    overwrite_output_dir: bool = field(
        default=False, metadata={"help": "Replace the files of an earlier export in --output_dir."}
    )


def export(argv: list[str]):
    from ..hub.cards import load_results, write_model_card
    from ..hub.export import export_to_transformers, native_targets_help
    from ..hub.remote_code import export_remote_code

    parser = HfArgumentParser(
        ExportArguments,
        prog="hf-jepa export",
        description="Export a saved hf_jepa model (weights in safetensors) and its image or video processor to a "
        "format that loads without hf_jepa.",
    )
    fill_help(
        parser,
        native_classes=native_targets_help("transformers"),
        pretraining_classes=native_targets_help("transformers-pretraining"),
    )
    (args,) = parser.parse_args_into_dataclasses(argv)
    method = saved_method(args.model)  # reads config.json only: never runs a folder's code
    check_distinct_folders(args.model, args.output_dir)
    with locked_output_dir(args.output_dir):
        prepare_output_dir(args.output_dir, args.overwrite_output_dir, command="hf-jepa export")
        if args.format == "remote-code":
            files = export_remote_code(args.model, args.output_dir)
            write_model_card(args.output_dir, load_results(args.model))  # the card, with the run's numbers
            files = sorted(set(files) | {"README.md"})
            print(f"Wrote the full model as remote code to {args.output_dir}: {', '.join(files)}")
            print(
                "Load it without hf_jepa (this runs the copied model files: read them first):\n"
                "  from transformers import AutoModel, AutoModelForPreTraining\n"
                f"  encoder = AutoModel.from_pretrained({args.output_dir!r}, trust_remote_code=True)\n"
                f"  full = AutoModelForPreTraining.from_pretrained({args.output_dir!r}, trust_remote_code=True)"
            )
            return files
        result = export_to_transformers(args.model, args.output_dir, args.format)
        write_model_card(args.model, export=result)  # README.md: the exported folder's card, plain transformers first
    processor = "AutoVideoProcessor" if method.modality == "video" else "AutoImageProcessor"
    auto = "AutoModelForPreTraining" if result.target.endswith("ForPreTraining") else "AutoModel"
    print(f"Wrote {result.target} to {result.output_dir}: {', '.join(result.files)}")
    print(
        "Load it without hf_jepa:\n"
        f"  from transformers import {auto}, {processor}\n"
        f"  model = {auto}.from_pretrained({result.output_dir!r})\n"
        f"  processor = {processor}.from_pretrained({result.output_dir!r})\n"
        f"Note: {result.load_hint}"
    )
    return result


__all__ = ["ExportArguments", "export"]
