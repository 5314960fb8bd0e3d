"""What `hf-jepa compare` trains: variants (a method with config and training overrides), from `--methods` or a
named preset of the blog's ablations. A preset is data, a list of variants, never a code path."""

from dataclasses import dataclass, field

from ..registry import METHODS, get_method


@dataclass(frozen=True)
class Variant:
    """One row of the comparison: `method` with `config_overrides` (config fields) and `training_args` (extra
    `hf-jepa pretrain` flags), named `label` in tables, plots and folders."""

    label: str
    method: str
    config_overrides: dict = field(default_factory=dict)
    training_args: tuple[str, ...] = ()
    note: str = ""

    @property
    def modality(self) -> str:
        return get_method(self.method).modality

    def overrides_argument(self) -> str | None:
        """The overrides as `--config_overrides` text (JSON values), None for none."""
        import json

        return ",".join(f"{k}={json.dumps(v)}" for k, v in self.config_overrides.items()) or None

    def missing_fields(self) -> list[str]:
        """Config fields the overrides name that the method's config lacks (a preset written for a later version)."""
        known = get_method(self.method).config_class.__dataclass_fields__
        return [name for name in self.config_overrides if name not in known]


PRESETS: dict[str, tuple[str, list[Variant]]] = {
    "predictor": (
        "BYOL and DINO each with and without a predictor (BYOL's Table 5, DINO's Table 14: BYOL collapses without "
        "it, DINO does not need it)",
        [
            Variant("byol", "byol", note="official: 2-layer predictor"),
            Variant("byol-no-predictor", "byol", {"prediction_num_layers": 0}, note="predictor removed"),
            Variant("dino", "dino", note="official: no predictor"),
            Variant("dino-predictor", "dino", {"predictor_num_layers": 2}, note="2-layer student predictor added"),
        ],
    ),
    "targets": (
        "I-JEPA predicting the EMA encoder's embeddings against predicting pixels (I-JEPA's Table 7)",
        [
            Variant("ijepa", "ijepa", note="targets: EMA-encoder embeddings"),
            Variant(
                "ijepa-pixels",
                "ijepa",
                {"prediction_target": "pixels", "loss_type": "l2"},
                note="targets: per-patch normalised pixels, L2",
            ),
        ],
    ),
    "collapse": (
        "I-JEPA and V-JEPA kept from collapse by an EMA target or by SIGReg (LeJEPA's regulariser, no EMA)",
        [
            Variant("ijepa", "ijepa", note="EMA target"),
            Variant("ijepa-sigreg", "ijepa", {"sigreg_weight": 0.05}, note="SIGReg, lambda 0.05, no EMA"),
            Variant("vjepa", "vjepa", note="EMA target"),
            Variant("vjepa-sigreg", "vjepa", {"sigreg_weight": 0.05}, note="SIGReg, lambda 0.05, no EMA"),
        ],
    ),
}


def with_common_overrides(variants: list[Variant], overrides: dict) -> list[Variant]:
    """Every variant with `overrides` (e.g. a ViT-S/16 at 224 px for all) under its own; the fields a method's config
    lacks are left out for that method, saying so (a predictor width means nothing to DINO)."""
    from dataclasses import replace

    result = []
    for variant in variants:
        known = get_method(variant.method).config_class.__dataclass_fields__
        skipped = sorted(name for name in overrides if name not in known)
        if skipped:
            print(f"`{variant.label}`: --config_overrides fields {skipped} do not apply to {variant.method}.")
        common = {name: value for name, value in overrides.items() if name in known}
        result.append(replace(variant, config_overrides={**common, **variant.config_overrides}))
    unused = [name for name in overrides if all(name not in get_method(v.method).config_class.__dataclass_fields__
                                                 for v in variants)]  # fmt: skip
    if unused:
        raise ValueError(f"`--config_overrides`: no compared method's config has {unused}.")
    return result


def default_methods() -> list[str]:
    """Every image method of the method table: a method added later joins the comparison with no edit here."""
    return [name for name, method in METHODS.items() if method.modality == "image"]


def resolve_variants(methods: list[str] | None, preset: str | None) -> list[Variant]:
    """The variants to train: a preset's (its variants that this version cannot build are skipped, saying so), or one
    plain variant per method (default: every image method). Clear errors for unknown names and for methods of
    different modalities, which cannot share one table."""
    if preset is not None:
        if methods:
            raise ValueError("Give either `--methods` or `--preset`, not both.")
        if preset not in PRESETS:
            raise ValueError(f"Unknown `--preset {preset}`: choose one of {sorted(PRESETS)}.")
        variants = []
        for variant in PRESETS[preset][1]:
            missing = variant.missing_fields()
            if missing:
                print(f"Skipping `{variant.label}`: this version's {variant.method} config has no {missing}.")
                continue
            variants.append(variant)
        if not variants:
            raise ValueError(f"`--preset {preset}`: no variant can be built by this version of hf_jepa.")
        return variants
    methods = methods or default_methods()
    unknown = [name for name in methods if name not in METHODS]
    if unknown:
        raise ValueError(f"Unknown method(s) {unknown} in `--methods`: choose from {sorted(METHODS)}.")
    if len(set(methods)) != len(methods):
        raise ValueError(f"`--methods` names a method twice: {methods}.")
    modalities = {name: METHODS[name].modality for name in methods}
    if len(set(modalities.values())) > 1:
        raise ValueError(
            f"`--methods` mixes modalities ({modalities}): image and video methods are compared on different data, "
            "in separate tables. Run one compare per modality (e.g. `--methods vjepa` for the video table)."
        )
    return [Variant(name, name) for name in methods]


__all__ = ["PRESETS", "Variant", "default_methods", "resolve_variants", "with_common_overrides"]
