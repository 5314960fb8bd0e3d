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
        sigreg_weight (`float`, defaults to 0): lambda > 0 replaces the EMA target by SIGReg, as LeJEPA and
            LeWorldModel: the targets come from the one trained encoder (no context-encoder copy, no EMA, no
            stop-gradient: encoder and predictor train end to end), and the loss is
            `(1 - lambda) * prediction + lambda * SIGReg(pooled features of the whole input)`. 0: the official EMA.
        sigreg_num_slices (`int`, defaults to 256): random directions of SIGReg.
    """

    model_type = "jepa_ssl"

    predictor_hidden_size: int = 384
    predictor_num_hidden_layers: int = 12
    predictor_num_attention_heads: int = 12
    sigreg_weight: float = 0.0
    sigreg_num_slices: int = 256

    def __post_init__(self, **kwargs):
        check_heads(self, "predictor_hidden_size", "predictor_num_attention_heads")
        if not 0.0 <= self.sigreg_weight <= 1.0:
            raise ValueError(f"`sigreg_weight` (lambda) must be in [0, 1], got {self.sigreg_weight}.")
        if self.sigreg_num_slices < 1:
            raise ValueError(f"`sigreg_num_slices` must be >= 1, got {self.sigreg_num_slices}.")
        super().__post_init__(**kwargs)


__all__ = ["JEPAConfig"]
