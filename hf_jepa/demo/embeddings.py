"""What one model's embedding of an image looks like, drawn for the demos: PCA colours of its patch features, its
nearest neighbours in a gallery, and where it falls on a 2-D map of the gallery."""

from dataclasses import dataclass

import numpy as np
import torch.nn.functional as F
from PIL import Image

from .loading import DemoModel, GalleryEmbedding, ImageGallery, encode_images, patch_grid
from .pictures import pca_overlay, project, resize_image, scatter_map

THUMBNAIL_SIZE = 96
MAP_SIZE = 320


@dataclass
class EmbeddingView:
    pca: np.ndarray  # uint8 [S, S, 3]: the image under the PCA colours of its patch features
    neighbours: list[tuple[np.ndarray, str]]  # thumbnails and captions, closest first
    map: np.ndarray  # uint8 [MAP_SIZE, MAP_SIZE, 3]: the gallery in 2-D, coloured by label, the image ringed
    numbers: dict


def thumbnail(image: Image.Image, size: int = THUMBNAIL_SIZE) -> np.ndarray:
    """A square uint8 thumbnail; small images (e.g. 32 px digits) are enlarged without blurring."""
    return resize_image(np.asarray(image), (size, size), nearest=max(image.size) < size)


def embedding_view(
    model: DemoModel,
    image: Image.Image,
    gallery: ImageGallery,
    embedding: GalleryEmbedding,
    num_neighbours: int = 8,
    display_size: int = 224,
) -> EmbeddingView:
    """The embeddings-tab pictures of `image` (RGB) for one model; `embedding` is `gallery` embedded by it."""
    patch_tokens, pooled = encode_images(model, [image])
    grid = patch_grid(model)
    shown = np.asarray(image.resize((display_size, display_size), Image.BICUBIC))
    indices, similarities = embedding.nearest(pooled[0], num_neighbours)
    names = gallery.label_names
    labels = [gallery.labels[i] for i in indices]
    neighbours = [
        (thumbnail(picture), f"{names[label]} · cos {similarity:.3f}")
        for picture, label, similarity in zip(gallery.images(indices), labels, similarities)
    ]
    query_point = project(F.normalize(pooled, dim=1).numpy(), embedding.pca)[0]
    return EmbeddingView(
        pca=pca_overlay(shown, patch_tokens[0].numpy(), grid),
        neighbours=neighbours,
        map=scatter_map(embedding.points, gallery.labels, names, highlight=query_point, size=MAP_SIZE),
        numbers={
            "method": model.method.name,
            "patch_grid": list(grid),
            "neighbours": [
                {"index": i, "label": names[label], "similarity": s}
                for i, label, s in zip(indices, labels, similarities)
            ],
            "map_position": query_point.tolist(),
            "gallery": gallery.source,
            "gallery_size": len(gallery),
        },
    )
