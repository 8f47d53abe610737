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


def test_interrupt_stops_what_plays_and_drops_what_waits(tmp_path):
    """A key press or a new screen makes the old words useless: the playing one stops at once,
    the queued ones are never played, what is said next plays (uikit.speech.Speaker.interrupt)."""
    import time

    from tests.support.wait import wait_until
    from uikit.speech import Speaker

    log = tmp_path / "played.txt"
    player = tmp_path / "player"
    player.write_text(f'#!/bin/sh\necho "start $1" >> {log}\nexec sleep 30\n')
    player.chmod(0o755)
    done: list[str] = []
    sp = Speaker(tmp_path / "speech", player=[str(player)], on_done=lambda u, files: done.append(u.tag))
    try:
        sp.say([("fi", "yksi")], tag="one")
        sp.say([("fi", "kaksi")], tag="two")
        wait_until(lambda: log.exists() and log.read_text().count("start") == 1, timeout=20, what="playing")
        t0 = time.monotonic()
        sp.interrupt()
        wait_until(lambda: done == ["one"], timeout=10, what="the first one stopped")
        assert time.monotonic() - t0 < 5  # not the player's 30 s
        sp.say([("fi", "kolme")], tag="three")
        wait_until(lambda: log.read_text().count("start") == 2, timeout=20, what="the next one plays")
        sp.interrupt()
        wait_until(lambda: done == ["one", "three"], timeout=10, what="stopped again")
        assert "two" not in done and log.read_text().count("start") == 2  # dropped, never played
    finally:
        sp.close()


CARDS = """ 0 [vc4hdmi0       ]: vc4-hdmi - vc4-hdmi-0
                      vc4-hdmi-0
 1 [Headphones     ]: bcm2835_headpho - bcm2835 Headphones
                      bcm2835 Headphones
"""


def test_speech_goes_to_the_headphones_when_their_card_is_there(monkeypatch):
    from uikit import speech

    assert speech.alsa_card("plughw:CARD=Headphones,DEV=0") == "Headphones" and speech.alsa_card("hw:1") == "1"
    assert speech.card_present("plughw:CARD=Headphones", CARDS) and speech.card_present("hw:1", CARDS)
    assert not speech.card_present("plughw:CARD=USB", CARDS)
    monkeypatch.setattr(speech.shutil, "which", lambda cmd: "/usr/bin/" + cmd)
    assert speech.speech_output("plughw:CARD=Headphones", CARDS, 100, 60) == (
        ["aplay", "-q", "-D", "plughw:CARD=Headphones"], 60)  # its own volume
    # Not plugged into this machine, or none configured: the loudspeaker at its volume.
    assert speech.speech_output("plughw:CARD=USB", CARDS, 100, 60) == ("auto", 100)
    assert speech.speech_output("", CARDS, 120, 60) == ("auto", 120)


def test_headphone_settings_are_checked():
    from core.schema import ConfigError
    from kiosk.settings import parse_kiosk

    s = parse_kiosk({"headphones": "plughw:CARD=Headphones", "headphone_volume": 50, "speech_volume": 150})
    assert (s.headphones, s.headphone_volume, s.speech_volume) == ("plughw:CARD=Headphones", 50, 150)
    import pytest

    with pytest.raises(ConfigError):
        parse_kiosk({"headphone_volume": 500})
