"""Worker for test_ddp_joint.py: BYOL under DDP (gloo), 2 CPU processes (see joint_embedding.py for the phases)."""

from tests.distributed.joint_embedding import run

if __name__ == "__main__":
    run("byol")
