"""`push_to_hub` / `hf-jepa push`: the exact upload folder (dry run), and every check before the network call.

Nothing here reaches the real Hub. The checks that talk to a Hub run against a small local HTTP server that answers
the Hub's API; it never accepts a commit, so no test can pass on a faked upload.
"""

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import transformers.trainer
from huggingface_hub import ModelCard, constants
from safetensors import safe_open

import hf_jepa
from hf_jepa import IJEPASSLForPreTraining, SSLImageProcessor, SSLTrainer
from hf_jepa.cli import USAGE, main
from hf_jepa.hub.cards import write_model_card
from hf_jepa.hub.push import PUSH_FORMATS, check_remote_model_type, push_to_hub
from tests.test_hub import results_for, saved
from tests.tiny import tiny_ijepa_config, tiny_training_args

MODELS_DIR = Path(hf_jepa.__file__).parent / "models"
GOOD_TOKEN, READ_TOKEN = "hf_good_token", "hf_read_token"


# ---- fixtures -------------------------------------------------------------------------------------------------------
@pytest.fixture
def hub_env(monkeypatch, tmp_path):
    """No token anywhere (no HF_TOKEN, an empty HF_HOME), online, the default endpoint."""
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    home = tmp_path / "hf_home"
    home.mkdir()
    monkeypatch.setenv("HF_HOME", str(home))
    # huggingface_hub reads these paths once, at import: point them at the empty home as well.
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(home / "token"))
    monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(home / "stored_tokens"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    return home


@pytest.fixture
def no_network(monkeypatch):
    """Fails the test on any attempt to open a connection; returns the attempts."""
    attempts = []

    def refuse(sock, address, *args):
        attempts.append(address)
        raise AssertionError(f"network access to {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


class FakeHub(ThreadingHTTPServer):
    """The Hub endpoints a push calls, for user `alice`: whoami, a repo's config.json, repo creation and metadata
    validation. Commits are refused (403), like a Hub that denies the write at the last step."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _FakeHubHandler)
        self.url = f"http://127.0.0.1:{self.server_port}"
        self.repos: dict[str, dict | None] = {}  # repo id -> its config.json (None: a repo without one)
        self.requests: list[tuple[str, str, str | None, dict]] = []  # (method, path, authorization, json body)

    def posts(self) -> list[str]:
        return [path for method, path, _, _ in self.requests if method == "POST"]


class _FakeHubHandler(BaseHTTPRequestHandler):
    def _reply(self, status: int, body: dict, error_code: str | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        if error_code:
            self.send_header("X-Error-Code", error_code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _record(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        self.server.requests.append((self.command, self.path, self.headers.get("Authorization"), body))
        return body

    def do_GET(self):
        self._record()
        hub = self.server
        if self.path == "/api/whoami-v2":
            token = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
            roles = {GOOD_TOKEN: "write", READ_TOKEN: "read"}
            if token not in roles:
                return self._reply(401, {"error": "Invalid credentials in Authorization header"})
            return self._reply(200, {"type": "user", "name": "alice", "auth": {"accessToken": {"role": roles[token]}}})
        repo_id = self.path.removesuffix("/resolve/main/config.json").lstrip("/")
        if repo_id not in hub.repos:
            return self._reply(404, {"error": "Repository not found"}, "RepoNotFound")
        if hub.repos[repo_id] is None:
            return self._reply(404, {"error": "Entry not found"}, "EntryNotFound")
        return self._reply(200, hub.repos[repo_id])

    def do_POST(self):
        body = self._record()
        if self.path == "/api/repos/create":
            return self._reply(200, {"url": f"{self.server.url}/{body['organization']}/{body['name']}"})
        if self.path == "/api/validate-yaml":
            return self._reply(200, {"errors": [], "warnings": []})
        return self._reply(403, {"error": "You don't have the rights to create a commit in this repo"})

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_hub(hub_env):
    hub = FakeHub()
    thread = threading.Thread(target=hub.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield hub
    hub.shutdown()
    hub.server_close()


def run_folder(tmp_path, method="ijepa", processor=True):
    """A folder as `hf-jepa pretrain` leaves it, with what Trainer writes next to the model."""
    folder = saved(tmp_path, method)
    if processor:
        SSLImageProcessor(size={"height": 32, "width": 32}, image_mean=[0.5, 0.4, 0.3]).save_pretrained(folder)
    (folder / "training_args.bin").write_bytes(b"pickled TrainingArguments")
    (folder / "README.md").write_text("# an old card\n")
    checkpoint = folder / "checkpoint-3"
    checkpoint.mkdir()
    (checkpoint / "optimizer.pt").write_bytes(b"pickled optimizer state")
    (checkpoint / "model.safetensors").write_bytes((folder / "model.safetensors").read_bytes())
    (folder / "runs").mkdir()
    (folder / "runs" / "events.out.tfevents").write_bytes(b"logs")
    return folder


def listing(folder: Path) -> list[tuple[str, int]]:
    return sorted((p.relative_to(folder).as_posix(), p.stat().st_size) for p in folder.rglob("*") if p.is_file())


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---- dry run: the exact upload folder -------------------------------------------------------------------------------
EXPECTED_FILES = {
    "native": {"README.md", "config.json", "model.safetensors", "preprocessor_config.json", "eval_results.json"},
    "transformers": {"README.md", "config.json", "model.safetensors", "preprocessor_config.json"},
    "transformers-pretraining": {"README.md", "config.json", "model.safetensors", "preprocessor_config.json"},
    "remote-code": {"README.md", "config.json", "model.safetensors", "preprocessor_config.json"},
}
PUBLISHED_TYPE = {
    ("native", "ijepa"): "ijepa_ssl",
    ("native", "dino"): "dino_ssl",
    ("transformers", "mae"): "vit",
    ("transformers-pretraining", "mae"): "vit_mae",
    ("remote-code", "dino"): "dino_ssl",
}


@pytest.mark.parametrize(
    "format, method, processor",
    [
        ("native", "ijepa", True),
        ("native", "dino", False),
        ("transformers", "mae", True),
        ("transformers-pretraining", "mae", True),
        ("remote-code", "dino", True),
    ],
)
def test_dry_run_writes_exactly_the_upload_folder(format, method, processor, tmp_path, hub_env, no_network, capsys):
    folder = run_folder(tmp_path, method, processor)
    out = tmp_path / "dry"
    repo_id = f"alice/tiny-{method}"
    result = push_to_hub(str(folder), repo_id, format=format, private=True, dry_run_dir=str(out))

    files = listing(out)
    names = {name for name, _ in files}
    code = {name for name in names if name.endswith(".py")}
    assert names - code == EXPECTED_FILES[format]
    assert result.files == files and result.dry_run_dir == str(out) and result.url is None
    # Remote code is only ever our own model files, byte for byte.
    assert bool(code) == (format == "remote-code")
    for name in code:
        assert (out / name).read_bytes() == (MODELS_DIR / name).read_bytes()
    # Weights: safetensors only, and (native) the saved file itself.
    with safe_open(out / "model.safetensors", framework="pt") as weights:
        assert len(list(weights.keys())) > 0
    if format == "native":
        assert (out / "model.safetensors").read_bytes() == (folder / "model.safetensors").read_bytes()
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == PUBLISHED_TYPE[format, method]
    assert ("auto_map" in config) == (format == "remote-code")
    processor_config = json.loads((out / "preprocessor_config.json").read_text())
    assert processor_config["size"] == {"height": 32, "width": 32}
    assert processor_config["image_mean"] == ([0.5, 0.4, 0.3] if processor else [0.485, 0.456, 0.406])
    # Trainer checkpoints and state, logs and the old card stay behind, and the user is told.
    assert sorted(result.left_out) == [
        "README.md (replaced by a card for the repo; its license and source are kept)",
        "checkpoint-3/ (Trainer checkpoint)",
        "runs/ (not model files)",
        "training_args.bin (Trainer state)",
    ]
    # The card: metadata that huggingface_hub parses back, the repo id in the loading snippets, the run's numbers.
    card = ModelCard.load(out / "README.md")
    assert ModelCard(str(card)).data.to_dict() == card.data.to_dict()
    assert card.data.library_name == ("transformers" if format.startswith("transformers") else "hf_jepa")
    assert card.data.model_name == "tiny-" + method and method in card.data.tags
    assert card.data.eval_results[0].metric_value == results_for(method)["knn_top1"]
    assert f'from_pretrained("{repo_id}")' in card.text and str(folder) not in card.text
    # The listing: every file with its size, and what a real push would do.
    printed = capsys.readouterr().out
    for name, size in files:
        assert f"{name} " in printed and f"{size:,} bytes" in printed
    assert "checkpoint-3/ (Trainer checkpoint)" in printed and "training_args.bin (Trainer state)" in printed
    assert repo_id in printed and format in printed and "private" in printed and "Nothing was sent" in printed
    assert no_network == []


def test_dry_run_of_a_bare_name_names_it_as_given(tmp_path, hub_env, no_network):
    out = tmp_path / "dry"
    result = push_to_hub(str(saved(tmp_path, "ijepa")), "my-model", dry_run_dir=str(out))
    assert result.repo_id == "my-model"
    assert 'from_pretrained("my-model")' in ModelCard.load(out / "README.md").text
    assert no_network == []


@pytest.mark.parametrize("format", ["native", "transformers"])
def test_converted_weights_keep_their_license_and_source(format, tmp_path, hub_env, no_network):
    """A folder written by `hf-jepa convert` says where its weights come from and their license: the card pushed
    in their place must say the same."""
    folder = saved(tmp_path, "ijepa", with_results=False)
    note = "These weights were converted from `IN1K-vit.h.14-300e.pth.tar` of the official code."
    write_model_card(str(folder), results={}, source=note, license="cc-by-nc-4.0")
    out = tmp_path / "dry"
    push_to_hub(str(folder), "alice/converted", format=format, dry_run_dir=str(out))
    card = ModelCard.load(out / "README.md")
    assert card.data.license == "cc-by-nc-4.0"
    assert card.text.split("## Source of the weights\n\n", 1)[1].startswith(note + "\n\n## ")
    assert 'from_pretrained("alice/converted")' in card.text


# ---- folders that cannot go up --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["pytorch_model.bin", "model.pt", "weights.pkl"])
def test_pickle_weights_are_refused(name, tmp_path, hub_env, no_network):
    folder = saved(tmp_path, "ijepa")
    (folder / name).write_bytes(b"pickle")
    with pytest.raises(ValueError, match=rf"pickle weights \['{name}'\]: only safetensors"):
        push_to_hub(str(folder), "alice/x", dry_run_dir=str(tmp_path / "dry"))
    with pytest.raises(ValueError, match="pickle weights"):  # a real push is refused before the token is looked at
        push_to_hub(str(folder), "alice/x", token=GOOD_TOKEN)
    assert not (tmp_path / "dry").exists() and no_network == []


def test_folders_that_are_not_publishable(tmp_path, hub_env, no_network):
    folder = saved(tmp_path, "mae")
    with pytest.raises(ValueError, match="no config.json"):
        push_to_hub(str(tmp_path / "missing"), "alice/x", dry_run_dir=str(tmp_path / "dry"))
    (folder / "model.safetensors").unlink()
    with pytest.raises(ValueError, match="no model.safetensors"):
        push_to_hub(str(folder), "alice/x", dry_run_dir=str(tmp_path / "dry"))
    (tmp_path / "vit").mkdir()
    (tmp_path / "vit" / "config.json").write_text(json.dumps({"model_type": "vit"}))
    with pytest.raises(ValueError, match="not an hf_jepa one"):
        push_to_hub(str(tmp_path / "vit"), "alice/x", dry_run_dir=str(tmp_path / "dry"))
    assert no_network == []


def test_bad_arguments(tmp_path, hub_env, no_network):
    folder = str(saved(tmp_path, "ijepa"))
    with pytest.raises(ValueError, match="`format` must be one of"):
        push_to_hub(folder, "alice/x", format="onnx", dry_run_dir=str(tmp_path / "dry"))
    with pytest.raises(ValueError, match="`repo_id` must be `name` or `namespace/name`"):
        push_to_hub(folder, "alice/x/y", dry_run_dir=str(tmp_path / "dry"))
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="must be a new or empty folder"):
        push_to_hub(folder, "alice/x", dry_run_dir=str(tmp_path / "full"))
    assert (tmp_path / "full" / "notes.txt").read_text() == "mine" and no_network == []


# ---- token and network, checked before anything is uploaded ---------------------------------------------------------
def test_no_token_is_a_clear_error_before_any_network_call(tmp_path, hub_env, no_network, capsys):
    folder = str(saved(tmp_path, "ijepa"))
    assert main(["push", "--model", folder, "--repo_id", "alice/x"]) == 1
    error = capsys.readouterr().err.splitlines()[-1]
    assert error.startswith("hf-jepa push: error: no Hugging Face token found: log in with `hf auth login`")
    assert "--token / set HF_TOKEN" in error and "nothing was uploaded" in error
    assert no_network == []


def test_offline_mode_is_no_network(tmp_path, hub_env, no_network, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ValueError, match=r"no network: .*nothing was uploaded; use --dry-run to inspect the folder"):
        push_to_hub(str(saved(tmp_path, "ijepa")), "alice/x", token=GOOD_TOKEN)
    assert no_network == []


def test_unreachable_endpoint_is_no_network(tmp_path, hub_env, monkeypatch):
    endpoint = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    with pytest.raises(ValueError, match=rf"no network: cannot reach the Hub at {endpoint} .*nothing was uploaded"):
        push_to_hub(str(saved(tmp_path, "ijepa")), "alice/x", token=GOOD_TOKEN)


@pytest.mark.parametrize(
    "token, message", [("hf_wrong", "invalid token: the Hub rejected it"), (READ_TOKEN, "the token is read-only")]
)
def test_rejected_tokens(token, message, tmp_path, fake_hub):
    with pytest.raises(ValueError, match=message):
        push_to_hub(str(saved(tmp_path, "ijepa")), "alice/x", token=token, endpoint=fake_hub.url)
    assert [path for _, path, _, _ in fake_hub.requests] == ["/api/whoami-v2"]


def test_saved_login_is_used_when_no_token_is_given(tmp_path, fake_hub, hub_env, monkeypatch):
    (hub_env / "token").write_text(GOOD_TOKEN)
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.url)
    fake_hub.repos["alice/x"] = {"model_type": "vit"}
    with pytest.raises(ValueError, match="already holds"):
        push_to_hub(str(saved(tmp_path, "ijepa")), "alice/x")
    assert {auth for _, _, auth, _ in fake_hub.requests} == {f"Bearer {GOOD_TOKEN}"}


# ---- what the repo already holds ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "format, remote, message",
    [
        ("native", {"model_type": "mae_ssl"}, "already holds a mae model \\(model_type `mae_ssl`\\)"),
        ("native", {"model_type": "vit"}, "already holds a model of type `vit`"),
        ("transformers", {"model_type": "ijepa_ssl"}, "already holds a ijepa model .*not this `ijepa` model"),
        ("remote-code", {"_name_or_path": "x"}, "already holds a config.json without a model_type"),
    ],
)
def test_repo_of_another_kind_is_refused_before_any_upload(format, remote, message, tmp_path, fake_hub):
    fake_hub.repos["alice/digits"] = remote
    with pytest.raises(ValueError, match=message):
        # A bare name goes under the token's user: the check reads alice/digits.
        push_to_hub(str(saved(tmp_path, "ijepa")), "digits", format=format, token=GOOD_TOKEN, endpoint=fake_hub.url)
    assert fake_hub.posts() == []
    assert [path for _, path, _, _ in fake_hub.requests] == [
        "/api/whoami-v2",
        "/alice/digits/resolve/main/config.json",
    ]


def test_remote_model_type_rule():
    check_remote_model_type("alice/x", None, "ijepa_ssl")  # new repo, or one without config.json
    check_remote_model_type("alice/x", {"model_type": "ijepa_ssl"}, "ijepa_ssl")  # an update of the same model
    with pytest.raises(ValueError, match="already holds a dino model"):
        check_remote_model_type("alice/x", {"model_type": "dino_ssl"}, "ijepa_ssl")
    with pytest.raises(ValueError, match="already holds a model of type `dinov2`"):
        check_remote_model_type("alice/x", {"model_type": "dinov2"}, "ijepa_ssl")


@pytest.mark.parametrize("existing", [None, {"model_type": "ijepa_ssl"}, "absent"])
def test_failed_upload_says_nothing_was_committed(existing, tmp_path, fake_hub, capsys):
    """Up to the upload itself: a repo that is new, exists without a config, or holds the same model passes the
    checks, gets created (exist_ok), and the one commit, refused by the Hub, is reported as such."""
    if existing != "absent":
        fake_hub.repos["alice/run"] = existing
    folder = run_folder(tmp_path)
    with pytest.raises(ValueError, match="(?s)the upload to alice/run failed: .*No files were committed") as error:
        push_to_hub(str(folder), "run", private=True, token=GOOD_TOKEN, endpoint=fake_hub.url)
    created = "was created by this push and is empty"
    assert (created in str(error.value)) == (existing == "absent")
    assert ("already existed and is unchanged" in str(error.value)) == (existing != "absent")
    create = next(body for method, path, _, body in fake_hub.requests if path == "/api/repos/create")
    assert (create["organization"], create["name"], create["visibility"]) == ("alice", "run", "private")
    # The files offered in the one commit are the staged folder: no Trainer state, no checkpoint, a card for the repo.
    commit = next(body for method, path, _, body in fake_hub.requests if path.endswith("/preupload/main"))
    assert {f["path"] for f in commit["files"]} == EXPECTED_FILES["native"]
    validated = next(body for method, path, _, body in fake_hub.requests if path == "/api/validate-yaml")
    assert 'from_pretrained("alice/run")' in validated["content"]
    assert "Uploading to alice/run" in capsys.readouterr().out


# ---- the command line -----------------------------------------------------------------------------------------------
def test_cli_help_and_exit_codes(tmp_path, hub_env, no_network, capsys):
    assert "push" in USAGE.splitlines()[0] and "--dry-run OUT_DIR" in USAGE
    with pytest.raises(SystemExit) as exit_info:
        main(["push", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in ("--model", "--repo_id", "--private", "--token", "--dry-run OUT_DIR", "--commit_message"):
        assert option in text
    assert "{" + ",".join(PUSH_FORMATS) + "}" in text and "training_args.bin" in text
    with pytest.raises(SystemExit) as exit_info:
        main(["push", "--model", str(tmp_path)])  # no --repo_id
    assert exit_info.value.code == 2

    folder = str(run_folder(tmp_path))
    out = tmp_path / "dry"
    assert main(["push", "--model", folder, "--repo_id", "alice/x", "--dry-run", str(out), "--format", "native"]) == 0
    assert {name for name, _ in listing(out)} == EXPECTED_FILES["native"]
    assert main(["push", "--model", folder, "--repo_id", "alice/x", "--dry-run", str(out)]) == 1  # not empty now
    assert "hf-jepa push: error: `dry_run_dir`" in capsys.readouterr().err
    assert no_network == []


# ---- Trainer.push_to_hub and hf-jepa pretrain --push_to_hub ---------------------------------------------------------
def test_trainer_push_uploads_our_card(tmp_path, monkeypatch):
    output_dir = tmp_path / "run"
    trainer = SSLTrainer(
        model=IJEPASSLForPreTraining(tiny_ijepa_config()),
        args=tiny_training_args(output_dir),
        processing_class=SSLImageProcessor(size={"height": 32, "width": 32}),
        model_card_writer=write_model_card,
    )
    trainer.save_model()
    (output_dir / "eval_results.json").write_text(json.dumps(results_for("ijepa")))
    trainer.hub_model_id = "alice/tiny-run"  # what `init_hf_repo` sets from the Hub's answer

    uploaded = {}

    class RecordingApi:  # stands for the Hub client: records what Trainer.push_to_hub would upload
        def upload_folder(self, folder_path, **kwargs):
            uploaded["card"] = (Path(folder_path) / "README.md").read_text()

    monkeypatch.setattr(transformers.trainer, "hf_api", RecordingApi)
    trainer.push_to_hub()
    card = ModelCard(uploaded["card"])
    assert card.data.library_name == "hf_jepa" and "ijepa" in card.data.tags
    assert card.data.eval_results[0].metric_value == results_for("ijepa")["knn_top1"]
    assert 'from_pretrained("alice/tiny-run")' in card.text and "300 optimizer steps of batch 128" in card.text
    assert (output_dir / "README.md").read_text() == uploaded["card"]


PRETRAIN = ["--max_steps", "2", "--per_device_train_batch_size", "8", "--disable_tqdm", "true"]
PRETRAIN += ["--config_overrides", "hidden_size=32,num_hidden_layers=1,num_attention_heads=2,predictor_hidden_size=16"]


def test_pretrain_push_checks_the_hub_before_training(tmp_path, hub_env, no_network, capsys):
    output_dir = tmp_path / "run"
    argv = ["pretrain", "--output_dir", str(output_dir), "--push_to_hub", "--hub_model_id", "alice/run", *PRETRAIN]
    assert main(argv) == 1
    assert "hf-jepa pretrain: error: no Hugging Face token found" in capsys.readouterr().err
    assert not (output_dir / "config.json").exists()  # failed before training, not after
    assert no_network == []


@pytest.mark.slow  # trains 2 steps and evaluates on the digits
def test_pretrain_pushes_once_after_the_evaluation(tmp_path, fake_hub, monkeypatch, capsys):
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.url)
    output_dir = tmp_path / "run"
    argv = ["pretrain", "--output_dir", str(output_dir), "--push_to_hub", "--hub_token", GOOD_TOKEN, *PRETRAIN]
    assert main(argv) == 1  # the fake Hub refuses the commit
    assert "hf-jepa pretrain: error: the upload to alice/run failed" in capsys.readouterr().err
    results = json.loads((output_dir / "eval_results.json").read_text())
    # Checked before training (whoami, the repo), then one push after the evaluation, none by the Trainer itself.
    paths = [path for _, path, _, _ in fake_hub.requests]
    assert paths[:2] == ["/api/whoami-v2", "/alice/run/resolve/main/config.json"]
    assert paths.count("/api/repos/create") == 1 and sum(p.endswith("/preupload/main") for p in paths) == 1
    commit = next(body for _, path, _, body in fake_hub.requests if path.endswith("/preupload/main"))
    assert {f["path"] for f in commit["files"]} == EXPECTED_FILES["native"]  # no training_args.bin
    card = next(body for _, path, _, body in fake_hub.requests if path == "/api/validate-yaml")["content"]
    assert f"{results['knn_top1']:.3f}" in card and 'from_pretrained("alice/run")' in card
