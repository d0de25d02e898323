"""Audio front end of the spoken-word tasks: reading WAVs, resampling, log-mel frames, spike coding.

Reading
    WAV files are read with ``soundfile`` (libsndfile) as float32 in
    [-1, 1) (16-bit PCM sample k becomes k / 32768). Files are read from
    their bytes so that the caller can hash the same bytes it decodes. A file
    libsndfile cannot decode raises :class:`AudioFileError` naming the file;
    so does a file with more than one channel (every data set here is mono).

Resampling
    A clip whose rate differs from the task's ``sample_rate`` is resampled
    with ``scipy.signal.resample_poly(x, up, down)``, ``up/down`` the reduced
    ratio of the two rates (polyphase FIR, Kaiser window, scipy's defaults).

Fixed length
    Each waveform is zero-padded at its end, or cropped (keeping its start),
    to exactly ``(frames - 1) * hop + n_fft`` samples, so every clip gives
    exactly ``frames`` frames.

Log-mel frames (:func:`log_mel`), with ``sr`` the sample rate:

- window length ``win = round(sr * window_ms / 1000)`` samples (25 ms),
  hop ``hop = round(sr * hop_ms / 1000)`` samples (10 ms), FFT size
  ``n_fft`` = the smallest power of two >= ``win``;
- frame t holds samples ``[t*hop, t*hop + n_fft)`` (no centring padding);
  it is multiplied by a periodic Hann window of length ``win``,
  ``w[n] = 0.5 - 0.5 cos(2 pi n / win)``, placed at offset
  ``(n_fft - win) // 2`` inside ``n_fft`` zeros (what ``torch.stft`` does);
- power spectrum ``P[t, k] = |sum_n x_t[n] w[n] exp(-2 pi i k n / n_fft)|^2``
  for bins k = 0..n_fft/2, bin k at frequency ``k * sr / n_fft``;
- ``bands`` triangular mel filters (HTK mel scale,
  ``mel(f) = 2595 log10(1 + f / 700)``) with ``bands + 2`` edge
  frequencies equally spaced in mel from ``f_min`` (0 Hz) to ``f_max``
  (``sr / 2``); filter m rises linearly from 0 at edge m to 1 at edge m+1
  and falls to 0 at edge m+2, evaluated at each bin frequency (peak 1, no
  area normalisation; the same as ``torchaudio.functional.melscale_fbanks``
  with ``norm=None, mel_scale="htk"``);
- ``log_mel[t, m] = ln(sum_k fbank[m, k] P[t, k] + 1e-6)``.

A clip becomes ``(frames, bands)``. The tasks then standardise each band
with the mean and standard deviation of the training split's frames
(:func:`band_stats`), the same statistics for every split.

Spike coding (:func:`threshold_spikes`), for snn-ttfs and other spiking
contenders: on the standardised frames z, each band b has ``levels``
thresholds ``theta_j = j * level_step`` (j = 0..levels-1, in standard
deviations), and channel ``(b, j)`` spikes at frame t when z crosses
theta_j upwards there: ``z[t, b] >= theta_j`` and (t = 0 or
``z[t-1, b] < theta_j``). Louder onsets cross more thresholds; a steady
band spikes once. The result is ``(frames, bands * levels)`` of 0/1,
channels ordered band-major (``b * levels + j``).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile
import torch
from scipy.signal import resample_poly
from torch import Tensor

LOG_FLOOR = 1e-6
"""Added to the mel power before the logarithm."""


class AudioFileError(ValueError):
    """A WAV file that cannot be decoded, or is not mono; the message names the file."""


def decode_wav(data: bytes, path: Path | str) -> tuple[np.ndarray, int]:
    """``(samples (n,) float32 in [-1, 1), sample rate)`` of the WAV bytes ``data`` read from ``path``."""
    try:
        samples, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, ValueError) as error:
        raise AudioFileError(f"{path}: not a readable WAV file ({error})") from None
    if samples.shape[1] != 1:
        raise AudioFileError(f"{path}: has {samples.shape[1]} channels; expected a mono recording")
    return samples[:, 0], int(rate)


def read_wav(path: Path | str) -> tuple[np.ndarray, int]:
    """:func:`decode_wav` of the file at ``path``."""
    return decode_wav(Path(path).read_bytes(), path)


def write_wav(path: Path | str, samples: np.ndarray, rate: int) -> None:
    """Write ``samples`` (float in [-1, 1)) as 16-bit PCM mono (for test fixtures)."""
    soundfile.write(str(path), np.asarray(samples, dtype=np.float32), rate, subtype="PCM_16", format="WAV")


def resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    """``samples`` at ``rate`` Hz resampled to ``target`` Hz (``resample_poly``; unchanged if equal)."""
    if rate == target:
        return samples
    divisor = math.gcd(rate, target)
    return resample_poly(samples, target // divisor, rate // divisor).astype(np.float32)


@dataclass(frozen=True)
class FrameConfig:
    """Where the frames fall and how many mel bands there are (see the module docstring).

    Attributes:
        sample_rate: Hz.
        frames: frames per clip.
        bands: mel bands.
        window_ms: analysis window length in milliseconds.
        hop_ms: hop between frames in milliseconds.
        f_min: lowest filter edge in Hz.
        f_max: highest filter edge in Hz; None for ``sample_rate / 2``.
    """

    sample_rate: int
    frames: int
    bands: int
    window_ms: float = 25.0
    hop_ms: float = 10.0
    f_min: float = 0.0
    f_max: float | None = None

    def __post_init__(self) -> None:
        for name in ("sample_rate", "frames", "bands"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if not self.window_ms > 0 or not self.hop_ms > 0:
            raise ValueError(f"window_ms and hop_ms must be > 0, got {self.window_ms!r} and {self.hop_ms!r}")
        if self.win_length < 2 or self.hop < 1:
            raise ValueError(f"window ({self.win_length} samples) and hop ({self.hop} samples) are too short "
                             f"at {self.sample_rate} Hz")
        if not 0 <= self.f_min < self.top_frequency <= self.sample_rate / 2:
            raise ValueError(f"need 0 <= f_min < f_max <= sample_rate / 2, got f_min={self.f_min}, "
                             f"f_max={self.top_frequency}")

    @property
    def win_length(self) -> int:
        return round(self.sample_rate * self.window_ms / 1000)

    @property
    def hop(self) -> int:
        return round(self.sample_rate * self.hop_ms / 1000)

    @property
    def n_fft(self) -> int:
        return 1 << (self.win_length - 1).bit_length()

    @property
    def top_frequency(self) -> float:
        return self.sample_rate / 2 if self.f_max is None else self.f_max

    @property
    def n_samples(self) -> int:
        """Samples a clip is padded or cropped to: ``(frames - 1) * hop + n_fft``."""
        return (self.frames - 1) * self.hop + self.n_fft

    def describe(self) -> str:
        return (f"{self.bands} log-mel bands, {self.frames} frames of {self.window_ms:g} ms (n_fft {self.n_fft}) "
                f"every {self.hop_ms:g} ms at {self.sample_rate} Hz")


def fit_length(samples: np.ndarray, n_samples: int) -> np.ndarray:
    """``samples`` zero-padded at the end, or cropped keeping the start, to ``n_samples``."""
    out = np.zeros(n_samples, dtype=np.float32)
    keep = min(len(samples), n_samples)
    out[:keep] = samples[:keep]
    return out


def hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    """HTK mel scale: ``2595 log10(1 + f / 700)``."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m: np.ndarray | float) -> np.ndarray:
    """Inverse of :func:`hz_to_mel`."""
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(config: FrameConfig) -> np.ndarray:
    """``(bands, n_fft // 2 + 1)`` float64 triangular HTK-mel filters (peak 1) at the FFT bin frequencies."""
    edges = mel_to_hz(np.linspace(hz_to_mel(config.f_min), hz_to_mel(config.top_frequency), config.bands + 2))
    freqs = np.arange(config.n_fft // 2 + 1) * config.sample_rate / config.n_fft
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs - lower) / (centre - lower)
    falling = (upper - freqs) / (upper - centre)
    return np.maximum(0.0, np.minimum(rising, falling))


def log_mel(waves: Tensor, config: FrameConfig) -> Tensor:
    """Log-mel frames of ``waves`` ``(n, config.n_samples)`` float32: ``(n, frames, bands)`` float32."""
    if waves.dim() != 2 or waves.shape[1] != config.n_samples:
        raise ValueError(f"waves must be shaped (n, {config.n_samples}), got {tuple(waves.shape)}")
    window = torch.hann_window(config.win_length, periodic=True, dtype=torch.float64)
    spectrum = torch.stft(waves.to(torch.float64), n_fft=config.n_fft, hop_length=config.hop,
                          win_length=config.win_length, window=window, center=False, return_complex=True)
    power = spectrum.real ** 2 + spectrum.imag ** 2  # (n, bins, frames)
    fbank = torch.from_numpy(mel_filterbank(config))
    mel = torch.einsum("mk,nkt->ntm", fbank, power)
    return torch.log(mel + LOG_FLOOR).to(torch.float32)


def clip_features(clips: list[np.ndarray], config: FrameConfig, chunk: int = 1024) -> Tensor:
    """``(n, frames, bands)`` log-mel frames of the clips (each already at ``config.sample_rate``)."""
    out = torch.empty(len(clips), config.frames, config.bands)
    for start in range(0, len(clips), chunk):
        part = clips[start:start + chunk]
        waves = torch.from_numpy(np.stack([fit_length(clip, config.n_samples) for clip in part]))
        out[start:start + len(part)] = log_mel(waves, config)
    return out


def band_stats(features: Tensor) -> tuple[Tensor, Tensor]:
    """Per-band mean and standard deviation ``(bands,)`` over all clips and frames of ``features``.

    A band with zero spread gets standard deviation 1 (it then standardises to 0).
    """
    flat = features.reshape(-1, features.shape[-1]).to(torch.float64)
    mean, std = flat.mean(0), flat.std(0, unbiased=False)
    std = torch.where(std > 0, std, torch.ones_like(std))
    return mean.to(torch.float32), std.to(torch.float32)


def standardise(features: Tensor, mean: Tensor, std: Tensor) -> Tensor:
    """``(features - mean) / std`` per band."""
    return (features - mean) / std


def threshold_spikes(z: Tensor, levels: int, level_step: float) -> Tensor:
    """Upward threshold crossings of standardised frames ``z`` ``(n, frames, bands)`` (see module docstring).

    Returns:
        ``(n, frames, bands * levels)`` bool.
    """
    if isinstance(levels, bool) or not isinstance(levels, int) or levels < 1:
        raise ValueError(f"levels must be an integer >= 1, got {levels!r}")
    thresholds = torch.arange(levels, dtype=z.dtype) * level_step
    above = z.unsqueeze(-1) >= thresholds  # (n, frames, bands, levels)
    before = torch.cat([torch.zeros_like(above[:, :1]), above[:, :-1]], dim=1)
    return (above & ~before).reshape(*z.shape[:2], -1)


class SpikeFrames:
    """Spike-coded frames stored as bool, read as float32: a :class:`bench.core.task_contract.Sequences`."""

    def __init__(self, spikes: Tensor) -> None:
        if spikes.dim() != 3 or spikes.dtype != torch.bool:
            raise ValueError(f"spikes must be a (n, time, features) bool tensor, got {spikes.dtype} "
                             f"{tuple(spikes.shape)}")
        self.spikes = spikes

    @property
    def shape(self) -> torch.Size:
        return self.spikes.shape

    def __len__(self) -> int:
        return int(self.spikes.shape[0])

    def __getitem__(self, index: Tensor | slice | int) -> Tensor:
        return self.spikes[index].to(torch.float32)

    def __repr__(self) -> str:
        n, t, f = self.spikes.shape
        return f"SpikeFrames(n={n}, steps={t}, features={f})"
