"""Chest X-ray data sets behind one call: ``load_splits(name, image_size) -> {"train", "val", "test"}``.

Sources (:data:`DATASETS`): ``phantom`` (generated, :mod:`helpers.data.phantom`), ``pneumoniamnist`` and
``chestmnist`` (:mod:`helpers.data.medmnist`), ``kaggle_pneumonia`` (:mod:`helpers.data.kaggle`) and
``nih`` (:mod:`helpers.data.nih`). Images are gray ``uint8`` ``image_size x image_size``; bad input raises
:class:`DataError` naming the file and the fix. :mod:`helpers.data.splits` checks duplicates and patients.
"""

from helpers.data.dataset import (
    BINARY_CLASS_NAMES,
    IMAGE_EXTENSIONS,
    NIH_LABELS,
    SPLITS,
    DataError,
    Dataset,
    DatasetInfo,
    LazyImages,
    file_md5,
    read_image,
)
from helpers.data.medmnist import MEDMNIST_MD5, MEDMNIST_SIZES, medmnist_filename
from helpers.data.registry import DATASETS, load_splits
from helpers.data.splits import (
    PATIENT_PATTERNS,
    find_duplicates,
    patient_id_from_filename,
    patient_overlap,
)

__all__ = [
    "DataError", "Dataset", "LazyImages", "DatasetInfo", "DATASETS", "SPLITS", "BINARY_CLASS_NAMES",
    "NIH_LABELS", "MEDMNIST_SIZES", "MEDMNIST_MD5", "IMAGE_EXTENSIONS", "load_splits", "read_image",
    "find_duplicates", "patient_overlap", "patient_id_from_filename", "PATIENT_PATTERNS",
    "medmnist_filename", "file_md5",
]
