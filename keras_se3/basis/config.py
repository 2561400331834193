"""How a steerable kernel basis is built: radial shells, bandlimit, sampling.

A basis is chosen with one argument, ``basis``: a preset name (``"default"``,
``"paper"``), a :class:`BasisConfig`, or the dict form of one (what ``get_config``
stores).
"""

import dataclasses
import math

import numpy as np


def compromise_bandlimit(radius, max_radius):
    """se3cnn's default: ``J_max(0) = 0`` and ``J_max(r) = 2r + 1`` (the paper's)."""
    return 0 if radius < 1e-9 else int(math.floor(2 * radius + 1 + 1e-9))


def conservative_bandlimit(radius, max_radius):
    """``J_max(r) = 2r``."""
    return int(math.floor(2 * radius + 1e-9))


def escnn_bandlimit(radius, max_radius):
    """escnn's default for 3D kernels: ``min(2r, R - r + 2)``."""
    return int(math.floor(min(2 * radius, max_radius - radius + 2) + 1e-9))


BANDLIMITS = {
    "compromise": compromise_bandlimit,
    "conservative": conservative_bandlimit,
    "escnn": escnn_bandlimit,
}


@dataclasses.dataclass(frozen=True)
class BasisConfig:
    """Settings of a steerable kernel basis.

    Lengths are in units of the (smallest) voxel spacing.

    Args:
        radii: radii of the Gaussian shells ``phi_m(r) = exp(-(r - r_m)^2 / 2 s_m^2)``.
            ``None`` means ``0, 1, ..., R`` where ``R`` is the radius of the ball
            inscribed in the kernel (``kernel_size // 2`` for a cubic kernel).
        widths: the shells' ``s_m``: one number for all, or one per shell.  With
            ``radii=None`` a tuple may be shorter than the number of shells: its
            last entry is the outer shell's width and the others fill from the
            front (so ``(0.6, 0.4)`` is "0.6 inside, 0.4 on the outer shell").
        bandlimit: highest angular order ``J`` allowed on a shell, as a function
            ``(radius, max_radius) -> int``, or one of ``"compromise"`` (the paper's:
            0 at the centre, ``2r + 1`` elsewhere), ``"conservative"`` (``2r``),
            ``"escnn"`` (``min(2r, R - r + 2)``).
        moment_order: if set, each sampled basis kernel is corrected on the grid
            (least change, see :mod:`keras_se3.basis.lattice`) so that its spatial
            moments up to this order are those of a rotation-equivariant kernel.
            This removes the low-frequency part of the grid's anisotropy, the main
            source of equivariance error under non-grid rotations.  It is a
            maximum: a field whose correction at that order would remove more
            than half of its norm (a small kernel cannot carry high moments of
            every field, e.g. J = 2 on 3^3) uses the highest order that keeps
            half.  ``None`` keeps plain point samples (the paper's choice).
        centre_width: width of the shell at radius 0 if it differs from the
            others (escnn uses a near-delta there).  ``None``: same rule as the
            other shells.
    """

    radii: tuple | None = None
    widths: float | tuple = 0.6
    bandlimit: str | object = "compromise"
    moment_order: int | None = None
    centre_width: float | None = None

    def __post_init__(self):
        if isinstance(self.bandlimit, str) and self.bandlimit not in BANDLIMITS:
            raise ValueError(
                f"Unknown bandlimit {self.bandlimit!r}; use one of "
                f"{sorted(BANDLIMITS)} or a function (radius, max_radius) -> J_max."
            )
        if not isinstance(self.bandlimit, str) and not callable(self.bandlimit):
            raise ValueError(
                f"`bandlimit` must be a name or a callable, got {self.bandlimit!r}."
            )
        if self.radii is not None:
            radii = tuple(float(r) for r in np.atleast_1d(self.radii))
            if not radii or min(radii) < 0:
                raise ValueError(
                    f"`radii` must be non-negative numbers, got {self.radii!r}."
                )
            object.__setattr__(self, "radii", radii)
        widths = np.atleast_1d(np.asarray(self.widths, dtype=float))
        if widths.ndim != 1 or widths.size == 0 or np.any(widths <= 0):
            raise ValueError(f"`widths` must be positive numbers, got {self.widths!r}.")
        object.__setattr__(
            self,
            "widths",
            float(widths[0]) if widths.size == 1 else tuple(widths.tolist()),
        )
        if self.moment_order is not None and (
            isinstance(self.moment_order, bool)
            or not isinstance(self.moment_order, (int, np.integer))
            or self.moment_order < 0
        ):
            raise ValueError(
                f"`moment_order` must be None or a non-negative integer, got "
                f"{self.moment_order!r}."
            )
        if self.centre_width is not None and not self.centre_width > 0:
            raise ValueError(
                f"`centre_width` must be positive, got {self.centre_width!r}."
            )

    def bandlimit_fn(self):
        return (
            BANDLIMITS[self.bandlimit]
            if isinstance(self.bandlimit, str)
            else self.bandlimit
        )

    def shells(self, max_radius):
        """``(radii, widths)`` of the Gaussian shells for a kernel of that radius."""
        if self.radii is None:
            radii = np.arange(int(math.floor(max_radius + 1e-9)) + 1, dtype=float)
        else:
            radii = np.asarray(self.radii, dtype=float)
        widths = np.atleast_1d(np.asarray(self.widths, dtype=float))
        if widths.size == 1:
            widths = np.full(len(radii), widths[0])
        elif self.radii is None and widths.size < len(radii):
            widths = np.concatenate(
                [np.full(len(radii) - widths.size + 1, widths[0]), widths[1:]]
            )
        elif widths.size != len(radii):
            raise ValueError(
                f"{widths.size} widths given for {len(radii)} shells; give one "
                "width, or one per shell."
            )
        if self.centre_width is not None:
            widths = np.where(radii == 0, self.centre_width, widths)
        return radii, widths[: len(radii)]

    def get_config(self):
        """A JSON-friendly dict (named bandlimits only: a function cannot be saved)."""
        if not isinstance(self.bandlimit, str):
            raise ValueError(
                "A BasisConfig with a custom bandlimit function cannot be serialized; "
                "use a named bandlimit ('compromise', 'conservative', 'escnn') to save "
                "the model's config, or register the model code yourself."
            )
        config = dataclasses.asdict(self)
        for key in ("radii", "widths"):
            if isinstance(config[key], tuple):
                config[key] = list(config[key])
        return config


PRESETS = {
    # Paper / se3cnn: point samples, Gaussian shells sigma 0.6 at 0..R, compromise.
    "paper": BasisConfig(radii=None, widths=0.6, bandlimit="compromise"),
    # Low aliasing under non-grid rotations (docs/benchmarks.md, "Equivariance
    # under non-grid rotations"): escnn's shells (near-delta centre, 0.6 inside,
    # 0.4 on the outer ring), the paper's bandlimit (so every coupling the paper's
    # basis has exists, e.g. scalars to order 3 at kernel 5), and every sampled
    # field corrected so that its spatial moments up to order 8 are those of an
    # equivariant kernel (lower where a small kernel cannot carry them).
    "default": BasisConfig(
        radii=None,
        widths=(0.6, 0.4),
        bandlimit="compromise",
        centre_width=0.005,
        moment_order=8,
    ),
}


def get_basis_config(basis):
    """Resolve ``basis`` (preset name, dict or BasisConfig) to a BasisConfig."""
    if isinstance(basis, BasisConfig):
        return basis
    if basis is None:
        return PRESETS["default"]
    if isinstance(basis, str):
        if basis not in PRESETS:
            raise ValueError(
                f"Unknown basis preset {basis!r}; use one of {sorted(PRESETS)} or a "
                "keras_se3.basis.BasisConfig."
            )
        return PRESETS[basis]
    if isinstance(basis, dict):
        fields = {f.name for f in dataclasses.fields(BasisConfig)}
        unknown = set(basis) - fields
        if unknown:
            raise ValueError(
                f"Unknown basis settings {sorted(unknown)}; BasisConfig takes "
                f"{sorted(fields)}."
            )
        values = dict(basis)
        for key in ("radii", "widths"):
            if isinstance(values.get(key), list):
                values[key] = tuple(values[key])
        return BasisConfig(**values)
    raise ValueError(
        f"`basis` must be a preset name {sorted(PRESETS)}, a BasisConfig or a dict, "
        f"got {basis!r}."
    )


def serialize_basis(basis):
    """The ``get_config`` form of ``basis``: always the explicit dict of settings.

    Presets are written out so that a saved config keeps meaning the same basis
    even if a later version retunes a preset.
    """
    return get_basis_config(basis).get_config()
