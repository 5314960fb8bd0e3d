"""Peer baseline for the README's LeWorldModel table: stable-worldmodel's own LeWM trained on the same Two-Room data
with the same architecture size and budget as our run, then planned on the same 50 episodes with the same planner.

What the peer is. stable-worldmodel's wheel ships the LeWM model (`stable_worldmodel.wm.lewm`: `LeWM`, `Predictor`,
`Embedder`, `MLP`; `stable_worldmodel.wm.loss.SIGReg`), its dataset readers and its CEM solver, but no training
entry point: that is `scripts/train/lewm.py` of its GitHub repository (and `train.py` of lucas-maes/le-wm), a Hydra
script on stable-pretraining (`spt.Module`, manual optimisation) and Lightning, with its `[train]` extra
(stable-pretraining, hydra-core, wandb). This script runs the same pipeline with the peer's own pieces:

- data: our recording (`hf-jepa collect`, a `datasets` folder) written once into the peer's HDF5 format with its
  `HDF5Writer`, read back with `swm.data.load_dataset` (windows of 4 frames 5 steps apart, the 20 actions reshaped
  to 4 x 10), the peer's image transform (stable-pretraining's `ToImage` with ImageNet statistics + `Resize`) and its
  z-score `column_normalizer` for `action` and `proprio`, split 90/10 by window with `spt.data.random_split`;
- model: `LeWM(encoder=vit_hf(...), predictor=Predictor, action_encoder=Embedder, projector=MLP(BatchNorm1d),
  pred_proj=MLP(BatchNorm1d))` as the peer's `lewm.yaml` builds it, sized like our run (read from its config.json);
- loss: MSE(prediction of the 3 next embeddings) + lambda * SIGReg(embeddings, per time step), the peer script's
  `lejepa_forward` restated;
- training: `spt.Module` + `lightning.Trainer` (CPU, fp32, gradient clipping 1.0), AdamW with our run's learning rate,
  betas, weight decay (biases and norms spared: the peer's `exclude_bias_norm`) and schedule (linear warm-up then
  cosine to 1 % of the peak: the peer's `LinearWarmupCosineAnnealingLR` with our warm-up and total steps; the peer
  script's own setting, warm-up 1 % of max_epochs x batches per epoch, cannot express a 300-step run);
- planning: our `hf-jepa plan` machinery (the same episodes, goals, CEM 300 / 30 / 30, horizon 5, receding horizon
  5, budget 50) through a thin adapter whose `encode` is the peer's `LeWM.encode` and whose `rollout` is the peer's
  `LeWM.rollout`; CEM searches the peer's normalised action space and the executed actions are de-normalised with
  the peer's fitted scaler, as its `WorldModelPolicy` does. Before planning, the adapter's cost is checked against
  the peer's own `LeWM.get_cost` on the same candidates. Random actions on the same episodes are replayed as a check
  that the episodes are ours.

Needs stable-worldmodel with its `[train]` extra (stable-pretraining, hydra-core, lightning, wandb; plus h5py and
hdf5plugin for the HDF5 format) and `hf_jepa[world]`; wandb is never started. Not a test: nothing in tests/ needs it.
Run (2.5 min of training and 2 min of planning per model on 2 quiet cores; several times that under load):
`python benchmarks/lewm_peer_tworoom.py --data /tmp/lewm_tworoom --ours /tmp/lewm_run1 \
  --ours_results /tmp/lewm_keep/plan_results.json --work_dir outputs/lewm_peer --ours_normalized_search`
(the last flag adds a planning-only ablation: our model planned in the peer's z-scored action space). Writes
`benchmarks/lewm_peer_tworoom_results.json` (or `--output`). Each stage (convert, train, plan) is skipped when its
output exists in `--work_dir`.
"""

import argparse
import json
import os
import threading
import time
from functools import partial
from pathlib import Path
from types import SimpleNamespace

os.environ.setdefault("WANDB_MODE", "disabled")  # never start wandb

import numpy as np  # noqa: E402
import torch  # noqa: E402

IMAGENET = dict(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])


class LoadSampler:
    """The machine's 1-minute load average, sampled every `every` seconds in a thread while a stage runs."""

    def __init__(self, every: float = 30.0):
        self.samples: list[float] = []
        self.every, self._stop = every, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while True:
            self.samples.append(read_loadavg()[0])
            if self._stop.wait(self.every):
                return

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict:
        values = self.samples or [float("nan")]
        return {"mean": round(float(np.mean(values)), 2), "min": min(values), "max": max(values), "n": len(values)}


def read_loadavg() -> list[float]:
    with open("/proc/loadavg", encoding="utf-8") as handle:
        return [float(v) for v in handle.read().split()[:3]]


# ---- data -----------------------------------------------------------------------------------------------------------
def convert(data_dir: str, h5_path: Path) -> dict:
    """Our `hf-jepa collect` folder -> the peer's HDF5 format (per step: pixels HxWx3 uint8, action, proprio)."""
    from stable_worldmodel.data import HDF5Writer

    from hf_jepa.data.trajectories import load_trajectories

    data = load_trajectories(data_dir)
    episodes = np.asarray(data["episode_index"])
    frames = np.asarray(data["frame_index"])
    if (np.diff(episodes) < 0).any() or ((np.diff(episodes) == 0) & (np.diff(frames) <= 0)).any():
        raise ValueError(f"{data_dir}: rows are not in (episode, frame) order.")
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(episodes)) + 1, [len(episodes)]])
    start = time.perf_counter()
    tmp = h5_path.with_suffix(".tmp.h5")
    with HDF5Writer(tmp, mode="overwrite") as writer:
        for begin, end in zip(bounds[:-1], bounds[1:]):
            rows = data[int(begin) : int(end)]
            writer.write_episode(
                {
                    "pixels": [np.asarray(image.convert("RGB"), dtype=np.uint8) for image in rows["image"]],
                    "action": [np.asarray(a, dtype=np.float32) for a in rows["action"]],
                    "proprio": [np.asarray(p, dtype=np.float32) for p in rows["proprio"]],
                }
            )
    tmp.rename(h5_path)
    return {"episodes": len(bounds) - 1, "steps": len(episodes), "seconds": round(time.perf_counter() - start, 1)}


def peer_dataset(h5_path: Path, cfg: dict):
    """The peer's training data pipeline (scripts/train/lewm.py's steps): reader, transforms, normalizers."""
    import stable_pretraining as spt
    import stable_worldmodel as swm
    from stable_pretraining import data as dt
    from stable_worldmodel.data import column_normalizer

    dataset = swm.data.load_dataset(
        str(h5_path),
        num_steps=cfg["history_size"] + cfg["num_preds"],
        frameskip=cfg["frameskip"],
        keys_to_load=["pixels", "action", "proprio"],
        keys_to_cache=["action", "proprio"],
    )
    image = dt.transforms.Compose(
        dt.transforms.ToImage(**dt.dataset_stats.ImageNet, source="pixels", target="pixels"),
        dt.transforms.Resize(cfg["image_size"], source="pixels", target="pixels"),
    )
    normalizers = {col: column_normalizer(dataset, col, col) for col in ("action", "proprio")}
    dataset.transform = spt.data.transforms.Compose(image, *normalizers.values())
    return dataset, normalizers


# ---- model ----------------------------------------------------------------------------------------------------------
def peer_config(ours: dict) -> dict:
    """The peer's model hyper-parameters, set to our run's sizes (config.json of `hf-jepa pretrain --method lewm`)."""
    return {
        "image_size": ours["image_size"],
        "patch_size": ours["patch_size"],
        "encoder_hidden_size": ours["hidden_size"],
        "encoder_num_hidden_layers": ours["num_hidden_layers"],
        "encoder_num_attention_heads": ours["num_attention_heads"],
        "encoder_intermediate_size": ours["intermediate_size"],
        "embed_dim": ours["embedding_size"],
        "projector_hidden_dim": ours["projection_hidden_size"],
        "predictor_depth": ours["predictor_num_hidden_layers"],
        "predictor_heads": ours["predictor_num_attention_heads"],
        "predictor_dim_head": ours["predictor_head_size"],
        "predictor_mlp_dim": ours["predictor_intermediate_size"],
        "predictor_dropout": ours["predictor_dropout"],
        "action_smoothed_dim": ours["action_smoothed_size"],
        "action_mlp_scale": ours["action_mlp_ratio"],
        "action_input_dim": ours["frameskip"] * ours["action_dim"],
        "action_dim": ours["action_dim"],
        "frameskip": ours["frameskip"],
        "history_size": ours["history_size"],
        "num_preds": ours["num_preds"],
        "sigreg_weight": ours["sigreg_weight"],
        "sigreg_knots": ours["sigreg_num_knots"],
        "sigreg_num_proj": ours["sigreg_num_slices"],
    }


def build_peer(cfg: dict):
    """stable-worldmodel's LeWM, built as its lewm.yaml does (vit_hf encoder, Predictor, Embedder, BatchNorm MLPs)."""
    from stable_pretraining.backbone.utils import vit_hf
    from stable_worldmodel.wm.lewm import LeWM
    from stable_worldmodel.wm.lewm.module import MLP, Embedder, Predictor

    encoder = vit_hf(
        "tiny",
        patch_size=cfg["patch_size"],
        image_size=cfg["image_size"],
        pretrained=False,
        use_mask_token=False,
        hidden_size=cfg["encoder_hidden_size"],
        num_hidden_layers=cfg["encoder_num_hidden_layers"],
        num_attention_heads=cfg["encoder_num_attention_heads"],
        intermediate_size=cfg["encoder_intermediate_size"],
    )
    dim = cfg["embed_dim"]
    predictor = Predictor(
        num_frames=cfg["history_size"],
        depth=cfg["predictor_depth"],
        heads=cfg["predictor_heads"],
        mlp_dim=cfg["predictor_mlp_dim"],
        input_dim=dim,
        hidden_dim=dim,
        output_dim=dim,
        dim_head=cfg["predictor_dim_head"],
        dropout=cfg["predictor_dropout"],
        emb_dropout=0.0,
    )
    action_encoder = Embedder(
        input_dim=cfg["action_input_dim"],
        smoothed_dim=cfg["action_smoothed_dim"],
        emb_dim=dim,
        mlp_scale=cfg["action_mlp_scale"],
    )
    batch_norm = partial(torch.nn.BatchNorm1d)
    projector = MLP(cfg["encoder_hidden_size"], cfg["projector_hidden_dim"], dim, norm_fn=batch_norm)
    pred_proj = MLP(dim, cfg["projector_hidden_dim"], dim, norm_fn=batch_norm)
    return LeWM(encoder, predictor, action_encoder, projector=projector, pred_proj=pred_proj)


def peer_forward(self, batch, stage, cfg):
    """The peer script's training forward: MSE of the next embeddings + lambda * SIGReg over time steps."""
    history, preds = cfg["history_size"], cfg["num_preds"]
    batch["action"] = torch.nan_to_num(batch["action"], 0.0)
    output = self.model.encode(batch)
    emb, act_emb = output["emb"], output["act_emb"]
    prediction = self.model.predict(emb[:, :history], act_emb[:, :history])
    output["pred_loss"] = (prediction - emb[:, preds:]).pow(2).mean()
    output["sigreg_loss"] = self.sigreg(emb.transpose(0, 1))
    output["loss"] = output["pred_loss"] + cfg["sigreg_weight"] * output["sigreg_loss"]
    return output


def train(args, cfg: dict, train_args: dict, h5_path: Path, model_dir: Path) -> dict:
    import lightning as pl
    import stable_pretraining as spt
    from stable_worldmodel.wm.loss import SIGReg

    pl.seed_everything(train_args["seed"], workers=True)
    dataset, normalizers = peer_dataset(h5_path, cfg)
    generator = torch.Generator().manual_seed(train_args["seed"])
    train_set, val_set = spt.data.random_split(dataset, lengths=[0.9, 0.1], generator=generator)
    loader = torch.utils.data.DataLoader(
        train_set,
        batch_size=train_args["batch_size"],
        shuffle=True,
        drop_last=True,
        num_workers=args.num_workers,
        persistent_workers=args.num_workers > 0,
        generator=generator,
    )
    model = build_peer(cfg)
    optim = {
        "model_opt": {
            "modules": "model",
            "optimizer": {
                "type": "AdamW",
                "lr": train_args["learning_rate"],
                "weight_decay": train_args["weight_decay"],
                "betas": (train_args["adam_beta1"], train_args["adam_beta2"]),
                "eps": train_args["adam_epsilon"],
                "exclude_bias_norm": True,
            },
            "scheduler": {
                "type": "LinearWarmupCosineAnnealingLR",
                "warmup_steps": train_args["warmup_steps"],
                "max_steps": train_args["max_steps"],
                "warmup_start_lr": 0.0,
                "eta_min": train_args["learning_rate"] * train_args["min_lr_rate"],
            },
            "interval": "step",
        }
    }
    module = spt.Module(
        model=model,
        sigreg=SIGReg(knots=cfg["sigreg_knots"], num_proj=cfg["sigreg_num_proj"]),
        forward=partial(peer_forward, cfg=cfg),
        optim=optim,
    )

    class Record(pl.Callback):
        def __init__(self):
            self.rows, self.first, self.last = [], None, None

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            now = time.perf_counter()
            self.first = self.first or now
            self.last = now
            self.rows.append(
                {
                    "loss": float(outputs["loss"]),
                    "pred_loss": float(outputs["pred_loss"]),
                    "sigreg_loss": float(outputs["sigreg_loss"]),
                    "lr": trainer.optimizers[0].param_groups[0]["lr"],
                }
            )

    record = Record()
    trainer = pl.Trainer(
        max_steps=train_args["max_steps"],
        accelerator="cpu",
        devices=1,
        precision="32-true",
        gradient_clip_val=train_args["max_grad_norm"],
        callbacks=[record],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
    )
    # What spt.Manager does before fit: hand the clip value to spt.Module's manual optimisation, which applies it.
    spt.Manager._prepare_manual_optimization(SimpleNamespace(instantiated_module=module, _trainer=trainer))
    start = time.perf_counter()
    with LoadSampler() as load:
        trainer.fit(module, train_dataloaders=loader)
    seconds = time.perf_counter() - start
    model_dir.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), model_dir / "weights.pt")
    scaler = normalizers["action"].lambd
    log = []
    for end in range(args.log_every, len(record.rows) + 1, args.log_every):
        chunk = record.rows[end - args.log_every : end]
        log.append({"step": end, **{k: round(float(np.mean([r[k] for r in chunk])), 6) for k in chunk[0]}})
    info = {
        "steps": trainer.global_step,
        "batch_size": train_args["batch_size"],
        "train_windows": len(train_set),
        "held_out_windows": len(val_set),
        "epochs": round(trainer.global_step * train_args["batch_size"] / len(train_set), 2),
        "parameters": sum(p.numel() for p in model.parameters()),
        "seconds_fit": round(seconds, 1),
        "seconds_first_to_last_step": round(record.last - record.first, 1),
        "log": log,
        "action_mean": np.asarray(scaler.mean).reshape(-1).tolist(),
        "action_std": np.asarray(scaler.std).reshape(-1).tolist(),
        "loadavg_1min": load.summary(),
    }
    (model_dir / "train_info.json").write_text(json.dumps(info, indent=2))
    (model_dir / "peer_config.json").write_text(json.dumps(cfg, indent=2))
    return info


# ---- planning -------------------------------------------------------------------------------------------------------
class PeerWorldModel(torch.nn.Module):
    """The peer's LeWM seen through the interface of our planner (`LatentPlanner`, `latent_goal_cost`): `encode`
    frames [N, C, H, W] -> [N, D] is `LeWM.encode`; `rollout(context [N, h, D], actions [N, h - 1 + K, A])` ->
    [N, K, D] is `LeWM.rollout` with the context's embeddings given (so the peer skips its own encoding)."""

    def __init__(self, lewm, cfg: dict):
        super().__init__()
        self.lewm = lewm
        self.config = SimpleNamespace(
            frameskip=cfg["frameskip"],
            action_dim=cfg["action_dim"],
            action_input_size=cfg["action_input_dim"],
            history_size=cfg["history_size"],
        )

    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.lewm.encode({"pixels": pixels.unsqueeze(1)})["emb"][:, 0]

    def rollout(self, context: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        count, observed = context.shape[:2]
        info = {"pixels": context.new_zeros(1, 1, 1).expand(count, 1, observed), "emb": context.unsqueeze(1)}
        predicted = self.lewm.rollout(info, actions.unsqueeze(1), history_size=self.config.history_size)
        return predicted["predicted_emb"][:, 0, observed:]


def check_adapter(adapter: PeerWorldModel, episodes, transform, candidates: int = 16, seed: int = 0) -> float:
    """Largest relative gap between our cost through the adapter and the peer's own `LeWM.get_cost` on the same
    candidates (one episode: the peer's criterion broadcasts the goal over one environment at a time)."""
    from hf_jepa.world.cem import latent_goal_cost
    from hf_jepa.world.envs import resize_frame

    size = 64
    frame, _ = episodes.envs[0].reset(episodes.seeds[0])  # the first episode's start
    pixels = transform(resize_frame(frame, size)).unsqueeze(0)
    goal = transform(resize_frame(episodes.goal_frames[0], size)).unsqueeze(0)
    generator = torch.Generator().manual_seed(seed)
    sample = torch.randn(1, candidates, 5, adapter.config.action_input_size, generator=generator)
    with torch.no_grad():
        context = adapter.encode(pixels).unsqueeze(1)
        no_past = context.new_zeros(1, 0, adapter.config.action_input_size)
        ours = latent_goal_cost(adapter, context, no_past, adapter.encode(goal))(sample)
        expand = lambda x: x.unsqueeze(1).unsqueeze(1).expand(1, candidates, 1, *x.shape[1:])  # noqa: E731
        info = {
            "pixels": expand(pixels),
            "goal": expand(goal),
            "action": torch.zeros(1, candidates, 1, adapter.config.action_input_size),
        }
        theirs = adapter.lewm.get_cost(info, sample)
    return float(((ours - theirs).abs() / theirs.abs().clamp_min(1e-6)).max())


class DenormalizedActions(torch.nn.Module):
    """A world model of the planner's interface that takes raw actions, seen as one that takes z-scored ones (the
    planning-only ablation of our model): `rollout` maps the candidates back with the scaler's statistics, tiled over
    the `frameskip` actions of a step, before the wrapped model's rollout."""

    def __init__(self, model, mean: list[float], std: list[float]):
        super().__init__()
        self.model, self.config = model, model.config
        repeat = model.config.action_input_size // len(mean)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).repeat(repeat))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).repeat(repeat))

    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model.encode(pixels)

    def rollout(self, context: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        return self.model.rollout(context, actions * self.std + self.mean)


def plan_episodes(args, episodes, model, processor, scaler=None) -> dict:
    """Our receding-horizon CEM planner on `episodes` with `model` (encode / rollout / config); with a z-score
    `scaler`, CEM searches normalised actions and the environment gets them de-normalised (the peer's policy)."""
    from hf_jepa.world.cem import CEMPlanner
    from hf_jepa.world.plan import LatentPlanner, run_episodes, summary

    cem = CEMPlanner(args.num_samples, args.num_iterations, args.num_elites)
    planner = LatentPlanner(model, processor, cem, args.horizon, args.receding_horizon, args.seed)
    planner.set_goals(episodes.goal_frames)

    def choose(frames, step, active):
        actions = np.asarray(planner(frames, step, active), dtype=np.float32)
        return actions if scaler is None else scaler.inverse_transform(actions)

    start = time.perf_counter()
    with LoadSampler() as load:
        run = run_episodes(episodes, args.eval_budget, choose)
    seconds = time.perf_counter() - start
    return summary(run, args.eval_budget) | {
        "plans": len(planner.plan_seconds),
        "mean_seconds_per_plan_batched": float(np.mean(planner.plan_seconds)),
        "mean_seconds_per_plan_per_episode": float(np.mean(planner.plan_seconds)) / args.episodes,
        "seconds": round(seconds, 1),
        "loadavg_1min": load.summary(),
    }


def plan(args, cfg: dict, model_dir: Path, train_info: dict) -> dict:
    from stable_worldmodel.data import ZScoreScaler

    from hf_jepa.data.trajectories import frame_transform
    from hf_jepa.world.plan import Episodes, load_world_model, run_episodes, summary

    lewm = build_peer(cfg)
    lewm.load_state_dict(torch.load(model_dir / "weights.pt", map_location="cpu", weights_only=True))
    adapter = PeerWorldModel(lewm.eval(), cfg).eval()
    scaler = ZScoreScaler(mean=[train_info["action_mean"]], std=[train_info["action_std"]])
    size = cfg["image_size"]
    mean, std = IMAGENET["mean"], IMAGENET["std"]
    processor = SimpleNamespace(size={"height": size, "width": size}, image_mean=mean, image_std=std)
    episodes = Episodes(args.env, args.episodes, args.goal_offset, args.seed)
    gap = check_adapter(adapter, episodes, frame_transform((size, size), mean, std))
    if gap > 1e-4:
        raise RuntimeError(f"The adapter's cost differs from the peer's LeWM.get_cost by {gap:.2e} (relative).")
    results = {"peer": plan_episodes(args, episodes, adapter, processor, scaler)}
    results["peer"]["adapter_vs_peer_get_cost_max_relative_gap"] = gap
    if args.ours_normalized_search:
        ours, our_processor = load_world_model(args.ours)
        wrapped = DenormalizedActions(ours, train_info["action_mean"], train_info["action_std"]).eval()
        results["ours_normalized_search"] = plan_episodes(args, episodes, wrapped, our_processor, scaler)
    rng = np.random.default_rng(args.seed)
    random = run_episodes(
        episodes, args.eval_budget, lambda frames, step, active: [episodes.envs[0].random_action(rng) for _ in frames]
    )
    results["random_replayed"] = summary(random, args.eval_budget)
    return results


# ---- main -----------------------------------------------------------------------------------------------------------
def our_training_args(folder: str) -> dict:
    """Our run's optimiser settings, from its training_args.bin (a pickled SSLTrainingArguments)."""
    import hf_jepa  # noqa: F401  (the pickle names hf_jepa's argument class)

    saved = torch.load(Path(folder, "training_args.bin"), weights_only=False).to_dict()
    if saved["lr_scheduler_type"] not in ("cosine_with_min_lr", "cosine"):
        raise ValueError(f"{folder} used the {saved['lr_scheduler_type']} schedule; only cosine is mirrored here.")
    keys = ("learning_rate", "weight_decay", "adam_beta1", "adam_beta2", "adam_epsilon", "warmup_steps")
    return {k: saved[k] for k in keys} | {
        "max_steps": saved["max_steps"],
        "batch_size": saved["per_device_train_batch_size"] * saved["gradient_accumulation_steps"],
        "max_grad_norm": saved["max_grad_norm"],
        "seed": saved["seed"],
        "min_lr_rate": (saved.get("lr_scheduler_kwargs") or {}).get("min_lr_rate", 0.0),
        "lr_scheduler_type": saved["lr_scheduler_type"],
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="Our recorded Two-Room dataset (hf-jepa collect).")
    parser.add_argument("--ours", required=True, help="Our trained model folder (hf-jepa pretrain --method lewm).")
    parser.add_argument("--ours_results", required=True, help="Our plan_results.json (hf-jepa plan).")
    parser.add_argument("--work_dir", default="outputs/lewm_peer", help="HDF5 data and the peer's weights go here.")
    parser.add_argument("--output", default=str(Path(__file__).with_name("lewm_peer_tworoom_results.json")))
    parser.add_argument("--max_steps", type=int, default=None, help="Override our run's steps (smoke tests only).")
    parser.add_argument("--train_seed", type=int, default=None, help="Override our run's training seed.")
    parser.add_argument("--train_only", action="store_true", help="Stop after training (a timing run).")
    parser.add_argument(
        "--ours_normalized_search",
        action="store_true",
        help="Also plan with OUR model (--ours) while CEM searches z-scored actions as the peer's policy does (a "
        "planning-only ablation: the model is unchanged).",
    )
    parser.add_argument("--num_workers", type=int, default=1, help="Data-loader workers (our run: 1).")
    parser.add_argument("--log_every", type=int, default=25, help="Steps per row of the loss log (ours: 25).")
    parser.add_argument("--env", default="swm/TwoRoom-v1")
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--goal_offset", type=int, default=25)
    parser.add_argument("--eval_budget", type=int, default=50)
    parser.add_argument("--horizon", type=int, default=5)
    parser.add_argument("--receding_horizon", type=int, default=5)
    parser.add_argument("--num_samples", type=int, default=300)
    parser.add_argument("--num_iterations", type=int, default=30)
    parser.add_argument("--num_elites", type=int, default=30)
    parser.add_argument("--seed", type=int, default=42, help="Episode i resets with seed + i; CEM draws from seed.")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    from importlib.metadata import version

    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    ours_config = json.loads(Path(args.ours, "config.json").read_text())
    cfg = peer_config(ours_config)
    train_args = our_training_args(args.ours)
    if args.train_seed is not None:
        train_args["seed"] = args.train_seed
    if args.max_steps is not None:
        train_args["max_steps"] = args.max_steps
        train_args["warmup_steps"] = min(train_args["warmup_steps"], max(1, args.max_steps // 10))

    h5_path = work / "tworoom.h5"
    if not h5_path.exists():
        print(f"Converting {args.data} -> {h5_path} ...", flush=True)
        print(convert(args.data, h5_path), flush=True)
    model_dir = work / "model"
    if (model_dir / "train_info.json").exists():
        train_info = json.loads((model_dir / "train_info.json").read_text())
    else:
        print(f"Training the peer LeWM for {train_args['max_steps']} steps ...", flush=True)
        train_info = train(args, cfg, train_args, h5_path, model_dir)
    print({k: v for k, v in train_info.items() if k != "log"}, flush=True)
    if args.train_only:
        return
    planning = plan(args, cfg, model_dir, train_info)
    ours = json.loads(Path(args.ours_results).read_text())
    keys = ("success_rate", "successes", "mean_final_distance", "mean_episode_length")
    results = {
        "env": args.env,
        "episodes": args.episodes,
        "goal_offset": args.goal_offset,
        "seed": args.seed,
        "device": "cpu",
        "planner": {
            k: getattr(args, k) for k in ("horizon", "receding_horizon", "num_samples", "num_iterations", "num_elites")
        }
        | {"frameskip": cfg["frameskip"], "eval_budget": args.eval_budget, "implementation": "hf_jepa.world (ours)"},
        "peer": {
            "implementation": "stable_worldmodel.wm.lewm.LeWM (stable-worldmodel "
            f"{version('stable-worldmodel')}), trained with stable-pretraining {version('stable-pretraining')} "
            f"(spt.Module) and lightning {version('lightning')}",
            "config": cfg,
            "training_args": train_args,
            "training": train_info,
            "planning": planning["peer"],
        },
        "ours": {"model": args.ours, **{k: ours["lewm"][k] for k in keys}}
        | {k: ours["lewm"][k] for k in ("mean_seconds_per_plan_batched", "mean_seconds_per_plan_per_episode")},
        "random": {k: ours["random"][k] for k in keys},
        **(
            {"ours_normalized_search": planning["ours_normalized_search"]}
            if "ours_normalized_search" in planning
            else {}
        ),
        "random_replayed_here": {k: planning["random_replayed"][k] for k in keys},
        "torch": torch.__version__,
    }
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    peer = planning["peer"]
    print(
        f"Peer LeWM (stable-worldmodel): {peer['success_rate']:.0%} success ({peer['successes']}/{args.episodes}), "
        f"final distance {peer['mean_final_distance']:.1f}; ours {ours['lewm']['success_rate']:.0%}; random "
        f"{ours['random']['success_rate']:.0%} (replayed here: {planning['random_replayed']['success_rate']:.0%}). "
        f"Wrote {args.output}."
    )


if __name__ == "__main__":
    main()
