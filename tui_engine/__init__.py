"""tui-engine: inactivity timeouts for phone menus (TUI) and a web portal.

Sub-packages, imports flowing one way (toward ``core``):

* ``core``    - the pure, clock-injected idle-policy state machine (no I/O).
* ``runtime`` - the asyncio driver that schedules the core's deadlines.
* ``config``  - the TOML configuration, per application, and its validation.
* ``obs``     - structured logging and metrics.
* ``sip``     - SIP parsing, transactions and dialogs (sans-I/O) plus transports.
* ``media``   - prompts, RTP, the shared media clock and DTMF detection.
* ``menus``   - dialplans (YAML) and the sans-I/O menu interpreter.
* ``tui``     - the telephony application: SIP + media + menus + idle core.
* ``web``     - the portal with its server-enforced inactivity lock.
"""

__version__ = "0.1.0"
