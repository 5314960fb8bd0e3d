"""MoCo v3 configuration: the shared ViT plus the projector, predictor, InfoNCE temperature and the frozen random
patch projection."""

from .configuration_joint_embedding import JointEmbeddingConfig, check_positive, check_predictor_layers


class MoCoV3SSLConfig(JointEmbeddingConfig):
    r"""
    Configuration of [`MoCoV3SSLForPreTraining`] (Chen, Xie and He, 2021). Defaults follow the official ViT recipe
    (facebookresearch/moco-v3, `CONFIG.md` ViT-B: `--moco-t=.2 --stop-grad-conv1`, `moco/builder.py`'s MLPs) on a
    ViT-B/16.

    The published encoder (`encoder`, what `AutoModel` loads) is the *query* encoder (official `base_encoder`):
    the official linear evaluation, `main_lincls.py`, keeps the `module.base_encoder` weights and drops the momentum
    encoder.

    Args:
        use_cls_token (`bool`, defaults to `True`), pooling (`str`, defaults to `"cls"`): the heads read the CLS
            token, as the official ViT (timm's, class token).
        projection_hidden_size (`int`, defaults to 4096): hidden width of the projector (official `--moco-mlp-dim`).
        projection_size (`int`, defaults to 256): output of projector and predictor (official `--moco-dim`).
        projection_num_layers (`int`, defaults to 3): linear layers of the projector (ViT: 3), each linear without
            bias -> BatchNorm (-> ReLU); the last BatchNorm has no scale or shift.
        prediction_hidden_size (`int`, defaults to 4096): hidden width of the predictor.
        prediction_num_layers (`int`, defaults to 2): linear layers of the predictor (0: none); for the ViT its last
            BatchNorm (no scale or shift) is kept too.
        temperature (`float`, defaults to 0.2): InfoNCE temperature T (official ViT `--moco-t=.2`); the loss is
            scaled by 2T.
        freeze_patch_projection (`bool`, defaults to `True`): the random patch projection is never trained
            (official `--stop-grad-conv1`, the ViT recipe's stability trick); it keeps the official init, uniform in
            +-sqrt(6 / (channels * patch^2 + hidden_size)). ViT only: a CNN `backbone_config` trains every layer,
            as the official ResNet recipe.
        crop_scale (pair, defaults to (0.08, 1.0)): area range of the crops (official ViT `--crop-min=.08`).
    """

    model_type = "mocov3_ssl"

    projection_hidden_size: int | None = 4096
    projection_size: int = 256
    projection_num_layers: int = 3
    prediction_hidden_size: int = 4096
    prediction_num_layers: int = 2
    temperature: float = 0.2
    freeze_patch_projection: bool = True

    def __post_init__(self, **kwargs):
        check_positive(self, "temperature", "prediction_hidden_size")
        check_predictor_layers(self)
        super().__post_init__(**kwargs)


__all__ = ["MoCoV3SSLConfig"]
