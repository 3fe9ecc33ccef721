"""Every call ends, whatever switch menus route to: random route graphs, the loader and a silent caller.

A dialplan of switch menus is either refused at load (its switch menus can loop without waiting
for the caller) or every call on it ends: hypothesis draws where each switch menu's cases and
default go, and the test checks both halves against a cycle search of its own.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tui_engine.menus import DialplanError, load_dialplan
from tui_engine.menus.testing import MenuHarness

ROUTERS = ["r0", "r1", "r2", "r3"]
TARGETS = [*ROUTERS, "menu", "hangup"]

routes = st.fixed_dictionaries(
    {r: st.tuples(st.sampled_from(TARGETS), st.sampled_from(TARGETS)) for r in ROUTERS}
)


def step(target: str) -> str:
    return "{hangup: completed}" if target == "hangup" else f"{{goto: {target}}}"


def plan_text(graph: dict[str, tuple[str, str]], start: str) -> str:
    menus = "".join(
        f'  {r}:\n    switch:\n      variable: caller\n      cases: {{"100": {step(case)}}}\n'
        f"      default: {step(default)}\n"
        for r, (case, default) in graph.items()
    )
    return (
        f"goodbye: goodbye\nstart: {start}\nprompts:\n  long: {{file: long.wav}}\n"
        "  goodbye: {file: goodbye.wav}\nmenus:\n"
        f'{menus}  menu:\n    prompts: [long]\n    choices: {{"1": {{goto: {start}}}}}\n'
    )


def loops(graph: dict[str, tuple[str, str]]) -> bool:
    """Whether switch menus reach themselves through switch menus only."""
    def reach(node: str, seen: frozenset[str]) -> bool:
        return any(t in seen or (t in graph and reach(t, seen | {t})) for t in graph[node] if t in graph)

    return any(reach(r, frozenset({r})) for r in graph)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(routes, st.sampled_from(ROUTERS), st.sampled_from(["100", "200"]))
def test_switch_menus_are_refused_or_every_call_ends(
    plan_dir: Path, graph: dict[str, tuple[str, str]], start: str, caller: str
) -> None:
    path = plan_dir / "t.yaml"
    path.write_text(plan_text(graph, start), encoding="utf-8")
    try:
        plan = load_dialplan(path)
    except DialplanError as exc:
        assert loops(graph), str(exc)
        assert all("loop without waiting" in i.reason for i in exc.issues)
        return
    assert not loops(graph)
    call = MenuHarness(plan, variables={"caller": caller})
    call.start()
    call.advance(60.0)  # a silent caller: the menu's no-input cycle, or a hang-up on the way
    call.press("1")  # and a caller who keeps routing back through the switch menus
    call.advance(60.0)
    assert call.ended
