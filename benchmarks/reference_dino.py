"""The official DINO training step (facebookresearch/dino: main_dino.py train_one_epoch and DINOLoss,
vision_transformer.py VisionTransformer and DINOHead, utils.py MultiCropWrapper, get_params_groups, clip_gradients,
cancel_gradients_last_layer), restated compactly as the baseline `bench_mae_dino_vs_official.py` times our model
against in the same run.

What costs time is kept as in the original: the ViT's attention computed explicitly (`softmax(q @ k^T * scale) @ v`,
timm-style block with a fused qkv linear), a learned position table interpolated bicubically for the 96 px crops on
every call, the multi-crop wrapper that runs the backbone once per run of equal crop sizes (`unique_consecutive`)
and the head once on the concatenated CLS outputs, the head's last layer under `nn.utils.weight_norm` (the
[65,536, 256] weight rebuilt from g and v on every call), the loss as a Python loop over (teacher crop, student crop)
pairs with a log-softmax per pair, the center update, `loss.item()`, `clip_gradients` (a norm, a `.item()` and a
compare per parameter), `cancel_gradients_last_layer`, `torch.optim.AdamW` (default implementation) with the official
parameter groups and the per-iteration lr / weight-decay assignment, and the EMA of the teacher as a loop over the
zipped parameters. Left out because they change nothing here: dropout (0), the student's drop-path (0.1 officially;
0 on both sides of the benchmark so both compute the same function), the CUDA GradScaler (fp32), logging.
"""

import math
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F
from reference_ijepa import Block


class OfficialViT(nn.Module):
    """vision_transformer.VisionTransformer (no classifier): CLS output of the last block after the final norm.

    `pos_interpolation="official"` resizes the position table as the official code (`scale_factor` of
    (grid + 0.1) / old_grid); `"size"` resizes straight to the new grid, as hf_jepa and transformers do, for checking
    equality of the two implementations on the local crops too. Both cost the same.
    """

    def __init__(self, image_size, patch, dim, depth, heads, pos_interpolation="official"):
        super().__init__()
        grid = image_size // patch
        self.patch = patch
        self.patch_embed = nn.Conv2d(3, dim, patch, patch)  # PatchEmbed.proj
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, grid * grid + 1, dim))  # learned
        self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pos_interpolation = pos_interpolation

    def interpolate_pos_encoding(self, x, w, h):
        npatch, n = x.shape[1] - 1, self.pos_embed.shape[1] - 1
        if npatch == n and w == h:
            return self.pos_embed
        class_pos_embed, patch_pos_embed = self.pos_embed[:, 0], self.pos_embed[:, 1:]
        dim, side = x.shape[-1], int(math.sqrt(n))
        w0, h0 = w // self.patch, h // self.patch
        grid = patch_pos_embed.reshape(1, side, side, dim).permute(0, 3, 1, 2)
        if self.pos_interpolation == "official":
            w0, h0 = w0 + 0.1, h0 + 0.1  # the official guard against floating-point error
            grid = F.interpolate(grid, scale_factor=(w0 / side, h0 / side), mode="bicubic")
        else:
            grid = F.interpolate(grid, size=(w0, h0), mode="bicubic", align_corners=False)
        assert int(w0) == grid.shape[-2] and int(h0) == grid.shape[-1]
        patch_pos_embed = grid.permute(0, 2, 3, 1).reshape(1, -1, dim)
        return torch.cat((class_pos_embed.unsqueeze(0), patch_pos_embed), dim=1)

    def prepare_tokens(self, x):
        batch, _, w, h = x.shape
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = torch.cat((self.cls_token.expand(batch, -1, -1), x), dim=1)
        return x + self.interpolate_pos_encoding(x, w, h)

    def forward(self, x):
        x = self.prepare_tokens(x)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)[:, 0]


class OfficialDINOHead(nn.Module):
    """3-layer MLP (GELU) -> bottleneck -> L2 normalisation -> weight-normed linear without bias."""

    def __init__(self, in_dim, out_dim, hidden_dim=2048, bottleneck_dim=256, norm_last_layer=True):
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(in_dim, hidden_dim),
            nn.GELU(),
            nn.Linear(hidden_dim, hidden_dim),
            nn.GELU(),
            nn.Linear(hidden_dim, bottleneck_dim),
        )
        with warnings.catch_warnings():  # deprecated in favour of parametrizations, still what the official code calls
            warnings.simplefilter("ignore", FutureWarning)
            self.last_layer = nn.utils.weight_norm(nn.Linear(bottleneck_dim, out_dim, bias=False))
        self.last_layer.weight_g.data.fill_(1)
        if norm_last_layer:
            self.last_layer.weight_g.requires_grad = False

    def forward(self, x):
        return self.last_layer(F.normalize(self.mlp(x), dim=-1, p=2))


class MultiCropWrapper(nn.Module):
    """utils.MultiCropWrapper: backbone once per run of equal resolutions, head once on all CLS outputs."""

    def __init__(self, backbone, head):
        super().__init__()
        self.backbone, self.head = backbone, head

    def forward(self, x):
        if not isinstance(x, list):
            x = [x]
        idx_crops = torch.cumsum(
            torch.unique_consecutive(torch.tensor([inp.shape[-1] for inp in x]), return_counts=True)[1], 0
        )
        start_idx, output = 0, torch.empty(0).to(x[0].device)
        for end_idx in idx_crops:
            out = self.backbone(torch.cat(x[start_idx:end_idx]))
            output = torch.cat((output, out))
            start_idx = end_idx
        return self.head(output)


class DINOLoss(nn.Module):
    """Cross-entropy between the centred, sharpened teacher and the student over every pair of different crops."""

    def __init__(self, out_dim, ncrops, teacher_temp=0.04, student_temp=0.1, center_momentum=0.9):
        super().__init__()
        self.ncrops, self.teacher_temp = ncrops, teacher_temp
        self.student_temp, self.center_momentum = student_temp, center_momentum
        self.register_buffer("center", torch.zeros(1, out_dim))

    def forward(self, student_output, teacher_output, update_center=True):
        student_out = (student_output / self.student_temp).chunk(self.ncrops)
        teacher_out = F.softmax((teacher_output - self.center) / self.teacher_temp, dim=-1).detach().chunk(2)
        total_loss, n_loss_terms = 0, 0
        for iq, q in enumerate(teacher_out):
            for v in range(len(student_out)):
                if v == iq:
                    continue  # a crop never predicts itself
                loss = torch.sum(-q * F.log_softmax(student_out[v], dim=-1), dim=-1)
                total_loss += loss.mean()
                n_loss_terms += 1
        total_loss /= n_loss_terms
        if update_center:
            self.update_center(teacher_output)
        return total_loss

    @torch.no_grad()
    def update_center(self, teacher_output):
        # Officially all-reduced over processes first; one process here.
        batch_center = torch.sum(teacher_output, dim=0, keepdim=True) / len(teacher_output)
        self.center = self.center * self.center_momentum + batch_center * (1 - self.center_momentum)


def get_params_groups(model: nn.Module) -> list[dict]:
    regularized, not_regularized = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (not_regularized if name.endswith(".bias") or len(param.shape) == 1 else regularized).append(param)
    return [{"params": regularized}, {"params": not_regularized, "weight_decay": 0.0}]


def clip_gradients(model: nn.Module, clip: float) -> list[float]:
    norms = []
    for _, p in model.named_parameters():
        if p.grad is not None:
            param_norm = p.grad.data.norm(2)
            norms.append(param_norm.item())
            clip_coef = clip / (param_norm + 1e-6)
            if clip_coef < 1:
                p.grad.data.mul_(clip_coef)
    return norms


def cancel_gradients_last_layer(epoch: int, model: nn.Module, freeze_last_layer: int) -> None:
    if epoch >= freeze_last_layer:
        return
    for name, p in model.named_parameters():
        if "last_layer" in name:
            p.grad = None


class OfficialDINOStep:
    """student, teacher (MultiCropWrapper each), loss and optimizer; `__call__(crops)` is one training iteration,
    `crops` the list of per-crop batches [B, 3, S, S] (2 global crops first, as the official data loader gives)."""

    def __init__(
        self,
        image_size,
        patch,
        dim,
        depth,
        heads,
        out_dim=65536,
        hidden_dim=2048,
        bottleneck_dim=256,
        ncrops=10,
        teacher_temp=0.04,
        momentum=0.996,
        clip_grad=3.0,
        epoch=1,
        freeze_last_layer=1,
        pos_interpolation="official",
    ):
        def network(norm_last_layer=True):
            return MultiCropWrapper(
                OfficialViT(image_size, patch, dim, depth, heads, pos_interpolation),
                OfficialDINOHead(dim, out_dim, hidden_dim, bottleneck_dim, norm_last_layer),
            )

        self.student, self.teacher = network(), network()
        self.teacher.load_state_dict(self.student.state_dict())
        for p in self.teacher.parameters():
            p.requires_grad = False
        self.dino_loss = DINOLoss(out_dim, ncrops, teacher_temp)
        self.optimizer = torch.optim.AdamW(get_params_groups(self.student))
        self.momentum, self.clip_grad = momentum, clip_grad
        # The steady state: from the second epoch on (freeze_last_layer = 1) the last layer trains too.
        self.epoch, self.freeze_last_layer = epoch, freeze_last_layer

    def loss(self, crops, update_center=True):
        teacher_output = self.teacher(crops[:2])  # only the 2 global views pass through the teacher
        student_output = self.student(crops)
        return self.dino_loss(student_output, teacher_output, update_center)

    def __call__(self, crops, lr=5e-4, weight_decay=0.04):
        for i, param_group in enumerate(self.optimizer.param_groups):  # per-iteration schedules
            param_group["lr"] = lr
            if i == 0:
                param_group["weight_decay"] = weight_decay
        loss = self.loss(crops)
        if not math.isfinite(loss.item()):
            raise RuntimeError(f"Loss is {loss.item()}, stopping training")
        self.optimizer.zero_grad()
        loss.backward()
        clip_gradients(self.student, self.clip_grad)
        cancel_gradients_last_layer(self.epoch, self.student, self.freeze_last_layer)
        self.optimizer.step()
        with torch.no_grad():  # EMA update of the teacher
            m = self.momentum
            for param_q, param_k in zip(self.student.parameters(), self.teacher.parameters()):
                param_k.data.mul_(m).add_((1 - m) * param_q.detach().data)
        return loss


def load_ours(official: OfficialDINOStep, model) -> None:
    """Copy the weights of an `hf_jepa.DINOSSLForPreTraining` into `official`: student_encoder + student_head ->
    student, encoder (the EMA teacher) + teacher_head -> teacher, center -> the loss's center. Our fixed sin-cos table
    goes into the learned `pos_embed`, with a zero row for CLS (ours adds no position to CLS)."""
    state = model.state_dict()

    def backbone(prefix, embeddings):
        out = {}
        for name, value in state.items():
            if not name.startswith(prefix):
                continue
            name = name[len(prefix) :]
            name = name.replace("embeddings.patch_embeddings.projection", "patch_embed")
            name = name.replace("embeddings.cls_token", "cls_token").replace("layernorm.", "norm.")
            name = name.replace("layers.", "blocks.", 1).replace("mlp.fc1", "mlp.0").replace("mlp.fc2", "mlp.2")
            out[name] = value
        table = embeddings.position_embeddings
        out["pos_embed"] = torch.cat([table.new_zeros(1, table.shape[1]), table])[None]
        return out

    for wrapper, encoder_prefix, head_prefix, encoder in (
        (official.student, "student_encoder.", "student_head.", model.student_encoder),
        (official.teacher, "encoder.", "teacher_head.", model.encoder),
    ):
        wrapper.backbone.load_state_dict(backbone(encoder_prefix, encoder.embeddings), strict=True)
        head = {k[len(head_prefix) :]: v for k, v in state.items() if k.startswith(head_prefix)}
        wrapper.head.load_state_dict(head, strict=True)
    official.dino_loss.center = state["center"].clone()


def parameter_count(step: OfficialDINOStep) -> int:
    return sum(p.numel() for p in step.student.parameters())
