"""Export of a full hf_jepa model as Hub remote code: the weights plus our own model files, loadable with
`AutoModel.from_pretrained(folder, trust_remote_code=True)` where hf_jepa is not installed.

Only the files of `hf_jepa/models/` that the method's classes reach through `from .x import y` are copied (that
folder is flat and imports nothing else from hf_jepa, so the copies are complete); nothing else is written as code.
"""

import ast
import inspect
import json
import os
import shutil
from pathlib import Path

from ..engine.run_files import check_distinct_folders, model_folder_problems, staged_folder
from ..registry import Method, model_processor, saved_method

AUTO_CLASSES = {
    "AutoModel": "model_class",
    "AutoModelForPreTraining": "pretraining_class",
    "AutoModelFor{modality}Classification": "classification_class",
}


def relative_imports(path: Path) -> set[str]:
    """Module names imported as `from .name import ...` by the file at `path`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level == 1}


def code_files(classes: list[type]) -> list[Path]:
    """The source files defining `classes` and every file they reach by same-folder relative imports."""
    return module_closure([Path(inspect.getfile(cls)) for cls in classes])


def module_closure(paths: list[Path]) -> list[Path]:
    """`paths` and every file they reach by `from .name import ...`, which must stay in the same folder."""
    pending = list(paths)
    found: dict[Path, None] = {}
    while pending:
        path = pending.pop()
        if path in found:
            continue
        found[path] = None
        for module in relative_imports(path):
            if "." in module:
                raise ValueError(f"{path.name} imports `.{module}`: remote code needs a flat folder.")
            pending.append(path.with_name(f"{module}.py"))
    return sorted(found)


def _qualified(cls: type) -> str:
    return f"{Path(inspect.getfile(cls)).stem}.{cls.__name__}"


def _add_auto_map(json_path: str, auto_map: dict[str, str]) -> None:
    with open(json_path, encoding="utf-8") as handle:
        data = json.load(handle)
    data["auto_map"] = auto_map
    with open(json_path, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.write("\n")


def export_remote_code(model_dir: str, output_dir: str) -> list[str]:
    """Write the full pretraining model of `model_dir` (safetensors), its image processor, our model files and the
    `auto_map` entries to `output_dir` (they appear only when complete); returns the files written."""
    check_distinct_folders(model_dir, output_dir)
    method: Method = saved_method(model_dir)  # reads config.json only: never runs a folder's code
    problems = model_folder_problems(model_dir)
    if problems:
        raise ValueError(f"`--model {model_dir}` cannot be loaded: {'; '.join(problems)}.")
    model = method.pretraining_class.from_pretrained(model_dir, trust_remote_code=False)
    processor = model_processor(method, model_dir, model.config)

    modality = "Video" if method.modality == "video" else "Image"  # image-text models classify images
    auto_map = {"AutoConfig": _qualified(method.config_class)}
    auto_map.update(
        {auto.format(modality=modality): _qualified(getattr(method, attr)) for auto, attr in AUTO_CLASSES.items()}
    )
    processor_config = "video_preprocessor_config.json" if method.modality == "video" else "preprocessor_config.json"
    with staged_folder(output_dir) as staging:
        model.save_pretrained(staging)
        processor.save_pretrained(staging)
        classes = [method.config_class, type(processor)] + [getattr(method, attr) for attr in AUTO_CLASSES.values()]
        for path in code_files(classes):
            shutil.copyfile(path, os.path.join(staging, path.name))
        _add_auto_map(os.path.join(staging, "config.json"), auto_map)
        _add_auto_map(
            os.path.join(staging, processor_config), {f"Auto{modality}Processor": _qualified(type(processor))}
        )
    return sorted(os.listdir(output_dir))


__all__ = ["export_remote_code", "code_files", "module_closure", "relative_imports"]
