"""A minimal scenario proving the driver: a button tapped through the window."""
from kivy.app import App
from kivy.uix.button import Button


class _Smoke(App):
    taps = 0

    def build(self):
        b = Button(text="Paina tästä — Tryck här", font_size=40)
        b.pp_id = "button"
        b.bind(on_release=lambda *_: setattr(self, "taps", self.taps + 1))
        return b


def tap_button(ctx):
    app = ctx.start(_Smoke())
    yield ctx.until(lambda: app.root is not None, "app built")
    yield ctx.frames(3)
    ctx.tap(ctx.find(app.root, "button"))
    yield ctx.until(lambda: app.taps == 1, "one tap registered")
    ctx.screenshot("smoke")
