"""Multi-view inputs of the joint-embedding methods (DINO and those after it): `global_crops [B, Vg, C, H, W]` at the
model's image size and optional `local_crops [B, Vl, C, h, w]` at any multiple of the patch size. Checked here once,
with errors that name the argument."""

import torch

from .configuration_ssl_vit import SSLViTConfig


def check_crops(
    config: SSLViTConfig,
    global_crops: torch.Tensor | None,
    local_crops: torch.Tensor | None = None,
    min_global_crops: int = 2,
    pixel_values: torch.Tensor | None = None,
) -> None:
    """Clear errors for missing views, wrong ranks, too few global views, batch / channel mismatches, global crops
    not at the model's image size and local crops that do not tile into patches."""
    if global_crops is None:
        given = "only `pixel_values`" if pixel_values is not None else "no images"
        raise ValueError(
            f"This method trains on several views of each image but got {given}: pass `global_crops` "
            f"[batch, >={min_global_crops} views, channels, height, width] (and optionally `local_crops`), e.g. from "
            "`hf_jepa.MultiCropViews`."
        )
    if global_crops.ndim != 5 or global_crops.shape[1] < min_global_crops:
        raise ValueError(
            f"`global_crops` must be [batch, views >= {min_global_crops}, channels, height, width] (the views of "
            f"one image are compared with each other), got {tuple(global_crops.shape)}."
        )
    batch = global_crops.shape[0]
    if local_crops is not None and (local_crops.ndim != 5 or local_crops.shape[0] != batch):
        raise ValueError(
            f"`local_crops` must be [batch={batch}, views, channels, height, width], got {tuple(local_crops.shape)}."
        )
    for name, crops in (("global_crops", global_crops), ("local_crops", local_crops)):
        if crops is not None and crops.shape[2] != config.num_channels:
            raise ValueError(
                f"`{name}` has {crops.shape[2]} channels but the model expects {config.num_channels} "
                f"(config.num_channels); got shape {tuple(crops.shape)}."
            )
    image, patch = config.image_shape, config.patch_shape
    if tuple(global_crops.shape[-2:]) != image:
        raise ValueError(
            f"`global_crops` are {global_crops.shape[-2]}x{global_crops.shape[-1]} but the model's image size is "
            f"{image[0]}x{image[1]} (config.image_size): make the global crops at that size."
        )
    if local_crops is not None and (local_crops.shape[-2] % patch[0] or local_crops.shape[-1] % patch[1]):
        raise ValueError(
            f"`local_crops` are {local_crops.shape[-2]}x{local_crops.shape[-1]}, not a multiple of the patch size "
            f"{patch} (config.local_crop_size should be one)."
        )


def views_first(crops: torch.Tensor) -> torch.Tensor:
    """[B, V, C, H, W] -> [V * B, C, H, W], view-major: one batched encoder call per crop size, and losses chunk the
    result by view."""
    return crops.transpose(0, 1).flatten(0, 1)


__all__ = ["check_crops", "views_first"]
