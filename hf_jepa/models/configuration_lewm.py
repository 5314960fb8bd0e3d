"""LeWorldModel configuration: the shared ViT (CLS token), the BatchNorm projectors, the action encoder, the causal
action-conditioned predictor and SIGReg's weight and sketch."""

from .configuration_joint_embedding import check_positive
from .configuration_ssl_vit import SSLViTConfig, check_heads


class LeWMConfig(SSLViTConfig):
    r"""
    Configuration of [`LeWMForPreTraining`] (Maes, Le Lidec, Scieur, LeCun and Balestriero, 2026). Defaults are the
    official recipe (lucas-maes/le-wm `config/train/lewm.yaml`, `model/lewm.yaml`): ViT-Tiny/14 at 224 px, CLS token,
    192-d embedding, history 3, one predicted step, frameskip 5, SIGReg weight 0.09 with 1024 slices and 17 knots.

    Args:
        action_dim (`int`, defaults to 2): size of one environment action (Two-Room: a 2-D velocity).
        frameskip (`int`, defaults to 5): environment steps between two frames the model sees; the action of a model
            step is the `frameskip` environment actions concatenated (`frameskip * action_dim` numbers).
        history_size (`int`, defaults to 3): frames the predictor sees (its context and position table length).
        num_preds (`int`, defaults to 1): how far ahead the predictions are: step t predicts frame t + num_preds. A
            training window holds `history_size + num_preds` frames.
        embedding_size (`int`, defaults to 192): the embedding SIGReg shapes and the predictor works in.
        projection_hidden_size (`int`, defaults to 2048): hidden width of the projector and of the prediction
            projector (linear -> BatchNorm -> GELU -> linear).
        action_smoothed_size (`int`, defaults to 10): output of the action encoder's first (per-step linear) layer.
        action_mlp_ratio (`int`, defaults to 4): the action MLP's hidden width is this times `embedding_size`.
        predictor_num_hidden_layers (`int`, defaults to 6): AdaLN-zero blocks of the predictor.
        predictor_num_attention_heads (`int`, defaults to 16): heads per predictor block.
        predictor_head_size (`int`, defaults to 64): width of one predictor head (the attention's inner width is
            heads x head size, independent of `embedding_size`, as officially).
        predictor_intermediate_size (`int`, defaults to 2048): MLP width of the predictor blocks.
        predictor_dropout (`float`, defaults to 0.1): dropout on attention probabilities and outputs and in the MLP.
        sigreg_weight (`float`, defaults to 0.09): lambda in `prediction + lambda * SIGReg` (the paper's 0.09).
        sigreg_num_slices (`int`, defaults to 1024): random directions of SIGReg.
        sigreg_num_knots (`int`, defaults to 17): quadrature knots of the Epps-Pulley integral.
    """

    model_type = "lewm_ssl"

    image_size: int | list[int] | tuple[int, int] = 224
    patch_size: int | list[int] | tuple[int, int] = 14
    hidden_size: int = 192
    num_hidden_layers: int = 12
    num_attention_heads: int = 3
    use_cls_token: bool = True
    pooling: str = "cls"
    layer_norm_eps: float = 1e-12  # transformers' ViT, which the official encoder is
    action_dim: int = 2
    frameskip: int = 5
    history_size: int = 3
    num_preds: int = 1
    embedding_size: int = 192
    projection_hidden_size: int = 2048
    action_smoothed_size: int = 10
    action_mlp_ratio: int = 4
    predictor_num_hidden_layers: int = 6
    predictor_num_attention_heads: int = 16
    predictor_head_size: int = 64
    predictor_intermediate_size: int = 2048
    predictor_dropout: float = 0.1
    sigreg_weight: float = 0.09
    sigreg_num_slices: int = 1024
    sigreg_num_knots: int = 17

    def __post_init__(self, **kwargs):
        for name in ("action_dim", "frameskip", "history_size", "num_preds", "embedding_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
        check_positive(
            self,
            "projection_hidden_size",
            "action_smoothed_size",
            "action_mlp_ratio",
            "predictor_num_hidden_layers",
            "predictor_num_attention_heads",
            "predictor_head_size",
            "predictor_intermediate_size",
            "sigreg_num_slices",
            "sigreg_num_knots",
        )
        if not 0.0 <= self.predictor_dropout < 1.0:
            raise ValueError(f"`predictor_dropout` must be in [0, 1), got {self.predictor_dropout}.")
        if self.sigreg_weight < 0:
            raise ValueError(f"`sigreg_weight` (lambda) must be >= 0, got {self.sigreg_weight}.")
        if not self.use_cls_token or self.pooling != "cls":
            raise ValueError("LeWorldModel embeds a frame by its CLS token: keep `use_cls_token=True, pooling='cls'`.")
        super().__post_init__(**kwargs)
        check_heads(self, "hidden_size", "num_attention_heads")

    @property
    def num_steps(self) -> int:
        """Frames in one training window: the history and the frames it predicts."""
        return self.history_size + self.num_preds

    @property
    def action_input_size(self) -> int:
        """Numbers in the action of one model step: `frameskip` environment actions."""
        return self.frameskip * self.action_dim


__all__ = ["LeWMConfig"]
