"""Tests of the audio front end (bench/data/audio.py): WAV reading, resampling, log-mel frames, spike coding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.data.audio import (
    AudioFileError,
    FrameConfig,
    SpikeFrames,
    band_stats,
    clip_features,
    fit_length,
    log_mel,
    mel_filterbank,
    read_wav,
    resample,
    threshold_spikes,
    write_wav,
)


def tone(freq: float, seconds: float, rate: int, amplitude: float = 0.5) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * freq * np.arange(int(seconds * rate)) / rate)).astype(np.float32)


def reference_log_mel(x: np.ndarray, sr: int, frames: int, bands: int, window_ms: float, hop_ms: float) -> np.ndarray:
    """The module docstring's formula, written out directly: explicit DFT sums and filter triangles."""
    win = round(sr * window_ms / 1000)
    hop = round(sr * hop_ms / 1000)
    n_fft = 1
    while n_fft < win:
        n_fft *= 2
    window = np.zeros(n_fft)
    offset = (n_fft - win) // 2
    for n in range(win):
        window[offset + n] = 0.5 - 0.5 * np.cos(2 * np.pi * n / win)
    n = np.arange(n_fft)
    bins = np.arange(n_fft // 2 + 1)
    dft = np.exp(-2j * np.pi * np.outer(bins, n) / n_fft)  # (bins, n_fft)
    x = np.concatenate([x, np.zeros(max(0, (frames - 1) * hop + n_fft - len(x)))])
    power = np.array([np.abs(dft @ (x[t * hop:t * hop + n_fft] * window)) ** 2 for t in range(frames)])

    def mel(f):
        return 2595 * np.log10(1 + f / 700)

    def hz(m):
        return 700 * (10 ** (m / 2595) - 1)

    top = mel(sr / 2)
    edges = [hz(top * i / (bands + 1)) for i in range(bands + 2)]
    fbank = np.zeros((bands, len(bins)))
    for m in range(bands):
        lo, mid, hi = edges[m], edges[m + 1], edges[m + 2]
        for k in bins:
            f = k * sr / n_fft
            if lo <= f <= mid:
                fbank[m, k] = (f - lo) / (mid - lo)
            elif mid < f <= hi:
                fbank[m, k] = (hi - f) / (hi - mid)
    return np.log(power @ fbank.T + 1e-6)


@pytest.mark.parametrize("sr, bands", [(8000, 32), (16000, 40)])
def test_log_mel_matches_the_direct_formula_on_a_tone_and_noise(sr, bands):
    rng = np.random.default_rng(0)
    x = tone(440.0, 0.3, sr) + 0.01 * rng.standard_normal(int(0.3 * sr)).astype(np.float32)
    config = FrameConfig(sr, 20, bands)
    ours = clip_features([x], config)[0].numpy()
    ref = reference_log_mel(x.astype(np.float64), sr, 20, bands, 25.0, 10.0)
    assert ours.shape == (20, bands)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-4)


def test_a_tone_peaks_in_the_band_whose_centre_is_nearest():
    config = FrameConfig(16000, 10, 40)
    features = clip_features([tone(1000.0, 0.5, 16000)], config)[0]
    fbank = mel_filterbank(config)
    centres = np.argmax(fbank, axis=1) * 16000 / config.n_fft
    peak = features.mean(0).argmax().item()
    assert abs(centres[peak] - 1000.0) <= np.min(np.abs(centres - 1000.0)) + 16000 / config.n_fft


def test_frame_config_numbers():
    config = FrameConfig(8000, 75, 32)
    assert (config.win_length, config.hop, config.n_fft, config.n_samples) == (200, 80, 256, 74 * 80 + 256)
    config = FrameConfig(16000, 98, 40)
    assert (config.win_length, config.hop, config.n_fft, config.n_samples) == (400, 160, 512, 16032)
    with pytest.raises(ValueError, match="bands must be an integer >= 1"):
        FrameConfig(8000, 10, 0)
    with pytest.raises(ValueError, match="f_max"):
        FrameConfig(8000, 10, 8, f_max=5000.0)


def test_filterbank_triangles_peak_at_one_and_cover_the_range():
    fbank = mel_filterbank(FrameConfig(16000, 10, 40))
    assert fbank.shape == (40, 257)
    assert np.all(fbank >= 0) and np.all(fbank.max(1) > 0.5) and np.all(fbank <= 1)
    assert np.all(fbank.sum(0)[1:-1] > 0)  # every bin between 0 Hz and Nyquist is in some band


def test_fit_length_pads_at_the_end_and_crops_keeping_the_start():
    x = np.arange(1, 6, dtype=np.float32)
    np.testing.assert_array_equal(fit_length(x, 8), [1, 2, 3, 4, 5, 0, 0, 0])
    np.testing.assert_array_equal(fit_length(x, 3), [1, 2, 3])


def test_log_mel_rejects_the_wrong_length():
    with pytest.raises(ValueError, match=r"waves must be shaped \(n, 1056\)"):
        log_mel(torch.zeros(1, 100), FrameConfig(8000, 11, 8))


def test_wav_round_trip_and_resampling(tmp_path):
    x = tone(300.0, 0.25, 16000)
    write_wav(tmp_path / "a.wav", x, 16000)
    y, rate = read_wav(tmp_path / "a.wav")
    assert rate == 16000 and y.dtype == np.float32 and len(y) == len(x)
    np.testing.assert_allclose(y, x, atol=1 / 32768)
    down = resample(y, 16000, 8000)
    assert len(down) == len(x) // 2
    np.testing.assert_allclose(down[200:-200], tone(300.0, 0.25, 8000)[200:-200], atol=2e-3)
    assert resample(y, 16000, 16000) is y


def test_corrupt_and_stereo_wavs_name_the_file(tmp_path):
    (tmp_path / "bad.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    with pytest.raises(AudioFileError, match=r"bad\.wav: not a readable WAV file"):
        read_wav(tmp_path / "bad.wav")
    import soundfile
    soundfile.write(str(tmp_path / "st.wav"), np.zeros((100, 2), dtype=np.float32), 8000, subtype="PCM_16")
    with pytest.raises(AudioFileError, match=r"st\.wav: has 2 channels"):
        read_wav(tmp_path / "st.wav")


def test_threshold_spikes_mark_upward_crossings_per_level():
    z = torch.tensor([[[-1.0], [0.2], [0.7], [0.6], [-0.5], [1.2]]])  # (1, 6 frames, 1 band)
    spikes = threshold_spikes(z, levels=2, level_step=0.5)  # thresholds 0 and 0.5
    assert spikes.shape == (1, 6, 2) and spikes.dtype == torch.bool
    assert spikes[0, :, 0].tolist() == [False, True, False, False, False, True]
    assert spikes[0, :, 1].tolist() == [False, False, True, False, False, True]
    first = threshold_spikes(torch.tensor([[[0.1, -0.1]]]), levels=1, level_step=1.0)
    assert first.tolist() == [[[True, False]]]  # above at frame 0 counts as a crossing


def test_spike_frames_and_band_stats():
    frames = SpikeFrames(torch.tensor([[[True, False], [False, True]]]))
    assert frames.shape == (1, 2, 2) and len(frames) == 1
    assert frames[torch.tensor([0])].dtype == torch.float32
    mean, std = band_stats(torch.tensor([[[1.0, 5.0], [3.0, 5.0]]]))
    assert mean.tolist() == [2.0, 5.0] and std.tolist() == [1.0, 1.0]
