"""The paper's physical-quantity probe: how linearly a world model's frame embedding holds the agent's state (the
recorded `proprio`, Two-Room's agent position), next to the same architecture at random initialisation."""

from dataclasses import dataclass

import numpy as np
import torch

from ..data.trajectories import frame_transform, load_trajectories, resolve_trajectory_columns


@torch.no_grad()
def embed_frames(model, images, transform, batch_size: int = 256) -> np.ndarray:
    model.eval()
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(images), batch_size):
        pixels = torch.stack([transform(image.convert("RGB")) for image in images[start : start + batch_size]])
        out.append(model.encode(pixels.to(device)).float().cpu())
    return torch.cat(out).numpy()


@dataclass
class ProbeFrames:
    """Recorded frames to fit a position probe on: images (PIL), the agent's state at each [N, P], and which frames
    belong to the held-out episodes [N] (bool)."""

    images: list
    targets: np.ndarray
    held_out: np.ndarray


def probe_frames(dataset, max_frames: int = 2000, seed: int = 0) -> ProbeFrames:
    """Up to `max_frames` frames of a trajectory dataset (a folder or Hub name written by `hf-jepa collect`, or a
    loaded `datasets.Dataset`), drawn at random, with their `proprio`; a fifth of the episodes (at least one) held
    out."""
    name = dataset if isinstance(dataset, str) else "The dataset"
    data = load_trajectories(dataset) if isinstance(dataset, str) else dataset
    columns = resolve_trajectory_columns(data)
    if "proprio" not in data.column_names or not len(data[0]["proprio"]):
        raise ValueError(f"`{name}` has no `proprio` column to probe (record it with `hf-jepa collect`).")
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.permutation(len(data))[:max_frames])
    subset = data.select(rows)
    episodes = np.asarray(subset[columns.episode])
    unique = np.unique(episodes)
    held = np.isin(episodes, rng.permutation(unique)[: max(1, len(unique) // 5)])
    return ProbeFrames(subset[columns.image], np.asarray(subset["proprio"], dtype=np.float64), held)


class PositionProbe:
    """Ridge regression (penalty chosen by cross-validation) from standardised embeddings [N, D] to states [N, P]."""

    def __init__(self, features: np.ndarray, targets: np.ndarray):
        from sklearn.linear_model import RidgeCV

        self.mean, self.std = features.mean(0), features.std(0) + 1e-6
        self.ridge = RidgeCV(alphas=np.logspace(-3, 3, 13)).fit((features - self.mean) / self.std, targets)

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Embeddings [N, D] -> probed states [N, P]."""
        return self.ridge.predict((np.asarray(features) - self.mean) / self.std)


def fit_position_probe(model, frames: ProbeFrames, processor) -> tuple[PositionProbe, float]:
    """The probe of `model`'s embedding fitted on the frames of the kept episodes, and its R^2 on the held-out ones."""
    from sklearn.metrics import r2_score

    size = (processor.size["height"], processor.size["width"])
    transform = frame_transform(size, processor.image_mean, processor.image_std)
    features = embed_frames(model, frames.images, transform)
    held, targets = frames.held_out, frames.targets
    probe = PositionProbe(features[~held], targets[~held])
    return probe, float(r2_score(targets[held], probe.predict(features[held])))


def position_probe(models: dict, dataset: str, processor, max_frames: int = 2000, seed: int = 0) -> dict:
    """R^2 on held-out episodes (20 %) of a ridge regression from each model's embedding to `proprio`. `models`:
    name -> `LeWMForPreTraining`. Frames: up to `max_frames`, drawn at random."""
    frames = probe_frames(dataset, max_frames, seed)
    results = {"frames": len(frames.targets), "held_out_frames": int(frames.held_out.sum())}
    for name, model in models.items():
        results[f"{name}_r2"] = fit_position_probe(model, frames, processor)[1]
    return results


@torch.no_grad()
def surprise(model, dataset: str, processor, windows: int = 256, seed: int = 0) -> dict:
    """The paper's violation-of-expectation test: the prediction error ("surprise") of the last frame of real
    windows, and of the same windows whose last frame is swapped for a frame of another episode (a teleport the
    actions cannot explain). Returns both mean surprises and how often the teleported window is the more surprising
    (0.5: the model cannot tell)."""
    from ..data.trajectories import trajectory_windows

    model.eval()
    device = next(model.parameters()).device
    data = trajectory_windows(dataset, model.config, processor, eval_fraction=0.0, seed=seed)["train"]
    rng = np.random.default_rng(seed)
    picked = rng.permutation(len(data))[: min(windows, len(data))]
    batch = [data[int(i)] for i in picked]
    frames = torch.stack([item["pixel_values"] for item in batch]).to(device)
    actions = torch.nan_to_num(torch.stack([item["actions"] for item in batch]).to(device), 0.0)
    swapped = frames.clone()
    swapped[:, -1] = frames[torch.roll(torch.arange(len(batch)), 1), -1]  # another window's (episode's) last frame
    history = model.config.history_size

    def last_error(pixels):
        embeddings = model.encode(pixels)
        predicted = model.predict(embeddings[:, :history], actions[:, :history])[:, -1]
        return (predicted - embeddings[:, -1]).square().mean(-1)

    real, teleported = last_error(frames), last_error(swapped)
    return {
        "windows": len(batch),
        "real_surprise": float(real.mean()),
        "teleport_surprise": float(teleported.mean()),
        "teleport_more_surprising": float((teleported > real).float().mean()),
    }


__all__ = [
    "PositionProbe",
    "ProbeFrames",
    "embed_frames",
    "fit_position_probe",
    "position_probe",
    "probe_frames",
    "surprise",
]
