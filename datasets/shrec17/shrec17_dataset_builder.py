"""shrec17 dataset: SHREC'17 ShapeNetCore55 shape retrieval track, as point samples."""

import csv
import dataclasses
import re
import zipfile

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

from keras_se3.datasets.meshes import load_obj, normalize_mesh, sample_surface

_BASE_URL = "http://3dvision.princeton.edu/ms/shrec17-data/"
# The 55 ShapeNetCore synsets of the track, sorted (the label order).
SYNSETS = (
    "02691156", "02747177", "02773838", "02801938", "02808440", "02818832",
    "02828884", "02843684", "02871439", "02876657", "02880940", "02924116",
    "02933112", "02942699", "02946921", "02954340", "02958343", "02992529",
    "03001627", "03046257", "03085013", "03207941", "03211117", "03261776",
    "03325088", "03337140", "03467517", "03513137", "03593526", "03624134",
    "03636649", "03642806", "03691459", "03710193", "03759954", "03761084",
    "03790512", "03797390", "03928116", "03938244", "03948459", "03991062",
    "04004475", "04074963", "04090263", "04099429", "04225987", "04256520",
    "04330267", "04379243", "04401088", "04460130", "04468005", "04530566",
    "04554684",
)  # fmt: skip
_CSV_COLUMNS = ("id", "synsetId", "subSynsetId", "modelId", "split")
# split name -> (archive stem, labels csv or None)
_SPLITS = {
    "train": ("train", "train.csv"),
    "validation": ("val", "val.csv"),
    "test": ("test", None),
}
_ID = re.compile(r"(\d+)$")


@dataclasses.dataclass
class Shrec17Config(tfds.core.BuilderConfig):
    """Which archives, and how many surface points per mesh.

    Attributes:
        perturbed: use the randomly rotated meshes (``*_perturbed.zip``).
        num_points: surface points sampled per mesh.
    """

    perturbed: bool = False
    num_points: int = 2048


def _archive_name(stem, perturbed):
    return f"{stem}_perturbed.zip" if perturbed else f"{stem}.zip"


def source_files(perturbed):
    """The file names one config needs (archives and label csvs)."""
    names = [_archive_name(stem, perturbed) for stem, _ in _SPLITS.values()]
    return names + [labels for _, labels in _SPLITS.values() if labels]


def _instructions(names, manual_dir):
    return (
        f"Put {', '.join(names)} in the TFDS manual directory ({manual_dir}). They "
        "are the SHREC'17 ShapeNetCore55 track files, formerly published at "
        f"{_BASE_URL}<name> (e.g. {_BASE_URL}train.zip); the track's page is "
        "https://shapenet.cs.stanford.edu/shrec17/ and the data need a ShapeNet "
        "account (https://shapenet.org) if those links are gone."
    )


def read_labels(path):
    """Reads a labels csv into ``{id: (synsetId, subSynsetId)}``.

    Raises:
        ValueError: if the header lacks a column or a synsetId is not one of the 55.
    """
    with epath.Path(path).open("r") as f:
        reader = csv.DictReader(f)
        header = [name.strip() for name in reader.fieldnames or ()]
        missing = [c for c in _CSV_COLUMNS[:3] if c not in header]
        if missing:
            raise ValueError(
                f"{path} is not a SHREC17 labels file: it lacks the columns "
                f"{missing} (expected the header {','.join(_CSV_COLUMNS)}, got "
                f"{','.join(header)})."
            )
        labels = {}
        for line, row in enumerate(reader, start=2):
            row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
            synset = row["synsetId"].zfill(8)
            if not row["id"].isdigit() or synset not in SYNSETS:
                raise ValueError(
                    f"{path}, line {line}: expected an integer id and one of the 55 "
                    f"ShapeNetCore synset ids, got id={row['id']!r}, "
                    f"synsetId={row['synsetId']!r}."
                )
            labels[int(row["id"])] = (synset, row["subSynsetId"])
    return labels


class Builder(tfds.core.GeneratorBasedBuilder):
    """DatasetBuilder for the shrec17 dataset."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    BUILDER_CONFIGS = [
        Shrec17Config(name="normal", description="Aligned meshes.", perturbed=False),
        Shrec17Config(
            name="perturbed",
            description="Randomly rotated meshes (the paper's setting).",
            perturbed=True,
        ),
    ]
    DEFAULT_CONFIG_NAME = "perturbed"
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Put train.zip, val.zip, test.zip (config `normal`) or train_perturbed.zip, "
        "val_perturbed.zip, test_perturbed.zip (config `perturbed`), and train.csv, "
        "val.csv, in the manual directory (by default "
        "~/tensorflow_datasets/downloads/manual/). They are the SHREC'17 "
        "ShapeNetCore55 track files, formerly at " + _BASE_URL + "; the builder "
        "tries to download the missing ones from there."
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
        num_points = self.builder_config.num_points
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    # Surface samples of the mesh normalised to the unit ball.
                    "points": tfds.features.Tensor(
                        shape=(num_points, 3), dtype=np.float32
                    ),
                    # synsetId; -1 for the test split (no public labels).
                    "label": tfds.features.ClassLabel(names=SYNSETS),
                    "sub_synset_id": tfds.features.Text(),
                    "id": tfds.features.Scalar(dtype=np.int64),
                    # The normalisation: points = (mesh - centre) / scale.
                    "centre": tfds.features.Tensor(shape=(3,), dtype=np.float32),
                    "scale": tfds.features.Scalar(dtype=np.float32),
                }
            ),
            supervised_keys=("points", "label"),
            homepage="https://shapenet.cs.stanford.edu/shrec17/",
        )

    def _source_files(self, dl_manager):
        """{name: path} of the config's files: manual_dir first, else download."""
        names = source_files(self.builder_config.perturbed)
        try:
            manual_dir = dl_manager.manual_dir
        except AssertionError:  # no manual directory (or an empty one)
            manual_dir = None
        found, missing = {}, []
        for name in names:
            if manual_dir is not None and (manual_dir / name).exists():
                found[name] = manual_dir / name
            else:
                missing.append(name)
        if missing:
            try:
                downloaded = dl_manager.download(
                    {name: _BASE_URL + name for name in missing}
                )
            except Exception as err:  # the network error types vary by transport
                where = manual_dir or getattr(dl_manager, "_manual_dir", None)
                raise FileNotFoundError(
                    f"Missing SHREC17 files {missing}: not in the manual directory "
                    f"and the download failed ({type(err).__name__}: {err}). "
                    + _instructions(
                        missing, where or "~/tensorflow_datasets/downloads/manual"
                    )
                ) from err
            found.update({k: epath.Path(v) for k, v in downloaded.items()})
        return found

    def _split_generators(self, dl_manager):
        files = self._source_files(dl_manager)
        perturbed = self.builder_config.perturbed
        generators = {}
        for split, (stem, labels_name) in _SPLITS.items():
            labels = read_labels(files[labels_name]) if labels_name else None
            archive = files[_archive_name(stem, perturbed)]
            generators[split] = self._generate_examples(archive, labels)
        return generators

    def _generate_examples(self, archive, labels):
        """Yields one example per ``.obj`` mesh of the zip ``archive``."""
        num_points = self.builder_config.num_points
        with epath.Path(archive).open("rb") as f:
            try:
                zf = zipfile.ZipFile(f)
            except zipfile.BadZipFile as err:
                raise ValueError(
                    f"{archive} is not a zip archive ({err}); download it again."
                ) from err
            members = sorted(
                info.filename
                for info in zf.infolist()
                if info.filename.lower().endswith(".obj")
                and not info.is_dir()
                and "__MACOSX" not in info.filename
            )
            if not members:
                raise ValueError(f"{archive} contains no .obj meshes.")
            for member in members:
                stem = member.rsplit("/", 1)[-1][: -len(".obj")]
                match = _ID.search(stem)
                if match is None:
                    raise ValueError(
                        f"{archive}: cannot read a model id from {member!r} (expected "
                        "digits at the end of the name, e.g. model_000123.obj)."
                    )
                model_id = int(match.group(1))
                if labels is None:
                    label, sub = -1, ""
                elif model_id in labels:
                    synset, sub = labels[model_id]
                    label = SYNSETS.index(synset)
                else:
                    raise ValueError(
                        f"{archive}: the mesh {member!r} (id {model_id}) has no row in "
                        "the labels csv; are the archive and the csv from the same "
                        "split?"
                    )
                vertices, faces = load_obj(zf.read(member), f"{archive}:{member}")
                try:
                    vertices, centre, scale = normalize_mesh(vertices, faces)
                except ValueError as err:
                    raise ValueError(f"{archive}:{member}: {err}") from err
                points = sample_surface(vertices, faces, num_points, seed=model_id)
                yield (
                    model_id,
                    {
                        "points": points.astype(np.float32),
                        "label": label,
                        "sub_synset_id": sub,
                        "id": model_id,
                        "centre": centre.astype(np.float32),
                        "scale": np.float32(scale),
                    },
                )
