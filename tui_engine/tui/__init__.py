"""The telephony application: every SIP call runs a dialplan on the idle core.

One :class:`~tui_engine.tui.call.CallSession` per call glues a SIP dialog
(``tui_engine.sip``), a media session (``tui_engine.media``) and a sans-I/O menu
interpreter (``tui_engine.menus``) together with one lazily re-armed timer.
"""
