"""`hf-jepa evaluate`: kNN and linear probe of a saved model's frozen features, next to the same baselines as
`hf-jepa pretrain` (its initial weights when the folder says how it was initialised, other random inits, raw
pixels)."""

import json
import os
from dataclasses import dataclass, field

from transformers import AutoModel, HfArgumentParser, set_seed

from ..engine.run_files import model_folder_problems
from ..registry import model_processor, saved_method
from .arguments import check_positive
from .pretrain import random_init_encoders


@dataclass
class EvaluateArguments:
    model: str = field(metadata={"help": "A folder saved by `hf-jepa pretrain` (or any hf_jepa model folder)."})
    dataset: str | None = field(
        default=None, metadata={"help": "Same choices as for pretrain (default: the method's embedded data)."}
    )
    image_column: str | None = field(default=None, metadata={"help": "Image column (default: the first one)."})
    video_column: str | None = field(default=None, metadata={"help": "Video column (default: 'video')."})
    label_column: str = field(default="label", metadata={"help": "Label column."})
    frames_per_clip: int | None = field(default=None, metadata={"help": "Video: frames per clip (model's default)."})
    frame_stride: int = field(default=2, metadata={"help": "Video: take every n-th frame for a clip."})
    batch_size: int = field(default=256, metadata={"help": "Batch size of feature extraction."})
    seed: int = field(
        default=42,
        metadata={
            "help": "Seed of the random-init baselines when the folder does not record the seed its run started from "
            "(`init_seed` in eval_results.json, which gives the run's exact initial weights)."
        },
    )
    random_init_baselines: int = field(default=3, metadata={"help": "Random inits the baseline spread is over."})

    def __post_init__(self):
        check_positive(
            batch_size=self.batch_size,
            frames_per_clip=self.frames_per_clip,
            frame_stride=self.frame_stride,
            random_init_baselines=self.random_init_baselines,
        )


def initial_encoder(method, config, seed: int):
    """The published encoder of a pretraining model built from `seed`: what `hf-jepa pretrain --seed S` started
    from (it seeds, then builds the model, before anything else draws random numbers)."""
    set_seed(seed)
    return method.pretraining_class(config).get_encoder()


def evaluate(argv: list[str]) -> dict:
    from ..data.training_data import default_dataset, load_training_data
    from ..evaluation import evaluate_encoder, verdict

    parser = HfArgumentParser(
        EvaluateArguments,
        prog="hf-jepa evaluate",
        description="kNN (cosine, k=20) and linear-probe top-1 of a saved model's frozen features, next to the same "
        "architecture at random init (the run's own initial weights when the folder records its seed) and the raw "
        "pixels. Prints the results as JSON.",
    )
    (args,) = parser.parse_args_into_dataclasses(argv)
    method = saved_method(args.model)  # reads config.json only: never runs a folder's code
    problems = model_folder_problems(args.model)
    if problems:
        raise ValueError(f"`--model {args.model}` cannot be loaded: {'; '.join(problems)}.")
    encoder = AutoModel.from_pretrained(args.model, trust_remote_code=False)
    config = encoder.config
    processor = model_processor(method, args.model, config)
    inputs = load_training_data(
        method.modality,
        config,
        processor,
        args.dataset,
        args.image_column or args.video_column,
        args.label_column,
        frames_per_clip=args.frames_per_clip,
        frame_stride=args.frame_stride,
    )
    if inputs.label_column is None:
        raise ValueError("Evaluation needs labels: the dataset has no label column (pass `--label_column`).")
    init_seed = recorded_init_seed(args.model)
    seed = args.seed if init_seed is None else init_seed
    first = initial_encoder(method, config, seed)
    baselines = random_init_encoders(method, config, first, args.random_init_baselines, seed)
    results = evaluate_encoder(
        encoder, inputs.data, inputs.eval_collator, random_init_encoders=baselines, batch_size=args.batch_size
    )
    results.update(
        method=method.name,
        dataset=args.dataset or default_dataset(method.modality),
        random_init_is_the_runs_own=init_seed is not None,
    )
    print(json.dumps(results, indent=2))
    print(verdict(results))
    return results


def recorded_init_seed(model_dir: str) -> int | None:
    """The seed `hf-jepa pretrain` built the folder's model from (in its eval_results.json), if it says."""
    path = os.path.join(model_dir, "eval_results.json")
    try:
        with open(path, encoding="utf-8") as handle:
            seed = json.load(handle).get("init_seed")
    except (OSError, ValueError, AttributeError):
        return None
    return int(seed) if isinstance(seed, int) and not isinstance(seed, bool) else None


__all__ = ["EvaluateArguments", "evaluate", "initial_encoder"]
