"""Every text the feedback terminal shows, as gettext msgids of the "feedback" domain.

The English msgid is the English text. Catalogs: assets/locale/<lang>/LC_MESSAGES/feedback.po.
`N_` only marks a string for extraction; the app translates at display time with a
core.i18n.Translator for the customer's language. tests/test_feedback_app.py extracts the
marked strings with Babel and checks every catalog has them all.
"""
from __future__ import annotations


def N_(message: str) -> str:
    return message


QUESTION = N_("How satisfied are you with our service today?")
TOUCH_A_FACE = N_("Touch one of the faces.")
ANONYMOUS = N_("Your feedback is anonymous.")
NOTHING_STORED = N_("We do not ask who you are, and nothing that could identify you is saved.")

FACE_LABELS = {
    "very_dissatisfied": N_("Very dissatisfied"),
    "dissatisfied": N_("Dissatisfied"),
    "neutral": N_("In between"),
    "satisfied": N_("Satisfied"),
    "very_satisfied": N_("Very satisfied"),
}

RATING_SAVED = N_("Thank you! Your rating has been saved.")
ANSWER_SAVED = N_("Thank you! Your answer has been saved.")
STEP = N_("Question {n} of {total}. You can skip it.")

OUTCOME_Q = N_("Did you get your matter done?")
OUTCOME_ANSWERS = {
    "done": N_("Yes, it is done"),
    "started": N_("It got started"),
    "not_done": N_("No, it did not get done"),
}

SELF_Q = N_("Could you handle this yourself next time?")
SELF_HINT = N_("For example online, without visiting us.")
SELF_ANSWERS = {"yes": N_("Yes"), "no": N_("No")}

COMMENT_Q = N_("Do you want to tell us more?")
COMMENT_HINT = N_("Please do not write your name or other personal details.")
COMMENT_PLACEHOLDER = N_("Type your comment with the keyboard below.")
KEY_SPACE = N_("Space")

SEND = N_("Send")
SKIP = N_("Skip")
FINISH = N_("Finish")

THANKS = N_("Thank you for your feedback!")
THANKS_NEXT = N_("The screen will soon return to the start.")
BACK_TO_START = N_("Back to start")

STILL_THERE = N_("Are you still there? Touch the screen to continue.")
SAVE_FAILED = N_("Sorry, your answer could not be saved. Please try again.")
CONCERNS = N_("Your feedback concerns: {service}")
SCAN_UNKNOWN = N_("The code could not be read. You can still give feedback.")

LARGER_TEXT = N_("Larger text")
READ_ALOUD = N_("Read aloud")
NO_VOICE = N_("Read aloud is not available in this language.")
