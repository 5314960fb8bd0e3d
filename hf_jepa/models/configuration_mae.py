"""MAE configuration: the shared ViT plus the pixel decoder and random-masking hyper-parameters."""

from .configuration_ssl_vit import SSLViTConfig, check_heads


class MAESSLConfig(SSLViTConfig):
    r"""
    Configuration of [`MAESSLForPreTraining`] (He et al., 2022). Defaults follow the official MAE recipe with a
    ViT-B/16 encoder.

    Args:
        use_cls_token (`bool`, defaults to `True`): MAE's encoder carries a CLS token (it also enters the decoder).
        decoder_hidden_size (`int`, defaults to 512): decoder width (official 512).
        decoder_num_hidden_layers (`int`, defaults to 8): decoder depth (official 8).
        decoder_num_attention_heads (`int`, defaults to 16): decoder heads (official 16).
        mask_ratio (`float`, defaults to 0.75): fraction of patches hidden from the encoder.
        norm_pix_loss (`bool`, defaults to `True`): regress per-patch normalised pixels (mean 0, variance 1 over
            each patch), as in the official ViT-B/L/H runs.
    """

    model_type = "mae_ssl"

    use_cls_token: bool = True
    decoder_hidden_size: int = 512
    decoder_num_hidden_layers: int = 8
    decoder_num_attention_heads: int = 16
    mask_ratio: float = 0.75
    norm_pix_loss: bool = True

    def __post_init__(self, **kwargs):
        check_heads(self, "decoder_hidden_size", "decoder_num_attention_heads")
        if not 0.0 < self.mask_ratio < 1.0:  # with nothing hidden there is nothing to reconstruct (a 0/0 loss)
            raise ValueError(f"`mask_ratio` must be in (0, 1), got {self.mask_ratio}.")
        super().__post_init__(**kwargs)


__all__ = ["MAESSLConfig"]
