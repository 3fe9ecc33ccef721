"""Malformed input, RFC 4475 torture messages, 405/OPTIONS, limits (403/503) on a FakeClock."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from tui_engine.sip import EndReason, Limits
from tui_engine.testing.sip_fake import ANSWER_SDP, OFFER_SDP, FakeSipNetwork, RecordingHandler, sip_request


def net_and_handler(**kw: object) -> tuple[FakeSipNetwork, RecordingHandler]:
    handler = RecordingHandler()
    return FakeSipNetwork(handler, **kw), handler  # type: ignore[arg-type]


def test_garbage_is_dropped_and_logged_and_the_next_call_works() -> None:
    net, handler = net_and_handler()
    with capture_logs() as logs:
        for junk in (b"\x00\xff\x10garbage", b"HELLO\r\n\r\n", b"INVITE\r\n\r\n", b"SIP/2.0 abc\r\n\r\n"):
            assert net.inject(junk) == []
    assert sum(e["event"] == "sip.malformed" for e in logs) == 4
    assert [s.status for s in net.inject(sip_request("INVITE", body=OFFER_SDP))] == [100]
    assert len(handler.calls) == 1


def test_keepalive_crlf_is_ignored_silently() -> None:
    net, _ = net_and_handler()
    with capture_logs() as logs:
        assert net.inject(b"\r\n\r\n") == []
    assert logs == []


def test_bad_cseq_gets_400_addressed_from_the_readable_headers() -> None:
    net, handler = net_and_handler()
    bad = sip_request("INVITE").replace(b"CSeq: 1 INVITE", b"CSeq: one INVITE")
    out = net.inject(bad)
    assert [s.status for s in out] == [400]
    assert out[0].header("call-id") == "call-1" and out[0].addr == ("127.0.0.1", 5070)
    assert handler.calls == [] and net.endpoint.active_calls == 0


def test_malformed_request_line_still_gets_400_when_headers_are_readable() -> None:
    net, _ = net_and_handler()
    bad = sip_request("OPTIONS").replace(b"OPTIONS sip:100@127.0.0.1:5060 SIP/2.0", b"OPTIONS")
    assert [s.status for s in net.inject(bad)] == [400]


def test_malformed_ack_is_never_answered() -> None:
    net, _ = net_and_handler()
    bad = sip_request("ACK").replace(b"CSeq: 1 ACK", b"CSeq: x ACK")
    assert net.inject(bad) == []


def test_recognised_but_unsupported_method_gets_405_with_allow() -> None:
    net, _ = net_and_handler()
    out = net.inject(sip_request("SUBSCRIBE"))
    assert [s.status for s in out] == [405]
    assert "INVITE" in (out[0].header("allow") or "")


def test_options_out_of_dialog_gets_200_with_allow_accept_supported() -> None:
    net, _ = net_and_handler()
    out = net.inject(sip_request("OPTIONS"))
    assert [s.status for s in out] == [200]
    msg = out[0].msg
    accept = ", ".join(msg.headers.get("accept"))
    assert "application/sdp" in accept and "application/dtmf-relay" in accept
    assert "BYE" in ", ".join(msg.headers.get("allow")) and b"\r\nSupported:" in out[0].data
    assert "tag=" in (msg.headers.get_first("to") or "")
    assert net.endpoint.active_calls == 0


def test_max_calls_gives_503_with_retry_after_and_limits_update_at_runtime() -> None:
    net, handler = net_and_handler(max_calls=1)
    net.inject(sip_request("INVITE", call_id="a", branch="z9hG4bK-a"))
    with capture_logs() as logs:
        out = net.inject(sip_request("INVITE", call_id="b", branch="z9hG4bK-b"))
    assert [s.status for s in out] == [503] and out[0].header("retry-after")
    assert {"event": "sip.rejected", "status": 503, "reason": "max-calls", "max_calls": 1,
            "log_level": "info"} in logs
    assert len(handler.calls) == 1
    net.endpoint.update_limits(Limits.parse(max_calls=2, trusted=["127.0.0.0/8"]))
    assert [s.status for s in net.inject(sip_request("INVITE", call_id="c", branch="z9hG4bK-c"))] == [100]
    assert net.endpoint.active_calls == 2


def test_untrusted_source_gets_403_and_no_call() -> None:
    net, handler = net_and_handler(trusted=["10.0.0.0/8"])
    out = net.inject(sip_request("INVITE", source=("127.0.0.2", 5070)), source=("127.0.0.2", 5070))
    assert [s.status for s in out] == [403]
    assert handler.calls == []
    net.endpoint.update_limits(Limits.parse(max_calls=10, trusted=["127.0.0.2/32"]))
    again = sip_request("INVITE", branch="z9hG4bK-2", source=("127.0.0.2", 5070))
    assert [s.status for s in net.inject(again, source=("127.0.0.2", 5070))] == [100]


def test_bad_trusted_network_is_refused() -> None:
    with pytest.raises(ValueError):
        Limits.parse(max_calls=1, trusted=["not-a-network"])


def test_rport_sends_responses_to_the_source_port_and_stamps_received() -> None:
    net, _ = net_and_handler()
    # The Via says 127.0.0.1:5999 but the packet came from 127.0.0.3:6000 (a NAT).
    req = sip_request("OPTIONS", source=("127.0.0.1", 5999))
    out = net.inject(req, source=("127.0.0.3", 6000))
    assert out[0].addr == ("127.0.0.3", 6000)
    via = out[0].header("via") or ""
    assert "received=127.0.0.3" in via and "rport=6000" in via
    # Without rport: to the Via's sent-by port, at the received address (§18.2.2).
    plain = sip_request("OPTIONS", branch="z9hG4bK-2", source=("127.0.0.1", 5999), via_params="")
    assert net.inject(plain, source=("127.0.0.3", 6000))[0].addr == ("127.0.0.3", 5999)


def test_same_call_id_on_a_new_branch_is_a_loop_482() -> None:
    net, handler = net_and_handler()
    net.inject(sip_request("INVITE"))
    assert [s.status for s in net.inject(sip_request("INVITE", branch="z9hG4bK-other"))] == [482]
    assert len(handler.calls) == 1


def test_a_handler_that_raises_gets_the_call_rejected_not_stuck() -> None:
    class Broken(RecordingHandler):
        def incoming_call(self, call: object) -> None:
            raise RuntimeError("bug in the app")

    handler = Broken()
    net = FakeSipNetwork(handler)
    out = net.inject(sip_request("INVITE"))
    assert [s.status for s in out] == [100, 500]
    assert handler.ended == [("call-1", EndReason.ERROR)]
    assert net.endpoint.active_calls == 0


# --- RFC 4475 torture messages (retyped, shortened where the point survives) ---

WSINV = (
    "INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0\r\n"
    "TO :\r\n sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n\r\n"
    'from   : "J Rosenberg \\\\\\""       <sip:jdrosen@example.com>\r\n  ;\r\n  tag = 98asjd8\r\n'
    "MaX-fOrWaRdS: 0068\r\n"
    "Call-ID: wsinv.ndaksdj@192.0.2.1\r\n"
    "Content-Length   : 0\r\n"
    "cseq: 0009\r\n  INVITE\r\n"
    "Via  : SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;rport;branch=390skdjuw\r\n"
    "s :\r\n"
    "NewFangledHeader:   newfangled value\r\n continued newfangled value\r\n"
    "UnknownHeaderWithUnusualValue: ;;,,;;,;\r\n"
    "v:  SIP  / 2.0  / TCP     spindle.example.com   ;\r\n  branch  =   z9hG4bK9ikj8  ,\r\n"
    " SIP  /    2.0   / UDP  192.168.255.111   ; branch=\r\n z9hG4bK30239\r\n"
    "m:\"Quoted string \\\"\\\"\" <sip:jdrosen@192.0.2.3> ; newparam =\r\n      newvalue ;\r\n"
    "  secondparam ; q = 0.33\r\n\r\n"
)


def test_rfc4475_wsinv_tortuous_but_valid_request_is_understood() -> None:
    """§3.1.1.1: folding, LWS, compact headers, leading zeros. It has a To-tag: an unknown dialog."""
    net, _ = net_and_handler()
    out = net.inject(WSINV, source=("127.0.0.1", 5070))
    assert [s.status for s in out] == [481]
    assert out[0].header("call-id") == "wsinv.ndaksdj@192.0.2.1"
    assert (out[0].header("cseq") or "").split()[0] == "0009"
    assert out[0].addr == ("127.0.0.1", 5070)  # rport present: back to the source


def test_rfc4475_compact_form_invite_starts_a_call() -> None:
    """Compact header names (§3.1.1.x style: i, f, t, v, m, l, c)."""
    net, handler = net_and_handler()
    msg = (
        "INVITE sip:200@127.0.0.1 SIP/2.0\r\nv: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKcompact\r\n"
        "f: <sip:bob@127.0.0.1>;tag=1\r\nt: <sip:200@127.0.0.1>\r\ni: compact-1\r\nCSeq: 1 INVITE\r\n"
        f"m: <sip:bob@127.0.0.1:5070>\r\nc: application/sdp\r\nl: {len(OFFER_SDP)}\r\n\r\n{OFFER_SDP}"
    )
    assert [s.status for s in net.inject(msg)] == [100]
    call = handler.calls[0]
    assert (call.call_id, call.request_user, call.offer_sdp) == ("compact-1", "200", OFFER_SDP)
    call.answer(ANSWER_SDP)
    assert net.sent[-1].status == 200


def test_rfc4475_ncl_content_length_larger_than_body_gets_400() -> None:
    """§3.1.2.x "ncl"-like: over UDP a body shorter than Content-Length is an error (RFC 3261 §18.3)."""
    net, handler = net_and_handler()
    msg = sip_request("INVITE", body="v=0\r\n").replace(b"Content-Length: 5", b"Content-Length: 9999")
    assert [s.status for s in net.inject(msg)] == [400]
    assert handler.calls == []


def test_rfc4475_badvers_gets_505() -> None:
    """§3.3.15 "badvers": SIP/7.0."""
    net, _ = net_and_handler()
    msg = sip_request("OPTIONS").replace(b"SIP/2.0\r\nVia", b"SIP/7.0\r\nVia", 1)
    assert [s.status for s in net.inject(msg)] == [505]


def test_rfc4475_unknown_scheme_gets_416() -> None:
    """§3.3.7 "unksm": a Request-URI scheme we do not know."""
    net, _ = net_and_handler()
    msg = sip_request("OPTIONS", uri="nobodyKnowsThisScheme:totallyopaquecontent")
    assert [s.status for s in net.inject(msg)] == [416]


def test_rfc4475_scalar_too_large_cseq_gets_400() -> None:
    """§3.1.2.x "scalarlg": a CSeq beyond 2**31."""
    net, _ = net_and_handler()
    msg = sip_request("OPTIONS").replace(b"CSeq: 1 OPTIONS", b"CSeq: 36893488147419103232 OPTIONS")
    assert [s.status for s in net.inject(msg)] == [400]


def test_rfc4475_method_mismatch_gets_400() -> None:
    """§3.1.2.x "mismatch01": CSeq method differs from the request line."""
    net, _ = net_and_handler()
    assert [s.status for s in net.inject(sip_request("OPTIONS", cseq_method="INVITE"))] == [400]


def test_rfc4475_insuf_without_call_id_from_to_gets_400_echoing_what_it_has() -> None:
    """§3.3.1 "insuf": 400, addressed by the Via, without the headers the request lacks."""
    net, handler = net_and_handler()
    msg = (
        "INVITE sip:user@example.com SIP/2.0\r\nCSeq: 193942 INVITE\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKkdj.insuf\r\nContent-Length: 0\r\n\r\n"
    )
    out = net.inject(msg)
    assert [s.status for s in out] == [400] and out[0].addr == ("127.0.0.1", 5070)
    assert out[0].header("cseq") == "193942 INVITE" and out[0].header("call-id") is None
    assert handler.calls == []


def test_an_unknown_method_gets_501_a_known_unsupported_one_405() -> None:
    """RFC 3261 §8.2.1 / §21.5.2: 405 is for methods we recognise; NEWMETHOD is not one."""
    net, _ = net_and_handler()
    assert [s.status for s in net.inject(sip_request("NEWMETHOD"))] == [501]
    assert [s.status for s in net.inject(sip_request("PUBLISH", branch="z9hG4bK-2"))] == [405]


@pytest.mark.parametrize(
    ("old", "new", "status"),
    [
        (b"Max-Forwards: 70", b"Max-Forwards: 7\r0", 400),  # bare CR in a header we do not echo
        (b"CSeq: 1 OPTIONS", b"CSeq: x\r OPTIONS", None),  # ... in one a 400 echoes: dropped by rule
        (b"Call-ID: call-1", b"Call-ID: ca\rll-1", None),
    ],
)
def test_a_bare_cr_gets_400_or_is_dropped_never_an_internal_error(
    old: bytes, new: bytes, status: int | None
) -> None:
    net, handler = net_and_handler()
    bad = sip_request("OPTIONS").replace(old, new)
    assert bad != sip_request("OPTIONS")
    with capture_logs() as logs:
        out = net.inject(bad)
    assert [s.status for s in out] == ([status] if status else [])
    for sent in out:
        head = sent.data.split(b"\r\n\r\n")[0]
        assert b"\r" not in head.replace(b"\r\n", b"")  # no bare CR copied into our answer
    assert [e["event"] for e in logs] == ["sip.malformed"]  # and no sip.internal_error
    assert handler.calls == []


@pytest.mark.parametrize("port", [b"70000", b"-1"])  # -1 was found by the fuzz test
def test_a_via_port_nothing_can_reach_is_dropped_by_rule(port: bytes) -> None:
    net, _ = net_and_handler()
    bad = sip_request("OPTIONS", via_params="").replace(b"127.0.0.1:5070;", b"127.0.0.1:" + port + b";")
    with capture_logs() as logs:
        assert net.inject(bad) == []
    assert [e["event"] for e in logs if e["log_level"] != "info"] == ["sip.send_failed"]


def test_every_message_in_and_out_is_counted_by_method_or_status_with_bounded_labels() -> None:
    net, _ = net_and_handler()
    counted: list[tuple[str, str]] = []
    net.endpoint.count_message = lambda direction, method: counted.append((direction, method))
    net.inject(sip_request("OPTIONS"))
    net.inject(sip_request("X-WEIRD", branch="z9hG4bK-2"))  # an unknown method: "other", 501
    net.inject(b"\x00garbage here\r\n\r\n")
    net.inject(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKzz\r\n\r\n")
    assert counted == [
        ("in", "OPTIONS"), ("out", "200"), ("in", "other"), ("out", "501"),
        ("in", "malformed"), ("in", "200"),
    ]
