"""World models in environments: recording trajectories (`hf-jepa collect`), planning with a trained world model
(CEM in latent space, `hf-jepa plan`), and the environment wrapper both use. Environments come from
stable-worldmodel (`pip install "hf_jepa[world]"`), imported only when a command needs one."""

from .cem import CEMPlanner, latent_goal_cost

__all__ = ["CEMPlanner", "latent_goal_cost"]
