"""The README's Python examples run as written (with fewer steps)."""

import re
from pathlib import Path

README = (Path(__file__).parents[1] / "README.md").read_text()


def _python_block(after_heading: str) -> str:
    section = README[README.index(after_heading) :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_train_from_python_example(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = _python_block("## Train from Python").replace("max_steps=300", "max_steps=2")
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["trainer"].state.global_step == 2
    namespace["trainer"].save_model("outputs/ijepa")

    from PIL import Image

    load = _python_block("## Load what you trained")
    exec(compile(load, "README.md", "exec"), {"image": Image.new("RGB", (40, 40))})


def test_other_methods_example():
    from PIL import Image

    namespace = {"image": Image.new("RGB", (40, 40), (200, 30, 90))}
    exec(compile(_python_block("The other methods plug into"), "README.md", "exec"), namespace)
    assert namespace["reconstruction"].shape == (1, 3, 32, 32)
    assert namespace["outputs"].mask.sum() == 48  # 75 % of the 64 patches
    assert namespace["crops"]["local_crops"].shape == (1, 4, 3, 16, 16)
    assert namespace["loss"].isfinite()


def test_video_mask_example():
    code = "\n".join(line[2:] for line in _python_block("## Video: V-JEPA").splitlines())  # indented in a list
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)
    (context_0, target_0), (context_1, target_1) = namespace["masks"]
    assert context_0.shape[0] == target_1.shape[0] == 24
    assert target_1.shape[1] > target_0.shape[1]  # 2 blocks of 70 % cover more than 8 of 15 %
