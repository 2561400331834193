"""Triangle meshes -> rotation-exact point samples (for SHREC17)."""

import io
import re

import numpy as np

# "a/b", "a//c", "a/b/c" -> "a" in face lines (vertex index only).
_FACE_TOKEN = re.compile(rb"(-?\d+)/[-\d/]*")
_SKIPPED = (b"vt ", b"vt\t", b"vn ", b"vn\t", b"vp ", b"mtllib", b"usemtl")


def _geometry_only(data):
    """The .obj text without texture/normal/material data (only v and f matter)."""
    lines = []
    for line in data.splitlines():
        stripped = line.lstrip()
        if stripped.startswith(_SKIPPED):
            continue
        if stripped.startswith((b"f ", b"f\t")):
            line = _FACE_TOKEN.sub(rb"\1", line)
        lines.append(line)
    return b"\n".join(lines) + b"\n"


def load_obj(data, name="<obj>"):
    """Parse a Wavefront ``.obj`` mesh into vertices and triangles.

    Faces written ``f a/b c/d e/f``, ``f a//c`` or ``f a/b/c`` (vertex/texture/normal
    indices, as in some SHREC17 files) keep their vertex indices only; texture,
    normal and material lines are ignored (so no image library is needed).  The
    geometry is then parsed by trimesh (polygons are triangulated).

    Args:
        data: the file's bytes.
        name: the file's name, for error messages.

    Returns:
        ``(vertices [V, 3] float64, faces [F, 3] int64)``.

    Raises:
        ImportError: if trimesh is not installed.
        ValueError: if the file cannot be parsed or has no triangles.
    """
    try:
        import trimesh
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "Reading .obj meshes needs trimesh: pip install 'keras-se3[data]' "
            "(or pip install trimesh)."
        ) from err
    try:
        mesh = trimesh.load(
            io.BytesIO(_geometry_only(data)),
            file_type="obj",
            force="mesh",
            process=False,
        )
    except Exception as err:
        raise ValueError(f"Cannot parse the mesh {name}: {err}") from err
    vertices = np.asarray(getattr(mesh, "vertices", ()), dtype=np.float64)
    faces = np.asarray(getattr(mesh, "faces", ()), dtype=np.int64)
    if vertices.ndim != 2 or faces.ndim != 2 or len(faces) == 0:
        raise ValueError(
            f"The mesh {name} has no triangles (is it a valid .obj file with 'v' "
            "and 'f' lines?)."
        )
    if not np.all(np.isfinite(vertices)):
        raise ValueError(f"The mesh {name} has non-finite vertex coordinates.")
    return vertices, faces


def normalize_mesh(vertices, faces):
    """Centre and scale a mesh, rotation-equivariantly.

    The centre is the area-weighted centroid of the surface and the scale makes the
    farthest vertex lie at distance 1: both commute with rotations, so a rotated mesh
    normalises to the rotated normalised mesh.

    Returns:
        ``(vertices, centre [3], scale)`` with ``vertices = (input - centre) / scale``.

    Raises:
        ValueError: if the surface has zero area.
    """
    tri = vertices[faces]  # [F, 3, 3]
    areas = 0.5 * np.linalg.norm(
        np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=-1
    )
    total = areas.sum()
    if not total > 0:
        raise ValueError("The mesh has zero surface area.")
    centre = (areas[:, None] * tri.mean(axis=1)).sum(axis=0) / total
    used = vertices[np.unique(faces)] - centre
    scale = float(np.linalg.norm(used, axis=-1).max())
    return (vertices - centre) / scale, centre, scale


def sample_surface(vertices, faces, num_points, seed=0):
    """Area-uniform random points on a triangle mesh's surface.

    Args:
        vertices: ``[V, 3]``.
        faces: ``[F, 3]`` vertex indices.
        num_points: number of points.
        seed: seed of the numpy generator (same seed and mesh, same points).

    Returns:
        ``[num_points, 3]`` float64 points.
    """
    rng = np.random.default_rng(seed)
    tri = vertices[faces]
    areas = 0.5 * np.linalg.norm(
        np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=-1
    )
    chosen = rng.choice(len(faces), size=num_points, p=areas / areas.sum())
    u, v = rng.random((2, num_points))
    flip = u + v > 1  # reflect into the triangle: uniform barycentric coordinates
    u, v = np.where(flip, 1 - u, u), np.where(flip, 1 - v, v)
    t = tri[chosen]
    return t[:, 0] + u[:, None] * (t[:, 1] - t[:, 0]) + v[:, None] * (t[:, 2] - t[:, 0])
