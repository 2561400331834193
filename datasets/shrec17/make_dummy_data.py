"""Writes dummy_data/: tiny SHREC17 archives and label files in the real layout.

Run from anywhere: ``python datasets/shrec17/make_dummy_data.py``.  The meshes are
cubes and tetrahedra written by hand, some with faces as ``f a/b c/d e/f``
(vertex/texture indices) and ``f a//n`` (vertex//normal), as in the real files;
``*_perturbed.zip`` hold the same meshes rotated.  Inside each zip the meshes sit in a
folder named after the archive (``train_perturbed/model_000003.obj``); one mesh is
named with digits only (``000011.obj``).
"""

import io
import pathlib
import zipfile

import numpy as np
from scipy.spatial.transform import Rotation

CUBE_V = np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)], float)
CUBE_F = [
    (1, 3, 2),
    (2, 3, 4),
    (5, 6, 7),
    (6, 8, 7),
    (1, 2, 5),
    (2, 6, 5),
    (3, 7, 4),
    (4, 7, 8),
    (1, 5, 3),
    (3, 5, 7),
    (2, 4, 6),
    (4, 8, 6),
]
TETRA_V = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], float) * 0.7
TETRA_F = [(1, 2, 3), (1, 4, 2), (1, 3, 4), (2, 4, 3)]


def obj_text(vertices, faces, style):
    lines = ["# dummy mesh for the keras_se3 shrec17 builder tests", "o shape"]
    lines += [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in vertices]
    if style == "slash":
        lines += ["vt 0.0 0.0", "vt 1.0 0.0", "vt 0.0 1.0"]
        lines += [
            "f " + " ".join(f"{v}/{1 + k % 3}" for k, v in enumerate(f)) for f in faces
        ]
    elif style == "normal":
        lines += ["vn 0.0 0.0 1.0"]
        lines += ["f " + " ".join(f"{v}//1" for v in f) for f in faces]
    else:
        lines += ["f " + " ".join(str(v) for v in f) for f in faces]
    return "\n".join(lines) + "\n"


# split stem -> [(file name, vertices, faces, style)]
MESHES = {
    "train": [
        ("model_000003.obj", CUBE_V, CUBE_F, "plain"),
        ("model_000005.obj", TETRA_V, TETRA_F, "slash"),
        ("model_000008.obj", CUBE_V * [1, 2, 0.5], CUBE_F, "normal"),
    ],
    "val": [
        ("000011.obj", TETRA_V, TETRA_F, "plain"),
        ("model_000012.obj", CUBE_V, CUBE_F, "slash"),
    ],
    "test": [
        ("model_000021.obj", CUBE_V, CUBE_F, "slash"),
        ("model_000022.obj", TETRA_V, TETRA_F, "plain"),
    ],
}
LABELS = {
    "train": [
        (3, "02691156", "02690373"),
        (5, "03001627", "03002210"),
        (8, "04379243", "04379243"),
    ],
    "val": [(11, "03001627", "03001627"), (12, "02691156", "02691156")],
}


def main():
    out = pathlib.Path(__file__).parent / "dummy_data"
    rotations = Rotation.random(7, random_state=17).as_matrix()
    k = 0
    for stem, meshes in MESHES.items():
        for suffix in ("", "_perturbed"):
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
                for i, (name, vertices, faces, style) in enumerate(meshes):
                    if suffix:
                        vertices = vertices @ rotations[(k + i) % 7].T
                    info = zipfile.ZipInfo(
                        f"{stem}{suffix}/{name}", (2017, 1, 1, 0, 0, 0)
                    )
                    zf.writestr(info, obj_text(vertices, faces, style))
            (out / f"{stem}{suffix}.zip").write_bytes(buffer.getvalue())
        k += len(meshes)
    for stem, rows in LABELS.items():
        text = "id,synsetId,subSynsetId,modelId,split\n" + "".join(
            f"{i:06d},{syn},{sub},dummy{i},{stem}\n" for i, syn, sub in rows
        )
        (out / f"{stem}.csv").write_text(text)


if __name__ == "__main__":
    main()
