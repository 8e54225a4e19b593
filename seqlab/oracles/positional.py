"""Chapter 07-positional-encoding: checks by the lecture's numbers and by properties.

PyTorch has no built-in sinusoidal positional encoding, so this module never builds a
reference table. A table is judged by properties that together pin it down:

- row 0 (position 0) is ``[0, 1, 0, 1, ...]``: every pair starts at angle 0;
- each pair of columns ``(2k, 2k+1)`` lies on the unit circle: ``sin² + cos² = 1``;
- one step down the table turns pair ``k`` by the angle ``2π / λ_k``, where the
  wavelengths ``λ_k = 2π · base^(2k/d)`` grow geometrically from ``2π`` (the shift
  property ``PE[i + 1] = M_1 PE[i]``, one 2×2 rotation per pair);

and by the lecture's worked numbers (d = 4, positions 1 and 2). A shift matrix is judged
by its shape (block diagonal, one rotation per pair) and by the angle of each block.
When a check fails it says which usual mistake the result looks like.
"""
from __future__ import annotations

import math

import numpy as np

from seqlab.testing import CheckError, to_numpy

from ._torch import lazy_mistakes

#: The lecture's example: input feature dimension d = 4, positions counted from 1.
LECTURE_D_MODEL = 4
#: The lecture's PE^1 = [sin(1), cos(1), sin(1/100), cos(1/100)]  (row 1 of the course's table).
LECTURE_PE1 = np.array([math.sin(1), math.cos(1), math.sin(1 / 100), math.cos(1 / 100)])
#: The lecture's PE^2 = [sin(2), cos(2), sin(1/50), cos(1/50)]  (row 2 of the course's table).
LECTURE_PE2 = np.array([math.sin(2), math.cos(2), math.sin(1 / 50), math.cos(1 / 50)])

#: Tables computed once in float64 and written down, ``(num_positions, d_model, base) -> PE`` with
#: row i = position i from 0: tests compare with these numbers, not with a second implementation.
WRITTEN_TABLES = {
    (6, 6, 10000.0): np.array([
        [0.0, 1.0, 0.0, 1.0, 0.0, 1.0],
        [0.8414709848078965, 0.5403023058681398, 0.046399223464731285, 0.9989229760406304, 0.0021544330233656045, 0.9999976792064809],
        [0.9092974268256817, -0.4161468365471424, 0.09269850077872725, 0.9956942241237399, 0.0043088560467428125, 0.9999907168366957],
        [0.1411200080598672, -0.9899924966004454, 0.13879810108005056, 0.990320699135675, 0.006463259070189646, 0.9999791129229608],
        [-0.7568024953079282, -0.6536436208636119, 0.18459872362061747, 0.9828139759067526, 0.008617632093856952, 0.9999628675191369],
        [-0.9589242746631385, 0.28366218546322625, 0.23000171166476746, 0.9731902242785205, 0.010771965118034833, 0.9999419807006283],
    ]),
    (4, 8, 100.0): np.array([
        [0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0],
        [0.8414709848078965, 0.5403023058681398, 0.31098359290718575, 0.9504152802551828, 0.09983341664682815, 0.9950041652780258, 0.03161750640243371, 0.9995000416652778],
        [0.9092974268256817, -0.4161468365471424, 0.5911271172152932, 0.8065784098850756, 0.19866933079506122, 0.9800665778412416, 0.06320339793316936, 0.9980006665777841],
        [0.1411200080598672, -0.9899924966004454, 0.8126488966420368, 0.5827536107022249, 0.29552020666133955, 0.955336489125606, 0.09472609133274612, 0.9955033739876628],
    ]),
}


#: Two slips in the exponent, named the same way by the table checks and the shift-matrix checks.
INTEGER_DIVISION = ("integer division in the exponent (2 * k // d is 0 for every pair): compute 2k / d with /, so "
                    "that the angles slow down from pair to pair")
MULTIPLIED = "the position is multiplied by base^(2k/d): divide it, i / base^(2k/d)"
NUM_POSITIONS = "the exponent divides by num_positions: it is 2k / d_model, with d_model the number of columns"
OFFSET_IN_EXPONENT = ("the offset is in the exponent (base^(-offset 2k/d)): block k turns by offset / base^(2k/d), "
                      "the offset multiplies the angle of one step")


def written_table(num_positions: int, d_model: int, base: float = 10000.0) -> np.ndarray:
    """A copy of one of the ``WRITTEN_TABLES``."""
    return WRITTEN_TABLES[num_positions, d_model, float(base)].copy()

def position_zero(d_model: int) -> np.ndarray:
    """Row 0 of any sinusoidal table: every pair is (sin 0, cos 0) = (0, 1)."""
    return np.tile([0.0, 1.0], d_model // 2)


def wavelengths(d_model: int, base: float = 10000.0) -> np.ndarray:
    """``λ_k = 2π · base^(2k/d)`` for the pairs k = 0 .. d/2 - 1: the number of positions
    after which the columns of pair k repeat."""
    pair = np.arange(d_model // 2)
    return 2 * math.pi * np.power(float(base), 2.0 * pair / d_model)


@lazy_mistakes
def lecture_table_mistakes() -> dict:
    """What ``sinusoidal_pe(3, 4)`` (positions 0, 1, 2 at d = 4) returns under the usual slips.

    Each value is written out entry by entry, in the lecture's way, from the slip's own formula.
    """
    sin, cos = math.sin, math.cos
    r = 1000 ** 0.5                     # base 1000, pair 1: 1000^(2/4)
    p = 10000 ** (2 / 3)                # pair 1 with num_positions = 3 in the exponent: 10000^(2/3)
    q, c = 10000 ** 0.25, 10000 ** 0.75  # exponent j/d over the column index j = 1 and j = 3
    good = np.array([position_zero(4), LECTURE_PE1, LECTURE_PE2])
    return {
        "positions counted from 1: row 0 is position 0, and it must be [0, 1, 0, 1]":
            np.array([LECTURE_PE1, LECTURE_PE2, [sin(3), cos(3), sin(3 / 100), cos(3 / 100)]]),
        "sin and cos are swapped: column 2k holds sin, column 2k+1 holds cos": good[:, [1, 0, 3, 2]],
        "sin in the first half and cos in the second half: interleave them (sin, cos, sin, cos)":
            good[:, [0, 2, 1, 3]],
        "base 1000 instead of 10000": np.array(
            [position_zero(4), [sin(1), cos(1), sin(1 / r), cos(1 / r)], [sin(2), cos(2), sin(2 / r), cos(2 / r)]]),
        "the exponent is k/d over the pair index k: it must be 2k/d": np.array(
            [position_zero(4), [sin(1), cos(1), sin(1 / 10), cos(1 / 10)], [sin(2), cos(2), sin(2 / 10), cos(2 / 10)]]),
        "the exponent uses the column index j (j/d); both columns 2k and 2k+1 use 2k/d": np.array(
            [position_zero(4), [sin(1), cos(1 / q), sin(1 / 100), cos(1 / c)],
             [sin(2), cos(2 / q), sin(2 / 100), cos(2 / c)]]),
        INTEGER_DIVISION: np.array([position_zero(4), [sin(1), cos(1), sin(1), cos(1)], [sin(2), cos(2), sin(2), cos(2)]]),
        MULTIPLIED: np.array(
            [position_zero(4), [sin(1), cos(1), sin(100), cos(100)], [sin(2), cos(2), sin(200), cos(200)]]),
        NUM_POSITIONS: np.array([position_zero(4), [sin(1), cos(1), sin(1 / p), cos(1 / p)],
                                 [sin(2), cos(2), sin(2 / p), cos(2 / p)]]),
    }


def rotated(pe, angles) -> np.ndarray:
    """``pe`` with each (sin, cos) pair k turned on by ``angles[k]``: what a shift matrix whose blocks
    turn by those angles gives (sin(x + a), cos(x + a) from sin x, cos x)."""
    pe, a = np.asarray(pe, dtype=np.float64), np.asarray(angles, dtype=np.float64)
    s, c = pe[..., 0::2], pe[..., 1::2]
    out = np.empty_like(pe)
    out[..., 0::2], out[..., 1::2] = s * np.cos(a) + c * np.sin(a), c * np.cos(a) - s * np.sin(a)
    return out


@lazy_mistakes
def shift_mistakes(offset: int, d_model: int, pe, base: float = 10000.0) -> dict:
    """What ``pe_shift_matrix(offset, d_model) @ pe`` gives under the slips that change the blocks' angles."""
    pair = np.arange(d_model // 2)
    angles = {
        OFFSET_IN_EXPONENT: np.power(float(base), -offset * 2.0 * pair / d_model),
        INTEGER_DIVISION: np.full(d_model // 2, float(offset)),
        "the offset is ignored: M turns pair k by offset times the angle of one step": np.power(float(base), -2.0 * pair / d_model),
    }
    step = offset * np.power(float(base), -2.0 * pair / d_model)
    right = rotated(pe, step)
    values = {label: rotated(pe, a) for label, a in angles.items()}
    s, c = np.asarray(pe, dtype=np.float64)[..., 0::2], np.asarray(pe, dtype=np.float64)[..., 1::2]
    no_minus = np.empty_like(right)        # blocks [[cos a, sin a], [sin a, cos a]]: the minus sign left out
    no_minus[..., 0::2], no_minus[..., 1::2] = s * np.cos(step) + c * np.sin(step), s * np.sin(step) + c * np.cos(step)
    values["the minus sign is missing in the blocks: each one is [[cos a, sin a], [-sin a, cos a]]"] = no_minus
    return {label: value for label, value in values.items() if not np.allclose(value, right)}


def _fail(name: str, *lines: str) -> None:
    body = "\n".join("  " + line for line in lines if line)
    raise CheckError(f"{name} is wrong.\n{body}")


def _close(a, b, rtol, atol) -> bool:
    return bool(np.allclose(a, b, rtol=rtol, atol=atol))


def _wrapped(angle: np.ndarray) -> np.ndarray:
    """An angle folded into (-π, π]."""
    return np.angle(np.exp(1j * angle))


def _diagnose_steps(step: np.ndarray, d_model: int, base: float, offset: int = 1,
                    num_positions: int | None = None) -> str:
    """Name the slip whose angle per position matches ``step`` (one angle per pair)."""
    step = np.asarray(step)
    pair = np.arange(d_model // 2)
    candidates = {
        "the angles turn backwards (a sign slip, or a transposed rotation: that is the shift by -offset)":
            -offset * 2 * math.pi / wavelengths(d_model, base),
        "base 1000 instead of 10000 (use the `base` argument)": offset * 2 * math.pi / wavelengths(d_model, 1000.0),
        "the exponent is k/d over the pair index k: it must be 2k/d": offset * 2 * math.pi / wavelengths(2 * d_model, base)[: d_model // 2],
        "the base argument is ignored (10000 is used whatever `base` is)":
            offset * 2 * math.pi / wavelengths(d_model, 10000.0),
        INTEGER_DIVISION: np.full(d_model // 2, float(offset)),
        MULTIPLIED: offset * wavelengths(d_model, base) / (2 * math.pi),
        OFFSET_IN_EXPONENT: np.power(float(base), -offset * 2.0 * pair / d_model),
    }
    if num_positions:
        candidates[NUM_POSITIONS] = offset * np.power(float(base), -2.0 * pair / num_positions)
    if offset != 1:
        candidates["the offset is ignored: M turns pair k by offset times the angle of one step"] = (
            2 * math.pi / wavelengths(d_model, base))
    for label, angle in candidates.items():
        if _close(_wrapped(step), _wrapped(angle), 1e-6, 1e-9):
            return f"likely mistake: {label}"
    return ""


def check_sinusoidal_pe(name: str, PE, num_positions: int, d_model: int, base: float = 10000.0, *,
                        rtol: float = 1e-7, atol: float = 1e-10) -> None:
    """``PE`` is the sinusoidal table of ``num_positions`` rows (positions 0..P-1) and ``d_model``
    columns, judged by the properties in this module's docstring; raises ``CheckError`` otherwise."""
    if PE is None:
        _fail(name, "got None: did the function forget to `return` its result?")
    try:
        got = to_numpy(PE).astype(np.float64)
    except Exception:  # noqa: BLE001 - anything unconvertible is the wrong answer
        _fail(name, f"expected an array of shape {(num_positions, d_model)}, got {type(PE).__name__}")
    if got.shape != (num_positions, d_model):
        hint = ""
        if got.shape == (d_model, num_positions):
            hint = "likely mistake: the table is transposed: rows are positions and columns are features, (num_positions, d_model)"
        elif got.shape == (num_positions + 1, d_model):
            hint = "hint: one row per position 0..num_positions-1, so num_positions rows"
        _fail(name, f"expected shape {(num_positions, d_model)}, got {got.shape}", hint)
    if not np.all(np.isfinite(got)):
        _fail(name, "the table contains NaN or inf")
    if num_positions == 0 or d_model == 0:
        return
    pairs = d_model // 2
    omega = 2 * math.pi / wavelengths(d_model, base)          # angle per position of each pair

    # 1. Position 0: every pair at angle 0.
    zero = position_zero(d_model)
    if not _close(got[0], zero, rtol, atol):
        likely = ""
        if _close(got[0], np.tile([1.0, 0.0], pairs), rtol, atol):
            likely = "sin and cos are swapped: column 2k holds sin, column 2k+1 holds cos"
        elif _close(got[0], np.repeat([0.0, 1.0], pairs), rtol, atol):
            likely = "sin in the first half and cos in the second half: interleave them (sin, cos, sin, cos, ...)"
        elif _close(got[0, 0::2], np.sin(omega), rtol, atol) and _close(got[0, 1::2], np.cos(omega), rtol, atol):
            likely = "positions counted from 1: row i must be position i, so row 0 is position 0"
        _fail(name, f"row 0 (position 0) must be sin(0), cos(0), ... = {zero.tolist()[:8]}"
                    f"{' ...' if d_model > 8 else ''}",
              f"got {np.round(got[0], 6).tolist()[:8]}{' ...' if d_model > 8 else ''}",
              likely and f"likely mistake: {likely}")
    if num_positions == 1:
        return

    # 2. Each pair (sin, cos) of the same angle lies on the unit circle.
    s, c = got[:, 0::2], got[:, 1::2]                          # (P, d/2) each
    radius = s ** 2 + c ** 2
    if not _close(radius, 1.0, rtol, max(atol, 1e-12)):
        i, k = np.unravel_index(int(np.argmax(np.abs(radius - 1))), radius.shape)
        _fail(name, f"columns {2 * k} and {2 * k + 1} must be the sin and cos of the same angle, "
                    f"so PE[i, 2k]² + PE[i, 2k+1]² = 1;",
              f"at row {i} they are {got[i, 2 * k]:.6g} and {got[i, 2 * k + 1]:.6g}, squares summing to {radius[i, k]:.6g}",
              "likely mistake: the exponent uses the column index j (j/d), or sin and cos of one pair "
              "are not side by side; both columns 2k and 2k+1 use i / base^(2k/d)")

    # 3. One step down the table turns pair k by omega_k: PE[i+1] = M_1 PE[i].
    cw, sw = np.cos(omega), np.sin(omega)
    s_next, c_next = s[:-1] * cw + c[:-1] * sw, c[:-1] * cw - s[:-1] * sw
    if not (_close(s[1:], s_next, rtol, atol) and _close(c[1:], c_next, rtol, atol)):
        err = np.abs(s[1:] - s_next) + np.abs(c[1:] - c_next)
        i, k = np.unravel_index(int(np.argmax(err)), err.shape)
        step = np.arctan2(got[1, 0::2], got[1, 1::2])          # the angle of row 1, pair by pair
        _fail(name, f"pair k (columns 2k, 2k+1) must turn by 1 / base^(2k/d) = 2π / λ_k per position "
                    f"(base={base:g}, d={d_model});",
              f"from row {i} to row {i + 1}, pair {k} should turn by {omega[k]:.6g} radians "
              f"(wavelength λ_{k} = {2 * math.pi / omega[k]:.6g} positions), but it does not",
              _diagnose_steps(step, d_model, base, num_positions=num_positions))


def check_shift_matrix(name: str, M, offset: int, d_model: int, base: float = 10000.0, *,
                       rtol: float = 1e-7, atol: float = 1e-10) -> None:
    """``M`` is the shift matrix with ``PE[i + offset] == M @ PE[i]``: block diagonal, block k the
    2×2 rotation of the pair (sin, cos) by ``offset · 2π / λ_k``; raises ``CheckError`` otherwise."""
    if M is None:
        _fail(name, "got None: did the function forget to `return` its result?")
    got = to_numpy(M).astype(np.float64)
    if got.shape != (d_model, d_model):
        _fail(name, f"expected shape {(d_model, d_model)}, got {got.shape}")
    if not np.all(np.isfinite(got)):
        _fail(name, "the matrix contains NaN or inf")
    pairs = d_model // 2
    blocks = got.reshape(pairs, 2, pairs, 2)                   # blocks[k, :, l, :] mixes pair l into pair k
    diagonal = blocks[np.arange(pairs), :, np.arange(pairs), :]  # (d/2, 2, 2)
    off = blocks.copy()
    off[np.arange(pairs), :, np.arange(pairs), :] = 0.0
    if not _close(off, 0.0, rtol, atol):
        _fail(name, "M must be block diagonal: pair k (rows and columns 2k, 2k+1) only mixes with itself,",
              "because a shift turns each (sin, cos) pair by its own angle",
              "likely mistake: blocks laid out for a table with sin in one half and cos in the other")
    a, b = diagonal[:, 0, 0], diagonal[:, 0, 1]
    rotation = np.stack([np.stack([a, b], -1), np.stack([-b, a], -1)], -2)
    if not (_close(diagonal, rotation, rtol, atol) and _close(a ** 2 + b ** 2, 1.0, rtol, max(atol, 1e-12))):
        _fail(name, "each 2x2 block must be a rotation [[cos a, sin a], [-sin a, cos a]] acting on (sin, cos):",
              "sin(x + a) = sin x cos a + cos x sin a and cos(x + a) = cos x cos a - sin x sin a",
              f"got block 0 = {np.round(diagonal[0], 6).tolist()}",
              "likely mistake: sin and cos (or their signs) in the wrong places, or the two rows of a "
              "block use different angles")
    angle = np.arctan2(b, a)
    want = offset * 2 * math.pi / wavelengths(d_model, base)
    if not _close(_wrapped(angle - want), 0.0, 0, max(atol, 1e-9)):
        k = int(np.argmax(np.abs(_wrapped(angle - want))))
        _fail(name, f"block {k} must turn by offset / base^(2k/d) = {want[k]:.6g} radians "
                    f"(offset={offset}, base={base:g}, d={d_model}), got {angle[k]:.6g}",
              _diagnose_steps(angle, d_model, base, offset))
