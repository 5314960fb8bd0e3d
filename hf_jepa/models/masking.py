"""Mask samplers that run on the batch's device, batched over samples. Every mask is an index tensor."""

import math
from typing import NamedTuple

import torch


def _check_generator(device: torch.device, generator: torch.Generator | None) -> None:
    if generator is not None and torch.device(generator.device).type != torch.device(device).type:
        raise ValueError(
            f"`generator` lives on {generator.device} but masks are sampled on {device}: create it with "
            f"`torch.Generator(device={str(device)!r})`."
        )


def indices_of_true(mask: torch.Tensor, length: int) -> torch.Tensor:
    """Ascending positions of the first `length` True entries of each row: [..., N] bool -> [..., length] int64.

    A stable sort of the negated mask puts True entries first in raster order, which is what the official
    collators get from `torch.nonzero(mask)[:length]`.
    """
    order = torch.argsort((~mask).to(torch.uint8), dim=-1, stable=True)
    return order[..., :length]


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
        top = torch.rand(shape, device=device, generator=generator, dtype=torch.float64) * (height - block_h)
        left = torch.rand(shape, device=device, generator=generator, dtype=torch.float64) * (width - block_w)
        return top.long(), left.long()

    def _rectangles(self, top, left, block_h, block_w) -> torch.Tensor:
        """Boolean [..., H, W] masks of the blocks whose corners are `top`, `left` [...]."""
        height, width = self.grid_size
        rows = torch.arange(height, device=top.device)
        cols = torch.arange(width, device=top.device)
        in_rows = (rows >= top[..., None]) & (rows < (top + block_h)[..., None])  # [..., H]
        in_cols = (cols >= left[..., None]) & (cols < (left + block_w)[..., None])  # [..., W]
        return in_rows[..., :, None] & in_cols[..., None, :]

    def sample_block_masks(
        self, batch_size: int, device: torch.device | str = "cpu", generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Masks before equalisation: context [B, H, W] and targets [B, num_targets, H, W], boolean."""
        device = torch.device(device)
        _check_generator(device, generator)
        height, width = self.grid_size
        size_draws = torch.rand(2, device=device, generator=generator, dtype=torch.float64)
        target_h, target_w = self._block_size(size_draws[0], self.target_scale, self.target_aspect_ratio)
        context_h, context_w = self._block_size(size_draws[1], self.context_scale, self.context_aspect_ratio)

        top, left = self._corners((batch_size, self.num_targets), target_h, target_w, device, generator)
        targets = self._rectangles(top, left, target_h, target_w)  # [B, T, H, W]

        # allowed[:, r] = tokens outside the first (T - r) targets: level r has dropped the last r constraints.
        outside = ~targets
        levels = [outside[:, : self.num_targets - r].all(dim=1) for r in range(self.num_targets)]
        allowed = torch.stack(levels + [torch.ones_like(levels[0])], dim=1)  # [B, T + 1, H, W]

        # Count the allowed tokens of every candidate block with a summed-area table: O(1) per candidate.
        table = torch.zeros(batch_size, self.num_targets + 1, height + 1, width + 1, device=device, dtype=torch.int32)
        table[:, :, 1:, 1:] = allowed.to(torch.int32).cumsum(2).cumsum(3)
        tries = (batch_size, self.num_targets + 1, self.tries_per_level)
        c_top, c_left = self._corners(tries, context_h, context_w, device, generator)
        flat = table.flatten(2)  # [B, T + 1, (H + 1)(W + 1)]

        def corner(row, col):
            return torch.gather(flat, 2, (row * (width + 1) + col).flatten(2)).view(tries)

        counts = (
            corner(c_top + context_h, c_left + context_w)
            - corner(c_top, c_left + context_w)
            - corner(c_top + context_h, c_left)
            + corner(c_top, c_left)
        )
        # First valid draw in the official order (level 0 tries, then level 1, ...); argmax returns the first max.
        choice = (counts > self.min_keep).flatten(1).to(torch.uint8).argmax(dim=1)  # [B]
        level = torch.div(choice, self.tries_per_level, rounding_mode="floor")
        samples = torch.arange(batch_size, device=device)
        chosen_top = c_top.flatten(1)[samples, choice]
        chosen_left = c_left.flatten(1)[samples, choice]
        context = self._rectangles(chosen_top, chosen_left, context_h, context_w) & allowed[samples, level]
        return context, targets

    def __call__(
        self, batch_size: int, device: torch.device | str = "cpu", generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        context, targets = self.sample_block_masks(batch_size, device, generator)
        context, targets = context.flatten(1), targets.flatten(2)
        # The single host read of the batch: both equalised lengths at once.
        target_len, context_len = torch.stack([targets[0, 0].sum(), context.sum(1).min()]).tolist()
        return indices_of_true(context, context_len), indices_of_true(targets, target_len)


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
