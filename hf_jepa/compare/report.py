"""The comparison's tables and report: mean and spread over seeds per variant, the similarity analysis, and what
the numbers say about each of the blog's claims, in plain words and with the caveat of scale."""

import statistics

from .anchors import anchors_for

# (key, column title, format) of the results table, in order; a column appears when some row has it.
COLUMNS = (
    ("knn_top1", "kNN", "{:.3f}"),
    ("linear_probe_top1", "linear probe", "{:.3f}"),
    ("attentive_probe_top1", "attentive probe", "{:.3f}"),
    ("few_shot_1pct_linear_probe_top1", "1 % labels", "{:.3f}"),
    ("few_shot_10pct_linear_probe_top1", "10 % labels", "{:.3f}"),
    ("usability_gap", "probe − kNN", "{:+.3f}"),
    ("random_init_knn_top1", "own init kNN", "{:.3f}"),
    ("train_seconds", "train s", "{:.0f}"),
    ("steps", "steps", "{:.0f}"),
    ("images_seen", "images seen", "{:.0f}"),
    ("train_tflops", "TFLOPs", "{:.3g}"),
    ("peak_memory_mib", "peak MiB", "{:.0f}"),
    ("feature_std", "feature std", "{:.4f}"),
    ("effective_rank", "eff. rank", "{:.1f}"),
)


def derived(record: dict) -> dict:
    """A record with the table's derived columns: probe − kNN gap, TFLOPs, MiB."""
    row = dict(record)
    if "knn_top1" in row and "linear_probe_top1" in row:
        row["usability_gap"] = row["linear_probe_top1"] - row["knn_top1"]
    if row.get("train_flops"):
        row["train_tflops"] = row["train_flops"] / 1e12
    if row.get("peak_memory_bytes"):
        row["peak_memory_mib"] = row["peak_memory_bytes"] / 2**20
    return row


def extra_label_columns(rows: list[dict]) -> list[tuple[str, str, str]]:
    """Columns for the kNN and probe of the records' other label columns (`extra_labels`, e.g. the moving digits'
    motion `direction`)."""
    columns = dict.fromkeys(column for row in rows for column in row.get("extra_labels", []))
    return [
        (f"{c}_{m}", f"{c} {t}", "{:.3f}")
        for c in columns
        for m, t in (("knn_top1", "kNN"), ("linear_probe_top1", "probe"))
    ]


def summarize(records: list[dict]) -> list[dict]:
    """One row per label: for every numeric column the mean, the standard deviation over seeds (0 for one seed) and
    the number of seeds; the first record's identifying fields."""
    grouped: dict[str, list[dict]] = {}
    for record in records:
        grouped.setdefault(record["label"], []).append(derived(record))
    summary = []
    for label, rows in grouped.items():
        entry = {"label": label, "method": rows[0]["method"], "seeds": len(rows), "note": rows[0].get("note", "")}
        entry["extra_labels"] = rows[0].get("extra_labels", [])
        entry["collapsing"] = any(row.get("features_collapsing") for row in rows)
        for key, _, _ in (*COLUMNS, *extra_label_columns(rows)):
            values = [row[key] for row in rows if isinstance(row.get(key), (int, float))]
            if values:
                entry[key] = {
                    "mean": statistics.fmean(values),
                    "std": statistics.stdev(values) if len(values) > 1 else 0.0,
                }
        summary.append(entry)
    return summary


def markdown_table(summary: list[dict]) -> str:
    columns = [c for c in (*COLUMNS, *extra_label_columns(summary)) if any(c[0] in row for row in summary)]
    header = "| variant | seeds | " + " | ".join(title for _, title, _ in columns) + " |"
    lines = [header, "|" + "---|" * (len(columns) + 2)]
    for row in summary:
        cells = []
        for key, _, fmt in columns:
            value = row.get(key)
            if value is None:
                cells.append("")
                continue
            text = fmt.format(value["mean"])
            if row["seeds"] > 1 and key not in ("steps", "images_seen"):
                text += " ± " + fmt.format(value["std"]).lstrip("+")
            cells.append(text)
        name = f"`{row['label']}`" + (" (collapsing)" if row.get("collapsing") else "")
        lines.append(f"| {name} | {row['seeds']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _mean(summary: list[dict], label: str, key: str) -> float | None:
    for row in summary:
        if row["label"] == label and key in row:
            return row[key]["mean"]
    return None


def _flag(summary: list[dict], label: str, key: str) -> bool:
    return any(row["label"] == label and row.get(key) for row in summary)


def _cka(cka: dict | None, a: str, b: str) -> float | None:
    if not cka or a not in cka["names"] or b not in cka["names"]:
        return None
    return cka["matrix"][cka["names"].index(a)][cka["names"].index(b)]


def claims(summary: list[dict], cka: dict | None) -> list[tuple[str, str]]:
    """(claim, what this run's numbers say) for each of the blog's claims; "not tested" with the command that tests
    it when this run lacks the methods it needs."""
    said = []
    ijepa_dino, ijepa_mae = _cka(cka, "ijepa", "dino"), _cka(cka, "ijepa", "mae")
    claim = "I-JEPA is \"surprisingly DINO\": its features are closer to DINO's than to MAE's."
    if ijepa_dino is None or ijepa_mae is None:
        said.append((claim, "Not tested here: needs `ijepa`, `dino` and `mae` in one compare (the default does it)."))
    else:
        closer = "DINO's" if ijepa_dino > ijepa_mae else "MAE's"
        verdict = "supports" if ijepa_dino > ijepa_mae else "does not support"
        text = (
            f"Linear CKA of I-JEPA's features with DINO's is {ijepa_dino:.2f}, with MAE's {ijepa_mae:.2f}: closer "
            f"to {closer}, which {verdict} the claim at this scale."
        )
        control = _cka(cka, "ijepa", "random-init"), _cka(cka, "dino", "random-init")
        if None not in control:
            text += (
                f" Control: the untrained encoder's CKA with I-JEPA is {control[0]:.2f}, with DINO {control[1]:.2f}."
            )
            if min(control) >= ijepa_dino - 0.05:
                text += (
                    " The untrained encoder is as close to both as they are to each other: what I-JEPA and DINO share "
                    "here is their starting point, so this similarity is no evidence for the claim."
                )
        collapsing = [label for label in ("ijepa", "dino") if _flag(summary, label, "collapsing")]
        if collapsing:
            text += (
                f" Caveat: {' and '.join(collapsing)} {'are' if len(collapsing) > 1 else 'is'} flagged as collapsing; "
                "features that keep little more than one direction can look alike without sharing a prior."
            )
        said.append((claim, text))

    claim = "DINO is BYOL evolved, and a predictor marginally hurts DINO (while BYOL needs one)."
    parts = []
    for base, other, name in (("dino", "dino-predictor", "DINO"), ("byol", "byol-no-predictor", "BYOL")):
        with_base, with_other = _mean(summary, base, "knn_top1"), _mean(summary, other, "knn_top1")
        if with_base is not None and with_other is not None:
            parts.append(f"{name}: kNN {with_base:.3f} as published against {with_other:.3f} for `{other}`")
    dino_byol = _cka(cka, "dino", "byol")
    if dino_byol is not None:
        parts.append(f"linear CKA of DINO's and BYOL's features {dino_byol:.2f}")
    said.append(
        (claim, "; ".join(parts) + "." if parts else "Not tested here: run `hf-jepa compare --preset predictor`.")
    )

    claim = 'V-JEPA is "unsurprisingly MAE": MAE\'s pipeline with targets in latent space.'
    said.append(
        (
            claim,
            "Not testable with these methods: hf_jepa has no video MAE to set V-JEPA against, and image "
            "and video features are not computed on the same inputs. The `targets` preset asks the "
            "image-side version of the question (I-JEPA predicting embeddings or pixels).",
        )
    )

    claim = "V-JEPA's latents are less immediately usable than DINO's (a large gap between a trained probe and kNN)."
    gaps = {row["label"]: row["usability_gap"]["mean"] for row in summary if "usability_gap" in row}
    if gaps:
        listed = ", ".join(f"{label} {gap:+.3f}" for label, gap in sorted(gaps.items(), key=lambda item: item[1]))
        text = f"Linear probe minus kNN top-1 (larger = less usable as is): {listed}."
        if "vjepa" not in gaps or "dino" not in gaps:
            text += " V-JEPA and DINO are compared on different data (clips, images): run `--methods vjepa` for the "
            text += "video table and read the gaps side by side, not the accuracies."
        said.append((claim, text))
    else:
        said.append((claim, "Not tested here: needs labels."))

    claim = "Pixel prediction can be abandoned: predicting latents beats predicting pixels."
    latent, pixels = _mean(summary, "ijepa", "linear_probe_top1"), _mean(summary, "ijepa-pixels", "linear_probe_top1")
    mae = _mean(summary, "mae", "linear_probe_top1")
    if latent is not None and pixels is not None:
        verdict = "latent targets win" if latent > pixels else "pixel targets win"
        said.append(
            (
                claim,
                f"I-JEPA's linear probe {latent:.3f} with embedding targets against "
                f"{pixels:.3f} with pixel targets: {verdict} here.",
            )
        )
    elif latent is not None and mae is not None:
        verdict = "I-JEPA's latent targets win" if latent > mae else "MAE's pixel targets win"
        said.append(
            (
                claim,
                f"Linear probe: I-JEPA {latent:.3f}, MAE {mae:.3f}: {verdict} here (run `--preset "
                "targets` for the same model with either target).",
            )
        )
    else:
        said.append((claim, "Not tested here: run `hf-jepa compare --preset targets`."))
    return said


def report_markdown(
    settings_text: str,
    tables: dict[str, str],
    claims_said,
    pictures: dict[str, str],
    dataset,
    summary: list[dict],
) -> str:
    """The report: settings, tables, pictures, the claims, the anchors where known, and the caveat of scale."""
    lines = ["# hf-jepa compare", "", settings_text, ""]
    for modality, table in tables.items():
        lines += [f"## Results ({modality})", "", table, ""]
    lines += ["## What the numbers say about the blog's claims", ""]
    for claim, text in claims_said:
        lines += [f"- **{claim}** {text}"]
    lines += [""]
    anchors = anchors_for(dataset)
    if anchors:
        lines += [
            "## Against the published anchor",
            "",
            f"{anchors['source']}, kNN / linear top-1 (%):",
            "",
            "| method | published kNN / linear | ours kNN / linear |",
            "|---|---|---|",
        ]
        for method, (knn, linear) in anchors["top1"].items():
            ours_knn, ours_linear = _mean(summary, method, "knn_top1"), _mean(summary, method, "linear_probe_top1")
            ours = f"{100 * ours_knn:.1f} / {100 * ours_linear:.1f}" if ours_knn is not None else "not run"
            lines.append(f"| {method} | {knn} / {linear} | {ours} |")
        lines.append("")
    lines += ["## Pictures", ""]
    for title, file in pictures.items():
        lines += [f"### {title}", "", f"![{title}]({file})", ""]
    lines += ["## Caveat of scale", "", CAVEAT, ""]
    return "\n".join(lines)


CAVEAT = (
    "These runs are as small as a CPU allows (the embedded digits: 1,437 training images of 32 px, a ViT 96 wide and "
    "4 deep, minutes of training). They show how the methods differ at equal compute on equal terms and test the "
    "direction of each claim, not its size at scale: methods that need long training (the JEPAs, BYOL) or large "
    "batches (the contrastive ones) are disadvantaged here, and the spread over seeds is large at this size. "
    "`training/compare_vits16_imagenette.sh` runs the same comparison at ViT-S/16, 224 px, on Imagenette."
)

__all__ = ["COLUMNS", "claims", "markdown_table", "report_markdown", "summarize"]
