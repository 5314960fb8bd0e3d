"""MAE (He et al., 2022): encode a random 25% of the patches, reconstruct the pixels of the others."""

from dataclasses import dataclass

import torch
import torch.nn as nn
from transformers import initialization as init

from .configuration_mae import MAESSLConfig
from .masking import RandomMaskGenerator
from .modeling_ssl_vit import SSLPreTrainedModel, SSLPreTrainingOutput, SSLViTForImageClassification, SSLViTModel
from .patches import normalize_patches, patchify, unpatchify
from .predictor import MaskedTokenPredictor
from .vit import gather_tokens


class MAESSLPreTrainedModel(SSLPreTrainedModel):
    config_class = MAESSLConfig
    config: MAESSLConfig

    def _init_weights(self, module: nn.Module) -> None:
        # Official MAE init: xavier-uniform linears (the patch projection too, seen as a linear), zero biases.
        if isinstance(module, nn.Linear):
            init.xavier_uniform_(module.weight)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Conv2d):
            if not getattr(module.weight, "_is_hf_initialized", False):  # a view loses the flag: check it here
                init.xavier_uniform_(module.weight.view(module.weight.shape[0], -1))
            if module.bias is not None:
                init.zeros_(module.bias)
        else:
            super()._init_weights(module)


class MAESSLModel(MAESSLPreTrainedModel, SSLViTModel):
    """The MAE encoder (all patches at inference; only the visible ones during pretraining)."""


class MAESSLForImageClassification(MAESSLPreTrainedModel, SSLViTForImageClassification):
    encoder_class = MAESSLModel


@dataclass
class MAESSLForPreTrainingOutput(SSLPreTrainingOutput):
    """
    Args:
        loss (`torch.FloatTensor` of shape `()`): mean squared error over the masked patches.
        logits (`torch.FloatTensor` of shape `(batch, num_patches, patch_size**2 * num_channels)`): the decoder's
            reconstruction of every patch, in raster order (per-patch normalised pixels when `norm_pix_loss`).
        mask (`torch.FloatTensor` of shape `(batch, num_patches)`): 1 where the patch was hidden, 0 where visible.
        ids_restore (`torch.LongTensor` of shape `(batch, num_patches)`): inverse of the noise-sorting permutation.
        keep_idx (`torch.LongTensor` of shape `(batch, num_visible)`): patches the encoder saw.
    """

    logits: torch.FloatTensor | None = None
    mask: torch.FloatTensor | None = None
    ids_restore: torch.LongTensor | None = None
    keep_idx: torch.LongTensor | None = None


class MAESSLForPreTraining(MAESSLPreTrainedModel):
    """Encoder on the visible patches (+ CLS) and a narrow decoder that predicts the pixels of every patch."""

    def __init__(self, config: MAESSLConfig):
        super().__init__(config)
        if not config.use_cls_token:
            raise ValueError("MAE's decoder reads the encoder's CLS token: set `use_cls_token=True`.")
        self.patch_size = config.patch_shape
        self.encoder = MAESSLModel(config)
        self.decoder = MaskedTokenPredictor(
            config,
            config.decoder_hidden_size,
            config.decoder_num_hidden_layers,
            config.decoder_num_attention_heads,
            output_size=self.patch_size[0] * self.patch_size[1] * config.num_channels,
        )
        self.mask_generator = RandomMaskGenerator(config.mask_ratio)
        self.post_init()

    def reconstruct(self, pixel_values: torch.Tensor, outputs: MAESSLForPreTrainingOutput) -> torch.Tensor:
        """The reconstruction as an image [B, C, H, W] in the input's (processor-normalised) space, visible patches
        included; with `norm_pix_loss` each predicted patch gets the mean and std of the true patch back."""
        logits = outputs.logits.float()
        if self.config.norm_pix_loss:
            _, mean, std = normalize_patches(patchify(pixel_values.float(), self.patch_size))
            logits = logits * std + mean
        grid = (pixel_values.shape[-2] // self.patch_size[0], pixel_values.shape[-1] // self.patch_size[1])
        return unpatchify(logits, self.patch_size, grid)

    def sample_masks(self, inputs: dict, generator: torch.Generator | None = None) -> dict:
        """The mask noise the forward would draw (none if `inputs` bring it); see
        `IJEPASSLForPreTraining.sample_masks`."""
        if inputs.get("noise") is not None:
            return {}
        pixel_values = inputs["pixel_values"]
        grid = self.encoder.embeddings.patch_embeddings.grid_size(pixel_values)
        batch, num_patches = pixel_values.shape[0], grid[0] * grid[1]
        return {"noise": torch.rand(batch, num_patches, device=pixel_values.device, generator=generator)}

    def forward(
        self,
        pixel_values: torch.Tensor,
        noise: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        interpolate_pos_encoding: bool = False,
        return_dict: bool | None = None,
        **kwargs,
    ) -> MAESSLForPreTrainingOutput | tuple:
        """pixel_values [B, C, H, W]; `noise` [B, num_patches] decides the mask (the patches with the smallest noise
        stay visible, as in MAE and transformers' `ViTMAEForPreTraining`); drawn with `generator` when not given."""
        grid = self.encoder.embeddings.patch_embeddings.grid_size(pixel_values)
        batch, num_patches = pixel_values.shape[0], grid[0] * grid[1]
        masks = self.mask_generator(batch, num_patches, pixel_values.device, generator, noise=noise)

        encoded = self.encoder(  # checks the images
            pixel_values,
            keep_indices=masks.keep_idx,
            interpolate_pos_encoding=interpolate_pos_encoding,
            return_dict=True,
        ).last_hidden_state  # [B, 1 + K, D]
        prefix = self.config.num_prefix_tokens
        visible_out, masked_out = self.decoder(
            encoded[:, prefix:],
            masks.keep_idx,
            masks.masked_idx,
            grid_size=grid,
            prefix_tokens=encoded[:, :prefix],
            return_context=True,
        )
        # Back to raster order: [visible, masked] is the noise order, which ids_restore undoes.
        logits = gather_tokens(torch.cat([visible_out, masked_out], dim=1), masks.ids_restore)  # [B, N, p*p*C]

        targets = gather_tokens(
            patchify(pixel_values, self.patch_size), masks.masked_idx
        ).float()  # [B, N_masked, p*p*C]
        if self.config.norm_pix_loss:
            targets = normalize_patches(targets)[0]
        # Every sample hides the same number of patches, so the mean over them is MAE's masked mean.
        loss = (masked_out.float() - targets).pow(2).mean()
        mask = torch.ones(batch, num_patches, device=pixel_values.device, dtype=logits.dtype)
        mask[:, : masks.keep_idx.shape[1]] = 0
        mask = torch.gather(mask, 1, masks.ids_restore)
        logs = {"loss_reconstruction": loss.detach()}
        output = MAESSLForPreTrainingOutput(
            loss=loss, logs=logs, logits=logits, mask=mask, ids_restore=masks.ids_restore, keep_idx=masks.keep_idx
        )
        return self.as_return_type(output, return_dict)


__all__ = [
    "MAESSLPreTrainedModel",
    "MAESSLModel",
    "MAESSLForImageClassification",
    "MAESSLForPreTraining",
    "MAESSLForPreTrainingOutput",
]
