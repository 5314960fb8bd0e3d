import pytest
import torch

import hf_jepa  # noqa: F401  (registers the Auto classes)
from tests.tiny import tiny_dino_config as _tiny_dino_config
from tests.tiny import tiny_ijepa_config as _tiny_ijepa_config
from tests.tiny import tiny_mae_config as _tiny_mae_config


@pytest.fixture
def tiny_ijepa_config():
    return _tiny_ijepa_config()


@pytest.fixture
def tiny_mae_config():
    return _tiny_mae_config()


@pytest.fixture
def tiny_dino_config():
    return _tiny_dino_config()


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
