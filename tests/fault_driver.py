"""Runs `hf-jepa pretrain` (the arguments after the first) and kills its own process with SIGKILL at a chosen point,
as a crash, an OOM killer or a pulled plug would: `step:N` (inside training step N), `checkpoint:N` (while checkpoint
N is being written: after the model, before the optimizer state) or `after:SECONDS`."""

import os
import signal
import sys
import threading


def die():
    os.kill(os.getpid(), signal.SIGKILL)


def main() -> int:
    point, argv = sys.argv[1], sys.argv[2:]
    kind, _, at = point.partition(":")
    if kind == "checkpoint":
        from transformers import Trainer

        save = Trainer._save_optimizer_and_scheduler

        def dying_save(self, output_dir):
            if self.state.global_step == int(at):
                die()
            return save(self, output_dir)

        Trainer._save_optimizer_and_scheduler = dying_save
    elif kind == "step":
        from hf_jepa.engine.trainer import SSLTrainer

        compute_loss = SSLTrainer.compute_loss

        def dying_step(self, *args, **kwargs):
            loss = compute_loss(self, *args, **kwargs)
            if self.state.global_step == int(at):
                die()
            return loss

        SSLTrainer.compute_loss = dying_step
    elif kind == "after":
        threading.Timer(float(at), die).start()
    from hf_jepa.cli import main as cli

    return cli(["pretrain", *argv])


if __name__ == "__main__":
    sys.exit(main())
