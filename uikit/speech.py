"""Spoken output: espeak-ng renders a WAV, a player process plays it, all off the UI thread.

Why a separate process for playing (LIBRARY-NOTES): Kivy's SoundLoader has backend bugs, and a
failing audio device must never freeze a screen. Utterances are queued and played one after
another, so two calls that come close together are both heard in full.
"""
from __future__ import annotations

import logging
import math
import queue
import shutil
import struct
import subprocess
import threading
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

#: espeak-ng voice per language; a language without a voice is not spoken (the caller says so
#: and may speak English instead). espeak-ng has no Somali or Northern Sámi voice, and its
#: Kurdish ("ku") is Kurmanji in Latin letters: it cannot read Sorani's Arabic script.
VOICES = {"fi": "fi", "sv": "sv", "en": "en-gb", "ru": "ru", "et": "et", "uk": "uk",
          "ar": "ar", "fa": "fa", "zh": "cmn", "vi": "vi"}


def has_voice(lang: str) -> bool:
    return lang in VOICES


@dataclass(frozen=True)
class Utterance:
    parts: tuple[tuple[str, str], ...]  # (lang, text) spoken in order
    chime: bool = False
    tag: str = ""


def default_player() -> list[str] | None:
    for cmd in (["pw-play"], ["aplay", "-q"], ["paplay"]):
        if shutil.which(cmd[0]):
            return cmd
    return None


def alsa_card(device: str) -> str:
    """The card an ALSA device name points at: "plughw:CARD=Headphones,DEV=0" -> "Headphones",
    "hw:1" -> "1"."""
    rest = device.split(":", 1)[1] if ":" in device else device
    first = rest.split(",", 1)[0]
    return first.split("=", 1)[1] if first.upper().startswith("CARD=") else first


def card_present(device: str, cards: str) -> bool:
    """Whether `device`'s card is among the machine's sound cards (the text of /proc/asound/cards:
    " 1 [Headphones     ]: bcm2835_headpho - bcm2835 Headphones")."""
    card = alsa_card(device)
    for line in cards.splitlines():
        head = line.strip().split(" ", 1)
        if len(head) == 2 and head[1].lstrip().startswith("["):
            name = head[1].lstrip()[1:].split("]", 1)[0].strip()
            if card in (head[0], name):
                return True
    return False


def speech_output(headphones: str, cards: str, volume: int, headphone_volume: int
                  ) -> tuple[list[str] | None | str, int]:
    """(player, starting volume) for the kiosk's speech: the headphone output when one is
    configured and its card is there (with its own volume: a voice in the ear needs less than a
    loudspeaker in a hall), otherwise the default player at the loudspeaker's volume."""
    if headphones and card_present(headphones, cards) and shutil.which("aplay"):
        return ["aplay", "-q", "-D", headphones], headphone_volume
    return "auto", volume


def write_chime(path: Path, rate: int = 22050) -> Path:
    """A soft two-tone chime (E5 then C5 with a decaying envelope), made here so that no binary
    asset has to be shipped."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = bytearray()
    for freq, dur in ((659.25, 0.45), (523.25, 0.7)):
        n = int(rate * dur)
        for i in range(n):
            env = math.exp(-3.0 * i / n) * min(1.0, i / (0.01 * rate))
            s = 0.45 * env * (math.sin(2 * math.pi * freq * i / rate) + 0.3 * math.sin(4 * math.pi * freq * i / rate))
            frames += struct.pack("<h", int(max(-1.0, min(1.0, s)) * 32767))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(frames))
    return path


#: espeak-ng's amplitude: 100 is its default, 200 its loudest.
VOLUME_DEFAULT, VOLUME_MIN, VOLUME_MAX = 100, 20, 200


def render(text: str, lang: str, path: Path, speed: int = 140, espeak: str = "espeak-ng",
           volume: int = VOLUME_DEFAULT) -> Path:
    """Speak `text` into a WAV file. Raises on failure (the worker catches it)."""
    voice = VOICES[lang]
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([espeak, "-v", voice, "-s", str(speed), "-a", str(volume), "-w", str(path), text],
                   check=True, capture_output=True, timeout=20)
    return path


class Speaker:
    """Queue of utterances, rendered and played in order by one worker thread.

    `player=None` renders only (tests, machines without audio). `on_done(utterance, files)`
    is called from the worker after each utterance, with the WAV files it produced.
    """

    def __init__(self, work_dir: Path, player: list[str] | None | str = "auto",
                 on_done: Callable[[Utterance, list[Path]], None] | None = None, speed: int = 140,
                 keep_files: bool = False) -> None:
        self.work_dir = Path(work_dir)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.player = default_player() if player == "auto" else player
        self.on_done = on_done
        self.speed = speed
        self.volume = VOLUME_DEFAULT  # the customer's keys change it (kiosk.keys); read per utterance
        self.keep_files = keep_files
        self._q: queue.Queue[Utterance | None] = queue.Queue()
        self._n = 0
        self._generation = 0  # moved on by interrupt(): an utterance of an older one is not played
        self._playing: subprocess.Popen | None = None
        self._chime = self.work_dir / "chime.wav"
        self._thread = threading.Thread(target=self._run, name="speaker", daemon=True)
        self._thread.start()

    def say(self, parts: list[tuple[str, str]] | tuple[tuple[str, str], ...], chime: bool = False, tag: str = "") -> None:
        """Queue an utterance; returns at once."""
        spoken = tuple((lang, text) for lang, text in parts if has_voice(lang) and text.strip())
        if spoken or chime:
            self._q.put(Utterance(spoken, chime, tag))

    def pending(self) -> int:
        return self._q.qsize()

    def interrupt(self) -> None:
        """Drop what is queued and stop what is playing: a new screen or a key press makes the
        old words useless (as a screen reader does). Returns at once."""
        while True:
            try:
                u = self._q.get_nowait()
            except queue.Empty:
                break
            if u is None:  # close() asked the worker to stop: keep that
                self._q.put(None)
                break
        self._generation += 1
        proc = self._playing
        if proc is not None and proc.poll() is None:
            proc.terminate()

    def close(self, timeout: float = 5.0) -> None:
        self._q.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            u = self._q.get()
            if u is None:
                return
            generation = self._generation
            files: list[Path] = []
            try:
                if u.chime:
                    if not self._chime.exists():
                        write_chime(self._chime)
                    files.append(self._chime)
                for lang, text in u.parts:
                    self._n += 1
                    files.append(render(text, lang, self.work_dir / f"utt-{self._n:05d}-{lang}.wav", self.speed,
                                        volume=self.volume))
                if self.player:
                    for f in files:
                        if generation != self._generation:
                            break  # interrupted while rendering
                        self._playing = subprocess.Popen([*self.player, str(f)], stdout=subprocess.DEVNULL,
                                                         stderr=subprocess.DEVNULL)
                        try:
                            self._playing.wait(timeout=60)
                        except subprocess.TimeoutExpired:
                            self._playing.kill()
                        finally:
                            self._playing = None
            except Exception as exc:  # speech is a help, never a reason to stop the device
                log.warning("speech failed: %s", exc)
            try:
                if self.on_done:
                    self.on_done(u, files)
            finally:
                if not self.keep_files:
                    for f in files:
                        if f != self._chime:
                            f.unlink(missing_ok=True)
