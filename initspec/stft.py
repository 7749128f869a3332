"""The STFT kernel of Keras 3's ``keras.initializers.STFT``, computed once in NumPy.

``STFT(side, window, scaling, periodic)`` (``keras/src/initializers/constant_initializers.py``)
builds the fixed kernel of the ``STFTSpectrogram`` layer's convolution: for a
``(frame_length T, 1, fft_bins F)`` kernel and N = 2·(F - 1),

.. math::

   K[t, 0, f] = \\cos(-2\\pi t f / N) \\cdot w[t] / s   (side ``real``),\\qquad
   \\sin(-2\\pi t f / N) \\cdot w[t] / s                 (side ``imag``)

with w the window (``scipy.signal.get_window(window, T, fftbins=periodic)``: symmetric
by default, or the given values) and s = √Σw² (``density``), Σ|w| (``spectrum``) or 1
(``none``; also when there is no window).  x·K_real + i·x·K_imag is ``rfft(x·w) / s``.

Keras computes it in the tensor's dtype, op by op: t·f/N, the argument and cos/sin rounded
to float32 for a float32 kernel.  This module does the same in NumPy (float64 kernels in
float64, complex128 ones too; half precision in float32, then rounded once), so it matches
Keras to about one float32 ulp whatever the size - including Keras' own argument rounding,
which grows with t·f (4e-4 from the exact DFT at T = 2048).  Every backend writes these values.

The common windows (``hann``, ``hamming``, ``blackman``, ``bartlett``, ``boxcar``) are
computed here exactly as SciPy does; the others need SciPy (``pip install scipy``).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from .errors import SpecError

__all__ = ["MAX_KERNEL", "WINDOWS", "Window", "check_stft_shape", "float32_problem", "stft_kernel", "window_values"]

#: Every window ``scipy.signal.get_window`` takes by name alone (canonical names only).
WINDOWS = ("hann", "hamming", "blackman", "bartlett", "boxcar", "barthann", "blackmanharris", "bohman", "cosine",
           "exponential", "flattop", "lanczos", "nuttall", "parzen", "taylor", "triang", "tukey")
Window = Literal["hann", "hamming", "blackman", "bartlett", "boxcar", "barthann", "blackmanharris", "bohman",
                 "cosine", "exponential", "flattop", "lanczos", "nuttall", "parzen", "taylor", "triang", "tukey",
                 "none"]

#: The most elements (frame_length × fft_bins) an STFT kernel may have: it is computed in
#: NumPy, in float64 with temporaries of its size (2**26: 0.5 GB each; frame_length 4096
#: with fft_length 8192 is 2**24).
MAX_KERNEL = 2**26

#: The general-cosine coefficients of SciPy's ``hann``, ``hamming`` and ``blackman``.
_COSINE = {"hann": (0.5, 0.5), "hamming": (0.54, 0.46), "blackman": (0.42, 0.50, 0.08)}


def _numpy_window(name: str, m: int, sym: bool) -> np.ndarray | None:
    """SciPy's own computation of the common windows (the same float64 operations), or None."""
    if name not in (*_COSINE, "bartlett", "boxcar"):
        return None
    if m <= 1:
        return np.ones(m)
    n = m if sym else m + 1
    if name == "boxcar":
        w = np.ones(n)
    elif name == "bartlett":
        k = np.arange(0, n, dtype=np.float64)
        w = np.where(k <= (n - 1) / 2.0, 2.0 * k / (n - 1), 2.0 - 2.0 * k / (n - 1))
    else:
        fac = np.linspace(-np.pi, np.pi, n)
        w = np.zeros(n)
        for j, a in enumerate(_COSINE[name]):
            w += a * np.cos(j * fac)
    return w if sym else w[:-1]


def window_values(window: Any, length: int, periodic: bool) -> np.ndarray | None:
    """The float64 window of ``length`` (None for ``none``): a name (SciPy's
    ``get_window(name, length, fftbins=periodic)``) or given values."""
    if isinstance(window, str):
        if window == "none":
            return None
        w = _numpy_window(window, length, sym=not periodic)
        if w is None:
            try:
                from scipy.signal import get_window
            except ImportError:  # pragma: no cover - scipy is in the test extras
                raise SpecError.single(
                    "missing_dependency", f"the {window!r} window needs SciPy: pip install scipy (or use hann, "
                    "hamming, blackman, bartlett or boxcar, computed without it)", loc=("window",),
                    value=window) from None
            w = np.asarray(get_window(window, length, fftbins=periodic), dtype=np.float64)
        return w
    return np.asarray(window.array if hasattr(window, "array") else window, dtype=np.float64)


def stft_kernel(frame_length: int, fft_bins: int, *, side: str, window: Any, scaling: str, periodic: bool,
                dtype: str) -> np.ndarray:
    """The ``(frame_length, 1, fft_bins)`` kernel in ``dtype``, computed as Keras does (see
    the module docstring): in float64 for float64 (and complex128, whose parts are float64),
    else in float32 and rounded once."""
    wd = np.float64 if dtype in ("float64", "complex128") else np.float32
    win = window_values(window, frame_length, periodic)
    n = (fft_bins - 1) * 2
    freq = np.arange(fft_bins, dtype=wd).reshape(1, 1, fft_bins) / wd(n)
    time = np.arange(frame_length, dtype=wd).reshape(frame_length, 1, 1)
    args = (wd(-2) * time * freq) * np.arccos(wd(-1))  # Keras: multiply(multiply(-2, time), freq) * arccos(-1)
    kernel = np.cos(args) if side == "real" else np.sin(args)
    if win is not None:  # (a window summing to 0 gives NaN, silently as in Keras: resolution refuses it)
        with np.errstate(divide="ignore", invalid="ignore"):
            return _windowed(kernel, win.astype(wd).reshape(frame_length, 1, 1), scaling).astype(wd, copy=False)
    return kernel.astype(wd, copy=False)


def float32_problem(window: Any, length: int, periodic: bool, scaling: str) -> tuple[str, str, float, float] | None:
    """Why a kernel computed in float32 (every dtype but float64 and complex128) would not be
    the kernel, or None: window values beyond float32's normal range (inf, or subnormal
    digits), or a scaling sum Σw² / Σ|w| that overflows it (every value 0) or underflows it
    (inf, NaN).  Returns (code, what, value, limit) for the dtype check's message."""
    win = window_values(window, length, periodic)
    if win is None or not win.size:
        return None
    big, tiny = float(np.finfo(np.float32).max), float(np.finfo(np.float32).tiny)
    top = float(np.max(np.abs(win)))
    if top > big:
        return "dtype_overflow", "the largest window value", top, big
    if 0 < top < tiny:
        return "dtype_underflow", "the largest window value", top, tiny
    if scaling not in ("density", "spectrum") or top == 0:
        return None
    w32 = win.astype(np.float32)
    with np.errstate(all="ignore"):  # the sums as the kernel computes them, and exactly
        if scaling == "density":
            got, want, what = float(np.sum(np.square(w32))), float(np.sum(np.square(win))), "the sum of squares Σw²"
        else:
            got, want, what = float(np.sum(np.abs(w32))), float(np.sum(np.abs(win))), "the sum Σ|w|"
    if not np.isfinite(got) or want > big:
        return "dtype_overflow", what, want, big
    if not want * (1 - 1e-3) <= got <= want * (1 + 1e-3):  # underflowed (0, or subnormal digits lost)
        return "dtype_underflow", what, want, tiny
    return None


def _windowed(kernel: np.ndarray, w: np.ndarray, scaling: str) -> np.ndarray:
    """Keras' ``divide(multiply(kernel, win), scaling)``."""
    if scaling == "density":
        return kernel * w / np.sqrt(np.sum(np.square(w)))
    if scaling == "spectrum":
        return kernel * w / np.sum(np.abs(w))
    return kernel * w


def check_stft_shape(shape: tuple[int, ...], transposed: bool, window: Any) -> str | None:
    """What is wrong with an STFT kernel shape (None when nothing): rank 3, one input
    channel, at least 2 frequency bins, a window of frame_length values."""
    if len(shape) != 3:
        return f"keras.stft needs a 3-D convolution kernel (frame_length, 1, fft_bins), got a {len(shape)}-D one"
    t, c, f = (shape[2], shape[1], shape[0]) if transposed else shape
    order = "(fft_bins, 1, frame_length) in torch's layout" if transposed else "(frame_length, 1, fft_bins)"
    if c != 1:
        return (f"keras.stft builds kernels of one input channel, {order}; this one has {c} (Keras' STFT would "
                "return a (T, 1, F) tensor for it)")
    if f < 2:
        return f"keras.stft needs at least 2 frequency bins (N = 2·(bins - 1) > 0), {order}; got {f}"
    if t * f > MAX_KERNEL:
        return (f"keras.stft computes its kernel in memory: at most 2**26 elements (frame_length × fft_bins), "
                f"{order}; got {t} × {f}")
    if not isinstance(window, str) and window is not None:
        m = window.shape if hasattr(window, "shape") else (len(window),)
        if tuple(m) != (t,):
            return f"the window has shape {tuple(m)} but frame_length is {t}: give frame_length values"
    return None

