"""LeWorldModel (Maes et al., 2026): a JEPA world model trained end to end from pixels. Each frame is encoded to
an embedding (ViT CLS token -> BatchNorm projector); a causal transformer, conditioned on the actions by AdaLN-zero,
predicts the next frame's embedding from a short history; the loss is the prediction's MSE plus lambda * SIGReg of
the embeddings of every time step. No EMA target, no stop-gradient. Planning rolls the predictor out in latent space
(`rollout`) and scores action sequences by the distance of the last predicted embedding to the goal's."""

from dataclasses import dataclass

import torch
import torch.nn as nn
from transformers import initialization as init

from .action_predictor import ActionConditionedPredictor, ActionEncoder, AdaLNZeroBlock
from .configuration_lewm import LeWMConfig
from .heads import torch_default_init_
from .losses import normalized_std, sigreg_of_step
from .modeling_ssl_vit import SSLPreTrainedModel, SSLPreTrainingOutput, SSLViTForImageClassification, SSLViTModel
from .sigreg import SIGReg


class LeWMPreTrainedModel(SSLPreTrainedModel):
    config_class = LeWMConfig
    config: LeWMConfig
    _no_split_modules = ["TransformerBlock", "ViTEmbeddings", "AdaLNZeroBlock"]

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.LayerNorm) and module.weight is None:
            return  # the predictor's parameter-free norms
        super()._init_weights(module)
        projectors = [getattr(self, name, None) for name in ("projector", "prediction_projector")]
        if isinstance(module, (ActionEncoder, AdaLNZeroBlock)) or any(module is p for p in projectors):
            # Official: everything but the encoder keeps PyTorch's default init (after the children's ViT-style one).
            for layer in module.modules():
                if isinstance(layer, nn.Linear):
                    torch_default_init_(layer)
        if isinstance(module, AdaLNZeroBlock):  # the zero init is the last word
            init.zeros_(module.modulation[-1].weight)
            init.zeros_(module.modulation[-1].bias)
        elif isinstance(module, ActionConditionedPredictor):
            init.normal_(module.position_embeddings, std=1.0)  # official: torch.randn


class LeWMModel(LeWMPreTrainedModel, SSLViTModel):
    """The LeWorldModel frame encoder (the ViT; its CLS token is the frame's feature, `pooler_output`)."""


class LeWMForImageClassification(LeWMPreTrainedModel, SSLViTForImageClassification):
    encoder_class = LeWMModel


@dataclass
class LeWMForPreTrainingOutput(SSLPreTrainingOutput):
    """
    Args:
        loss (`torch.FloatTensor` of shape `()`): prediction MSE + sigreg_weight * SIGReg.
        embeddings (`torch.FloatTensor` of shape `(batch, steps, embedding_size)`): every frame's embedding (the
            projector's output), the predictions' targets and SIGReg's input.
        predictions (`torch.FloatTensor` of shape `(batch, history_size, embedding_size)`): prediction t is of
            embedding t + num_preds.
    """

    embeddings: torch.FloatTensor | None = None
    predictions: torch.FloatTensor | None = None


def batch_norm_mlp(in_size: int, hidden_size: int, out_size: int) -> nn.Sequential:
    """The official projectors: linear -> BatchNorm -> GELU -> linear."""
    return nn.Sequential(
        nn.Linear(in_size, hidden_size), nn.BatchNorm1d(hidden_size), nn.GELU(), nn.Linear(hidden_size, out_size)
    )


class LeWMForPreTraining(LeWMPreTrainedModel):
    """Encoder (published) + projector, action encoder, predictor + prediction projector, and SIGReg."""

    main_input_name = "pixel_values"

    def __init__(self, config: LeWMConfig):
        super().__init__(config)
        dim = config.embedding_size
        self.encoder = LeWMModel(config)
        self.projector = batch_norm_mlp(config.hidden_size, config.projection_hidden_size, dim)
        self.action_encoder = ActionEncoder(
            config.action_input_size, config.action_smoothed_size, dim, config.action_mlp_ratio
        )
        self.predictor = ActionConditionedPredictor(
            dim,
            config.history_size,
            config.predictor_num_hidden_layers,
            config.predictor_num_attention_heads,
            config.predictor_head_size,
            config.predictor_intermediate_size,
            config.predictor_dropout,
        )
        self.prediction_projector = batch_norm_mlp(dim, config.projection_hidden_size, dim)
        self.sigreg = SIGReg(num_slices=config.sigreg_num_slices, num_knots=config.sigreg_num_knots)
        self.post_init()

    def scheduled_inputs(self, step: int) -> dict[str, int]:
        """SIGReg's slices of this optimizer step: the same on every process, new each step, back on resume."""
        return {"sigreg_step": step}

    # ---- the steps of the algorithm -----------------------------------------------------------------------------
    def encode(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Frames [..., C, H, W] (e.g. [B, T, C, H, W]) -> embeddings [..., embedding_size], one encoder call."""
        if pixel_values.ndim < 4:
            raise ValueError(
                f"`pixel_values` must be frames [..., channels, height, width], got shape {tuple(pixel_values.shape)}."
            )
        leading = pixel_values.shape[:-3]
        cls = self.encoder(pixel_values.flatten(0, -4), return_dict=True).pooler_output  # [N, hidden]
        return self.projector(cls).unflatten(0, leading)

    def predict(self, embeddings: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """embeddings [B, t, D], actions [B, t, frameskip * action_dim] (t <= history_size) -> [B, t, D]: output i
        predicts the embedding num_preds steps after step i, from steps <= i."""
        hidden = self.predictor(embeddings, self.action_encoder(actions))
        return self.prediction_projector(hidden.flatten(0, 1)).unflatten(0, hidden.shape[:2])

    def rollout(self, context_embeddings: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Autoregressive latent rollout. context_embeddings [N, h, D] (h frames observed); actions [N, h - 1 + K,
        A]: one per observed frame (the last one's is the first action to plan) and then the K - 1 next ones ->
        predicted embeddings [N, K, D] of the K frames after the context, each from the last `history_size` steps."""
        history, observed = self.config.history_size, context_embeddings.shape[1]
        horizon = actions.shape[1] - observed + 1
        if horizon < 1:
            raise ValueError(
                f"`actions` needs one action per context frame ({observed}) and more to plan, got {actions.shape[1]}."
            )
        action_embeddings = self.action_encoder(actions)  # [N, h - 1 + K, D]: per step, computed once
        embeddings = context_embeddings
        for step in range(horizon):
            end = observed + step  # embeddings known so far; the action of the last one is action end - 1
            window = slice(max(0, end - history), end)
            hidden = self.predictor(embeddings[:, window], action_embeddings[:, window])[:, -1]
            embeddings = torch.cat([embeddings, self.prediction_projector(hidden).unsqueeze(1)], dim=1)
        return embeddings[:, observed:]

    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        actions: torch.Tensor | None = None,
        sigreg_step: int | None = None,
        generator: torch.Generator | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> LeWMForPreTrainingOutput | tuple:
        """pixel_values [B, T, C, H, W]: T = history_size + num_preds consecutive frames (frameskip environment steps
        apart); actions [B, T, frameskip * action_dim]: the environment actions taken from each frame until the next
        (NaN, at the end of episodes, count as 0 as officially). `sigreg_step` picks SIGReg's slices (the trainer
        passes its optimizer step); without it a `generator` draws them."""
        config = self.config
        self.check_inputs(pixel_values, actions)
        history = config.history_size
        embeddings = self.encode(pixel_values)  # [B, T, D]
        predictions = self.predict(embeddings[:, :history], torch.nan_to_num(actions[:, :history], 0.0))
        targets = embeddings[:, config.num_preds : config.num_preds + history]  # no stop-gradient, officially
        prediction = (predictions - targets).square().mean()
        sigreg = sigreg_of_step(self.sigreg, embeddings.transpose(0, 1), sigreg_step, generator)  # per time step
        loss = prediction + config.sigreg_weight * sigreg
        logs = {
            "loss_prediction": prediction.detach(),
            "loss_sigreg": sigreg.detach(),
            "embedding_std": normalized_std(embeddings.flatten(0, 1)),  # collapse monitor
        }
        output = LeWMForPreTrainingOutput(loss=loss, logs=logs, embeddings=embeddings, predictions=predictions)
        return self.as_return_type(output, return_dict)

    def check_inputs(self, pixel_values, actions) -> None:
        config = self.config
        if pixel_values is None or pixel_values.ndim != 5 or pixel_values.shape[1] != config.num_steps:
            shape = None if pixel_values is None else tuple(pixel_values.shape)
            raise ValueError(
                f"`pixel_values` must be windows of frames [batch, {config.num_steps}, channels, height, width] "
                f"(history_size {config.history_size} + num_preds {config.num_preds}), got {shape}."
            )
        expected = (pixel_values.shape[0], config.num_steps, config.action_input_size)
        if actions is None or tuple(actions.shape) != expected:
            shape = None if actions is None else tuple(actions.shape)
            raise ValueError(
                f"`actions` must be [batch, steps, frameskip x action_dim] = {list(expected)} (frameskip "
                f"{config.frameskip}, action_dim {config.action_dim}), got {shape}."
            )


__all__ = [
    "LeWMPreTrainedModel",
    "LeWMModel",
    "LeWMForImageClassification",
    "LeWMForPreTraining",
    "LeWMForPreTrainingOutput",
]
