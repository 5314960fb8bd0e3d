"""DINO configuration: the shared ViT plus the projection head, temperatures, centering and multi-crop sizes."""

from .configuration_backbones import BackboneViTConfig
from .configuration_ssl_vit import check_local_crop_size


class DINOSSLConfig(BackboneViTConfig):
    r"""
    Configuration of [`DINOSSLForPreTraining`] (Caron et al., 2021). Defaults follow the official ViT-B/16 recipe.

    Args:
        use_cls_token (`bool`, defaults to `True`): DINO's head reads the CLS token.
        pooling (`str`, defaults to `"cls"`): `pooler_output` (the head's input and the published feature).
        head_hidden_size (`int`, defaults to 2048): width of the head's MLP.
        head_bottleneck_size (`int`, defaults to 256): output of the MLP, L2-normalised before the last layer.
        head_output_size (`int`, defaults to 65536): prototypes (softmax dimension).
        head_num_layers (`int`, defaults to 3): linear layers in the MLP.
        head_norm_last_layer (`bool`, defaults to `True`): fix the norm of each prototype at 1.
        predictor_num_layers (`int`, defaults to 0): a student-only predictor MLP (GELU between layers) on the head's
            bottleneck output, before its normalisation and the prototypes, as BYOL's predictor follows its
            projector: the ablation of the DINO paper's Table 14 ("the predictor marginally hurts"). 0: none
            (official DINO).
        predictor_hidden_size (`int`, *optional*): its hidden width (default: `head_hidden_size`).
        student_temperature (`float`, defaults to 0.1): softmax temperature of the student.
        teacher_temperature (`float`, defaults to 0.07): teacher temperature after its warm-up.
        warmup_teacher_temperature (`float`, defaults to 0.04): teacher temperature at step 0.
        teacher_temperature_warmup_steps (`int`, defaults to 0): optimizer steps over which the teacher temperature
            rises linearly from `warmup_teacher_temperature` to `teacher_temperature` (official ViT-B: 30 epochs).
        freeze_last_layer_steps (`int`, defaults to 0): the head's last layer gets no update for this many optimizer
            steps (official: 1 epoch).
        center_momentum (`float`, defaults to 0.9): EMA momentum of the center subtracted from teacher logits.
        num_global_crops (`int`, defaults to 2): global views (the teacher's input), at `image_size`.
        num_local_crops (`int`, defaults to 8): local views (student only).
        local_crop_size (`int`, defaults to 96): side of the local views.
        global_crop_scale (pair, defaults to (0.4, 1.0)): area range of global crops.
        local_crop_scale (pair, defaults to (0.05, 0.4)): area range of local crops.
        backbone_config: a CNN encoder instead of the ViT (`BackboneViTConfig`; the official ResNet-50 DINO).
    """

    model_type = "dino_ssl"

    use_cls_token: bool = True
    pooling: str = "cls"
    head_hidden_size: int = 2048
    head_bottleneck_size: int = 256
    head_output_size: int = 65536
    head_num_layers: int = 3
    head_norm_last_layer: bool = True
    predictor_num_layers: int = 0
    predictor_hidden_size: int | None = None
    student_temperature: float = 0.1
    teacher_temperature: float = 0.07
    warmup_teacher_temperature: float = 0.04
    teacher_temperature_warmup_steps: int = 0
    freeze_last_layer_steps: int = 0
    center_momentum: float = 0.9
    num_global_crops: int = 2
    num_local_crops: int = 8
    local_crop_size: int = 96
    global_crop_scale: list[float] | tuple[float, float] = (0.4, 1.0)
    local_crop_scale: list[float] | tuple[float, float] = (0.05, 0.4)

    def __post_init__(self, **kwargs):
        if not self.use_cls_token:
            raise ValueError("DINO's head reads the CLS token: `use_cls_token` must be True.")
        if self.num_global_crops < 2:
            raise ValueError(
                f"`num_global_crops` must be >= 2 (DINO compares two global views), got {self.num_global_crops}."
            )
        for name in ("student_temperature", "teacher_temperature", "warmup_teacher_temperature"):
            if getattr(self, name) <= 0:
                raise ValueError(f"`{name}` must be > 0, got {getattr(self, name)}.")
        for name in ("teacher_temperature_warmup_steps", "freeze_last_layer_steps", "predictor_num_layers"):
            if getattr(self, name) < 0:
                raise ValueError(f"`{name}` must be >= 0, got {getattr(self, name)}.")
        check_local_crop_size(self)
        if not 0.0 <= self.center_momentum <= 1.0:
            raise ValueError(f"`center_momentum` must be in [0, 1], got {self.center_momentum}.")
        super().__post_init__(**kwargs)


__all__ = ["DINOSSLConfig"]
