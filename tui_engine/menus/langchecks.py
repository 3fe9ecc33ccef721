"""``tui-engine check`` for variables and conditions: ``set``, ``switch``, switch menus, templates.

Every finding is an error with file:line (the dialplan is refused), because each one is a call
that would go somewhere its author did not mean:

* a variable that nothing sets (not built in, not collected, not set by a step, not declared
  under ``variables:``) in a ``switch``, a ``set`` value or a ``transfer`` URI: a typo would
  silently take the default case or transfer to ``sip:@pbx``. A variable only an app server
  sets is declared under ``variables:`` with its starting value;
* a template with a lone brace; a ``set`` of a built-in (``caller``, ``time``...);
* a case that can never be taken (earlier cases cover it), a broken range, a case that cannot
  match the built-in it switches on (``"9:00"`` on ``time``, whose values are ``09:00``);
* switch menus that route to each other in a cycle, or that could return to themselves (a
  step without an ending, a transfer without ``on-transfer-failed``): such a call would never
  wait for the caller, so no timer could ever end it. Our one promise is that every call ends.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from tui_engine.menus.record import RECORD_VARIABLES
from tui_engine.menus.switch import WEEKDAYS, Case, CaseError, CaseKind, parse_case, shadowed_by, time_value
from tui_engine.menus.template import TemplateError, placeholders
from tui_engine.menus.variables import BUILTINS, TimeZoneError, sip_uri, time_zone
from tui_engine.menus.voicemail import VOICEMAIL_VARIABLES
from tui_engine.menus.yamlnodes import JsonPath

if TYPE_CHECKING:
    from tui_engine.menus.checks import Checker

#: step keys that do not end a step (what follows them is the step's one terminal)
_LEADS = frozenset(("set", "play", "say"))
#: menu keys a switch menu may have besides ``switch`` and ``set``
_SWITCH_MENU_KEYS = frozenset(("switch", "set", "on-transfer-failed", "on-webhook-failed", "barge-in"))
_SUB_STEPS = ("on-success", "on-failure", "on-max-failures")


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def sub_steps(step: dict[str, Any], path: JsonPath) -> Iterator[tuple[JsonPath, dict[str, Any]]]:
    """The steps directly inside ``step``: a switch's cases and default, an authenticate's
    outcomes, a webhook's ``on-webhook-failed``."""
    switch = _dict(step.get("switch"))
    for key, case in _dict(switch.get("cases")).items():
        if isinstance(case, dict):
            yield (*path, "switch", "cases", key), case
    if isinstance(switch.get("default"), dict):
        yield (*path, "switch", "default"), switch["default"]
    auth = _dict(step.get("authenticate"))
    for key in _SUB_STEPS:
        if isinstance(auth.get(key), dict):
            yield (*path, "authenticate", key), auth[key]
    failed = _dict(step.get("webhook")).get("on-webhook-failed")
    if isinstance(failed, dict):
        yield (*path, "webhook", "on-webhook-failed"), failed


def walk(step: dict[str, Any], path: JsonPath) -> Iterator[tuple[JsonPath, dict[str, Any]]]:
    """``step`` and every step nested in it, depth first."""
    yield path, step
    for inner_path, inner in sub_steps(step, path):
        yield from walk(inner, inner_path)


def menu_steps(
    name: str, menu: dict[str, Any], keys: tuple[str, ...]
) -> Iterator[tuple[JsonPath, dict[str, Any]]]:
    """Every step of a menu, nested ones included (a switch menu is itself a step)."""
    base: JsonPath = ("menus", name)
    if "switch" in menu:
        yield from walk(menu, base)
    for key, step in _dict(menu.get("choices")).items():
        if isinstance(step, dict):
            yield from walk(step, (*base, "choices", key))
    for key in keys:
        if isinstance(menu.get(key), dict):
            yield from walk(menu[key], (*base, key))


class LanguageChecks:
    """The checks of this module for one file, run by :class:`~tui_engine.menus.checks.Checker`."""

    def __init__(self, checker: Checker, step_keys: tuple[str, ...]) -> None:
        # A weak reference: the checker owns these checks, and a strong one back would make a
        # reference cycle per webhook answer checked (freed only by a full garbage collection).
        self._checker = weakref.ref(checker)
        self.step_keys = step_keys
        #: names a template or switch may use; ``None``: any (see :meth:`names_from_the_call`)
        self.known: set[str] | None = self.known_variables()

    @property
    def checker(self) -> Checker:
        checker = self._checker()
        assert checker is not None, "LanguageChecks outlived its Checker"
        return checker

    def names_from_the_call(self) -> None:
        """Check a webhook's answer: it runs in a live call, whose variables are whatever the
        call holds (an unset one renders as ""), so no name is refused as never set."""
        self.known = None

    def fail(self, path: JsonPath, reason: str, *, key: bool = False) -> None:
        self.checker.fail(path, reason, key=key)

    def steps(self) -> Iterator[tuple[str, JsonPath, dict[str, Any]]]:
        for name, menu in self.checker.menus.items():
            if isinstance(menu, dict):
                for path, step in menu_steps(name, menu, self.step_keys):
                    yield name, path, step

    def known_variables(self) -> set[str]:
        names = {
            *BUILTINS,
            *RECORD_VARIABLES,
            *VOICEMAIL_VARIABLES,
            *_dict(self.checker.data.get("variables")),
        }
        for menu in self.checker.menus.values():
            variable = _dict(_dict(menu).get("collect")).get("variable")
            if isinstance(variable, str):
                names.add(variable)
        for _, _, step in self.steps():
            names |= {n for n in _dict(step.get("set")) if isinstance(n, str)}
        return names

    # -- the whole file -----------------------------------------------------------------
    def run(self) -> None:
        zone = self.checker.data.get("time-zone")
        if isinstance(zone, str):
            try:
                time_zone(zone)
            except TimeZoneError as exc:
                self.fail(("time-zone",), str(exc))
        for name in _dict(self.checker.data.get("variables")):
            if name in BUILTINS:
                self.fail(
                    ("variables", name), f"{name!r} is a built-in variable: declare another name", key=True
                )
        for name, menu in self.checker.menus.items():
            if isinstance(menu, dict) and "switch" in menu:
                self.check_switch_menu(name, menu)
        self.check_loops()

    # -- one step (called by Checker.check_step) ----------------------------------------
    def check_step(self, step: dict[str, Any], path: JsonPath) -> None:
        for name, value in _dict(step.get("set")).items():
            if name in BUILTINS:
                self.fail(
                    (*path, "set", name), f"{name!r} is a built-in variable and cannot be set", key=True
                )
            if isinstance(value, str):
                self.check_template(value, (*path, "set", name))
        transfer = step.get("transfer")
        if isinstance(transfer, str) and self.check_template(transfer, (*path, "transfer")) == ():
            if not sip_uri(transfer):
                self.fail((*path, "transfer"), f"transfer target {transfer!r} is not a sip: or sips: URI")
        switch = step.get("switch")
        if isinstance(switch, dict):
            self.check_switch(switch, (*path, "switch"))

    def check_template(self, text: str, path: JsonPath) -> tuple[str, ...] | None:
        """The placeholders of ``text`` (``None`` when it is broken), each checked to be known."""
        try:
            names = placeholders(text)
        except TemplateError as exc:
            self.fail(path, f"bad template {text!r}: {exc}")
            return None
        for name in names:
            if self.known is not None and name not in self.known:
                self.fail(path, self.unknown(name))
        return names

    def unknown(self, name: str) -> str:
        return (
            f"variable {name!r} is never set: not built in ({', '.join(sorted(BUILTINS))}), "
            "not collected, not set by any step (declare it under variables: if an app server sets it)"
        )

    def check_switch(self, switch: dict[str, Any], path: JsonPath) -> None:
        on = switch.get("variable")
        if isinstance(on, str) and self.known is not None and on not in self.known:
            self.fail((*path, "variable"), self.unknown(on))
        earlier: list[Case] = []
        for key in _dict(switch.get("cases")):
            where: JsonPath = (*path, "cases", key)
            try:
                case = parse_case(key)
            except CaseError as exc:
                self.fail(where, str(exc), key=True)
                continue
            problem = _domain_problem(on, case) if isinstance(on, str) else None
            if problem is None and (why := shadowed_by(case, earlier)) is not None:
                problem = f"case {key!r} can never be taken: {why}"
            if problem is not None:
                self.fail(where, problem, key=True)
            earlier.append(case)
        for inner_path, inner in sub_steps({"switch": switch}, path[:-1]):
            self.checker.check_step(inner, inner_path, self.checker.collected_variables())

    # -- switch menus ---------------------------------------------------------------------
    def check_switch_menu(self, name: str, menu: dict[str, Any]) -> None:
        base: JsonPath = ("menus", name)
        for key in menu:
            if key not in _SWITCH_MENU_KEYS:
                reason = f"a switch menu routes at once and has no {key!r} (it plays and waits for nothing)"
                self.fail((*base, key), reason, key=True)
        transfers = False
        for path, step in walk(menu, base):
            transfers = transfers or "transfer" in step
            self.check_ending(name, step, path)
            webhook = step.get("webhook")
            if isinstance(webhook, dict) and "on-webhook-failed" not in webhook | menu:
                reason = "a webhook in a switch menu needs on-webhook-failed (it has no menu to return to)"
                self.fail((*path, "webhook"), reason)
        if transfers and not isinstance(menu.get("on-transfer-failed"), dict):
            reason = "a switch menu that transfers needs on-transfer-failed (it has no menu to return to)"
            self.fail(base, reason)
        for key in ("on-transfer-failed", "on-webhook-failed"):
            if isinstance(menu.get(key), dict):
                for path, step in walk(menu[key], (*base, key)):
                    self.check_ending(name, step, path)

    def check_ending(self, name: str, step: dict[str, Any], path: JsonPath) -> None:
        """A step of switch menu ``name`` must not end by returning to it."""
        if not set(step) - _LEADS:
            reason = (
                f"this step would return to switch menu {name!r}, which routes again at once: "
                "end it with goto, hangup, transfer, switch or webhook"
            )
            self.fail(path, reason)

    def routes(self, name: str) -> set[str]:
        """The switch menus that switch menu ``name`` can go to at once."""
        menu = _dict(self.checker.menus.get(name))
        targets: set[str] = set()
        for key in ("switch", "on-transfer-failed", "on-webhook-failed"):
            if isinstance(menu.get(key), dict):
                step = menu if key == "switch" else menu[key]
                for _, inner in walk(step, ()):
                    target = inner.get("goto")
                    if isinstance(target, str) and "switch" in _dict(self.checker.menus.get(target)):
                        targets.add(target)
        return targets

    def check_loops(self) -> None:
        routers = [n for n, m in self.checker.menus.items() if isinstance(m, dict) and "switch" in m]
        graph = {name: self.routes(name) for name in routers}
        reported: set[frozenset[str]] = set()
        for name in routers:
            cycle = _cycle_from(name, graph)
            if cycle is not None and frozenset(cycle) not in reported:
                reported.add(frozenset(cycle))
                trail = " -> ".join([*cycle, cycle[0]])
                reason = (
                    f"switch menus loop without waiting for the caller ({trail}): "
                    "the call could never end; route one of them to a menu with prompts"
                )
                self.fail(("menus", cycle[0]), reason, key=True)


def _cycle_from(start: str, graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle through ``start`` in ``graph``, as the menus in order, or ``None``."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, trail = stack.pop()
        for target in sorted(graph.get(node, ())):
            if target == start:
                return trail
            if target not in seen:
                seen.add(target)
                stack.append((target, [*trail, target]))
    return None


def _domain_problem(on: str, case: Case) -> str | None:
    """Why ``case`` can never match a value of the built-in ``on``, or ``None``."""
    key = case.key
    if on == "time":
        if case.kind is CaseKind.TIME_RANGE or (case.kind is CaseKind.EXACT and _hhmm(key)):
            return None
        hint = " (quote it: YAML reads 9:00 as the number 540)" if key.isdigit() else ""
        return f'case {key!r} on time: write a range such as "09:00-17:00" or a time "HH:MM"{hint}'
    if on == "weekday" and case.kind is CaseKind.EXACT and key not in WEEKDAYS:
        return f'case {key!r} on weekday: write {", ".join(WEEKDAYS)} or a range such as "mon-fri"'
    if on in ("hour", "minute") and case.kind is CaseKind.EXACT:
        top = 23 if on == "hour" else 59
        if not (len(key) == 2 and key.isdigit() and int(key) <= top):
            return f'case {key!r} on {on}: the values are two digits, 00 to {top} (or a range such as "9-17")'
    if on in ("weekday", "hour", "minute") and case.kind is CaseKind.TIME_RANGE:
        return f"case {key!r} is a time range: switch on time for it"
    return None


def _hhmm(key: str) -> bool:
    minute = time_value(key)
    return len(key) == 5 and minute is not None and minute < 24 * 60
