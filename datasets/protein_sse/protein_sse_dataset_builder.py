"""protein_sse dataset: real protein chains with per-residue secondary structure.

The 50 single protein chains (PDB entries, full-atom ``.pdb.gz``) that the
``MDAnalysisTests`` package ships in ``MDAnalysisTests/data/dssp/``, each with the
DSSP assignment that MDAnalysis's test suite checks against: one of ``H``
(helix), ``E`` (strand) and ``-`` (coil) per residue.  Nothing is downloaded: the
files are read from the installed package (``pip install "keras-se3[proteins]"``),
found with :mod:`importlib.resources`, and parsed with gemmi.

Coordinates are in ångström, in the frame of the deposited entry.
"""

import importlib.resources

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

#: The classes of ``residues/label``, from DSSP's ``H``, ``E`` and ``-``.
SSE_NAMES = ("helix", "strand", "coil")
DSSP_CODES = {"H": 0, "E": 1, "-": 2}
#: The classes of ``atoms/element``: the four elements of the chains' heavy atoms,
#: then any other (selenium of a selenomethionine, a metal; none in 2.11.0).
ELEMENT_NAMES = ("C", "N", "O", "S", "other")

# The fixed split by chain (PDB id + chain id): the 50 labelled chains sorted by
# name, every 6th from the 3rd to `test`, every 6th from the 6th to
# `validation`, the other 34 to `train`.  Chains, not sequence clusters: two
# chains of one family can sit in different splits.
TEST = ("1dx5I", "1or4A", "2cviA", "2va0A", "3e8mA", "3hklA", "3nbkA", "3q4oA")
VALIDATION = ("1i8nA", "1y1lA", "2i39A", "2xr6A", "3gfsA", "3k7pA", "3nzmA", "3vjzA")
TRAIN = (
    "1ahsA", "1bvyF", "1eteA", "1h4aX", "1lpbA", "1mr1D", "1pdoA", "1v7mV",
    "2a2lA", "2cayA", "2fvvA", "2gu3A", "2j49A", "2qdlA", "2xcjA", "2xdgA",
    "3a4rA", "3aqgA", "3ejfA", "3fhkA", "3gknA", "3gwiA", "3ieyB", "3ii2A",
    "3l4rA", "3lqcA", "3nngA", "3ny7A", "3on9A", "3pivA", "3so6A", "3t5gB",
    "4dkcA", "4gcnA",
)  # fmt: skip
SPLITS = {"train": TRAIN, "validation": VALIDATION, "test": TEST}

INSTALL = 'pip install "keras-se3[proteins]"  (MDAnalysisTests and gemmi)'


def data_directory():
    """The installed ``MDAnalysisTests/data/dssp`` folder, or a clear error."""
    try:
        root = importlib.resources.files("MDAnalysisTests")
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError(
            "protein_sse reads its chains from the MDAnalysisTests package, which "
            f"is not installed. Install it with: {INSTALL}"
        ) from err
    folder = root / "data" / "dssp"
    if not folder.is_dir():
        raise FileNotFoundError(
            f"protein_sse: {folder} is missing from the installed MDAnalysisTests. "
            f"Reinstall it with: {INSTALL}"
        )
    return folder


def labelled_chains(folder):
    """The names (``"1ahsA"``) of the chains in ``folder`` with a ``.pdb.gz`` file
    and a ``.pdb.dssp`` assignment."""
    names = [p.name for p in folder.iterdir()]
    return sorted(
        n[: -len(".pdb.dssp")]
        for n in names
        if n.endswith(".pdb.dssp") and n.replace(".dssp", ".gz") in names
    )


def check_splits(found):
    """ValueError unless ``found`` are exactly the chains that the splits name."""
    expected = {name for names in SPLITS.values() for name in names}
    if set(found) != expected:
        raise ValueError(
            "protein_sse: the installed MDAnalysisTests ships other labelled "
            f"chains than the splits name (missing: {sorted(expected - set(found))}, "
            f"in no split: {sorted(set(found) - expected)}). Install the version "
            "the splits were made for: pip install MDAnalysisTests==2.11.0"
        )


def read_chain(folder, name):
    """One chain as the dataset's example: atoms, residues and their labels.

    Heavy atoms of the standard residues of the chain (waters, ligands, hydrogens
    and alternative conformations other than the first removed), in file order.
    """
    import gemmi

    labels = (folder / f"{name}.pdb.dssp").read_text().split()[0]
    unknown = sorted(set(labels) - set(DSSP_CODES))
    if unknown:
        raise ValueError(
            f"protein_sse: {name}.pdb.dssp has DSSP codes {unknown}; "
            f"expected only {sorted(DSSP_CODES)}."
        )
    structure = gemmi.read_structure(str(folder / f"{name}.pdb.gz"))
    structure.setup_entities()
    structure.remove_ligands_and_waters()
    structure.remove_hydrogens()
    structure.remove_alternative_conformations()
    chains = [chain for chain in structure[0] if len(chain)]
    if len(chains) != 1:
        raise ValueError(f"protein_sse: {name} has {len(chains)} chains, expected 1.")
    residues = list(chains[0])
    if len(residues) != len(labels):
        raise ValueError(
            f"protein_sse: {name} has {len(residues)} residues but its DSSP "
            f"string has {len(labels)} labels."
        )
    positions, elements, owners, ca = [], [], [], []
    for index, residue in enumerate(residues):
        alpha = residue.find_atom("CA", "*")
        if alpha is None:
            raise ValueError(
                f"protein_sse: residue {residue.name} {residue.seqid} of {name} "
                "has no CA atom."
            )
        ca.append(alpha.pos.tolist())
        for atom in residue:
            positions.append(atom.pos.tolist())
            element = atom.element.name
            elements.append(element if element in ELEMENT_NAMES else "other")
            owners.append(index)
    return {
        "pdb_id": name[:4],
        "chain": name[4:],
        "num_residues": len(residues),
        "atoms": {
            "position": np.asarray(positions, np.float32),
            "element": elements,
            "residue": np.asarray(owners, np.int32),
        },
        "residues": {
            "label": [DSSP_CODES[code] for code in labels],
            "ca": np.asarray(ca, np.float32),
            "name": [residue.name for residue in residues],
        },
    }


class Builder(tfds.core.GeneratorBasedBuilder):
    """DatasetBuilder for protein_sse (read from the installed MDAnalysisTests)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "The 50 labelled chains of MDAnalysisTests 2.11.0."}
    # Metadata (README.md, CITATIONS.bib, TAGS.txt, checksums.tsv, dummy_data/) sits
    # next to this file, as for the other builders (see tetris_dataset_builder).
    pkg_dir_path = epath.Path(__file__).parent

    @tfds.core.utils.classproperty
    @classmethod
    def code_path(cls) -> epath.Path:
        return epath.Path(__file__)

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "pdb_id": tfds.features.Text(),
                    "chain": tfds.features.Text(),
                    "num_residues": np.int32,
                    "atoms": tfds.features.Sequence(
                        {
                            "position": tfds.features.Tensor(
                                shape=(3,), dtype=np.float32
                            ),
                            "element": tfds.features.ClassLabel(names=ELEMENT_NAMES),
                            "residue": np.int32,
                        }
                    ),
                    "residues": tfds.features.Sequence(
                        {
                            "label": tfds.features.ClassLabel(names=SSE_NAMES),
                            "ca": tfds.features.Tensor(shape=(3,), dtype=np.float32),
                            "name": tfds.features.Text(),
                        }
                    ),
                }
            ),
            supervised_keys=None,
            homepage="https://github.com/MDAnalysis/mdanalysis",
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        del dl_manager  # nothing to download: the files are an installed package's
        folder = data_directory()
        check_splits(labelled_chains(folder))
        return {
            split: self._generate_examples(folder, names)
            for split, names in SPLITS.items()
        }

    def _generate_examples(self, folder, names):
        for name in names:
            yield name, read_chain(folder, name)
