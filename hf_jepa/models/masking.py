"""Mask samplers that run on the batch's device, batched over samples. Every mask is an index tensor."""

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F


def _check_generator(device: torch.device, generator: torch.Generator | None) -> None:
    if generator is not None and torch.device(generator.device).type != torch.device(device).type:
        raise ValueError(
            f"`generator` lives on {generator.device} but masks are sampled on {device}: create it with "
            f"`torch.Generator(device={str(device)!r})`."
        )


def first_true_indices(mask: torch.Tensor, length: int) -> torch.Tensor:
    """Ascending positions of the first `length` True entries of each row: [B, N] bool -> [B, length] int64, what
    the official collators get from `torch.nonzero(mask)[:length]`. Rows need at least `length` True entries.

    A running count gives each True entry its output slot; entries past `length` (and False ones) go to a spare
    column that is dropped: linear time, no sort.
    """
    slot = mask.to(torch.int64).cumsum(dim=1) - 1  # [B, N]
    slot = torch.where(mask & (slot < length), slot, length)
    positions = torch.arange(mask.shape[1], device=mask.device).expand_as(slot)
    out = torch.empty(mask.shape[0], length + 1, dtype=torch.int64, device=mask.device)
    return out.scatter_(1, slot, positions)[:, :length]


class MultiBlockMaskGenerator:
    """I-JEPA multi-block masks for a batch, sampled on `device` without a Python loop over samples.

    Follows the official collator: one target block size and one context block size per batch (a single uniform
    draw sets both scale and aspect ratio of a block, as officially), a top-left corner per sample and block drawn
    from `[0, H - h)` (the official exclusive bound), the context block cut by every target block, and context
    positions re-drawn up to 20 times when fewer than `min_keep + 1` tokens survive, dropping the last target
    constraint after each 20 failed draws. Here all draws of a sample are made at once and the first valid one is
    kept, which gives the same distribution as the official sequential retries.

    Returns `context_idx [B, Kc]` and `target_idx [B, num_targets, Kt]` (int64, ascending). Every target block of
    a batch has the same `Kt = h * w` tokens; context lengths are equalised to the shortest of the batch by keeping
    its first `Kc` positions, as officially. Reading `Kt` and `Kc` is the one device-to-host sync per batch.
    """

    tries_per_level = 20  # the official collator's timeout before relaxing a constraint

    def __init__(
        self,
        grid_size: tuple[int, int] = (14, 14),
        num_targets: int = 4,
        target_scale: tuple[float, float] = (0.15, 0.2),
        target_aspect_ratio: tuple[float, float] = (0.75, 1.5),
        context_scale: tuple[float, float] = (0.85, 1.0),
        context_aspect_ratio: tuple[float, float] = (1.0, 1.0),
        min_keep: int = 10,
    ):
        self.grid_size = (int(grid_size[0]), int(grid_size[1]))
        self.num_targets = int(num_targets)
        self.target_scale = tuple(target_scale)
        self.target_aspect_ratio = tuple(target_aspect_ratio)
        self.context_scale = tuple(context_scale)
        self.context_aspect_ratio = tuple(context_aspect_ratio)
        self.min_keep = int(min_keep)
        self._validate()

    def _validate(self) -> None:
        height, width = self.grid_size
        if height < 2 or width < 2:
            raise ValueError(f"`grid_size` must be at least 2x2, got {self.grid_size}.")
        if self.num_targets < 1:
            raise ValueError(f"`num_targets` must be >= 1, got {self.num_targets}.")
        for name in ("target_scale", "target_aspect_ratio", "context_scale", "context_aspect_ratio"):
            low, high = getattr(self, name)
            if not 0 < low <= high:
                raise ValueError(f"`{name}` must be a range (low, high) with 0 < low <= high, got {(low, high)}.")
        # The official loop never ends when a block can hold at most `min_keep` tokens: refuse such settings.
        for name in ("target", "context"):
            smallest = min(h * w for h, w in self._block_sizes_at([i / 100 for i in range(101)], name))
            if smallest <= self.min_keep:
                raise ValueError(
                    f"with `grid_size`={self.grid_size} and `{name}_scale`={getattr(self, name + '_scale')} a "
                    f"{name} block can have only {smallest} tokens, but `min_keep`={self.min_keep} requires more: "
                    f"lower `min_keep` or raise the scale."
                )

    def _block_sizes_at(self, draws, name):
        scale, aspect = getattr(self, f"{name}_scale"), getattr(self, f"{name}_aspect_ratio")
        height, width = self.grid_size
        for u in draws:
            keep = int(height * width * (scale[0] + u * (scale[1] - scale[0])))
            ratio = aspect[0] + u * (aspect[1] - aspect[0])
            yield (min(round(math.sqrt(keep * ratio)), height - 1), min(round(math.sqrt(keep / ratio)), width - 1))

    def _block_size(self, u: torch.Tensor, scale, aspect) -> tuple[torch.Tensor, torch.Tensor]:
        """Official `_sample_block_size` on device: one uniform `u` sets scale and aspect ratio. float64 keeps
        `int()` and `round()` identical to the Python arithmetic of the reference."""
        height, width = self.grid_size
        keep = torch.floor(height * width * (scale[0] + u * (scale[1] - scale[0])))
        ratio = aspect[0] + u * (aspect[1] - aspect[0])
        block_h = torch.round(torch.sqrt(keep * ratio)).clamp(max=height - 1).long()
        block_w = torch.round(torch.sqrt(keep / ratio)).clamp(max=width - 1).long()
        return block_h, block_w

    def _corners(self, shape, block_h, block_w, device, generator):
        """Top-left corners uniform in [0, H - h) x [0, W - w) for every entry of `shape`."""
        height, width = self.grid_size
        top, left = torch.rand((2, *shape), device=device, generator=generator)
        return (top * (height - block_h)).long(), (left * (width - block_w)).long()

    def _rectangles(self, top, left, block_h, block_w) -> torch.Tensor:
        """Boolean [..., H, W] masks of the blocks whose corners are `top`, `left` [...]."""
        height, width = self.grid_size
        rows = torch.arange(height, device=top.device)
        cols = torch.arange(width, device=top.device)
        in_rows = ((rows >= top[..., None]) & (rows < (top + block_h)[..., None])).to(torch.uint8)  # [..., H]
        in_cols = ((cols >= left[..., None]) & (cols < (left + block_w)[..., None])).to(torch.uint8)  # [..., W]
        return (in_rows[..., :, None] * in_cols[..., None, :]).bool()  # uint8 product: faster than bool `&` on CPU

    def _sample(self, batch_size: int, device: torch.device, generator: torch.Generator | None):
        """Everything on device: target corners [B, T] and size, context mask [B, H, W] (bool)."""
        height, width = self.grid_size
        size_draws = torch.rand(2, device=device, generator=generator, dtype=torch.float64)
        target_h, target_w = self._block_size(size_draws[0], self.target_scale, self.target_aspect_ratio)
        context_h, context_w = self._block_size(size_draws[1], self.context_scale, self.context_aspect_ratio)

        top, left = self._corners((batch_size, self.num_targets), target_h, target_w, device, generator)
        targets = self._rectangles(top, left, target_h, target_w)  # [B, T, H, W]

        # allowed[:, r] = tokens outside the first (T - r) targets: level r has dropped the last r constraints.
        union = [targets[:, 0]]
        for k in range(1, self.num_targets):
            union.append(union[-1] | targets[:, k])
        allowed = torch.stack([~u for u in reversed(union)] + [torch.ones_like(union[0])], dim=1)  # [B, T+1, H, W]

        # Count the allowed tokens of every candidate block with a summed-area table: O(1) per candidate. float32
        # counts are exact here (at most H * W) and its cumsum is much faster than int32's on CPU.
        table = F.pad(allowed.float().cumsum(2).cumsum(3), (1, 0, 1, 0)).flatten(2)  # [B, T+1, (H+1)(W+1)]
        tries = (batch_size, self.num_targets + 1, self.tries_per_level)
        c_top, c_left = self._corners(tries, context_h, context_w, device, generator)
        rows = torch.cat([c_top + context_h, c_top, c_top + context_h, c_top], dim=2)
        cols = torch.cat([c_left + context_w, c_left + context_w, c_left, c_left], dim=2)
        corners = torch.gather(table, 2, rows * (width + 1) + cols).view(*tries[:2], 4, self.tries_per_level)
        counts = corners[:, :, 0] - corners[:, :, 1] - corners[:, :, 2] + corners[:, :, 3]  # [B, T + 1, tries]

        # First valid draw in the official order (level 0 tries, then level 1, ...); argmax returns the first max.
        choice = (counts > self.min_keep).flatten(1).to(torch.uint8).argmax(dim=1, keepdim=True)  # [B, 1]
        level = torch.div(choice, self.tries_per_level, rounding_mode="floor")
        chosen_top = c_top.flatten(1).gather(1, choice)[:, 0]
        chosen_left = c_left.flatten(1).gather(1, choice)[:, 0]
        constraint = allowed.gather(1, level[:, :, None, None].expand(-1, 1, height, width))[:, 0]
        context = self._rectangles(chosen_top, chosen_left, context_h, context_w) & constraint  # [B, H, W]
        return context, targets, (top, left, target_h, target_w)

    def sample_block_masks(
        self, batch_size: int, device: torch.device | str = "cpu", generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Masks before equalisation: context [B, H, W] and targets [B, num_targets, H, W], boolean."""
        device = torch.device(device)
        _check_generator(device, generator)
        context, targets, _ = self._sample(batch_size, device, generator)
        return context, targets

    def __call__(
        self, batch_size: int, device: torch.device | str = "cpu", generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        device = torch.device(device)
        _check_generator(device, generator)
        context, _, (top, left, target_h, target_w) = self._sample(batch_size, device, generator)
        context = context.flatten(1)  # [B, N]
        # The single host read of the batch: the target block size and the equalised context length.
        height_t, width_t, context_len = torch.stack([target_h, target_w, context.sum(1).min()]).tolist()
        # Targets are rectangles: their raster-order indices follow from the corner, no sorting needed.
        rows = top[..., None] + torch.arange(height_t, device=device)  # [B, T, h]
        cols = left[..., None] + torch.arange(width_t, device=device)  # [B, T, w]
        target_idx = (rows[..., :, None] * self.grid_size[1] + cols[..., None, :]).flatten(2)  # [B, T, h * w]
        return first_true_indices(context, context_len), target_idx


class RandomMask(NamedTuple):
    """MAE masking: `keep_idx [B, K]` visible tokens, `masked_idx [B, N - K]` hidden tokens (both in noise order),
    `ids_restore [B, N]` the inverse permutation of their concatenation."""

    keep_idx: torch.Tensor
    masked_idx: torch.Tensor
    ids_restore: torch.Tensor


class RandomMaskGenerator:
    """Per-sample uniform random masking (MAE): argsort of per-sample noise, keep the first `N * (1 - ratio)`."""

    def __init__(self, mask_ratio: float = 0.75):
        if not 0.0 <= mask_ratio < 1.0:
            raise ValueError(f"`mask_ratio` must be in [0, 1), got {mask_ratio}.")
        self.mask_ratio = float(mask_ratio)

    def num_kept(self, num_patches: int) -> int:
        return int(num_patches * (1 - self.mask_ratio))

    def __call__(
        self,
        batch_size: int,
        num_patches: int,
        device: torch.device | str = "cpu",
        generator: torch.Generator | None = None,
        noise: torch.Tensor | None = None,
    ) -> RandomMask:
        device = torch.device(device)
        _check_generator(device, generator)
        if noise is None:
            noise = torch.rand(batch_size, num_patches, device=device, generator=generator)
        elif noise.shape != (batch_size, num_patches):
            raise ValueError(f"`noise` must have shape {(batch_size, num_patches)}, got {tuple(noise.shape)}.")
        ids_shuffle = torch.argsort(noise, dim=1)  # ascending: small noise is kept
        ids_restore = torch.argsort(ids_shuffle, dim=1)
        keep = self.num_kept(num_patches)
        return RandomMask(ids_shuffle[:, :keep], ids_shuffle[:, keep:], ids_restore)
