"""The files of a run, written so that nothing is lost and nothing misleads: output folders that are refused when they
hold another run (or cleared on request), one writer per folder at a time, checkpoints and final models that appear
only when complete, and resumption from the newest checkpoint that is really complete."""

import contextlib
import fcntl
import json
import logging
import os
import re
import shutil
import struct
import tempfile
import zipfile
from collections.abc import Iterator

logger = logging.getLogger(__name__)

LOCK_NAME = ".hf_jepa.lock"
# Lock files this process holds. A forked child (a data loader worker) would share each lock and keep it after this
# process ends or is killed; children close their copies at once, so the lock goes with this process only.
_HELD_LOCKS: set[int] = set()


def _close_held_locks_in_child() -> None:
    for handle in _HELD_LOCKS:
        with contextlib.suppress(OSError):
            os.close(handle)
    _HELD_LOCKS.clear()


os.register_at_fork(after_in_child=_close_held_locks_in_child)
STAGING_PREFIX = ".tmp-"  # folders being written: a complete one is renamed away from this prefix
CHECKPOINT_PATTERN = re.compile(r"^checkpoint-(\d+)$")
# What a run, an export or a conversion writes into its folder: `--overwrite_output_dir` removes these, nothing else.
OWNED_FILES = (
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "model.safetensors.index.json",
    "preprocessor_config.json",
    "video_preprocessor_config.json",
    "processor_config.json",
    "eval_results.json",
    "README.md",
    "training_args.bin",
    "trainer_state.json",
    "all_results.json",
    "train_results.json",
)
OWNED_PATTERNS = (CHECKPOINT_PATTERN, re.compile(r"^model-\d+-of-\d+\.safetensors$"), re.compile(r"^runs$"))
# The file that makes a folder look like a saved model: written last.
LAST_FILE = "config.json"
RESUME_LATEST = ("latest", "last", "true", "True", "yes")


class OutputFolderError(ValueError):
    """An output folder that cannot be used as asked (another run's files, in use, the input folder itself)."""


# ---- writing -----------------------------------------------------------------------------------------------------
def atomic_write_text(path: str, text: str) -> None:
    """Write `path` through a temporary file renamed over it: a reader sees the old file or the whole new one."""
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(prefix=STAGING_PREFIX, dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise


def publish_staged(staging: str, output_dir: str) -> None:
    """Move everything written into `staging` into `output_dir`, `config.json` last (the file that makes a folder
    look like a saved model), then remove `staging`."""
    for name in sorted(os.listdir(staging), key=lambda name: name == LAST_FILE):
        target = os.path.join(output_dir, name)
        if os.path.isdir(target) and not os.path.islink(target):
            shutil.rmtree(target)
        os.replace(os.path.join(staging, name), target)
    shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def staged_folder(output_dir: str) -> Iterator[str]:
    """Write a saved model (or export) into a temporary folder inside `output_dir`, then move its entries into place,
    `config.json` last: a kill or a full disk midway never leaves a folder that looks like a complete model."""
    os.makedirs(output_dir, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=output_dir)
    try:
        yield staging
        publish_staged(staging, output_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def remove_stale_staging(output_dir: str) -> None:
    """Temporary folders a killed writer left behind (never complete, never read)."""
    if os.path.isdir(output_dir):
        for name in os.listdir(output_dir):
            if name.startswith(STAGING_PREFIX):
                path = os.path.join(output_dir, name)
                shutil.rmtree(path, ignore_errors=True) if os.path.isdir(path) else os.remove(path)


# ---- the output folder -------------------------------------------------------------------------------------------
def _is_owned(name: str) -> bool:
    return name in OWNED_FILES or name.startswith(STAGING_PREFIX) or any(p.match(name) for p in OWNED_PATTERNS)


def folder_contents(output_dir: str) -> list[str]:
    """Entries of `output_dir` other than the lock file (none when it does not exist)."""
    if not os.path.isdir(output_dir):
        return []
    return sorted(name for name in os.listdir(output_dir) if name != LOCK_NAME)


def prepare_output_dir(output_dir: str, overwrite: bool, resuming: bool = False, command: str = "hf-jepa") -> None:
    """Refuse a folder that already holds files (another run's model, card or numbers would mix with this one's)
    unless the run resumes in it; with `overwrite`, remove the files a run writes there (foreign files stay)."""
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise OutputFolderError(f"`--output_dir {output_dir}` is a file, not a folder.")
    contents = folder_contents(output_dir)
    if not contents or resuming:
        return
    if not overwrite:
        shown = ", ".join(contents[:6]) + (", ..." if len(contents) > 6 else "")
        raise OutputFolderError(
            f"`--output_dir {output_dir}` is not empty ({shown}): {command} would mix this run's files with those "
            "already there. Choose a new folder, pass `--overwrite_output_dir` to replace a previous run's files, or "
            "`--resume_from_checkpoint latest` to continue the run saved there."
        )
    for name in contents:
        if _is_owned(name):
            path = os.path.join(output_dir, name)
            shutil.rmtree(path) if os.path.isdir(path) and not os.path.islink(path) else os.remove(path)
    left = folder_contents(output_dir)
    if left:
        logger.warning("Kept files that no hf_jepa run writes in %s: %s", output_dir, ", ".join(left))


def check_distinct_folders(source: str, output_dir: str, source_name: str = "--model") -> None:
    """An export or conversion must not write into the folder it reads, nor inside it."""
    source_path, output_path = os.path.realpath(source), os.path.realpath(output_dir)
    if output_path == source_path or output_path.startswith(source_path + os.sep):
        raise OutputFolderError(
            f"`--output_dir {output_dir}` is {'the same folder as' if output_path == source_path else 'inside'} "
            f"`{source_name} {source}`: writing there would overwrite what is being read. Choose another folder."
        )


@contextlib.contextmanager
def locked_output_dir(output_dir: str) -> Iterator[None]:
    """Hold an exclusive lock on `output_dir` while writing to it: a second writer is refused at once (two runs into
    one folder would both say "Saved" and leave one model). The lock goes with the process, also on a kill."""
    created = not os.path.exists(output_dir)
    os.makedirs(output_dir, exist_ok=True)
    path = os.path.join(output_dir, LOCK_NAME)
    handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(handle, 64, 0).decode(errors="replace").strip() or "unknown"
            raise OutputFolderError(
                f"`--output_dir {output_dir}` is in use by another hf-jepa process (pid {holder}): wait for it to "
                "finish or choose another folder."
            ) from None
        os.ftruncate(handle, 0)
        os.pwrite(handle, str(os.getpid()).encode(), 0)
        _HELD_LOCKS.add(handle)
        yield
    finally:
        if created and not folder_contents(output_dir):  # a command that wrote nothing leaves no folder behind
            with contextlib.suppress(OSError):
                os.remove(path)
                os.rmdir(output_dir)
        _HELD_LOCKS.discard(handle)
        os.close(handle)  # releases the lock


# ---- checkpoints -------------------------------------------------------------------------------------------------
def safetensors_problem(path: str) -> str | None:
    """Why a safetensors file is unusable (unreadable, truncated header, data shorter than the header says), or
    None."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as handle:
            (header_size,) = struct.unpack("<Q", handle.read(8))
            if header_size > size - 8:
                return f"{os.path.basename(path)}: header of {header_size} bytes in a file of {size}"
            header = json.loads(handle.read(header_size))
    except (OSError, struct.error, ValueError) as error:
        return f"{os.path.basename(path)}: {type(error).__name__}: {error}"
    ends = [entry["data_offsets"][1] for name, entry in header.items() if name != "__metadata__"]
    expected = 8 + header_size + max(ends, default=0)
    if size < expected:
        return f"{os.path.basename(path)}: truncated ({size} of {expected} bytes)"
    return None


def zip_problem(path: str) -> str | None:
    """Why a `torch.save` archive (.pt / .pth / .bin) is unusable (truncated, not an archive), or None."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
        return f"{os.path.basename(path)}: corrupt member {bad}" if bad else None
    except (OSError, zipfile.BadZipFile) as error:
        return f"{os.path.basename(path)}: {type(error).__name__}: {error}"


def weight_files(folder: str) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name.endswith(".safetensors"))


def model_folder_problems(folder: str) -> list[str]:
    """What makes a saved model folder unusable: no or unreadable config.json, no or damaged weight files."""
    problems = []
    try:
        with open(os.path.join(folder, LAST_FILE), encoding="utf-8") as handle:
            json.load(handle)
    except (OSError, ValueError) as error:
        problems.append(f"{LAST_FILE}: {type(error).__name__}: {error}")
    weights = weight_files(folder) if os.path.isdir(folder) else []
    if not weights:
        problems.append("no model.safetensors")
    problems += [p for name in weights if (p := safetensors_problem(os.path.join(folder, name)))]
    return problems


def checkpoint_problems(folder: str) -> list[str]:
    """Everything that would make resuming from `folder` fail or resume wrongly, checked without loading it."""
    if not os.path.isdir(folder):
        return ["not a folder"]
    problems = model_folder_problems(folder)
    try:
        with open(os.path.join(folder, "trainer_state.json"), encoding="utf-8") as handle:
            json.load(handle)
    except (OSError, ValueError) as error:
        problems.append(f"trainer_state.json: {type(error).__name__}: {error}")
    for name in sorted(os.listdir(folder)):
        if name.endswith((".pt", ".pth", ".bin")) and (problem := zip_problem(os.path.join(folder, name))):
            problems.append(problem)
    if not any(name.startswith("optimizer") for name in os.listdir(folder)):
        problems.append("no optimizer state")
    return problems


def checkpoints(output_dir: str) -> list[str]:
    """The checkpoint folders of `output_dir`, newest first."""
    if not os.path.isdir(output_dir):
        return []
    found = [(int(m.group(1)), name) for name in os.listdir(output_dir) if (m := CHECKPOINT_PATTERN.match(name))]
    return [os.path.join(output_dir, name) for _, name in sorted(found, reverse=True)]


def resolve_resume_checkpoint(requested: str | None, output_dir: str) -> str | None:
    """What `--resume_from_checkpoint` names: None (start afresh), the newest complete checkpoint of `output_dir` for
    "latest" (or "true"; skipped ones are named with why; none at all starts afresh, saying so), or a checkpoint
    folder, checked complete (a clear error naming what is wrong otherwise)."""
    if requested in (None, "", "False", "false", "no"):
        return None
    if requested in RESUME_LATEST:
        for folder in checkpoints(output_dir):
            problems = checkpoint_problems(folder)
            if not problems:
                logger.info("Resuming from %s, the newest complete checkpoint.", folder)
                return folder
            logger.warning("Skipping %s, which is incomplete: %s.", folder, "; ".join(problems))
        logger.warning("No complete checkpoint in %s: training starts from the beginning.", output_dir)
        return None
    problems = checkpoint_problems(requested)
    if problems:
        usable = next(
            (f for f in checkpoints(os.path.dirname(requested.rstrip(os.sep))) if not checkpoint_problems(f)), None
        )
        hint = f" The newest complete one is {usable}." if usable else ""
        raise ValueError(
            f"`--resume_from_checkpoint {requested}` cannot be resumed from: {'; '.join(problems)}.{hint} "
            "Pass `--resume_from_checkpoint latest` to take the newest complete checkpoint of --output_dir."
        )
    return requested


__all__ = [
    "LOCK_NAME",
    "OutputFolderError",
    "atomic_write_text",
    "check_distinct_folders",
    "checkpoint_problems",
    "checkpoints",
    "locked_output_dir",
    "model_folder_problems",
    "prepare_output_dir",
    "publish_staged",
    "remove_stale_staging",
    "resolve_resume_checkpoint",
    "safetensors_problem",
    "staged_folder",
    "zip_problem",
]
