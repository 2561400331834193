"""cath dataset: CATH protein domains (C-alpha coordinates), Weiler et al. 2018 5.5."""

import dataclasses
import zipfile

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

_URL = "https://raw.githubusercontent.com/wouterboomsma/cath_datasets/master/{}"
_REPOSITORY = "https://github.com/wouterboomsma/cath_datasets"
_NUM_SPLITS = 10
_SPLITS = {"train": range(0, 7), "validation": range(7, 8), "test": range(8, 10)}
_KEYS = (
    "positions",
    "n_atoms",
    "atom_types",
    "res_indices",
    "labels",
    "split_start_indices",
)


@dataclasses.dataclass
class CathConfig(tfds.core.BuilderConfig):
    """One of the repository's npz files.

    Attributes:
        filename: name of the npz file in the repository (and in ``manual_dir``).
        level: CATH levels in the label: 1 class, 2 architecture, 3 topology.
        num_classes: number of distinct labels in the file.
    """

    filename: str = ""
    level: int = 2
    num_classes: int = 10


def _format_instructions(filename):
    return (
        f"download {filename} from {_REPOSITORY} (raw file: "
        f"{_URL.format(filename)}) and put it in the TFDS manual directory "
        "(by default ~/tensorflow_datasets/downloads/manual/, or the `manual_dir` "
        "of your tfds.download.DownloadConfig)."
    )


#: The repository's file of each number of CATH levels in the labels.
_FILENAMES = {1: "cath_3class_ca.npz", 2: "cath_10arch_ca.npz", 3: "cath_20topo_ca.npz"}


def _fail(path, problem, level=None):
    filename = _FILENAMES.get(level, "cath_<config>_ca.npz")
    raise ValueError(
        f"{path} is not a CATH dataset file in the format of {_REPOSITORY}: "
        f"{problem}. To fix it, " + _format_instructions(filename)
    )


def load_cath_npz(path, level, num_classes=None):
    """Load and validate one of the repository's npz files.

    Args:
        path: path of the ``.npz`` file.
        level: expected number of CATH levels per label (1, 2 or 3).
        num_classes: expected number of distinct labels (None: don't check).

    Returns:
        A dict with the arrays of ``_KEYS`` plus ``label_names`` (e.g. ``"3.30"``,
        sorted by label tuple) and ``label_ids`` (``[N]`` indices into them).

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: if it is not an npz file of the expected keys, shapes and types
            (a truncated download included); the message names the file, the
            problem and where to download a good copy.
    """
    path = epath.Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist.")

    def fail(problem):
        _fail(path, problem, level)

    is_zip = False
    try:
        with path.open("rb") as f:
            is_zip = f.read(4) == b"PK\x03\x04"  # how every npz file starts
            size = f.seek(0, 2)
            f.seek(0)
            npz = np.load(f, allow_pickle=False)
            if not hasattr(npz, "files"):
                fail("it holds a single array, not an npz archive")
            missing = [k for k in _KEYS if k not in npz.files]
            if missing:
                fail(f"missing keys {missing} (it has {sorted(npz.files)})")
            data = {k: npz[k] for k in _KEYS}
    except ValueError as err:
        if "is not a CATH dataset file" in str(err):
            raise
        fail(f"numpy cannot read it ({err})")
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        reason = f"{type(err).__name__}: {err}"
        if is_zip:  # an npz (zip) archive that stops early or is damaged
            fail(
                f"it is truncated or corrupt, {size:,} bytes (an interrupted "
                f"download?); numpy cannot read it ({reason})"
            )
        fail(f"numpy cannot read it ({reason})")

    positions, n_atoms = data["positions"], data["n_atoms"]
    if positions.ndim != 3 or positions.shape[-1] != 3:
        fail(f"`positions` must be [N, max_atoms, 3], got {positions.shape}")
    if not np.issubdtype(positions.dtype, np.floating):
        fail(f"`positions` must be floats, got {positions.dtype}")
    num, max_atoms = positions.shape[:2]
    expected = {
        "n_atoms": (num,),
        "atom_types": (num, max_atoms),
        "res_indices": (num, max_atoms),
        "labels": (num, level),
        "split_start_indices": (_NUM_SPLITS,),
    }
    for key, shape in expected.items():
        if data[key].shape != shape:
            fail(f"`{key}` must have shape {shape}, got {data[key].shape}")
    for key in ("n_atoms", "labels", "split_start_indices"):
        if not np.issubdtype(data[key].dtype, np.integer):
            fail(f"`{key}` must be integers, got {data[key].dtype}")
    if np.any(n_atoms < 1) or np.any(n_atoms > max_atoms):
        fail(f"`n_atoms` must lie in [1, {max_atoms}]")
    starts = data["split_start_indices"]
    if starts[0] != 0 or np.any(np.diff(starts) < 0) or starts[-1] > num:
        fail(
            "`split_start_indices` must start at 0 and increase up to N = "
            f"{num}, got {starts.tolist()}",
        )
    unique, label_ids = np.unique(data["labels"], axis=0, return_inverse=True)
    if num_classes is not None and len(unique) != num_classes:
        fail(
            f"expected {num_classes} distinct labels at CATH level {level}, found "
            f"{len(unique)}",
        )
    data["label_names"] = [".".join(str(int(v)) for v in row) for row in unique]
    data["label_ids"] = np.asarray(label_ids).reshape(-1)
    return data


class Builder(tfds.core.GeneratorBasedBuilder):
    """DatasetBuilder for the cath dataset."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    BUILDER_CONFIGS = [
        CathConfig(
            name="3class",
            description="CATH classes (1: mainly alpha, 2: mainly beta, 3: mixed).",
            filename="cath_3class_ca.npz",
            level=1,
            num_classes=3,
        ),
        CathConfig(
            name="10arch",
            description="10 CATH architectures (the paper's task).",
            filename="cath_10arch_ca.npz",
            level=2,
            num_classes=10,
        ),
        CathConfig(
            name="20topo",
            description="20 CATH topologies.",
            filename="cath_20topo_ca.npz",
            level=3,
            num_classes=20,
        ),
    ]
    DEFAULT_CONFIG_NAME = "10arch"
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Optional: the builder downloads the file itself. Without internet access, "
        + _format_instructions("cath_<config>_ca.npz")
    )
    # Metadata (README.md, CITATIONS.bib, TAGS.txt, checksums.tsv, dummy_data/) sits
    # next to this file. TFDS would look for it under the top-level package's
    # resources, which is another folder in a source checkout (see setup.py).
    pkg_dir_path = epath.Path(__file__).parent

    @tfds.core.utils.classproperty
    @classmethod
    def code_path(cls) -> epath.Path:
        return epath.Path(__file__)

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    # C-alpha coordinates in Å, centred on their mean.
                    "positions": tfds.features.Tensor(
                        shape=(None, 3), dtype=np.float32
                    ),
                    # Names ("3.30", ...) are read from the file.
                    "label": tfds.features.ClassLabel(
                        num_classes=self.builder_config.num_classes
                    ),
                    "domain_index": tfds.features.Scalar(dtype=np.int64),
                    "split_id": tfds.features.Scalar(dtype=np.int32),
                }
            ),
            supervised_keys=("positions", "label"),
            homepage=_REPOSITORY,
        )

    def _source_file(self, dl_manager):
        """The npz: from ``manual_dir`` if it is there, else downloaded."""
        filename = self.builder_config.filename
        try:
            manual = dl_manager.manual_dir / filename
        except AssertionError:  # no manual directory (or an empty one)
            manual = None
        if manual is not None and manual.exists():
            return manual
        url = _URL.format(filename)
        try:
            return epath.Path(dl_manager.download(url))
        except Exception as err:  # the network error types vary by transport
            raise FileNotFoundError(
                f"Could not download {url} ({type(err).__name__}: {err}). "
                "Instead, " + _format_instructions(filename)
            ) from err

    def _split_generators(self, dl_manager):
        config = self.builder_config
        path = self._source_file(dl_manager)
        data = load_cath_npz(path, config.level, config.num_classes)
        self.info.features["label"].names = data["label_names"]
        starts = list(data["split_start_indices"]) + [len(data["n_atoms"])]
        return {
            split: self._generate_examples(
                data, [(i, starts[i], starts[i + 1]) for i in ids]
            )
            for split, ids in _SPLITS.items()
        }

    def _generate_examples(self, data, ranges):
        """Yields the proteins of the given ``(split_id, start, stop)`` ranges."""
        for split_id, start, stop in ranges:
            for index in range(start, stop):
                count = int(data["n_atoms"][index])
                yield (
                    int(index),
                    {
                        "positions": data["positions"][index, :count].astype(
                            np.float32
                        ),
                        "label": int(data["label_ids"][index]),
                        "domain_index": int(index),
                        "split_id": split_id,
                    },
                )
