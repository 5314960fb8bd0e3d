"""What the JEPA configurations (I-JEPA, V-JEPA) add to the shared ViT: the latent predictor."""

from .configuration_ssl_vit import SSLViTConfig, check_heads


class JEPAConfig(SSLViTConfig):
    r"""
    Base of the JEPA configurations: the shared ViT plus the narrow predictor that maps context tokens to the
    embeddings of target positions. Never registered on its own.

    Args:
        predictor_hidden_size (`int`, defaults to 384): predictor width (official 384).
        predictor_num_hidden_layers (`int`, defaults to 12): predictor depth (official 12).
        predictor_num_attention_heads (`int`, defaults to 12): predictor heads.
    """

    model_type = "jepa_ssl"

    predictor_hidden_size: int = 384
    predictor_num_hidden_layers: int = 12
    predictor_num_attention_heads: int = 12

    def __post_init__(self, **kwargs):
        check_heads(self, "predictor_hidden_size", "predictor_num_attention_heads")
        super().__post_init__(**kwargs)


__all__ = ["JEPAConfig"]
