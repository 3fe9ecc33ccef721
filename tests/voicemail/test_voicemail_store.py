"""The voicemail store: layout, order, new/old, deletion, greetings, and names that are not paths."""

from __future__ import annotations

import resource
import signal
import time
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tui_engine.menus.record import StopRecording
from tui_engine.menus.voicemail import MailboxRequest
from tui_engine.voicemail import InvalidMailbox, MailboxFull, Voicemail, VoicemailStore, valid_mailbox

PCM = b"\x10\x00" * 8000  # one second


def test_a_deposit_is_a_wav_and_its_metadata(tmp_path: Path) -> None:
    store = VoicemailStore(tmp_path)
    message = store.deposit("201", PCM, caller="sip:alice@example.com", received=1_700_000_000.0)
    assert message.audio.parent == tmp_path / "201" / "messages"
    with wave.open(str(message.audio)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()) == (8000, 1, 2, 8000)
    assert store.message("201", message.id) == message
    assert (message.length, message.new) == (1.0, True)
    assert not list(tmp_path.rglob("*.part"))  # written under a temporary name, then renamed


def test_new_messages_come_first_then_old_each_oldest_first(tmp_path: Path) -> None:
    store = VoicemailStore(tmp_path)
    a = store.deposit("201", PCM, caller="a", received=100.0)
    b = store.deposit("201", PCM, caller="b", received=200.0)
    c = store.deposit("201", PCM, caller="c", received=300.0)
    store.mark_old("201", a.id)
    assert [m.caller for m in store.messages("201")] == ["b", "c", "a"]
    assert store.delete("201", b.id) and not store.delete("201", b.id)
    assert [m.caller for m in store.messages("201")] == ["c", "a"]
    assert store.messages("202") == [] and c.audio.exists() and not b.audio.exists()


def test_a_broken_metadata_file_is_not_a_message(tmp_path: Path) -> None:
    store = VoicemailStore(tmp_path)
    store.deposit("201", PCM, caller="a")
    (tmp_path / "201" / "messages" / "0000000000001-deadbeef.json").write_text("{not json")
    assert len(store.messages("201")) == 1


@pytest.mark.parametrize(
    "name", ["", "..", ".hidden", "../201", "a/b", "a\\b", "x" * 65, "20\x001", "é", "١٢٣", "1000/../../etc"]
)
def test_names_that_could_be_paths_are_refused(tmp_path: Path, name: str) -> None:
    store = VoicemailStore(tmp_path / "vm")
    assert not valid_mailbox(name)
    with pytest.raises(InvalidMailbox):
        store.deposit(name, PCM, caller="x")
    with pytest.raises(InvalidMailbox):
        store.message("201", name)  # a message id from a URL or a variable too
    assert not (tmp_path / "vm").exists()


def test_operations_fail_cleanly_on_a_bad_mailbox(tmp_path: Path) -> None:
    vm = Voicemail(tmp_path)
    result = vm.perform(MailboxRequest(op="open", mailbox="../etc", variables={}))
    assert not result.ok and "InvalidMailbox" in result.why


def test_save_greeting_only_moves_this_store_s_own_recordings(tmp_path: Path) -> None:
    vm = Voicemail(tmp_path / "data")
    outside = tmp_path / "secret.wav"
    outside.write_bytes(b"RIFF")
    request = MailboxRequest(op="save-greeting", mailbox="201", variables={"recording": str(outside)})
    assert not vm.perform(request).ok and outside.exists()
    stop = StopRecording(keep=True, trim=0.0, reason="key")
    path = vm.save_recording(stop, PCM, caller="", name="r1")
    request = MailboxRequest(op="save-greeting", mailbox="201", variables={"recording": path})
    assert vm.perform(request).ok
    assert vm.store.greeting("201") is not None and not Path(path).exists()
    greeting = vm.perform(MailboxRequest(op="greeting", mailbox="201", variables={}))
    assert greeting.ok and greeting.audio[0].duration == pytest.approx(1.0)


def test_a_full_mailbox_refuses_new_messages(tmp_path: Path) -> None:
    store = VoicemailStore(tmp_path, max_messages=2)
    first = store.deposit("201", PCM, caller="a")
    store.deposit("201", PCM, caller="b")
    with pytest.raises(MailboxFull):
        store.deposit("201", PCM, caller="c")
    store.delete("201", first.id)
    store.deposit("201", PCM, caller="c")  # room again
    assert [m.caller for m in store.messages("201")] == ["b", "c"]


def test_the_operations_set_only_the_variables_they_declare(tmp_path: Path) -> None:
    from tui_engine.menus.voicemail import VOICEMAIL_VARIABLES

    vm = Voicemail(tmp_path)
    vm.store.deposit("201", PCM, caller="a")
    variables: dict[str, str] = {}
    for op in ("open", "play", "next", "delete"):
        result = vm.perform(MailboxRequest(op=op, mailbox="201", variables=variables))
        variables.update(result.values)
    assert set(variables) <= set(VOICEMAIL_VARIABLES)


def test_a_deposit_flood_over_many_mailboxes_is_bounded_store_wide(tmp_path: Path) -> None:
    """Any valid number is a mailbox for a depositing caller: 100 messages per mailbox alone lets
    one caller fill the disk by walking 1000, 1001, ...; the store as a whole has a cap too."""
    store = VoicemailStore(tmp_path, max_messages=5, max_total_messages=3)
    for box in ("1000", "1001", "1002"):
        store.deposit(box, PCM, caller="flood")
    with pytest.raises(MailboxFull):
        store.deposit("1003", PCM, caller="flood")
    assert not (tmp_path / "1003").exists()


def test_a_deposit_is_refused_when_the_disk_is_nearly_full(tmp_path: Path) -> None:
    store = VoicemailStore(tmp_path, min_free_bytes=2**62)  # more than any disk has free
    with pytest.raises(MailboxFull):
        store.deposit("201", PCM, caller="x")
    assert store.messages("201") == [] and not list(tmp_path.rglob("*.wav*"))



def test_plain_recordings_are_bounded_in_number_and_by_the_free_space_floor(tmp_path: Path) -> None:
    stop = StopRecording(keep=True, trim=0.0, reason="key")
    capped = Voicemail(tmp_path / "a", max_recordings=2)
    for name in ("r1", "r2"):
        capped.save_recording(stop, PCM, caller="x", name=name)
    with pytest.raises(MailboxFull, match="2 recordings"):  # an OSError: the step's on-failed
        capped.save_recording(stop, PCM, caller="x", name="r3")
    nearly_full = Voicemail(tmp_path / "b", min_free_bytes=2**62)  # more than any disk has free
    with pytest.raises(MailboxFull, match="free for recordings"):
        nearly_full.save_recording(stop, PCM, caller="x", name="r1")
    assert sorted(p.name for p in tmp_path.rglob("*.wav*")) == ["r1.wav", "r2.wav"]


@contextmanager
def disk_full_after(size: int) -> Iterator[None]:
    """Writes past ``size`` bytes fail as on a full disk (RLIMIT_FSIZE: EFBIG, also for root)."""
    old_signal = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, old_limit[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_signal)


def test_a_deposit_on_a_full_disk_leaves_no_partial_file_behind(tmp_path: Path) -> None:
    """A half-written ``.part`` is invisible to listings and caps, and nothing ever deletes it."""
    store = VoicemailStore(tmp_path, min_free_bytes=0)
    with disk_full_after(4000), pytest.raises(OSError):
        store.deposit("201", PCM, caller="x")
    assert list((tmp_path / "201" / "messages").iterdir()) == []


@pytest.mark.parametrize("count", ["many", "", "1.5"])
def test_a_count_of_new_messages_that_is_not_a_number_neither_breaks_play_nor_delete(
    tmp_path: Path, count: str
) -> None:
    """``new_messages`` is a call variable a dialplan can overwrite (``set``, a webhook's answer):
    play and delete give the store's own count, never a ValueError out of the worker thread."""
    vm = Voicemail(tmp_path)
    first = vm.store.deposit("201", PCM, caller="a")
    second = vm.store.deposit("201", PCM, caller="b")
    ids = f"{first.id},{second.id}"
    variables = {"message_ids": ids, "message": "1", "new_messages": count}
    played = vm.perform(MailboxRequest(op="play", mailbox="201", variables=variables))
    assert played.ok and played.values["new_messages"] == "1"
    variables = {"message_ids": ids, "message": "2", "new_messages": count}
    deleted = vm.perform(MailboxRequest(op="delete", mailbox="201", variables=variables))
    assert deleted.ok and deleted.values["new_messages"] == "0"
    assert vm.store.messages("201") == [vm.store.message("201", first.id)]


def test_two_deposits_finishing_at_once_do_not_push_a_mailbox_past_its_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deposits run in worker threads; a slow disk widened the window between the room check and
    the write, and both callers' messages went into the last place."""
    import threading

    from tui_engine.voicemail import store as store_module

    real_write = store_module.write_wav

    def slow_write(path: Path, pcm16: bytes) -> None:
        time.sleep(0.2)
        real_write(path, pcm16)

    monkeypatch.setattr(store_module, "write_wav", slow_write)
    store = VoicemailStore(tmp_path, max_messages=1)
    outcomes: list[str] = []

    def deposit(caller: str) -> None:
        try:
            store.deposit("201", PCM, caller=caller)
            outcomes.append("saved")
        except MailboxFull:
            outcomes.append("full")

    threads = [threading.Thread(target=deposit, args=(c,)) for c in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["full", "saved"] and store.count("201") == 1


def test_a_message_whose_metadata_cannot_be_written_leaves_no_wav(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = VoicemailStore(tmp_path)

    def broken(meta: Path, message: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store, "_write_meta", broken)
    with pytest.raises(OSError):
        store.deposit("201", PCM, caller="x")
    assert not list(tmp_path.rglob("*.wav")) and store.messages("201") == []
