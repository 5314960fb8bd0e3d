"""`--streaming` (hf_jepa.data.streaming) and the data loader workers: sources, splitting across processes and
workers, exact resume with workers, broken rows and shards, video rows, the workers default. Shards are written from
the embedded digits into temporary folders; nothing is downloaded."""

import io
import json
import logging
import os
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from datasets import Dataset

from hf_jepa import IJEPASSLForPreTraining
from hf_jepa.cli import main
from hf_jepa.cli.pretrain import parse_pretrain_args
from hf_jepa.data.images import ImageCollator, digits_dataset, image_transform
from hf_jepa.data.streaming import STREAM_EPOCH, ShardStream, StreamingOptions, load_streaming_data, open_stream
from hf_jepa.data.video_decoding import write_video
from hf_jepa.data.videos import VideoClipCollator
from hf_jepa.data.workers import default_num_workers
from hf_jepa.engine.trainer import SSLTrainer
from hf_jepa.engine.views import RandomResizedCropFlip
from tests.distributed import stream_worker
from tests.distributed.harness import run_distributed
from tests.tiny import tiny_training_args


@pytest.fixture(scope="module")
def digits():
    return digits_dataset(32)


def write_parquet_shards(folder, rows: Dataset, num_shards: int, eval_rows: Dataset | None = None) -> str:
    """`rows` (with an `id` column) as train-0000i.parquet shards, `eval_rows` as validation-00000.parquet."""
    os.makedirs(folder, exist_ok=True)
    rows = rows.add_column("id", list(range(len(rows))))
    for index in range(num_shards):
        rows.shard(num_shards, index, contiguous=True).to_parquet(
            os.path.join(folder, f"train-{index:05d}-of-{num_shards:05d}.parquet")
        )
    if eval_rows is not None:
        eval_rows.to_parquet(os.path.join(folder, "validation-00000-of-00001.parquet"))
    return str(folder)


def write_tar_shard(path, members: list[tuple[str, bytes]]) -> None:
    with tarfile.open(path, "w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def png(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def stream_of(folder, buffer_size=8, **options) -> ShardStream:
    return load_streaming_data(str(folder), "image", StreamingOptions(buffer_size=buffer_size, **options)).train


def take(stream, count: int, num_workers: int = 0) -> list[dict]:
    """The first `count` rows `stream` gives through a data loader with `num_workers` workers."""
    loader = torch.utils.data.DataLoader(stream, batch_size=None, num_workers=num_workers)
    rows = []
    for row in loader:
        rows.append(row)
        if len(rows) == count:
            return rows
    raise AssertionError(f"the stream ended after {len(rows)} rows")


# ---- sources --------------------------------------------------------------------------------------------------------
def test_map_only_sources_are_refused_with_a_reason(tmp_path, digits):
    for name in ("digits", "moving_digits"):
        with pytest.raises(ValueError, match=f"`--dataset {name}` is embedded data.*drop `--streaming`"):
            open_stream(name)
    digits["train"].select(range(4)).save_to_disk(str(tmp_path / "saved"))
    with pytest.raises(ValueError, match="save_to_disk.*drop `--streaming`"):
        open_stream(str(tmp_path / "saved"))
    (tmp_path / "images").mkdir()
    digits["train"][0]["image"].save(tmp_path / "images" / "a.png")
    with pytest.raises(ValueError, match="folder of media files.*drop `--streaming`"):
        open_stream(str(tmp_path / "images"))


def test_streaming_needs_max_steps(tmp_path, capsys):
    model_args, data_args, training_args = parse_pretrain_args(["--streaming", "--max_steps", "-1"])
    with pytest.raises(ValueError, match="`--streaming` needs `--max_steps`"):
        data_args.streaming_options(training_args)
    assert main(["pretrain", "--dataset", "digits", "--streaming", "--output_dir", str(tmp_path / "run")]) == 1
    assert "`--dataset digits` is embedded data" in capsys.readouterr().err


def test_an_eval_loss_needs_an_eval_split_in_the_stream(tmp_path, digits, capsys):
    folder = write_parquet_shards(tmp_path / "pq", digits["train"].select(range(16)), 2)  # no validation shard
    argv = ["pretrain", "--dataset", folder, "--streaming", "--max_steps", "2", "--eval_strategy", "steps"]
    assert main([*argv, "--output_dir", str(tmp_path / "run")]) == 1
    assert "`--eval_strategy steps` computes the loss on the eval split" in capsys.readouterr().err


def test_parquet_and_tar_shards_give_training_and_evaluation_rows(tmp_path, digits):
    train, evaluation = digits["train"].select(range(40)), digits["eval"].select(range(10))
    folder = write_parquet_shards(tmp_path / "pq", train, 4, evaluation)
    data = load_streaming_data(folder, "image", StreamingOptions(eval_size=6))
    assert (data.column, data.label_column, data.train.num_shards) == ("image", "label", 4)
    assert [len(split) for split in data.evaluation.values()] == [6, 6]
    rows = take(data.train, 45)
    assert rows[0]["image"].mode == "RGB" and sorted(r["id"] for r in rows[:40]) == list(range(40))
    assert [r[STREAM_EPOCH] for r in rows[39:41]] == [0, 1]  # the stream goes on into a reshuffled second epoch

    (tmp_path / "wds").mkdir()
    for shard in range(2):
        members = []
        for index in range(5):
            row = digits["train"][shard * 5 + index]
            members += [(f"{index:04d}.png", png(row["image"])), (f"{index:04d}.cls", str(row["label"]).encode())]
        write_tar_shard(tmp_path / "wds" / f"train-{shard:05d}.tar", members)
    tar = load_streaming_data(str(tmp_path / "wds"), "image", StreamingOptions())
    assert (tar.column, tar.train.num_shards) == ("png", 2)
    assert tar.label_column is None  # no eval split: no evaluation
    assert sorted(r["cls"] for r in take(tar.train, 10)) == sorted(digits["train"].select(range(10))["label"])


def test_pretrain_streams_parquet_shards_and_evaluates_on_rows_held_in_memory(tmp_path, digits):
    train, evaluation = digits["train"].select(range(64)), digits["eval"].select(range(30))
    folder = write_parquet_shards(tmp_path / "pq", train, 4, evaluation)
    tiny = "hidden_size=32,num_hidden_layers=1,num_attention_heads=2,predictor_hidden_size=16"
    argv = ["pretrain", "--dataset", folder, "--streaming", "--max_steps", "2", "--per_device_train_batch_size", "8"]
    argv += ["--streaming_eval_size", "24", "--random_init_baselines", "1", "--config_overrides", tiny]
    argv += ["--disable_tqdm", "true", "--dataloader_num_workers", "1", "--output_dir", str(tmp_path / "run")]
    assert main(argv) == 0
    results = json.loads((tmp_path / "run" / "eval_results.json").read_text())
    assert (results["steps"], results["num_train"], results["num_eval"]) == (2, 24, 24)


# ---- splitting ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("num_shards", [4, 1])
def test_each_row_goes_to_exactly_one_process_and_worker(tmp_path, digits, num_shards):
    """Two processes x two workers: with enough shards each reader gets whole shards, with fewer every reader keeps
    one row in four; either way an epoch covers every row once."""
    folder = write_parquet_shards(tmp_path / "pq", digits["train"].select(range(40)), num_shards)
    seen = []
    for rank in range(2):
        stream = stream_of(folder, rank=rank, world_size=2)
        rows = take(stream, 20, num_workers=2)
        assert {r[STREAM_EPOCH] for r in rows} == {0}
        seen += [r["id"] for r in rows]
    assert sorted(seen) == list(range(40))


def test_two_processes_each_read_their_own_shards_and_train_one_model(tmp_path, digits):
    """Under torchrun every process reads and decodes only its own shards (nothing dispatched from the main
    process): over one epoch the processes are given every row exactly once, and DDP keeps their weights equal."""
    folder = write_parquet_shards(tmp_path / "pq", digits["train"].select(range(40)), 4)
    ranks = run_distributed(Path(stream_worker.__file__), tmp_path / "out", args=("--data", folder))
    per_epoch = 40 // 2  # rows a process reads in one epoch
    assert per_epoch == stream_worker.STEPS * stream_worker.BATCH
    epoch_ids = []
    for rank, result in enumerate(ranks):
        assert result["world_size"] == 2 and result["stream_part"] == (rank, 2)
        ids = result["ids"][:per_epoch]
        assert len(set(ids)) == per_epoch  # no row twice within a process's epoch
        epoch_ids.append(set(ids))
    assert not epoch_ids[0] & epoch_ids[1]  # the processes' rows are disjoint ...
    assert epoch_ids[0] | epoch_ids[1] == set(range(40))  # ... and together the whole data
    for name, value in ranks[0]["weights"].items():  # one model: gradients were averaged across the processes
        torch.testing.assert_close(ranks[1]["weights"][name], value, atol=1e-6, rtol=0, msg=name)


def test_shuffling_is_keyed_by_the_seed_and_the_epoch(tmp_path, digits):
    folder = write_parquet_shards(tmp_path / "pq", digits["train"].select(range(40)), 4)
    ids = [r["id"] for r in take(stream_of(folder, seed=0), 80)]
    assert ids == [r["id"] for r in take(stream_of(folder, seed=0), 80)]
    assert ids[:40] != [r["id"] for r in take(stream_of(folder, seed=1), 40)]
    assert ids[:40] != ids[40:] and sorted(ids[:40]) == sorted(ids[40:])  # a new order every epoch
    assert ids[:40] != sorted(ids[:40])  # shuffled within the buffer, not shard after shard


# ---- exact resume ---------------------------------------------------------------------------------------------------
def _streaming_trainer(config, output_dir, folder, **kwargs):
    torch.manual_seed(0)
    model = IJEPASSLForPreTraining(config)
    args = tiny_training_args(
        output_dir, **{"max_steps": 4, "per_device_train_batch_size": 8, "dataloader_num_workers": 2, **kwargs}
    )
    collator = ImageCollator(image_transform(32, [0.5] * 3, [0.5] * 3))
    stream = stream_of(folder, buffer_size=16)
    views = RandomResizedCropFlip(32, scale=(0.3, 1.0))
    return SSLTrainer(model=model, args=args, train_dataset=stream, data_collator=collator, train_views=views)


def test_a_resumed_stream_with_workers_trains_to_the_uninterrupted_weights(tiny_ijepa_config, tmp_path, digits):
    # 24 rows in 4 shards, batches of 8: the 4 steps run into the second epoch.
    folder = write_parquet_shards(tmp_path / "pq", digits["train"].select(range(24)), 4)
    straight = _streaming_trainer(tiny_ijepa_config, tmp_path / "run", folder, save_strategy="steps", save_steps=2)
    straight.train()
    resumed = _streaming_trainer(tiny_ijepa_config, tmp_path / "resumed", folder)
    resumed.train(resume_from_checkpoint=str(tmp_path / "run" / "checkpoint-2"))
    assert resumed.state.global_step == 4
    expected, got = straight.model.state_dict(), resumed.model.state_dict()
    for name, value in expected.items():
        torch.testing.assert_close(got[name], value, atol=1e-6, rtol=0, msg=name)
    # Restarting the stream from its beginning instead would have trained on other batches.
    restarted = _streaming_trainer(tiny_ijepa_config, tmp_path / "restarted", folder, ignore_data_skip=True)
    restarted.train(resume_from_checkpoint=str(tmp_path / "run" / "checkpoint-2"))
    qkv = "context_encoder.layers.0.attn.qkv.weight"  # the online encoder (the EMA target moves too little)
    assert not torch.allclose(restarted.model.state_dict()[qkv], expected[qkv], atol=1e-6)


# ---- bad input ------------------------------------------------------------------------------------------------------
def test_rows_and_shards_that_do_not_decode_are_skipped_and_counted(tmp_path, digits, caplog):
    (tmp_path / "wds").mkdir()
    images = [(f"{i:04d}.png", png(digits["train"][i]["image"])) for i in range(15)]
    broken = [("0100.png", b"not a png"), ("0101.png", png(digits["train"][20]["image"])[:40])]
    write_tar_shard(tmp_path / "wds" / "train-00000.tar", images[:3] + broken)
    write_tar_shard(tmp_path / "wds" / "train-00001.tar", images[3:])
    with tarfile.open(tmp_path / "wds" / "train-00001.tar") as tar:
        cut = tar.getmembers()[10].offset_data + 50
    with open(tmp_path / "wds" / "train-00001.tar", "r+b") as handle:  # cut mid-stream, inside its 11th file
        handle.truncate(cut)
    stream = stream_of(tmp_path / "wds", buffer_size=2)
    with caplog.at_level(logging.WARNING, logger="hf_jepa.data.streaming"):
        rows = take(stream, 22)
    # Each epoch: the 3 good rows of shard 0 and the rows of shard 1 read before the cut (one read batch, 8).
    assert [r[STREAM_EPOCH] for r in rows] == [0] * 11 + [1] * 11
    assert (stream.skipped_rows, stream.skipped_shards) == (4, 2)
    assert "skipped row 3 of shard 0, which does not decode" in caplog.text
    assert "shard 1 failed after 8 rows in epoch 0 (ReadError" in caplog.text


def test_a_stream_where_nothing_decodes_is_an_error(tmp_path):
    (tmp_path / "wds").mkdir()
    write_tar_shard(tmp_path / "wds" / "train-00000.tar", [("0000.png", b"junk"), ("0001.png", b"junk")])
    with pytest.raises(ValueError, match=r"nothing decodes in shards \[0\].*row 0 of shard 0: UnidentifiedImage"):
        take(stream_of(tmp_path / "wds"), 1)


# ---- video ----------------------------------------------------------------------------------------------------------
def test_video_shards_stream_clips_with_windows_keyed_by_the_stream_epoch(tmp_path):
    (tmp_path / "clips").mkdir()
    rng = np.random.default_rng(0)
    members = []
    for index in range(3):
        path = tmp_path / f"{index}.mp4"
        write_video(str(path), rng.integers(0, 255, (12, 16, 16, 3), dtype=np.uint8))
        members.append((f"{index:04d}.mp4", path.read_bytes()))
    members.append(("0009.mp4", b"not a video"))
    write_tar_shard(tmp_path / "clips" / "train-00000.tar", members)
    data = load_streaming_data(str(tmp_path / "clips"), "video", StreamingOptions(), frames_per_clip=4, frame_stride=2)
    rows = take(data.train, 6, num_workers=1)  # 3 usable clips an epoch, the broken one skipped
    assert data.train.skipped_rows == 0  # counted in the worker, not here
    assert sorted(r["__key__"] for r in rows[:3]) == sorted(r["__key__"] for r in rows[3:]) == ["0000", "0001", "0002"]
    collator = VideoClipCollator(16, [0.5] * 3, [0.5] * 3, 4, 2, True, data.column)
    assert collator(rows[:2])["pixel_values_videos"].shape == (2, 4, 3, 16, 16)
    first = {r["__key__"]: r for r in rows[:3]}
    again = {r["__key__"]: r for r in rows[3:]}
    for key in first:  # a window depends on the row's epoch only, not on the collator's (stale in a worker)
        row = first[key]
        assert torch.equal(collator([row])["pixel_values_videos"], collator([dict(row)])["pixel_values_videos"])
    windows = [
        torch.equal(collator([first[k]])["pixel_values_videos"], collator([again[k]])["pixel_values_videos"])
        for k in first
    ]
    assert not all(windows)  # new windows in the next epoch


# ---- workers --------------------------------------------------------------------------------------------------------
def test_workers_default_leaves_a_core_to_training():
    assert [default_num_workers("image", cores) for cores in (1, 2, 3, 8, 64)] == [0, 1, 2, 4, 4]
    assert default_num_workers("image-text", 8) == default_num_workers("trajectory", 8) == 0
    *_, args = parse_pretrain_args([])
    assert args.dataloader_num_workers == default_num_workers("image")
    assert args.dataloader_persistent_workers == (args.dataloader_num_workers > 0)
    *_, args = parse_pretrain_args(["--dataloader_num_workers", "0"])
    assert not args.dataloader_persistent_workers  # torch refuses persistent workers without workers
    *_, args = parse_pretrain_args(["--method", "vjepa"])
    assert not args.dataloader_persistent_workers  # the video collator's epoch is set before each epoch's workers


def test_no_default_workers_where_shared_memory_cannot_carry_batches(monkeypatch, caplog):
    # Torch's worker would fail in a feeder thread and leave training waiting forever (e.g. a small /dev/shm).
    full = os.statvfs_result((4096, 4096, 1000, 10, 10, 100, 10, 10, 0, 255))
    monkeypatch.setattr(os, "statvfs", lambda path: full)
    with caplog.at_level(logging.WARNING, logger="hf_jepa.data.workers"):
        assert default_num_workers("image", 8) == 0
    assert "/dev/shm has 0 MiB free" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="hf_jepa.data.workers"):
        *_, args = parse_pretrain_args(["--dataloader_num_workers", "0"])  # asked for: nothing to warn about
    assert args.dataloader_num_workers == 0 and not caplog.text
    with caplog.at_level(logging.WARNING, logger="hf_jepa.data.workers"):
        *_, args = parse_pretrain_args(["--dataloader_num_workers", "2"])  # kept, with the risk said
    assert args.dataloader_num_workers == 2 and "may fail to hand batches over" in caplog.text


# ---- GPU JPEG decoding (benchmarks/input_pipeline.py --gpu-decode) --------------------------------------------------
@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_jpeg_decoding_matches_pil_and_is_measured(tmp_path, monkeypatch):
    import importlib.util

    import torchvision

    benchmarks = os.path.join(os.path.dirname(__file__), os.pardir, "benchmarks")
    monkeypatch.syspath_prepend(benchmarks)  # the script imports its `_results` helpers
    spec = importlib.util.spec_from_file_location("input_pipeline", os.path.join(benchmarks, "input_pipeline.py"))
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    folder = bench.write_jpeg_folder(tmp_path / "jpegs", 13)
    data = torchvision.io.read_file(str(folder / "00000.jpg"))
    on_gpu = torchvision.io.decode_jpeg(data, device="cuda", mode=torchvision.io.ImageReadMode.RGB).cpu()
    from PIL import Image

    on_cpu = torch.from_numpy(np.asarray(Image.open(folder / "00000.jpg").convert("RGB"))).permute(2, 0, 1)
    assert on_gpu.shape == on_cpu.shape
    assert (on_gpu.float() - on_cpu.float()).abs().mean() < 2.0  # IDCT implementations differ by a level or so
    assert bench.gpu_decode_rate(folder, batch_size=8, size=32, batches=2) > 0
