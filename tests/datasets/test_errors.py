import zipfile
from unittest import mock

import numpy as np
import pytest
from keras_se3.datasets.cath.cath_dataset_builder import load_cath_npz
from keras_se3.datasets.shrec17.shrec17_dataset_builder import read_labels

from keras_se3.datasets.meshes import load_obj, normalize_mesh

from .conftest import dummy_dir, tfds

CATH_DUMMY = dummy_dir("cath") / "cath_10arch_ca.npz"


def _rewrite(tmp_path, **changes):
    data = dict(np.load(CATH_DUMMY))
    for key, value in changes.items():
        if value is None:
            data.pop(key)
        else:
            data[key] = value
    path = tmp_path / "cath_10arch_ca.npz"
    np.savez(path, **data)
    return path


def test_cath_loader_reads_the_dummy_file():
    data = load_cath_npz(CATH_DUMMY, level=2, num_classes=10)
    assert data["label_names"][0] == "1.10" and len(data["label_names"]) == 10
    assert data["label_ids"].shape == data["n_atoms"].shape


def test_cath_bad_files_give_clear_errors(tmp_path):
    with pytest.raises(ValueError, match=r"missing keys \['labels'\]"):
        load_cath_npz(_rewrite(tmp_path, labels=None), level=2)
    with pytest.raises(ValueError, match=r"`labels` must have shape \(20, 2\)"):
        load_cath_npz(_rewrite(tmp_path, labels=np.zeros((20, 1), int)), level=2)
    with pytest.raises(ValueError, match=r"`positions` must be \[N, max_atoms, 3\]"):
        load_cath_npz(_rewrite(tmp_path, positions=np.zeros((20, 12))), level=2)
    with pytest.raises(
        ValueError, match="expected 11 distinct labels at CATH level 2, found 10"
    ):
        load_cath_npz(CATH_DUMMY, level=2, num_classes=11)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a numpy file at all")
    with pytest.raises(ValueError, match="numpy cannot read it"):
        load_cath_npz(garbage, level=2)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, positions=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="not a CATH dataset file"):
        load_cath_npz(pickled, level=2)
    with pytest.raises(FileNotFoundError):
        load_cath_npz(tmp_path / "nope.npz", level=2)


def test_cath_builder_rejects_a_bad_manual_file(tmp_path):
    manual = tmp_path / "manual"
    manual.mkdir()
    (manual / "cath_10arch_ca.npz").write_bytes(
        _rewrite(tmp_path, n_atoms=None).read_bytes()
    )
    builder = tfds.builder("cath/10arch", data_dir=tmp_path / "data")
    with pytest.raises(ValueError, match=r"missing keys \['n_atoms'\]"):
        builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(manual_dir=manual)
        )


def _offline(*args, **kwargs):
    raise ConnectionError("no network in tests")


def test_missing_files_without_network_say_what_to_download(tmp_path):
    config = tfds.download.DownloadConfig(manual_dir=tmp_path / "manual")
    with mock.patch.object(tfds.download.DownloadManager, "download", _offline):
        builder = tfds.builder("cath/3class", data_dir=tmp_path / "data")
        with pytest.raises(FileNotFoundError, match="cath_3class_ca.npz") as err:
            builder.download_and_prepare(download_config=config)
        assert "raw.githubusercontent.com/wouterboomsma/cath_datasets" in str(err.value)
        assert "manual directory" in str(err.value)
        builder = tfds.builder("shrec17/perturbed", data_dir=tmp_path / "data")
        with pytest.raises(FileNotFoundError, match="train_perturbed.zip") as err:
            builder.download_and_prepare(download_config=config)
        assert "val.csv" in str(err.value) and "manual" in str(err.value)


def test_cath_builder_downloads_when_no_manual_file(tmp_path):
    with mock.patch.object(
        tfds.download.DownloadManager, "download", return_value=str(CATH_DUMMY)
    ) as download:
        builder = tfds.builder("cath/10arch", data_dir=tmp_path)
        builder.download_and_prepare()
    assert download.call_args[0][0].endswith("/cath_10arch_ca.npz")
    assert builder.info.splits["train"].num_examples == 14


def test_shrec17_bad_inputs(tmp_path):
    bad_csv = tmp_path / "train.csv"
    bad_csv.write_text("id,synset\n1,02691156\n")
    with pytest.raises(ValueError, match=r"lacks the columns \['synsetId'"):
        read_labels(bad_csv)
    bad_csv.write_text("id,synsetId,subSynsetId,modelId,split\n1,12345678,1,m,train\n")
    with pytest.raises(ValueError, match="55 ShapeNetCore synset"):
        read_labels(bad_csv)
    with pytest.raises(ValueError, match="no triangles"):
        load_obj(b"# nothing here\n", "empty.obj")


def test_obj_face_variants_parse_to_the_same_mesh():
    plain = b"v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nf 1 2 3\nf 1 2 4\nf 1 3 4\nf 2 3 4\n"
    slash = (
        b"mtllib x.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nvt 0 0\nvt 1 0\nvt 0 1\n"
        b"vn 0 0 1\nusemtl m\nf 1/1 2/2 3/3\nf 1/1/1 2/2/1 4/3/1\nf 1//1 3//1 4//1\n"
        b"f 2/1 3/2 4/3\n"
    )
    v0, f0 = load_obj(plain)
    v1, f1 = load_obj(slash)
    np.testing.assert_array_equal(v0, v1)
    np.testing.assert_array_equal(f0, f1)
    with zipfile.ZipFile(dummy_dir("shrec17") / "train.zip") as zf:
        vertices, faces = load_obj(zf.read("train/model_000005.obj"))
    assert vertices.shape == (4, 3) and faces.shape == (4, 3)


def test_mesh_normalisation_commutes_with_rotation():
    from keras_se3 import so3

    rng = np.random.default_rng(0)
    vertices = rng.normal(size=(10, 3)) + 5
    faces = np.array([[0, 1, 2], [2, 3, 4], [4, 5, 6], [6, 7, 8], [7, 8, 9]])
    rotation = so3.random_rotation(seed=1)
    a, _, scale_a = normalize_mesh(vertices, faces)
    b, _, scale_b = normalize_mesh(vertices @ rotation.T, faces)
    np.testing.assert_allclose(b, a @ rotation.T, atol=1e-12)
    assert scale_a == pytest.approx(scale_b)
    assert np.linalg.norm(a, axis=-1).max() == pytest.approx(1.0)


def test_a_truncated_cath_file_says_so_and_where_to_get_a_good_one(tmp_path):
    good = CATH_DUMMY.read_bytes()
    manual = tmp_path / "manual"
    manual.mkdir()
    path = manual / "cath_10arch_ca.npz"
    path.write_bytes(good[: len(good) * 2 // 3])  # an interrupted download
    with pytest.raises(ValueError) as direct:
        load_cath_npz(path, level=2, num_classes=10)
    builder = tfds.builder("cath/10arch", data_dir=tmp_path / "data")
    with pytest.raises(ValueError) as prepared:
        builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(manual_dir=manual)
        )
    for error in (direct, prepared):
        message = str(error.value)
        assert message.startswith(f"{path} is not a CATH dataset file"), message
        assert "it is truncated or corrupt" in message
        assert f"{len(good) * 2 // 3:,} bytes" in message
        assert "BadZipFile" in message
        # Where to get a good copy: the builder's own download instructions.
        assert (
            "https://raw.githubusercontent.com/wouterboomsma/cath_datasets/master/"
            "cath_10arch_ca.npz" in message
        )
        assert "manual directory" in message
    assert not builder.is_prepared()
