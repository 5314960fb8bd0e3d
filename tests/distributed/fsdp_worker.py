"""Worker for test_fsdp.py: a tiny I-JEPA sharded with FSDP2 (`fully_shard`, what accelerate's FSDP2 plugin applies:
every transformer block, then the root) over 2 CPU processes (gloo). Two steps of AdamW with the EMA update and
the momentum schedule on the sharded parameters, a sharded checkpoint round trip (torch.distributed.checkpoint, as
accelerate's SHARDED_STATE_DICT), a third step from the original and from the reloaded state, and `save_pretrained`
of the gathered full model."""

import argparse
import os

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)
from torch.distributed.fsdp import fully_shard
from torch.distributed.tensor import DTensor

from hf_jepa import IJEPASSLForPreTraining
from hf_jepa.engine.schedules import ema_update_, scheduled_value
from hf_jepa.models.vit import TransformerBlock
from tests.tiny import tiny_ijepa_config

STEPS, BATCH = 3, 8
MOMENTUM = (0.9, 1.0)  # the linear schedule of I-JEPA, over the steps


def global_batch():
    """The same pixels and masks on every process (and in the one-process reference); each rank takes its half."""
    torch.manual_seed(0)
    model = IJEPASSLForPreTraining(tiny_ijepa_config())
    pixels = torch.randn(BATCH, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    context_idx, target_idx = model.mask_generator(BATCH, pixels.device, torch.Generator().manual_seed(2))
    return pixels, context_idx, target_idx


def build():
    torch.manual_seed(0)
    return IJEPASSLForPreTraining(tiny_ijepa_config())


def optimizer_for(model):
    return torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2, weight_decay=0.05)


def train_step(model, optimizer, step, pixels, context_idx, target_idx):
    """The trainer's step: loss, backward, optimizer step, then the EMA update at the scheduled momentum."""
    loss = model(pixels, context_idx, target_idx).loss
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    online, target = model.ema_parameters()
    with torch.no_grad():
        ema_update_(target, online, scheduled_value(*MOMENTUM, step, STEPS, "linear"))
    return loss.detach()


def shard(model):
    for module in model.modules():
        if isinstance(module, TransformerBlock):
            fully_shard(module)
    fully_shard(model)
    return model


def full_state(model) -> dict:
    options = StateDictOptions(full_state_dict=True)
    return {k: v.clone() for k, v in get_model_state_dict(model, options=options).items()}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    out = parser.parse_args().out
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    pixels, context_idx, target_idx = (t.chunk(world)[rank] for t in global_batch())

    model = shard(build())
    sharded = all(isinstance(p, DTensor) for p in model.parameters())
    local_sizes = sorted({p.to_local().numel() for p in model.ema_parameters()[1]})
    optimizer = optimizer_for(model)
    losses = [train_step(model, optimizer, step, pixels, context_idx, target_idx) for step in range(STEPS - 1)]
    after_two = full_state(model)

    # Sharded checkpoint round trip: save, rebuild from scratch, load, take the last step on both.
    checkpoint = os.path.join(out, "checkpoint")
    dcp.save(
        {"model": get_model_state_dict(model), "optim": get_optimizer_state_dict(model, optimizer)},
        checkpoint_id=checkpoint,
    )
    resumed = shard(build())
    resumed_optimizer = optimizer_for(resumed)
    state = {
        "model": get_model_state_dict(resumed),
        "optim": get_optimizer_state_dict(resumed, resumed_optimizer),
    }
    dcp.load(state, checkpoint_id=checkpoint)
    set_model_state_dict(resumed, state["model"])
    set_optimizer_state_dict(resumed, resumed_optimizer, state["optim"])
    train_step(model, optimizer, STEPS - 1, pixels, context_idx, target_idx)
    train_step(resumed, resumed_optimizer, STEPS - 1, pixels, context_idx, target_idx)
    final, final_resumed = full_state(model), full_state(resumed)

    if rank == 0:  # the gathered full model, saved as transformers saves it (which empties the dict it is given)
        build().save_pretrained(os.path.join(out, "saved"), state_dict=dict(final))
    torch.save(
        {
            "sharded": sharded,
            "local_sizes": local_sizes,
            "losses": losses,
            "after_two": after_two,
            "final": final,
            "final_resumed": final_resumed,
            "world_size": world,
        },
        os.path.join(out, f"rank{rank}.pt"),
    )
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
