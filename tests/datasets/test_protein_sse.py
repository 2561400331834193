"""The protein_sse builder on the real chains of the installed MDAnalysisTests."""

import importlib.resources
import shutil

import numpy as np
import pytest
from keras_se3.datasets.protein_sse import protein_sse_dataset_builder as psse


@pytest.fixture(scope="module")
def folder():
    return psse.data_directory()


def test_the_splits_are_disjoint_and_cover_every_labelled_chain(folder):
    names = [name for split in psse.SPLITS.values() for name in split]
    assert len(names) == len(set(names)) == 50
    assert sorted(names) == psse.labelled_chains(folder)
    assert {k: len(v) for k, v in psse.SPLITS.items()} == {
        "train": 34,
        "validation": 8,
        "test": 8,
    }


def test_a_chain_has_aligned_atoms_residues_and_labels(folder):
    chain = psse.read_chain(folder, "1ahsA")
    labels = (folder / "1ahsA.pdb.dssp").read_text().split()[0]
    assert (chain["pdb_id"], chain["chain"]) == ("1ahs", "A")
    residues, atoms = chain["residues"], chain["atoms"]
    assert chain["num_residues"] == len(labels) == len(residues["label"])
    assert "".join("HE-"[c] for c in residues["label"]) == labels
    assert residues["name"][0] == "THR"  # the file's first residue, THR A 126
    np.testing.assert_allclose(atoms["position"][0], [45.850, 10.934, 17.530])
    # Every residue owns its atoms, in order, and its CA is one of them.
    owners = atoms["residue"]
    assert np.all(np.diff(owners) >= 0) and set(owners) == set(range(len(labels)))
    for index in (0, len(labels) // 2, len(labels) - 1):
        mine = atoms["position"][owners == index]
        assert np.min(np.abs(mine - residues["ca"][index]).sum(-1)) == 0
    # Heavy atoms only: the four elements of a protein's heavy atoms.
    assert set(atoms["element"]) <= {"C", "N", "O", "S"}
    assert len(atoms["element"]) == len(owners) == len(atoms["position"])


def test_without_the_package_the_error_names_the_pip_command(monkeypatch):
    def missing(name):
        raise ModuleNotFoundError(f"No module named {name!r}")

    monkeypatch.setattr(importlib.resources, "files", missing)
    with pytest.raises(
        ModuleNotFoundError, match=r'pip install "keras-se3\[proteins\]"'
    ):
        psse.data_directory()


def test_other_chains_than_the_splits_name_are_a_clear_error():
    found = [*psse.labelled_chains(psse.data_directory()), "9xyzA"]
    with pytest.raises(ValueError, match=r"in no split: \['9xyzA'\].*==2\.11\.0"):
        psse.check_splits(found)
    with pytest.raises(ValueError, match=r"missing: \['1ahsA'\]"):
        psse.check_splits(found[1:-1])


def test_a_label_string_that_does_not_fit_the_chain_is_a_clear_error(folder, tmp_path):
    shutil.copy(folder / "1ahsA.pdb.gz", tmp_path)
    labels = (folder / "1ahsA.pdb.dssp").read_text().split()[0]
    (tmp_path / "1ahsA.pdb.dssp").write_text(labels[:-1] + " 1ahsA.pdb\n")
    with pytest.raises(ValueError, match="residues but its DSSP string has"):
        psse.read_chain(tmp_path, "1ahsA")
    (tmp_path / "1ahsA.pdb.dssp").write_text(labels[:-1] + "G 1ahsA.pdb\n")
    with pytest.raises(ValueError, match=r"DSSP codes \['G'\]"):
        psse.read_chain(tmp_path, "1ahsA")
