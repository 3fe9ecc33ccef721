"""The speech options of ``[applications.NAME.tui]``: defaults, and bad values named with what is allowed."""

from __future__ import annotations

import pytest

from tui_engine.config import ConfigError, load_config_text
from tui_engine.media.tts import VOICE_PATTERN, Voice
from tui_engine.menus.speech import SpeechOptions
from tui_engine.tui.settings import speech_options, tui_settings

PHONE = '[applications.phone]\ntype = "tui"\n[applications.phone.tui]\n'


def test_defaults_reach_the_loader_and_the_call_glue() -> None:
    config = load_config_text(PHONE, "t.toml")
    app = config.applications["phone"]
    assert speech_options(app) == SpeechOptions(voice=Voice(name="en-us", rate=175), language="en")
    settings = tui_settings(config)
    assert settings is not None
    assert (settings.speech_cache_size, settings.defaults.speech_timeout) == (256, 5.0)


def test_values_as_written() -> None:
    text = (
        PHONE
        + 'speech-voice = "en-gb+f3"\nspeech-rate = 140\nspeech-language = "fr"\nspeech-timeout = "2s"\n'
    )
    app = load_config_text(text, "t.toml").applications["phone"]
    assert speech_options(app) == SpeechOptions(voice=Voice(name="en-gb+f3", rate=140), language="fr")
    assert app.tui.speech_timeout == 2.0


@pytest.mark.parametrize(
    ("line", "option", "allowed"),
    [
        ("speech-rate = 20", "speech-rate", "80 to 450"),
        ("speech-rate = 500", "speech-rate", "80 to 450"),
        ('speech-rate = "fast"', "speech-rate", "80 to 450"),
        ('speech-voice = "en us; rm"', "speech-voice", "espeak-ng --voices"),
        ('speech-voice = "-v"', "speech-voice", "espeak-ng --voices"),
        ('speech-language = "English"', "speech-language", '"en" ships'),
        ("speech-cache-size = -1", "speech-cache-size", ">= 0"),
        ('speech-timeout = "0s"', "speech-timeout", "> 0"),
    ],
)
def test_a_bad_value_names_the_option_the_value_and_what_is_allowed(
    line: str, option: str, allowed: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config_text(PHONE + line + "\n", "t.toml")
    [issue] = caught.value.issues
    assert issue.option == f"applications.phone.tui.{option}" and issue.line == 4
    assert allowed in issue.allowed


def test_the_config_check_and_the_tts_module_agree_on_voice_names() -> None:
    for name in ("en-us", "en-gb-scotland", "en-us+f3", "mb/mb-en1", "fr"):
        assert VOICE_PATTERN.match(name)
        load_config_text(PHONE + f'speech-voice = "{name}"\n', "t.toml")
