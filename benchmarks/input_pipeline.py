"""Input pipeline throughput against the model's: images per second decoded, resized and collated by the data loader
`hf-jepa pretrain` builds (its collator, its sampler), with 0, 1 and 2 workers, next to the images per second of
the I-JEPA main job's training step (its config, batch and on-device views), measured in the same run. The ratio
loader / model above 1 means the model sets the pace.

Data: the embedded digits (32 px PNGs in memory, the main job's data), and a folder of full-size JPEGs made from
the scikit-image samples (300 to 1,411 px; written to a temporary folder), each read map-style (as `hf-jepa
pretrain --dataset FOLDER`) and as a `--streaming` parquet stream, resized to the main job's 32 px. Measured
separately, the loader has the cores to itself; the last table runs the real thing (`SSLTrainer` steps with the
loader feeding them) so that a worker's competition with the step for the 2 cores shows.

`--gpu-decode` adds `torchvision.io.decode_jpeg(device="cuda")` on the JPEG folder (files read on the CPU, batches
decoded and resized on the GPU), when CUDA is available.

Run: `nice -n 10 python benchmarks/input_pipeline.py` (about 10 minutes on 2 CPU cores).
"""

import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _results import default_device, make_parser, markdown_table, report, training_step
from PIL import Image

from hf_jepa.cli.pretrain import PRETRAIN_DEFAULTS
from hf_jepa.data.images import ImageCollator, digits_dataset, image_folder_dataset, image_transform
from hf_jepa.data.streaming import StreamingOptions, load_streaming_data
from hf_jepa.registry import METHODS, default_processor

SAMPLES = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry", "retina")
SAMPLES_GRAY = ("camera", "brick", "grass", "gravel", "moon", "coins")


def write_jpeg_folder(folder: Path, count: int) -> Path:
    """`count` JPEGs (quality 90) cycling through the scikit-image samples at full size, mirrored every other
    round so the files differ."""
    import skimage.data

    images = [getattr(skimage.data, name)() for name in SAMPLES + SAMPLES_GRAY]
    images = [np.stack([image] * 3, -1) if image.ndim == 2 else image for image in images]
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        image = images[index % len(images)]
        if (index // len(images)) % 2:
            image = image[:, ::-1]
        Image.fromarray(np.ascontiguousarray(image)).save(folder / f"{index:05d}.jpg", quality=90)
    return folder


def write_parquet(dataset, folder: Path, num_shards: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(num_shards):
        part = dataset.shard(num_shards, index, contiguous=True)
        part.to_parquet(str(folder / f"train-{index:05d}-of-{num_shards:05d}.parquet"))
    return folder


def loader_rate(dataset, collator, batch_size: int, workers: int, batches: int) -> tuple[float, float]:
    """(images / s over `batches` batches after the first, seconds to the first batch) of a data loader as the
    Trainer builds it (persistent workers: `hf-jepa pretrain`'s default)."""
    streaming = isinstance(dataset, torch.utils.data.IterableDataset)
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=not streaming,
        collate_fn=collator,
        num_workers=workers,
        persistent_workers=workers > 0,
        drop_last=True,
    )
    start = time.perf_counter()
    iterator = iter(loader)
    next(iterator)
    first = time.perf_counter() - start
    start, images = time.perf_counter(), 0
    for _ in range(batches):
        try:
            batch = next(iterator)
        except StopIteration:
            iterator = iter(loader)
            batch = next(iterator)
        images += len(batch["pixel_values"])
    rate = images / (time.perf_counter() - start)
    del iterator, loader
    return rate, first


def model_rate(batch_size: int, steps: int, device: torch.device) -> float:
    """Images / s of the I-JEPA main job's training step on `device`: its on-device views, forward, backward, AdamW,
    EMA."""
    method = METHODS["ijepa"]
    config = method.config_class(**method.default_config)
    processor = default_processor(method, config)
    model = method.pretraining_class(config).to(device).train()
    views = method.train_views(config, processor, None, None)
    pixels = torch.randn(batch_size, 3, config.image_size, config.image_size, device=device)
    generator = torch.Generator(device=device).manual_seed(0)
    inputs = {"pixel_values": views(pixels, generator)}
    args = type("Args", (), {"device": device, "bf16": False})
    step = training_step(model, inputs, args, ema_momentum=0.996)
    for _ in range(2):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        views(pixels, generator)  # the views are part of the step
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return batch_size * steps / (time.perf_counter() - start)


def trainer_rate(workers: int, steps: int, output_dir: str) -> float:
    """Images / s of `hf-jepa pretrain`'s own training loop on the digits (the main job) with `workers` workers:
    loader and step share the cores."""
    from hf_jepa.cli.pretrain import build_model, parse_pretrain_args
    from hf_jepa.data.training_data import load_training_data
    from hf_jepa.engine.trainer import SSLTrainer

    argv = ["--max_steps", str(steps), "--dataloader_num_workers", str(workers), "--disable_tqdm", "true"]
    argv += ["--output_dir", output_dir, "--save_strategy", "no", "--logging_steps", str(steps)]
    model_args, _, training_args = parse_pretrain_args(argv)
    method, config, model, processor = build_model(model_args)
    inputs = load_training_data("image", config, processor)
    views = method.train_views(config, processor, None, None)
    trainer = SSLTrainer(
        model=model,
        args=training_args,
        train_dataset=inputs.train_dataset,
        data_collator=inputs.train_collator,
        train_views=views,
    )
    start = time.perf_counter()
    trainer.train()
    return steps * training_args.per_device_train_batch_size / (time.perf_counter() - start)


def gpu_decode_rate(folder: Path, batch_size: int, size: int, batches: int) -> float:
    """Images / s of `torchvision.io.decode_jpeg(device="cuda")` + an antialiased resize on the GPU, the files read
    on the CPU."""
    import torchvision
    from torchvision.transforms.v2 import functional as tvF

    files = sorted(folder.glob("*.jpg"))
    data = [torchvision.io.read_file(str(path)) for path in files]
    torch.cuda.synchronize()
    start, images = time.perf_counter(), 0
    for index in range(batches):
        chunk = [data[(index * batch_size + i) % len(data)] for i in range(batch_size)]
        decoded = torchvision.io.decode_jpeg(chunk, device="cuda", mode=torchvision.io.ImageReadMode.RGB)
        torch.stack([tvF.resize(image, [size, size], antialias=True) for image in decoded])
        images += batch_size
    torch.cuda.synchronize()
    return images / (time.perf_counter() - start)


def main() -> None:
    parser = make_parser(__doc__)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--batches", type=int, default=12, help="Timed batches per loader.")
    parser.add_argument("--jpegs", type=int, default=390, help="JPEG files written from the scikit-image samples.")
    parser.add_argument("--steps", type=int, default=8, help="Timed model steps.")
    parser.add_argument("--trainer-steps", type=int, default=15, help="Steps of each end-to-end trainer run.")
    parser.add_argument(
        "--trainer-rounds", type=int, default=3, help="End-to-end runs per number of workers, taking turns."
    )
    parser.add_argument("--gpu-decode", action="store_true", help="Add GPU JPEG decoding (needs CUDA).")
    args = parser.parse_args()

    batch_size = PRETRAIN_DEFAULTS["per_device_train_batch_size"]
    method = METHODS["ijepa"]
    config = method.config_class(**method.default_config)
    processor = default_processor(method, config)
    size = (processor.size["height"], processor.size["width"])
    collator = ImageCollator(image_transform(size, processor.image_mean, processor.image_std))
    device = default_device()
    model_images = model_rate(batch_size, args.steps, device)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        jpegs = write_jpeg_folder(tmp / "jpegs", args.jpegs)
        digits = digits_dataset(config.image_size)["train"]
        folder = image_folder_dataset(str(jpegs))["train"]
        sources = {
            "digits (32 px PNG, in memory)": digits,
            "digits as a parquet stream (4 shards)": write_parquet(digits, tmp / "digits_pq", 4),
            f"{args.jpegs} full-size JPEGs (300–1,411 px, folder)": folder,
            "the same JPEGs as a parquet stream (4 shards)": write_parquet(folder, tmp / "jpeg_pq", 4),
        }
        rows = []
        for name, source in sources.items():
            for workers in args.workers:
                if isinstance(source, Path):  # a fresh stream per loader
                    dataset = load_streaming_data(str(source), "image", StreamingOptions(buffer_size=256)).train
                else:
                    dataset = source
                rate, first = loader_rate(dataset, collator, batch_size, workers, args.batches)
                rows.append([name, workers, f"{rate:.0f}", f"{first:.2f}", f"{rate / model_images:.1f}"])
        if args.gpu_decode and torch.cuda.is_available():
            rate = gpu_decode_rate(jpegs, batch_size, size[0], args.batches)
            rows.append([f"{args.jpegs} JPEGs, decode_jpeg on CUDA", "—", f"{rate:.0f}", "—", "—"])
        # Rounds take turns (0, 1, 2, 0, 1, 2, ...) so that a busy spell of the shared machine hits every setting.
        rates = {workers: [] for workers in args.workers}
        for round_index in range(args.trainer_rounds):
            for workers in args.workers:
                run = str(tmp / f"run{round_index}-{workers}")
                rates[workers].append(trainer_rate(workers, args.trainer_steps, run))
        trainer_rows = []
        for workers, values in rates.items():
            median = statistics.median(values)
            spread = f"{min(values):.0f}–{max(values):.0f}"
            trainer_rows.append([workers, f"{median:.0f} ({spread})", f"{batch_size / median:.3f}"])

    table = markdown_table(
        ["data", "workers", "images / s (loader)", "s to first batch", "loader / model (> 1: model sets the pace)"],
        rows,
    )
    trainer_table = markdown_table(["workers", "images / s: median (range)", "s / step (median)"], trainer_rows)
    body = (
        f"I-JEPA main job (`hf-jepa pretrain` defaults: ViT {config.hidden_size} wide × {config.num_hidden_layers} "
        f"deep, {config.image_size} px, patch {config.patch_size}, batch {batch_size}): its training step on "
        f"{device.type} (on-device views, forward, backward, fused AdamW, EMA; {args.steps} steps after 2 warm-up "
        "ones) runs "
        f"**{model_images:.0f} images / s** here.\n\n"
        f"The loader alone (decode, resize to {size[0]} px, normalise, collate; batch {batch_size}, {args.batches} "
        f"batches after the first; the first one's time includes starting the workers):\n\n{table}\n\n"
        f"The main job's own training loop (`SSLTrainer`, {args.trainer_steps} steps on the digits including the "
        f"first batch, loader and step sharing the {os.cpu_count()} cores; {args.trainer_rounds} runs per number of "
        f"workers, taking turns):\n\n{trainer_table}"
    )
    report(args, "Input pipeline vs model step", [device], body)


if __name__ == "__main__":
    main()
