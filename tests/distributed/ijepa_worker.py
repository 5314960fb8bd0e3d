"""Worker for test_ddp.py: a few SSLTrainer steps of a tiny I-JEPA under DDP (gloo), then save this rank's state."""

import argparse
import os

import torch

from hf_jepa import IJEPASSLForPreTraining, SSLTrainer
from tests.tiny import tiny_ijepa_config, tiny_training_args

parser = argparse.ArgumentParser()
parser.add_argument("--out", required=True)
out = parser.parse_args().out
rank = int(os.environ["RANK"])


class Images(torch.utils.data.Dataset):
    def __init__(self):
        self.pixels = torch.randn(32, 3, 32, 32, generator=torch.Generator().manual_seed(0))

    def __len__(self):
        return len(self.pixels)

    def __getitem__(self, i):
        return {"pixel_values": self.pixels[i]}


torch.manual_seed(0)  # same initial weights on every rank (DDP also broadcasts rank 0's)
config = tiny_ijepa_config(num_hidden_layers=1)
model = IJEPASSLForPreTraining(config)
initial = {k: v.clone() for k, v in model.state_dict().items()}
args = tiny_training_args(out, ddp_backend="gloo", ema_momentum=0.9)
trainer = SSLTrainer(model=model, args=args, train_dataset=Images())
trainer.train()
state = {k: v.detach().clone() for k, v in trainer.accelerator.unwrap_model(trainer.model).state_dict().items()}
torch.save(
    {
        "state": state,
        "initial": initial,
        "world_size": args.world_size,
        "first_mask_seed": None,
        "mask_seed": trainer.mask_generator(torch.device("cpu")).initial_seed(),
    },
    os.path.join(out, f"rank{rank}.pt"),
)
