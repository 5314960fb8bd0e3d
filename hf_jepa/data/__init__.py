"""Data: the embedded defaults (digits, moving digits), image and video folders, saved or Hub `datasets`, video
decoding, and the collators that turn rows into model inputs (`data.training_data` picks them per modality). Import
the submodules directly: importing this package loads none of them (datasets and PyAV are heavy)."""
