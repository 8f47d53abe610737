import shutil
import subprocess
import wave

import pytest

from uikit.idle import IdleTimer
from uikit.speech import Speaker, write_chime
from uikit.theme import PALETTES, TEXT_PAIRS, contrast


@pytest.mark.parametrize("palette", list(PALETTES.values()), ids=list(PALETTES))
def test_every_text_pair_reaches_7_to_1(palette):
    for fg, bg in TEXT_PAIRS:
        assert contrast(getattr(palette, fg), getattr(palette, bg)) >= 7.0, (palette.name, fg, bg)


def test_idle_timer_warns_then_resets_and_a_touch_extends():
    t = IdleTimer(timeout_s=30, warn_s=8)
    assert t.state(100) == "idle"
    t.start(100)
    assert t.state(121) == "ok"
    assert t.state(123) == "warn"
    t.touch(123)
    assert t.state(140) == "ok"
    assert t.state(153) == "reset"


def _wav_seconds(path):
    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


@pytest.mark.skipif(not shutil.which("espeak-ng"), reason="espeak-ng not installed")
def test_speaker_renders_queued_utterances_in_order_none_cut_off(tmp_path):
    done = []
    sp = Speaker(tmp_path, player=None, on_done=lambda u, files: done.append((u.tag, [(f, _wav_seconds(f)) for f in files])),
                 keep_files=True)
    sp.say([("fi", "Numero A 42, tiski 3"), ("sv", "Nummer A 42, lucka 3")], chime=True, tag="first")
    sp.say([("fi", "Numero B 7, tiski 1")], tag="second")
    sp.say([("so", "Lambarka")], tag="no-voice")  # no Somali voice: nothing queued
    sp.close(timeout=30)
    assert [d[0] for d in done] == ["first", "second"]
    first_files = done[0][1]
    assert len(first_files) == 3  # chime, fi, sv
    for f, secs in first_files[1:]:
        assert 0.8 < secs < 10, (f, secs)


def test_chime_is_audible(tmp_path):
    p = write_chime(tmp_path / "c.wav")
    assert 1.0 < _wav_seconds(p) < 1.5
    if shutil.which("sox"):
        out = subprocess.run(["sox", str(p), "-n", "stat"], capture_output=True, text=True).stderr
        rms = float(next(l for l in out.splitlines() if l.startswith("RMS     amplitude")).split()[-1])
        assert rms > 0.02
