// What counts as the user's activity, and how often the page tells the server about it.
//
// The server owns the idle timer (IdlePolicy); the page only reports activity. Reporting every
// mouse move would flood the server, so reports are throttled: the first input after a quiet
// spell is sent at once, later ones at most once per `minGapMs`. The gap is derived from the
// session's own figures (half the heartbeat interval, and never more than a quarter of the
// inactivity timeout) so a user who keeps moving is always reported well before the warning.
// Each report carries the time of the latest input it covers (`lastInputAt`): the server times
// the deadline from the input, not from the report, so throttling never makes a lock late.

/** DOM events that mean a person is there. Captured on window: focus/blur/scroll do not bubble. */
export const ACTIVITY_EVENTS = Object.freeze([
  'mousemove',
  'mousedown',
  'click',
  'wheel',
  'scroll',
  'keydown',
  'touchstart',
  'pointerdown',
  'focus',
  'blur',
]);

/** Call `onActivity(kind)` for every user input; returns a function that stops watching. */
export function watchActivity(onActivity) {
  const options = { capture: true, passive: true };
  const handlers = ACTIVITY_EVENTS.map((kind) => {
    // focus/blur count only for the window itself (the user switched windows). Element focus
    // moves with the user's clicks and keys anyway, and the page moves it programmatically
    // (opening the warning focuses its button): that must never count as activity.
    const windowOnly = kind === 'focus' || kind === 'blur';
    const handler = (ev) => {
      if (!windowOnly || ev.target === window) onActivity(kind);
    };
    window.addEventListener(kind, handler, options);
    return [kind, handler];
  });
  const onVisibility = () => onActivity('visibilitychange');
  document.addEventListener('visibilitychange', onVisibility);
  return () => {
    for (const [kind, handler] of handlers) window.removeEventListener(kind, handler, options);
    document.removeEventListener('visibilitychange', onVisibility);
  };
}

/** Smallest and largest gap between two activity reports, in ms. */
const MIN_GAP_FLOOR_MS = 250;
const MIN_GAP_CEILING_MS = 30000;

/** The throttle gap for a session with these figures (timeout 0 = never locks). */
export function reportGapMs(heartbeatMs, timeoutMs) {
  let gap = heartbeatMs > 0 ? heartbeatMs / 2 : MIN_GAP_CEILING_MS;
  if (timeoutMs > 0) gap = Math.min(gap, timeoutMs / 4);
  return Math.min(MIN_GAP_CEILING_MS, Math.max(MIN_GAP_FLOOR_MS, gap));
}

/**
 * Throttled activity reporting. Plain state machine: `note(now)` records input, `due(now)` says
 * whether a report should go out now, `sent(now)` records that it went. Time is passed in so the
 * caller owns the clock.
 */
export class ActivityThrottle {
  constructor() {
    this.pending = false;
    this.lastSentAt = -Infinity;
    this.lastInputAt = null;
    this.gapMs = MIN_GAP_FLOOR_MS;
  }

  /** Input happened at `now` (local ms; default: the current time). */
  note(now = Date.now()) {
    this.pending = true;
    this.lastInputAt = now;
  }

  due(now) {
    return this.pending && now - this.lastSentAt >= this.gapMs;
  }

  sent(now) {
    this.pending = false;
    this.lastSentAt = now;
  }

  reset() {
    this.pending = false;
    this.lastSentAt = -Infinity;
    this.lastInputAt = null;
  }
}
