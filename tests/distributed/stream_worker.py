"""Worker for test_streaming.py: `hf-jepa pretrain --streaming` arguments under torchrun (2 CPU processes, gloo).
Each process builds its stream from the parsed arguments, as the command does, and trains a tiny I-JEPA for a few
steps; the collator records the `id` of every row the process was given. Saves the ids and the trained weights."""

import argparse

import torch

from hf_jepa import IJEPASSLForPreTraining
from hf_jepa.cli.pretrain import parse_pretrain_args
from hf_jepa.data.images import ImageCollator, image_transform
from hf_jepa.data.streaming import load_streaming_data
from hf_jepa.engine.trainer import SSLTrainer
from hf_jepa.engine.views import RandomResizedCropFlip
from tests.tiny import tiny_ijepa_config

STEPS, BATCH = 4, 5


class RecordingCollator:
    """The image collator, remembering the ids of the rows it collates."""

    def __init__(self):
        self.collate = ImageCollator(image_transform(32, [0.5] * 3, [0.5] * 3))
        self.ids: list[int] = []

    def __call__(self, rows):
        self.ids += [row["id"] for row in rows]
        return self.collate(rows)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--data", required=True)
    known = parser.parse_args()
    argv = ["--dataset", known.data, "--streaming", "--max_steps", str(STEPS), "--shuffle_buffer_size", "4"]
    argv += ["--per_device_train_batch_size", str(BATCH), "--dataloader_num_workers", "0", "--save_strategy", "no"]
    argv += ["--output_dir", f"{known.out}/run", "--disable_tqdm", "true", "--logging_steps", "100"]
    _, data_args, training_args = parse_pretrain_args(argv)
    options = data_args.streaming_options(training_args)
    stream = load_streaming_data(data_args.dataset, "image", options).train
    torch.manual_seed(0)
    model = IJEPASSLForPreTraining(tiny_ijepa_config())
    collator = RecordingCollator()
    views = RandomResizedCropFlip(32, scale=(0.3, 1.0))
    trainer = SSLTrainer(
        model=model, args=training_args, train_dataset=stream, data_collator=collator, train_views=views
    )
    trainer.train()
    result = {
        "rank": training_args.process_index,
        "world_size": training_args.world_size,
        "stream_part": (options.rank, options.world_size),
        "ids": collator.ids,
        "weights": {k: v.detach().clone() for k, v in trainer.unwrapped_model.state_dict().items()},
    }
    torch.save(result, f"{known.out}/rank{training_args.process_index}.pt")


if __name__ == "__main__":
    main()
