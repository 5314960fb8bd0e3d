"""`hf-jepa compare`: its measures against independent computations, its presets and budgets, and a whole small
comparison end to end (outputs, resume without retraining, clear refusals before anything trains)."""

import json

import pytest
import torch
import torch.nn.functional as F

from hf_jepa import METHODS
from hf_jepa.compare import PRESETS, Budget, Variant, cka_matrix, default_methods, linear_cka, resolve_variants
from hf_jepa.compare.flops import flop_counter_mode
from hf_jepa.compare.presets import PRESETS as PRESET_TABLE
from hf_jepa.compare.probes import attentive_probe_top1, few_shot_indices
from hf_jepa.compare.report import claims, markdown_table, summarize
from hf_jepa.compare.runs import evaluation_steps


def kernel_cka(x: torch.Tensor, y: torch.Tensor) -> float:
    """CKA from its definition with Gram matrices: HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)), H the centring matrix."""
    n = x.shape[0]
    h = torch.eye(n, dtype=torch.float64) - 1.0 / n
    k, lam = x.double() @ x.double().T, y.double() @ y.double().T

    def hsic(a, b):
        return torch.trace(a @ h @ b @ h)

    return float(hsic(k, lam) / (hsic(k, k) * hsic(lam, lam)).sqrt())


def test_linear_cka_equals_the_kernel_definition_and_its_invariances():
    x, y = torch.randn(50, 7), torch.randn(50, 4)
    y = y + x[:, :4]  # related, not equal
    assert linear_cka(x, y) == pytest.approx(kernel_cka(x, y), abs=1e-10)
    rotation, _ = torch.linalg.qr(torch.randn(7, 7))
    assert linear_cka(x, 3.0 * x @ rotation + 2.0) == pytest.approx(1.0, abs=1e-10)  # rotation, scale, shift
    assert linear_cka(x, torch.zeros(50, 3)) == 0.0
    names, matrix = cka_matrix({"a": x, "b": y, "c": x})
    assert names == ["a", "b", "c"] and torch.allclose(matrix, matrix.T)
    assert matrix[0, 2] == pytest.approx(1.0) and matrix[0, 1] == pytest.approx(kernel_cka(x, y))
    with pytest.raises(ValueError, match="same N"):
        linear_cka(x, torch.randn(49, 7))


def test_few_shot_indices_are_stratified_with_one_per_class_at_least():
    labels = torch.tensor([0] * 50 + [1] * 30 + [2] * 5)
    rows = few_shot_indices(labels, 0.1, seed=0)
    assert torch.bincount(labels[rows]).tolist() == [5, 3, 1]  # round(5), round(3), max(1, round(0.5))
    assert torch.equal(rows, few_shot_indices(labels, 0.1, seed=0))
    assert not torch.equal(rows, few_shot_indices(labels, 0.1, seed=1))
    with pytest.raises(ValueError, match="fraction"):
        few_shot_indices(labels, 0.0, seed=0)


def test_attentive_probe_finds_the_class_in_one_token_among_noise():
    generator = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 3, (800,), generator=generator)
    tokens = 0.5 * torch.randn(800, 6, 16, generator=generator)
    tokens[torch.arange(800), 2, :3] += 2 * F.one_hot(labels, 3).float()  # the class lives in token 2 only
    top1 = attentive_probe_top1(tokens[:600], labels[:600], tokens[600:], labels[600:], num_heads=2)
    assert top1 > 0.8  # chance: 1/3
    shuffled = attentive_probe_top1(tokens[:600], labels[:600][torch.randperm(600)], tokens[600:], labels[600:], 2)
    assert shuffled < 0.6  # labels unrelated to the tokens: near chance (1/3)


def test_flop_counter_counts_matmuls_and_attention_on_the_cpu():
    linear = torch.nn.Linear(8, 5, bias=False)
    inputs = torch.randn(4, 8, requires_grad=True)
    with flop_counter_mode() as counter:
        linear(inputs).sum().backward()
    assert counter.get_total_flops() == 3 * 2 * 4 * 8 * 5  # forward, and the two backward matmuls
    q = torch.randn(2, 3, 10, 16)
    with flop_counter_mode() as counter:
        F.scaled_dot_product_attention(q, q, q)
    assert counter.get_total_flops() == 4 * 2 * 3 * 10 * 10 * 16  # q k^T and attention @ v


def test_budgets_give_steps_or_refuse_clearly():
    assert Budget("steps", 40).steps("ijepa") == 40
    assert Budget("flops", 1e12).steps("ijepa", flops_per_step=3e10) == 33
    assert Budget("seconds", 60).steps("mae", seconds_per_step=0.5) == 120
    with pytest.raises(ValueError, match="budget_flops.*only 0 step"):
        Budget("flops", 1e9).steps("dino", flops_per_step=5e10)
    with pytest.raises(ValueError, match="kind"):
        Budget("epochs", 3)
    with pytest.raises(ValueError, match="positive"):
        Budget("seconds", 0)
    assert evaluation_steps(100, 4) == [25, 50, 75, 100]
    assert evaluation_steps(3, 4) == [1, 2, 3]


def test_variants_come_from_the_method_table_and_presets():
    image_methods = [name for name, m in METHODS.items() if m.modality == "image"]
    assert default_methods() == image_methods  # a method added to the table joins with no edit to the harness
    assert [v.label for v in resolve_variants(None, None)] == image_methods
    assert [v.method for v in resolve_variants(None, "targets")] == ["ijepa", "ijepa"]
    for name, (_, variants) in PRESETS.items():
        for variant in variants:
            assert not variant.missing_fields(), (name, variant)  # every preset builds with this version
            METHODS[variant.method].config_class(**METHODS[variant.method].default_config, **variant.config_overrides)
    with pytest.raises(ValueError, match="Unknown method.*'jepa'"):
        resolve_variants(["ijepa", "jepa"], None)
    with pytest.raises(ValueError, match="mixes modalities"):
        resolve_variants(["ijepa", "vjepa"], None)
    with pytest.raises(ValueError, match="Unknown `--preset nope`"):
        resolve_variants(None, "nope")
    with pytest.raises(ValueError, match="either"):
        resolve_variants(["ijepa"], "targets")


def test_common_config_overrides_apply_where_a_config_has_the_field(capsys):
    from hf_jepa.compare.presets import with_common_overrides

    variants = resolve_variants(None, "targets") + [Variant("dino", "dino")]
    common = {"hidden_size": 192, "prediction_target": "embeddings", "head_output_size": 256}
    (pixels,) = [v for v in with_common_overrides(variants, common) if v.label == "ijepa-pixels"]
    assert pixels.config_overrides == {"hidden_size": 192, "prediction_target": "pixels", "loss_type": "l2"}
    dino = with_common_overrides(variants, common)[-1]
    assert dino.config_overrides == {"hidden_size": 192, "head_output_size": 256}
    assert "['prediction_target'] do not apply to dino" in capsys.readouterr().out
    with pytest.raises(ValueError, match="no compared method's config has \\['hiden_size'\\]"):
        with_common_overrides(variants, {"hiden_size": 192})


def test_a_preset_variant_this_version_cannot_build_is_skipped_saying_so(monkeypatch, capsys):
    later = Variant("ijepa-later", "ijepa", {"a_field_of_a_later_version": 1})
    monkeypatch.setitem(PRESET_TABLE, "later", ("a later ablation", [Variant("ijepa", "ijepa"), later]))
    assert [v.label for v in resolve_variants(None, "later")] == ["ijepa"]
    assert "Skipping `ijepa-later`" in capsys.readouterr().out


def record(label, seed, knn, probe, **extra):
    return {"label": label, "method": label.split("-")[0], "seed": seed, "knn_top1": knn, "linear_probe_top1": probe,
            "train_flops": 2e12, **extra}  # fmt: skip


def test_summary_means_and_spreads_over_seeds_and_the_claims_read_the_numbers():
    records = [record("ijepa", 0, 0.5, 0.8), record("ijepa", 1, 0.7, 0.9), record("dino", 0, 0.6, 0.7)]
    summary = summarize(records)
    ijepa = summary[0]
    assert ijepa["seeds"] == 2 and ijepa["knn_top1"]["mean"] == pytest.approx(0.6)
    assert ijepa["knn_top1"]["std"] == pytest.approx(torch.tensor([0.5, 0.7]).std().item())
    assert ijepa["usability_gap"]["mean"] == pytest.approx(0.25) and ijepa["train_tflops"]["mean"] == 2.0
    table = markdown_table(summary)
    assert "| `ijepa` | 2 | 0.600 ± 0.141 |" in table and "| `dino` | 1 | 0.600 |" in table
    cka = {"names": ["ijepa", "dino", "mae"], "matrix": [[1, 0.8, 0.3], [0.8, 1, 0.2], [0.3, 0.2, 1]]}
    said = dict(claims(summary, cka))
    first = next(text for claim, text in said.items() if "surprisingly DINO" in claim)
    assert "0.80" in first and "0.30" in first and "closer to DINO's" in first and "supports" in first
    cka["matrix"][0][1] = cka["matrix"][1][0] = 0.1
    first = next(text for claim, text in dict(claims(summary, cka)).items() if "surprisingly DINO" in claim)
    assert "closer to MAE's" in first and "does not support" in first
    predictor = next(text for claim, text in said.items() if "predictor" in claim)
    assert "--preset predictor" in predictor  # not tested without the preset's variants


# ---- end to end, on a small image folder ------------------------------------------------------------------------
def digit_folder(root, classes=3, per_class=16):
    """train/ and val/ folders of real digits (scikit-learn's), `classes` classes, as PNG files."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    for label in range(classes):
        images = digits.images[digits.target == label][:per_class]
        for index, image in enumerate(images):
            split = "val" if index % 4 == 0 else "train"
            folder = root / split / f"digit{label}"
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray((image * 255 / 16).astype("uint8")).convert("RGB").save(folder / f"{index}.png")
    return root


def run_compare(output_dir, data, *extra):
    from hf_jepa.compare.command import compare

    argv = ["--output_dir", str(output_dir), "--dataset", str(data), "--eval_points", "2", "--disable_tqdm", "true"]
    return compare(argv + ["--per_device_train_batch_size", "8", "--eval_batch_size", "64", *extra])


@pytest.fixture(scope="module")
def small_digits(tmp_path_factory):
    return digit_folder(tmp_path_factory.mktemp("digits"))


def test_compare_writes_every_output_and_resumes_without_retraining(tmp_path, small_digits):
    from safetensors.torch import load_file
    from transformers import AutoModel

    out = tmp_path / "compare"
    results = run_compare(out, small_digits, "--methods", "ijepa,mae", "--max_steps", "4")
    runs = {run["label"]: run for run in results["runs"]}
    assert sorted(runs) == ["ijepa", "mae"]
    for label, run in runs.items():
        assert run["steps"] == 4 and run["images_seen"] == 4 * 8
        assert [point["step"] for point in run["curve"]] == [0, 2, 4]  # the initial weights, then each evaluation
        assert run["train_flops"] == pytest.approx(4 * run["flops_per_step"]) and run["flops_per_step"] > 0
        for key in ("knn_top1", "linear_probe_top1", "few_shot_10pct_linear_probe_top1", "random_init_knn_top1"):
            assert 0 <= run[key] <= 1
        # The model folder is a normal hf_jepa output, and the saved features are its published encoder's.
        encoder = AutoModel.from_pretrained(out / run["model_dir"]).eval()
        saved = torch.load(out / run["features_path"])
        assert encoder.config.model_type == METHODS[label].model_type
        assert len(saved["features"]) == len(saved["labels"]) == 12  # the val/ split: 4 per class
        del encoder
    assert "attentive_probe_top1" in runs["ijepa"] and "attentive_probe_top1" not in runs["mae"]  # the papers' probes
    cka = results["by_modality"]["image"]["cka"]
    assert cka["names"] == ["ijepa", "mae", "random-init"] and cka["matrix"][0][0] == pytest.approx(1.0)
    assert cka["matrix"][0][1] == pytest.approx(cka["matrix"][1][0])
    assert [row["seed"] for row in results["by_modality"]["image"]["random_init"]] == [0, 1, 2]
    report = (out / "report.md").read_text()
    for picture in ("cka.png", "features.png", "accuracy_curves.png", "training_curves.png"):
        assert (out / picture).stat().st_size > 0 and f"]({picture})" in report
    assert "| `ijepa` | 1 |" in (out / "results.md").read_text()
    assert json.loads((out / "results.json").read_text())["budget"] == {"kind": "steps", "value": 4}

    # An interrupted MAE run: its record and final model gone, its step-2 checkpoint left. The re-run finishes it from
    # there to the weights of the uninterrupted run and leaves the finished I-JEPA run alone.
    weights = load_file(out / "models/mae-seed0/model.safetensors")
    ijepa_record = (out / "runs/ijepa-seed0.json").stat().st_mtime_ns
    (out / "runs/mae-seed0.json").unlink()
    for name in ("model.safetensors", "config.json"):
        (out / "models/mae-seed0" / name).unlink()
    import shutil

    shutil.rmtree(out / "models/mae-seed0/checkpoint-4")
    again = run_compare(out, small_digits, "--methods", "ijepa,mae", "--max_steps", "4")
    resumed = load_file(out / "models/mae-seed0/model.safetensors")
    assert weights.keys() == resumed.keys()
    assert all(torch.equal(weights[name], resumed[name]) for name in weights)
    assert (out / "runs/ijepa-seed0.json").stat().st_mtime_ns == ijepa_record
    mae = next(run for run in again["runs"] if run["label"] == "mae")
    assert [point["step"] for point in mae["curve"]] == [0, 2, 4]
    assert mae["knn_top1"] == runs["mae"]["knn_top1"]


def test_compare_without_labels_runs_the_label_free_analyses(tmp_path, small_digits, capsys):
    results = run_compare(
        tmp_path / "c", small_digits, "--methods", "mae", "--max_steps", "2", "--label_column", "none"
    )
    assert "only the label-free analyses run" in capsys.readouterr().out
    (run,) = results["runs"]
    assert "knn_top1" not in run and run["feature_std"] > 0 and run["effective_rank"] > 0
    assert (tmp_path / "c" / "features.png").is_file() and not (tmp_path / "c" / "accuracy_curves.png").exists()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--methods", "mae", "--budget_flops", "1e6"], "buys `mae` only 0 step"),
        (["--methods", "mae", "--seed", "3"], "set by the harness"),
        (["--methods", "ijepa,vjepa"], "mixes modalities"),
        (["--preset", "nope"], "Unknown `--preset nope`"),
    ],
)
def test_bad_requests_are_refused_before_anything_trains(tmp_path, small_digits, extra, message):
    with pytest.raises(ValueError, match=message):
        run_compare(tmp_path / "c", small_digits, *extra)
    assert not (tmp_path / "c" / "models").exists()


def test_the_report_sets_imagenette_runs_next_to_the_published_anchor():
    from hf_jepa.compare.report import report_markdown

    summary = summarize([record("dino", 0, 0.5, 0.6)])
    report = report_markdown(
        "settings", {"image": markdown_table(summary)}, claims(summary, None), {}, "frgfm/imagenette", summary
    )
    assert "| dino | 83.8 / 86.1 | 50.0 / 60.0 |" in report and "| mae | 72.1 / 84.1 | not run |" in report
    digits = report_markdown("settings", {"image": ""}, [], {}, "digits", summary)
    assert "anchor" not in digits and "Caveat of scale" in digits


@pytest.mark.slow
def test_video_methods_compare_on_the_moving_digit_clips_in_their_own_table(tmp_path):
    from hf_jepa.compare.command import compare

    argv = ["--methods", "vjepa", "--max_steps", "2", "--eval_points", "1", "--output_dir", str(tmp_path)]
    results = compare(argv + ["--per_device_train_batch_size", "4", "--disable_tqdm", "true"])
    (run,) = results["runs"]
    assert run["modality"] == "video" and list(results["by_modality"]) == ["video"]
    assert 0 <= run["attentive_probe_top1"] <= 1  # V-JEPA's own protocol
    assert run["extra_labels"] == ["direction"] and 0 <= run["direction_knn_top1"] <= 1
    assert "direction kNN" in (tmp_path / "results.md").read_text()


def test_the_similarity_claim_names_its_control_and_the_collapse_caveat():
    summary = summarize([record("ijepa", 0, 0.5, 0.8, features_collapsing=True), record("dino", 0, 0.6, 0.7)])
    cka = {"names": ["ijepa", "dino", "mae", "random-init"],
           "matrix": [[1, 0.9, 0.2, 0.7], [0.9, 1, 0.2, 0.6], [0.2, 0.2, 1, 0.3], [0.7, 0.6, 0.3, 1]]}  # fmt: skip
    text = claims(summary, cka)[0][1]
    assert "untrained encoder's CKA with I-JEPA is 0.70, with DINO 0.60" in text
    assert "ijepa is flagged as collapsing" in text and "no evidence" not in text
    cka["matrix"][0][3] = cka["matrix"][3][0] = cka["matrix"][1][3] = cka["matrix"][3][1] = 0.88  # init as close
    assert "share here is their starting point, so this similarity is no evidence" in claims(summary, cka)[0][1]
