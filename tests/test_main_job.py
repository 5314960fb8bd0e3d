"""The default main job exactly as the README runs it (slow: minutes on 2 cores)."""

import json

import pytest

from hf_jepa.cli import main


@pytest.mark.slow
@pytest.mark.parametrize("method", ["ijepa", "mae", "dino", "vjepa"])
def test_default_main_job_beats_random_init(method, tmp_path):
    assert main(["pretrain", "--method", method, "--output_dir", str(tmp_path), "--disable_tqdm", "true"]) == 0
    results = json.loads((tmp_path / "eval_results.json").read_text())
    assert results["linear_probe_top1"] > results["random_init_linear_probe_top1"]
    assert results["knn_top1"] > results["random_init_knn_top1"]
    if method == "vjepa":  # the moving digits' motion, which a video model should pick up (measured 0.77 vs 0.59)
        direction = results["direction"]
        assert direction["knn_top1"] > direction["random_init_knn_top1"] + 0.1
