"""What the image-text DDP worker and its test share: a fixed global batch of pairs, one loss step on a slice of it
(any number of processes; one process on the whole batch is the reference), and one step of a tiny model."""

import torch
import torch.nn.functional as F

from hf_jepa.models.image_text_losses import clip_contrastive_loss, siglip_sigmoid_loss

GLOBAL_BATCH = 8


def _slice(rank: int, world_size: int) -> slice:
    part = GLOBAL_BATCH // world_size
    return slice(rank * part, (rank + 1) * part)


def _averaged_grads(parameters: dict, world_size: int) -> dict:
    grads = {}
    for name, parameter in parameters.items():
        if parameter.grad is None:  # CLIP has no bias
            continue
        grad = parameter.grad.detach().clone()
        if world_size > 1:  # what DDP does with the parameter gradients
            torch.distributed.all_reduce(grad)
            grad /= world_size
        grads[name] = grad
    return grads


def loss_parameters() -> dict:
    generator = torch.Generator().manual_seed(0)
    return {
        "image_map": torch.randn(6, 4, generator=generator).requires_grad_(),
        "text_map": torch.randn(5, 4, generator=generator).requires_grad_(),
        "logit_scale": torch.tensor(1.3, requires_grad=True),
        "logit_bias": torch.tensor(-2.0, requires_grad=True),
    }


def pair_features() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return torch.randn(GLOBAL_BATCH, 6, generator=generator), torch.randn(GLOBAL_BATCH, 5, generator=generator)


def loss_of(method: str, image_embeds, text_embeds, parameters: dict) -> torch.Tensor:
    if method == "clip":
        return clip_contrastive_loss(image_embeds, text_embeds, parameters["logit_scale"])
    return siglip_sigmoid_loss(image_embeds, text_embeds, parameters["logit_scale"], parameters["logit_bias"])


def loss_step(method: str, rank: int = 0, world_size: int = 1) -> dict:
    parameters = loss_parameters()
    images, texts = (x[_slice(rank, world_size)] for x in pair_features())
    image_embeds = F.normalize(images @ parameters["image_map"], dim=-1)
    text_embeds = F.normalize(texts @ parameters["text_map"], dim=-1)
    loss = loss_of(method, image_embeds, text_embeds, parameters)
    loss.backward()
    return {"loss": loss.detach(), "grads": _averaged_grads(parameters, world_size)}


def build_model(method: str):
    from hf_jepa import METHODS
    from tests.test_image_text import tiny_image_text_config

    torch.manual_seed(0)
    model = METHODS[method].pretraining_class(tiny_image_text_config(method))
    with torch.no_grad():  # a logit scale and bias away from their init, so their gradients are not special
        model.logit_scale.add_(0.3)
        if getattr(model, "logit_bias", None) is not None:
            model.logit_bias.fill_(-3.0)
    return model.train()


def model_batch() -> dict:
    from tests.test_image_text import tiny_pairs

    return tiny_pairs(GLOBAL_BATCH)


def model_step(method: str, rank: int = 0, world_size: int = 1) -> dict:
    module = build_model(method)
    model = torch.nn.parallel.DistributedDataParallel(module) if world_size > 1 else module
    batch = {k: v[_slice(rank, world_size)] for k, v in model_batch().items()}
    out = model(**batch)
    out.loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in module.named_parameters() if p.grad is not None}
    return {"loss": out.loss.detach(), "grads": grads}
