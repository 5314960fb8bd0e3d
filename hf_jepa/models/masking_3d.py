"""V-JEPA's 3-D multi-block masks, sampled on the batch's device, batched over samples."""

import math
from dataclasses import asdict, dataclass

import torch

from .masking import _check_generator, first_true_indices


@dataclass(frozen=True)
class BlockMaskSet:
    """One mask set: the target is the union of `num_blocks` spatio-temporal blocks, the context its complement.

    Args:
        num_blocks: blocks per sample.
        spatial_scale: (low, high) area of a block as a fraction of the frame's token grid.
        temporal_scale: (low, high) duration of a block as a fraction of the clip's time steps.
        aspect_ratio: (low, high) height / width of a block.
        max_temporal_keep: the context only spans this fraction of the time steps (later ones are all target).
    """

    num_blocks: int = 8
    spatial_scale: tuple[float, float] = (0.15, 0.15)
    temporal_scale: tuple[float, float] = (1.0, 1.0)
    aspect_ratio: tuple[float, float] = (0.75, 1.5)
    max_temporal_keep: float = 1.0

    @classmethod
    def from_dict(cls, values: dict) -> "BlockMaskSet":
        unknown = set(values) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(
                f"Unknown mask set keys {sorted(unknown)}; expected some of {list(cls.__dataclass_fields__)}."
            )
        ranges = ("spatial_scale", "temporal_scale", "aspect_ratio")
        return cls(**{k: tuple(v) if k in ranges else v for k, v in values.items()})

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


# The official V-JEPA / V-JEPA 2 recipe: 8 short-range blocks of 15% area and 2 long-range blocks of 70% area, all
# spanning the whole clip, aspect ratio 0.75-1.5.
VJEPA_MASK_SETS = (BlockMaskSet(8, (0.15, 0.15)), BlockMaskSet(2, (0.7, 0.7)))


class MultiBlock3DMaskGenerator:
    """V-JEPA multi-block masks for a batch of clips, one (context, target) pair per mask set, on `device`.

    Follows the official collator: per batch one block size per mask set (duration, height, width from three
    uniform draws shared by the sets, as officially: `t = max(1, int(T * temporal))`, `n = int(H * W * spatial)`,
    `h = round(sqrt(n * ar))`, `w = round(sqrt(n / ar))`, clipped to the grid); per sample and block a start, top and
    left uniform over every position where the block fits; target = union of the blocks (plus every time step past
    `max_temporal_keep`), context = the rest; a sample whose blocks cover everything is redrawn. Here `tries` draws
    per sample are made at once and the first with a non-empty context is kept (the distribution of the official
    redraw loop). Lengths are equalised to the batch's shortest by keeping the first `K` positions in raster order,
    as officially.

    Returns a list over mask sets of `(context_idx [B, Kc], target_idx [B, Kt])`, int64 and ascending. Reading the
    `Kc`, `Kt` of every set is the one device-to-host sync per batch.
    """

    tries = 8

    def __init__(self, grid_size: tuple[int, int, int] = (8, 14, 14), mask_sets=VJEPA_MASK_SETS):
        if len(grid_size) != 3 or min(grid_size) < 1:
            raise ValueError(f"`grid_size` must be (time, height, width) token counts, got {tuple(grid_size)}.")
        self.grid_size = tuple(int(g) for g in grid_size)
        self.mask_sets = tuple(m if isinstance(m, BlockMaskSet) else BlockMaskSet.from_dict(m) for m in mask_sets)
        if not self.mask_sets:
            raise ValueError("`mask_sets` is empty: give at least one mask set.")
        for index, mask_set in enumerate(self.mask_sets):
            self._validate(index, mask_set)

    @staticmethod
    def _validate(index: int, mask_set: BlockMaskSet) -> None:
        if mask_set.num_blocks < 1:
            raise ValueError(f"mask set {index}: `num_blocks` must be >= 1, got {mask_set.num_blocks}.")
        for name in ("spatial_scale", "temporal_scale", "aspect_ratio"):
            low, high = getattr(mask_set, name)
            limit = math.inf if name == "aspect_ratio" else 1.0
            if not 0 < low <= high <= limit:
                raise ValueError(f"mask set {index}: `{name}` must be a range 0 < low <= high, got {(low, high)}.")
        if not 0 < mask_set.max_temporal_keep <= 1:
            raise ValueError(
                f"mask set {index}: `max_temporal_keep` must be in (0, 1], got {mask_set.max_temporal_keep}."
            )

    def _block_size(self, draws: torch.Tensor, mask_set: BlockMaskSet) -> tuple[torch.Tensor, ...]:
        """Official `_sample_block_size` on device from three uniform draws; float64 keeps `int()` / `round()` equal
        to the reference's Python arithmetic."""
        frames, height, width = self.grid_size
        (t0, t1), (s0, s1), (a0, a1) = mask_set.temporal_scale, mask_set.spatial_scale, mask_set.aspect_ratio
        duration = torch.floor(frames * (t0 + draws[0] * (t1 - t0))).clamp(min=1)
        area = torch.floor(height * width * (s0 + draws[1] * (s1 - s0)))
        ratio = a0 + draws[2] * (a1 - a0)
        block_h = torch.round(torch.sqrt(area * ratio)).clamp(max=height)
        block_w = torch.round(torch.sqrt(area / ratio)).clamp(max=width)
        return duration.long(), block_h.long(), block_w.long()

    def _sample_targets(
        self, batch: int, mask_set: BlockMaskSet, size_draws: torch.Tensor, device, generator
    ) -> tuple[torch.Tensor, ...]:
        """Target masks [B, T, H, W] (bool) of the first draw with some context, and whether every sample had one."""
        frames, height, width = self.grid_size
        size = self._block_size(size_draws, mask_set)
        starts = torch.rand(3, batch, self.tries, mask_set.num_blocks, device=device, generator=generator)
        inside = []
        for axis_len, block_len, start_draw in zip(self.grid_size, size, starts):
            start = (start_draw * (axis_len - block_len + 1)).long()  # uniform over [0, len - block]
            positions = torch.arange(axis_len, device=device)
            inside.append((positions >= start[..., None]) & (positions < (start + block_len)[..., None]))
        in_t, in_h, in_w = (x.float() for x in inside)  # [B, tries, blocks, axis]
        # Blocks are separable: token (t, h, w) is covered by block k iff in_t[k, t] and in_h[k, h] and in_w[k, w].
        # Counting the covering blocks of every token is one batched matmul over k (exact small integers in float).
        area = (in_h[..., :, None] * in_w[..., None, :]).flatten(-2)  # [B, tries, blocks, H * W]
        covered = in_t.transpose(-1, -2) @ area  # [B, tries, T, H * W]
        target = (covered > 0).view(batch, self.tries, frames, height, width)  # union of the blocks
        context_frames = max(1, int(frames * mask_set.max_temporal_keep))
        if context_frames < frames:
            target[:, :, context_frames:] = True
        has_context = ~target.flatten(2).all(dim=2)  # [B, tries]
        choice = has_context.to(torch.uint8).argmax(dim=1)  # first draw with context (argmax returns the first max)
        target = target[torch.arange(batch, device=device), choice]
        return target, has_context.any(dim=1).all()

    def sample_block_masks(
        self, batch_size: int, device: torch.device | str = "cpu", generator: torch.Generator | None = None
    ) -> list[torch.Tensor]:
        """Target masks before equalisation, one [B, T, H, W] boolean tensor per mask set."""
        device = torch.device(device)
        _check_generator(device, generator)
        draws = self._size_draws(device, generator)
        return [self._sample_targets(batch_size, m, draws, device, generator)[0] for m in self.mask_sets]

    @staticmethod
    def _size_draws(device, generator) -> torch.Tensor:
        """The batch's three block-size draws, shared by every mask set: the official collator seeds each set's size
        generator with the same step counter, so all sets of a batch use the same draws."""
        return torch.rand(3, device=device, generator=generator, dtype=torch.float64)

    def __call__(
        self, batch_size: int, device: torch.device | str = "cpu", generator: torch.Generator | None = None
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        device = torch.device(device)
        _check_generator(device, generator)
        for _ in range(100):  # a redraw only happens when all `tries` draws of a sample covered the whole clip
            draws = self._size_draws(device, generator)
            sampled = [self._sample_targets(batch_size, m, draws, device, generator) for m in self.mask_sets]
            targets = [t.flatten(1) for t, _ in sampled]  # [B, N] each
            lengths = [torch.stack([(~t).sum(1).min(), t.sum(1).min()]) for t in targets]
            valid = torch.stack([v for _, v in sampled]).all()
            # The single host read of the batch: every set's context and target lengths, and the validity flag.
            read = torch.cat(lengths + [valid.long()[None]]).tolist()
            if read[-1]:
                break
        else:
            raise ValueError(
                "The mask sets cover every token of most clips, leaving no context: lower `num_blocks` or the scales."
            )
        return [
            (first_true_indices(~target, read[2 * i]), first_true_indices(target, read[2 * i + 1]))
            for i, target in enumerate(targets)
        ]


__all__ = ["BlockMaskSet", "MultiBlock3DMaskGenerator", "VJEPA_MASK_SETS"]
