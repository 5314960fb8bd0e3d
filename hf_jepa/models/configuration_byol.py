"""BYOL configuration: the shared ViT plus the projector and predictor MLPs."""

from .configuration_joint_embedding import JointEmbeddingConfig, check_positive, check_predictor_layers


class BYOLSSLConfig(JointEmbeddingConfig):
    r"""
    Configuration of [`BYOLSSLForPreTraining`] (Grill et al., 2020). Defaults follow the official code
    (deepmind-research `byol/configs/byol.py`, `byol/utils/networks.py`) with a ViT-B/16 instead of the ResNet-50.

    The published encoder (`encoder`, what `AutoModel` loads) is the *online* encoder f_theta: the paper keeps only
    it at the end of training, and the official linear evaluation (`eval_experiment.py`) loads
    `experiment_state.online_params` as its backbone, not the target's.

    Args:
        projection_hidden_size (`int`, defaults to 4096): hidden width of the projector (one hidden layer: linear
            with bias -> BatchNorm -> ReLU -> linear without bias, no BatchNorm on the output).
        projection_size (`int`, defaults to 256): output of projector and predictor.
        projection_num_layers (`int`, defaults to 2): linear layers of the projector (official: 2).
        prediction_hidden_size (`int`, defaults to 4096): hidden width of the predictor (same shape as the projector).
        prediction_num_layers (`int`, defaults to 2): linear layers of the predictor (official: 2; 0: no
            predictor, the ablation of BYOL's Table 5).
        crop_scale (pair, defaults to (0.08, 1.0)): area range of the random resized crops of both views.
    """

    model_type = "byol_ssl"

    projection_hidden_size: int | None = 4096
    projection_size: int = 256
    projection_num_layers: int = 2
    prediction_hidden_size: int = 4096
    prediction_num_layers: int = 2

    def __post_init__(self, **kwargs):
        check_positive(self, "prediction_hidden_size")
        check_predictor_layers(self)
        super().__post_init__(**kwargs)


__all__ = ["BYOLSSLConfig"]
