"""Text on the citizen screens in any script: shaped, ordered and in a font that has its letters.

Kivy's default text provider (SDL2_ttf) draws one font per label, left to right, letter by
letter: Arabic comes out unjoined and reversed ("K012" inside an Arabic line as "210K"), and
Chinese as boxes, because Roboto has neither. Pillow with its raqm layout (HarfBuzz shaping,
FriBiDi ordering: the same as the printer's raster lines) gets the letters right, and
runtime.fonts gives each line the font of its script. `ShapedLabel` draws a label with Pillow
when its text has Arabic script or Chinese, and with SDL2_ttf otherwise: Pillow is about ten
times slower per label, and the kiosk rebuilds a whole screen at each change.

Kivy picks its provider once, when `kivy.core.text` is first imported, and the widgets bind
it when `kivy.uix.label` is; `install()` runs on the one start-up path before any label is made
(uikit.launch.configure_kivy) and points both at ShapedLabel. Lines are laid out by Kivy in logical
order and each line is drawn whole, so a wrapped right-to-left paragraph breaks where it should
and every line reads right to left; a label whose text starts right to left is aligned to the
right when its `halign` is "auto". The layout around the words is mirrored by uikit.mirror.
"""
from __future__ import annotations

import logging

log = logging.getLogger(__name__)

_installed = False


def _provider():
    from kivy.core.image import ImageData
    from PIL import Image, ImageDraw, ImageFont, features

    from runtime import fonts

    try:
        from kivy.core.text.text_sdl2 import LabelSDL2 as Fast
    except ImportError:  # a Kivy without SDL2: Pillow draws everything
        from kivy.core.text.text_pil import LabelPIL as Fast

    engine = ImageFont.Layout.RAQM if features.check("raqm") else ImageFont.Layout.BASIC
    cache: dict[tuple[str, int], ImageFont.FreeTypeFont] = {}

    def complex_text(text: str) -> bool:
        return fonts.script_kind(text) != "latin"

    class ShapedLabel(Fast):  # type: ignore[misc,valid-type]
        """SDL2_ttf for text Roboto has (Latin, Cyrillic, Vietnamese: ten times faster), Pillow
        with raqm and a font per script for the rest (Arabic script, Chinese)."""

        @property
        def _shaped(self) -> bool:
            """This label draws with Pillow (decided by its whole text: markup labels lay out
            and draw piece by piece, each piece must go the same way)."""
            return complex_text(self.text or "")

        def _font_for(self, text: str):
            size = int(self.options["font_size"])
            if size < 1:
                return None
            kind = fonts.script_kind(text)
            if kind == "latin":
                path = self.options["font_name_r"]
            else:
                path = fonts.font_path(text, bold=bool(self.options["bold"]), kind=kind)
            font = cache.get((path, size))
            if font is None:
                font = cache[(path, size)] = ImageFont.truetype(path, size, layout_engine=engine)
            return font

        def get_extents(self, text):
            if not (self._shaped or complex_text(text)):
                return super().get_extents(text)
            font = self._font_for(text)
            if not font:
                return 0, 0
            ascent, descent = font.getmetrics()
            # The advance, or the ink where it reaches further (Arabic's last letter often does:
            # cut at the texture's edge otherwise).
            return max(int(round(font.getlength(text))), font.getbbox(text)[2]), ascent + descent

        def get_cached_extents(self):
            return self.get_extents if self._shaped else super().get_cached_extents()

        def _render_begin(self):
            if not self._shaped:
                return super()._render_begin()
            self._pil_im = Image.new("RGBA", self._size, color=(255, 255, 255, 0))
            self._pil_draw = ImageDraw.Draw(self._pil_im)

        def _render_text(self, text, x, y):
            if not self._shaped:
                return super()._render_text(text, x, y)
            font = self._font_for(text)
            if font:
                color = tuple(int(c * 255) for c in self.options["color"])
                self._pil_draw.text((int(x), int(y)), text, font=font, fill=color)

        def _render_end(self):
            if not self._shaped:
                return super()._render_end()
            data = ImageData(self._size[0], self._size[1], self._pil_im.mode.lower(), self._pil_im.tobytes())
            del self._pil_im, self._pil_draw
            return data

        def render(self, *args, **kwargs):
            if self.options.get("halign") != "auto":
                return super().render(*args, **kwargs)
            # Unicode's "first strong character" rule: an Arabic label reads from the right.
            self.options["halign"] = "right" if fonts.is_rtl_text(self.text or "") else "left"
            try:
                return super().render(*args, **kwargs)
            finally:
                self.options["halign"] = "auto"

    return ShapedLabel


def install() -> None:
    """Make every Kivy label of this process a ShapedLabel. Runs before the app's widgets are
    made; Kivy modules that bound the provider already (a test driver may import kivy.app and
    with it kivy.uix.label first) are pointed at it too."""
    global _installed
    if _installed:
        return
    import importlib
    import sys

    import kivy.core.text as core_text

    core_text.Label = _provider()
    markup = sys.modules.get("kivy.core.text.markup")
    if markup is not None:
        markup = importlib.reload(markup)  # its MarkupLabel subclasses the provider of its import
    uix = sys.modules.get("kivy.uix.label")
    if uix is not None:
        uix.CoreLabel = core_text.Label  # type: ignore[attr-defined]
        uix.CoreMarkupLabel = markup.MarkupLabel  # type: ignore[attr-defined,union-attr]
    _installed = True
    log.debug("text: shaped labels (Pillow with raqm)")
