"""Publishing a saved hf_jepa folder to the Hugging Face Hub: `push_to_hub` and the `hf-jepa push` command.

The exact folder that goes up is staged first (only safetensors weights, configs, the processor and a model card
naming the repo), so a dry run can write and list it without touching the network. A real push checks the token, the
network and what the repo already holds before anything is uploaded, then uploads in one commit.
"""

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import httpx2  # huggingface_hub's HTTP client: its transport errors mean the Hub could not be reached
import transformers
from huggingface_hub import HfApi, ModelCard, constants, get_token
from huggingface_hub.errors import (
    HfHubHTTPError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status, validate_repo_id
from transformers import AutoModel, HfArgumentParser
from transformers.trainer import (
    OPTIMIZER_NAME,
    OPTIMIZER_NAME_BIN,
    SCALER_NAME,
    SCHEDULER_NAME,
    TRAINER_STATE_NAME,
    TRAINING_ARGS_NAME,
)
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from ..engine.run_files import LOCK_NAME, model_folder_problems
from ..registry import default_processor, method_of_model_type, read_saved_config, saved_method
from .cards import load_results, write_model_card
from .export import NATIVE_FORMATS, export_to_transformers, exporter_for, native_targets_help
from .remote_code import export_remote_code

PUSH_FORMATS = ("native", *NATIVE_FORMATS, "remote-code")
PROCESSOR_FILES = ("preprocessor_config.json", "video_preprocessor_config.json", "processor_config.json")
# Files of a saved folder that make the model (`native` format); the card is generated, never copied.
MODEL_FILES = ("config.json", *PROCESSOR_FILES, "eval_results.json")
# Pickle formats can run code when loaded: no weights go up in them.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
# What Trainer writes next to the model: training state, never published.
TRAINER_FILES = (
    TRAINING_ARGS_NAME,
    TRAINER_STATE_NAME,
    OPTIMIZER_NAME,
    OPTIMIZER_NAME_BIN,
    SCHEDULER_NAME,
    SCALER_NAME,
)
NOTHING_UPLOADED = "nothing was uploaded"
NO_TOKEN = (
    f"no Hugging Face token found: log in with `hf auth login` or pass --token / set HF_TOKEN ({NOTHING_UPLOADED})."
)


@dataclass
class PushResult:
    repo_id: str
    format: str
    files: list[tuple[str, int]]  # (path in the repo, size in bytes) of every file uploaded, or that would be
    left_out: list[str] = field(default_factory=list)  # entries of the source folder that were not uploaded, and why
    dry_run_dir: str | None = None
    url: str | None = None  # the repo's URL after a real push


def _is_trainer_file(name: str) -> bool:
    return name in TRAINER_FILES or (name.startswith("rng_state") and name.endswith(".pth"))


def check_model_folder(model_dir: str) -> list[str]:
    """Refuse a folder that cannot be published (not an hf_jepa model, no safetensors weights, pickle weights);
    returns what the native format leaves out of it, with the reason."""
    saved_method(model_dir)  # reads config.json only: never runs a folder's code
    names = sorted(os.listdir(model_dir))
    links = [n for n in names if _is_model_file(n) and os.path.islink(os.path.join(model_dir, n))]
    if links:
        raise ValueError(
            f"`{model_dir}` holds symbolic links {links}: a push uploads the folder's own files only (a link may "
            "point anywhere on this machine). Copy the files themselves into the folder."
        )
    problems = model_folder_problems(model_dir)
    if problems:
        raise ValueError(f"`{model_dir}` cannot be published: {'; '.join(problems)} ({NOTHING_UPLOADED}).")
    pickles = [n for n in names if n.endswith(PICKLE_SUFFIXES) and not _is_trainer_file(n)]
    if pickles:
        raise ValueError(
            f"`{model_dir}` holds pickle weights {pickles}: only safetensors weights are published (a pickle can run "
            "code when loaded). Re-save the model with `save_pretrained` and remove them."
        )
    if not any(n.endswith(".safetensors") for n in names):
        raise ValueError(f"`{model_dir}` has no safetensors weights (model.safetensors): nothing to publish.")
    left_out = []
    for name in names:
        if name.startswith(f"{PREFIX_CHECKPOINT_DIR}-") and os.path.isdir(os.path.join(model_dir, name)):
            left_out.append(f"{name}/ (Trainer checkpoint)")
        elif _is_trainer_file(name):
            left_out.append(f"{name} (Trainer state)")
        elif name == "README.md":
            left_out.append(f"{name} (replaced by a card for the repo; its license and source are kept)")
        elif name == LOCK_NAME:
            continue
        elif not _is_model_file(name):
            left_out.append(f"{name}{'/' if os.path.isdir(os.path.join(model_dir, name)) else ''} (not model files)")
    return left_out


def _is_model_file(name: str) -> bool:
    return name in MODEL_FILES or name.endswith((".safetensors", ".safetensors.index.json"))


def published_model_type(saved_config: dict, format: str) -> str:
    """The `model_type` of the config.json that `format` publishes for one of our saved models (its config.json)."""
    model_type = saved_config["model_type"]
    if format in NATIVE_FORMATS:
        target = exporter_for(model_type, format).target_of(saved_config)
        return getattr(transformers, target).config_class.model_type
    return model_type


def _stage_native(model_dir: str, staged: str) -> None:
    os.makedirs(staged)
    for name in sorted(os.listdir(model_dir)):
        if _is_model_file(name) and os.path.isfile(os.path.join(model_dir, name)):
            shutil.copyfile(os.path.join(model_dir, name), os.path.join(staged, name))
    config_path = os.path.join(staged, "config.json")
    with open(config_path, encoding="utf-8") as handle:
        config = json.load(handle)
    if config.pop("auto_map", None) is not None:
        # The native format loads through `import hf_jepa` and uploads no code: an `auto_map` would point at none.
        with open(config_path, "w", encoding="utf-8") as handle:
            json.dump(config, handle, indent=2, sort_keys=True)
            handle.write("\n")
    if not any(os.path.isfile(os.path.join(staged, name)) for name in PROCESSOR_FILES):
        method = method_of_model_type(config["model_type"])
        default_processor(method, method.config_class.from_pretrained(staged)).save_pretrained(staged)


SOURCE_HEADING = "## Source of the weights"


def card_provenance(model_dir: str) -> tuple[str | None, str | None]:
    """The "Source of the weights" note and the license of the folder's own card (`hf-jepa convert` writes both for
    converted official weights, and users may edit the license): the regenerated card must not lose them."""
    path = os.path.join(model_dir, "README.md")
    if not os.path.isfile(path):
        return None, None
    try:
        card = ModelCard.load(path)
    except ValueError as error:
        raise ValueError(f"Cannot read {path}, whose license and source the new card keeps: {error}") from error
    source = None
    if SOURCE_HEADING in card.text:
        section = card.text.split(SOURCE_HEADING, 1)[1]
        source = re.split(r"\n## ", section, maxsplit=1)[0].strip() or None
    return source, card.data.license


def stage_upload_folder(model_dir: str, staged: str, format: str, repo_id: str) -> None:
    """Write to `staged` exactly what a push of `model_dir` in `format` uploads, with a card naming `repo_id`."""
    results = load_results(model_dir)
    source, license = card_provenance(model_dir)
    card = dict(model_id=repo_id, source=source, license=license)
    if format == "native":
        _stage_native(model_dir, staged)
        write_model_card(staged, results, **card)
    elif format in NATIVE_FORMATS:
        export = export_to_transformers(model_dir, staged, format)
        write_model_card(model_dir, results, export=export, **card)
    else:
        export_remote_code(model_dir, staged)
        write_model_card(staged, results, **card)
    pickles = [str(p) for p in Path(staged).rglob("*") if p.name.endswith(PICKLE_SUFFIXES)]
    if pickles:  # the exporters write safetensors only; never let a pickle through if that changes
        raise ValueError(f"Refusing to upload pickle files {pickles}.")
    verify_upload_folder(staged, format)


def verify_upload_folder(staged: str, format: str) -> None:
    """What is about to go up loads: every weight file whole (header and sizes), the config readable, and the
    weights exactly those the config's model needs (its encoder complete, nothing misshapen)."""
    problems = model_folder_problems(staged)
    if problems:
        raise ValueError(f"The upload folder is not a loadable model: {'; '.join(problems)} ({NOTHING_UPLOADED}).")
    try:
        _, info = AutoModel.from_pretrained(staged, output_loading_info=True, trust_remote_code=False)
    except (OSError, ValueError, RuntimeError) as error:
        raise ValueError(f"The upload folder does not load ({error}); {NOTHING_UPLOADED}.") from error
    wrong = {kind: keys for kind, keys in info.items() if kind in ("missing_keys", "mismatched_keys") and keys}
    if wrong:
        raise ValueError(f"The upload folder's weights do not fit its config ({wrong}); {NOTHING_UPLOADED}.")


def _listing(folder: str) -> list[tuple[str, int]]:
    return [
        (path.relative_to(folder).as_posix(), path.stat().st_size)
        for path in sorted(Path(folder).rglob("*"))
        if path.is_file()
    ]


def _print_listing(title: str, files: list[tuple[str, int]]) -> None:
    print(title)
    width = max(len(path) for path, _ in files)
    for path, size in files:
        print(f"  {path:<{width}}  {size:>13,} bytes")


def _is_empty_folder(path: str) -> bool:
    return os.path.isdir(path) and not os.listdir(path)


def _check_repo_id(repo_id: str) -> None:
    try:
        validate_repo_id(repo_id)
    except ValueError as error:
        raise ValueError(f"`repo_id` must be `name` or `namespace/name`: {error}") from error


def _offline() -> bool:
    """huggingface_hub's offline mode, also when the variable was set after it was imported."""
    variables = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    return constants.is_offline_mode() or any(
        os.environ.get(name, "").upper() in constants.ENV_VARS_TRUE_VALUES for name in variables
    )


def _no_network(endpoint: str, reason) -> ValueError:
    return ValueError(
        f"no network: cannot reach the Hub at {endpoint} ({reason}): {NOTHING_UPLOADED}; use --dry-run to inspect "
        "the folder."
    )


def _whoami(api: HfApi) -> dict:
    try:
        return api.whoami()
    except HfHubHTTPError as error:
        if getattr(error.response, "status_code", None) == 401:
            raise ValueError(
                "invalid token: the Hub rejected it (401). Log in again with `hf auth login`, or pass another "
                f"--token / HF_TOKEN ({NOTHING_UPLOADED})."
            ) from error
        raise ValueError(f"could not check the token with the Hub: {error} ({NOTHING_UPLOADED}).") from error
    except (httpx2.TransportError, OSError) as error:
        raise _no_network(api.endpoint, error) from error


def remote_config(api: HfApi, repo_id: str) -> tuple[bool, dict | None]:
    """Whether `repo_id` exists (as far as the token can see) and its config.json, if it has one."""
    try:
        response = get_session().get(
            f"{api.endpoint}/{repo_id}/resolve/main/config.json", headers=build_hf_headers(token=api.token)
        )
        hf_raise_for_status(response)
    except RepositoryNotFoundError:
        return False, None
    except (RemoteEntryNotFoundError, RevisionNotFoundError):
        return True, None
    except HfHubHTTPError as error:
        raise ValueError(
            f"could not read the config.json of {repo_id} on the Hub: {error} ({NOTHING_UPLOADED})."
        ) from error
    except (httpx2.TransportError, OSError) as error:
        raise _no_network(api.endpoint, error) from error
    try:
        config = response.json()
    except ValueError:
        config = None
    return True, config if isinstance(config, dict) else {}  # not a JSON object: not a config we may overwrite


def check_remote_model_type(repo_id: str, remote: dict | None, expected: str) -> None:
    """Refuse to push an `expected` model over a repo whose config.json is another kind of model."""
    if remote is None:
        return
    found = remote.get("model_type")
    if found == expected:
        return
    try:
        what = f"a {method_of_model_type(found).name} model (model_type `{found}`)"
    except ValueError:
        what = f"a model of type `{found}`" if found else "a config.json without a model_type"
    raise ValueError(
        f"the Hub repo {repo_id} already holds {what}, not this `{expected}` model: refusing to mix them "
        f"({NOTHING_UPLOADED}). Pick another --repo_id, or remove the repo's config.json first if you mean to "
        "replace it."
    )


@dataclass
class HubAccess:
    api: HfApi
    repo_id: str  # with its namespace
    repo_exists: bool


def check_push_access(
    repo_id: str, model_type: str, token: str | None = None, endpoint: str | None = None
) -> HubAccess:
    """Everything a push needs from the Hub, checked before any upload: a token (argument, else HF_TOKEN or the saved
    login), the network, the token's validity, and a repo that is new or holds the same `model_type`. A `repo_id`
    without a namespace goes under the token's user. Returns a `HubAccess`; every failure is a ValueError."""
    _check_repo_id(repo_id)
    token = token or get_token()
    if not token:
        raise ValueError(NO_TOKEN)
    # Read now, like HF_HUB_OFFLINE: huggingface_hub reads HF_ENDPOINT once, when it is imported.
    endpoint = (endpoint or os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")
    if _offline():
        raise _no_network(endpoint, "offline mode: HF_HUB_OFFLINE is set")
    api = HfApi(endpoint=endpoint, token=token)
    user = _whoami(api)
    if (user.get("auth", {}).get("accessToken") or {}).get("role") == "read":
        raise ValueError(f"the token is read-only: pushing needs a token with write access ({NOTHING_UPLOADED}).")
    if "/" not in repo_id:
        repo_id = f"{user['name']}/{repo_id}"
    exists, config = remote_config(api, repo_id)
    check_remote_model_type(repo_id, config, model_type)
    return HubAccess(api, repo_id, exists)


def _upload(access: HubAccess, staged: str, private: bool, commit_message: str) -> str:
    api, repo_id = access.api, access.repo_id
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
    except (httpx2.HTTPError, OSError) as error:
        raise ValueError(f"could not create the Hub repo {repo_id}: {error} ({NOTHING_UPLOADED}).") from error
    # One commit: the Hub applies a commit entirely or not at all, so a failed upload leaves no partial model behind.
    try:
        commit = api.upload_folder(repo_id=repo_id, folder_path=staged, commit_message=commit_message)
    except (httpx2.HTTPError, OSError, ValueError) as error:  # ValueError: the Hub refused the card's metadata
        repo = "already existed and is unchanged" if access.repo_exists else "was created by this push and is empty"
        raise ValueError(
            f"the upload to {repo_id} failed: {error}. No files were committed (one commit, all or nothing); the repo "
            f"{repo}."
        ) from error
    return str(commit.repo_url)


def push_to_hub(
    model_dir: str,
    repo_id: str,
    *,
    format: str = "native",
    private: bool = False,
    token: str | None = None,
    dry_run_dir: str | None = None,
    commit_message: str | None = None,
    endpoint: str | None = None,
) -> PushResult:
    """Publish the hf_jepa folder `model_dir` to the Hub repo `repo_id` (`user/name`, or `name` under the token's
    user).

    `format`: `native` (our model + processor, loaded with `import hf_jepa`), `transformers` (transformers' own
    classes, see `export_to_transformers`) or `remote-code` (the full model with our model files). Every format goes
    up with safetensors weights only and a model card generated for the repo; Trainer checkpoints and state never go.
    `dry_run_dir`: write the exact upload folder there (a new or empty folder), list it, and use no network at all.
    `endpoint`: the Hub's URL (default: HF_ENDPOINT, else https://huggingface.co).
    """
    if format not in PUSH_FORMATS:
        raise ValueError(f"`format` must be one of {list(PUSH_FORMATS)}, got {format!r}.")
    _check_repo_id(repo_id)
    left_out = check_model_folder(model_dir)
    if dry_run_dir is not None and os.path.exists(dry_run_dir) and not _is_empty_folder(dry_run_dir):
        raise ValueError(f"`dry_run_dir` {dry_run_dir!r} must be a new or empty folder: it receives the exact upload.")
    saved_config = read_saved_config(model_dir)
    access = None
    if dry_run_dir is None:  # the Hub is checked before the (possibly slow) export: a push fails fast
        access = check_push_access(repo_id, published_model_type(saved_config, format), token, endpoint)
        repo_id = access.repo_id
    visibility = "private" if private else "public"
    with tempfile.TemporaryDirectory(prefix="hf_jepa-push-") as tmp:
        staged = os.path.join(tmp, repo_id.split("/")[-1])  # named after the repo: the card's model name
        stage_upload_folder(model_dir, staged, format, repo_id)
        files = _listing(staged)
        if dry_run_dir is not None:
            shutil.copytree(staged, dry_run_dir, dirs_exist_ok=True)
            _print_listing(f"Dry run: the upload folder for {repo_id} ({format} format), in {dry_run_dir}:", files)
            print(f"Left out of {model_dir}: {', '.join(left_out) or 'nothing'}.")
            print(
                f"Nothing was sent. Without --dry-run: check the token, create {repo_id} if missing ({visibility}; an "
                f"existing repo keeps its visibility) and upload these {len(files)} files in one commit."
            )
            return PushResult(repo_id, format, files, left_out, dry_run_dir=dry_run_dir)
        _print_listing(f"Uploading to {repo_id} ({format} format, {visibility} if created):", files)
        print(f"Left out of {model_dir}: {', '.join(left_out) or 'nothing'}.")
        method = method_of_model_type(saved_config["model_type"])
        message = commit_message or f"Upload {method.name} model with hf_jepa ({format})"
        url = _upload(access, staged, private, message)
    print(f"Pushed {len(files)} files to {url} in one commit.")
    return PushResult(repo_id, format, files, left_out, url=url)


def training_push_repo(training_args, model_type: str) -> str | None:
    """For `hf-jepa pretrain --push_to_hub`: runs the checks of `push_to_hub` before training (a run never ends in a
    push that could not work) and returns the repo to push to once the model is evaluated, or None. Turns the
    Trainer's own pushes off (every checkpoint, end of training): the run is pushed once, with its evaluated card."""
    if not training_args.push_to_hub:
        return None
    training_args.push_to_hub = False
    if training_args.process_index != 0:
        return None
    repo_id = training_args.hub_model_id or Path(training_args.output_dir).absolute().name  # Trainer's default name
    return check_push_access(repo_id, model_type, training_args.hub_token).repo_id


def push_training_run(training_args, repo_id: str | None) -> PushResult | None:
    """Push the run's `output_dir` (native format) to the repo `training_push_repo` returned (nothing if None)."""
    if repo_id is None:
        return None
    private = bool(training_args.hub_private_repo)
    return push_to_hub(training_args.output_dir, repo_id, private=private, token=training_args.hub_token)


@dataclass
class PushArguments:
    model: str = field(metadata={"help": "A folder saved by `hf-jepa pretrain` (or any hf_jepa model folder)."})
    repo_id: str = field(
        metadata={"help": "The Hub repo: `user/name`, `org/name`, or `name` (then under the token's user)."}
    )
    format: str = field(
        default="native",
        metadata={
            "help": "'native': our model and processor, loaded with `import hf_jepa` + AutoModel. 'transformers': "
            f"the published encoder as transformers' own class ({native_targets_help()}), no hf_jepa needed. "
            "'transformers-pretraining': transformers' own pretraining class where it holds more "
            f"({native_targets_help('transformers-pretraining')}). "
            "'remote-code': the full pretraining model with our model files (trust_remote_code=True).",
            "choices": list(PUSH_FORMATS),
        },
    )
    private: bool = field(
        default=False, metadata={"help": "Create the repo private (an existing repo keeps its visibility)."}
    )
    token: str | None = field(
        default=None, metadata={"help": "A Hub token with write access; else HF_TOKEN, else the `hf auth login` one."}
    )
    dry_run: str | None = field(
        default=None,
        metadata={
            "help": "Write the exact folder that would be uploaded to this new or empty folder, list it, and send "
            "nothing (no network at all).",
            "metavar": "OUT_DIR",
        },
    )
    commit_message: str | None = field(default=None, metadata={"help": "Message of the upload commit."})


def push(argv: list[str]) -> PushResult:
    """The `hf-jepa push` command."""
    parser = HfArgumentParser(
        PushArguments,
        prog="hf-jepa push",
        description="Publish a saved hf_jepa model to the Hugging Face Hub: weights (safetensors only), config, image "
        "processor and a model card generated for the repo, in one commit. Trainer checkpoints, optimizer states and "
        "training_args.bin are never uploaded; a folder with pickle weights is refused. The token, the network and "
        "the repo (new, or holding the same kind of model) are checked before anything is uploaded.",
    )
    (args,) = parser.parse_args_into_dataclasses(argv)
    return push_to_hub(
        args.model,
        args.repo_id,
        format=args.format,
        private=args.private,
        token=args.token,
        dry_run_dir=args.dry_run,
        commit_message=args.commit_message,
    )


__all__ = [
    "PUSH_FORMATS",
    "HubAccess",
    "PushArguments",
    "PushResult",
    "check_model_folder",
    "check_push_access",
    "card_provenance",
    "check_remote_model_type",
    "push",
    "push_to_hub",
    "push_training_run",
    "remote_config",
    "stage_upload_folder",
    "training_push_repo",
]
