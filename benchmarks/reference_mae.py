"""The official MAE training step (facebookresearch/mae: models_mae.py MaskedAutoencoderViT, engine_pretrain.py,
util/misc.py NativeScalerWithGradNormCount), restated compactly as the baseline `bench_mae_dino_vs_official.py`
times our model against in the same run.

What costs time is kept as in the original: timm's ViT block of the time (fused qkv linear, attention computed
explicitly as `softmax(q @ k^T * scale) @ v`), random masking by an argsort of per-sample noise and a gather, the
decoder embedding the encoder output, appending mask tokens, un-shuffling with `ids_restore`, adding the decoder
position table (with its CLS slot) and running every decoder block over CLS + all patches, the pixel head on every
token, the loss over every patch weighted by the mask (`norm_pix_loss` targets), `loss.item()`, the gradient norm the
loss scaler computes every step (`get_grad_norm_`: a norm per parameter, stacked), and `torch.optim.AdamW` with
betas (0.9, 0.95) in its default implementation. Left out because they cost nothing here: dropout and drop-path
(all 0 in MAE pretraining), the CUDA GradScaler (fp32), weight init, logging.
"""

import math

import torch
import torch.nn as nn
from reference_ijepa import Block

from hf_jepa.models.position_embeddings import sincos_2d


def sincos_with_cls(dim: int, grid: int) -> torch.Tensor:
    """MAE's fixed table `get_2d_sincos_pos_embed(dim, grid, cls_token=True)`: a zero row for CLS, then the grid."""
    return torch.cat([torch.zeros(1, dim), sincos_2d(dim, (grid, grid))])[None]


class OfficialMAE(nn.Module):
    """MaskedAutoencoderViT: encoder on the visible patches + CLS, decoder on CLS + every patch."""

    def __init__(self, image_size, patch, dim, depth, heads, dec_dim, dec_depth, dec_heads, norm_pix_loss=True):
        super().__init__()
        grid = image_size // patch
        self.patch = patch
        self.patch_embed = nn.Conv2d(3, dim, patch, patch)  # timm PatchEmbed.proj
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(sincos_with_cls(dim, grid), requires_grad=False)
        self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.decoder_embed = nn.Linear(dim, dec_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dec_dim))
        self.decoder_pos_embed = nn.Parameter(sincos_with_cls(dec_dim, grid), requires_grad=False)
        self.decoder_blocks = nn.ModuleList(Block(dec_dim, dec_heads) for _ in range(dec_depth))
        self.decoder_norm = nn.LayerNorm(dec_dim, eps=1e-6)
        self.decoder_pred = nn.Linear(dec_dim, patch * patch * 3)
        self.norm_pix_loss = norm_pix_loss

    def patchify(self, images):
        """[N, 3, H, W] -> [N, L, p*p*3], pixels of a patch as (row, column, channel)."""
        p, n = self.patch, images.shape[0]
        h = w = images.shape[2] // p
        x = images.reshape(n, 3, h, p, w, p)
        return torch.einsum("nchpwq->nhwpqc", x).reshape(n, h * w, p * p * 3)

    @staticmethod
    def random_masking(x, mask_ratio, noise=None):
        """Keep the patches with the smallest noise: (x_masked [N, K, D], mask [N, L], ids_restore [N, L])."""
        n, length, dim = x.shape
        len_keep = int(length * (1 - mask_ratio))
        if noise is None:  # the official code always draws it here; the benchmark passes it to share it with ours
            noise = torch.rand(n, length, device=x.device)
        ids_shuffle = torch.argsort(noise, dim=1)
        ids_restore = torch.argsort(ids_shuffle, dim=1)
        ids_keep = ids_shuffle[:, :len_keep]
        x_masked = torch.gather(x, 1, ids_keep.unsqueeze(-1).repeat(1, 1, dim))
        mask = torch.ones(n, length, device=x.device)
        mask[:, :len_keep] = 0
        return x_masked, torch.gather(mask, 1, ids_restore), ids_restore

    def forward_encoder(self, images, mask_ratio, noise=None):
        x = self.patch_embed(images).flatten(2).transpose(1, 2) + self.pos_embed[:, 1:]
        x, mask, ids_restore = self.random_masking(x, mask_ratio, noise)
        cls = (self.cls_token + self.pos_embed[:, :1]).expand(x.shape[0], -1, -1)
        x = torch.cat([cls, x], dim=1)
        for block in self.blocks:
            x = block(x)
        return self.norm(x), mask, ids_restore

    def forward_decoder(self, x, ids_restore):
        x = self.decoder_embed(x)
        mask_tokens = self.mask_token.repeat(x.shape[0], ids_restore.shape[1] + 1 - x.shape[1], 1)
        patches = torch.cat([x[:, 1:], mask_tokens], dim=1)
        patches = torch.gather(patches, 1, ids_restore.unsqueeze(-1).repeat(1, 1, x.shape[2]))  # unshuffle
        x = torch.cat([x[:, :1], patches], dim=1) + self.decoder_pos_embed
        for block in self.decoder_blocks:
            x = block(x)
        return self.decoder_pred(self.decoder_norm(x))[:, 1:]

    def forward_loss(self, images, pred, mask):
        target = self.patchify(images)
        if self.norm_pix_loss:
            mean = target.mean(dim=-1, keepdim=True)
            var = target.var(dim=-1, keepdim=True)
            target = (target - mean) / (var + 1.0e-6) ** 0.5
        loss = ((pred - target) ** 2).mean(dim=-1)  # per patch
        return (loss * mask).sum() / mask.sum()  # mean over the removed patches

    def forward(self, images, mask_ratio=0.75, noise=None):
        latent, mask, ids_restore = self.forward_encoder(images, mask_ratio, noise)
        pred = self.forward_decoder(latent, ids_restore)
        return self.forward_loss(images, pred, mask), pred, mask


def get_grad_norm_(parameters, norm_type: float = 2.0) -> torch.Tensor:
    """util/misc.py: the total gradient norm the loss scaler returns (and the training loop logs) every step."""
    parameters = [p for p in parameters if p.grad is not None]
    return torch.norm(torch.stack([torch.norm(p.grad.detach(), norm_type) for p in parameters]), norm_type)


def param_groups_weight_decay(model: nn.Module, weight_decay: float) -> list[dict]:
    """timm's `optim_factory.add_weight_decay` as main_pretrain.py calls it: no decay on biases and 1-D params."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.ndim <= 1 or name.endswith(".bias") else decay).append(param)
    return [{"params": no_decay, "weight_decay": 0.0}, {"params": decay, "weight_decay": weight_decay}]


class OfficialMAEStep:
    """model and optimizer; `__call__(images, noise)` is one step of engine_pretrain.train_one_epoch (accum_iter 1)."""

    def __init__(self, image_size, patch, dim, depth, heads, dec_dim, dec_depth, dec_heads, mask_ratio=0.75):
        self.model = OfficialMAE(image_size, patch, dim, depth, heads, dec_dim, dec_depth, dec_heads)
        self.mask_ratio = mask_ratio
        self.optimizer = torch.optim.AdamW(param_groups_weight_decay(self.model, 0.05), lr=1.5e-4, betas=(0.9, 0.95))

    def __call__(self, images, noise=None):
        for group in self.optimizer.param_groups:  # lr_sched.adjust_learning_rate (per iteration)
            group["lr"] = 1.5e-4
        loss, _, _ = self.model(images, mask_ratio=self.mask_ratio, noise=noise)
        loss_value = loss.item()
        if not math.isfinite(loss_value):
            raise RuntimeError(f"Loss is {loss_value}, stopping training")
        loss.backward()  # NativeScalerWithGradNormCount, fp32: backward, grad norm, step
        get_grad_norm_(self.model.parameters())
        self.optimizer.step()
        self.optimizer.zero_grad()
        return loss_value


def load_ours(official: OfficialMAE, model) -> None:
    """Copy the weights of an `hf_jepa.MAESSLForPreTraining` into `official` (strict, except the fixed tables,
    which are the same sin-cos values on both sides)."""

    def block_names(name: str) -> str:
        name = name.replace("layers.", "blocks.", 1).replace("mlp.fc1", "mlp.0").replace("mlp.fc2", "mlp.2")
        return name

    state = {}
    for name, value in model.state_dict().items():
        if name.startswith("encoder."):
            name = name[len("encoder.") :]
            name = name.replace("embeddings.patch_embeddings.projection", "patch_embed")
            name = name.replace("embeddings.cls_token", "cls_token").replace("layernorm.", "norm.")
            state[block_names(name)] = value
        elif name.startswith("decoder."):
            name = name[len("decoder.") :]
            if name == "mask_tokens":
                state["mask_token"] = value[:1][None]
                continue
            for ours, theirs in (("embed.", "decoder_embed."), ("norm.", "decoder_norm."), ("proj.", "decoder_pred.")):
                if name.startswith(ours):
                    name = theirs + name[len(ours) :]
            state[block_names(name).replace("blocks.", "decoder_blocks.", 1)] = value
    missing, unexpected = official.load_state_dict(state, strict=False)
    if unexpected or set(missing) - {"pos_embed", "decoder_pos_embed"}:
        raise KeyError(f"weights did not map: missing {missing}, unexpected {unexpected}")


def parameter_count(step: OfficialMAEStep) -> int:
    return sum(p.numel() for p in step.model.parameters() if p.requires_grad)
