"""Fine-tuning and probing of saved encoders with transformers' Trainer: `hf-jepa finetune` (`run.py`), its options
(`arguments.py`), the four modes (`modes.py`), labels and input checks (`labels.py`), the Trainer additions
(`trainer.py`: layer-wise lr decay, on-device views and MixUp/CutMix in `mixup.py`), offline `evaluate` metrics
(`metrics.py`) and the model card (`card.py`). Loaded on first use, not by `import hf_jepa`."""
