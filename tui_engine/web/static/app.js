// tui-engine portal page: login, console, and the client half of the inactivity lock.
//
// The server is the authority on the session (docs/web-api.md): it runs the idle-policy core and
// locks at the deadline even with every tab closed. The page only
//   * reports the user's activity (throttled heartbeat, POST /api/activity),
//   * follows the server's absolute deadlines (lock_at / warn_at in epoch ms, corrected for clock
//     skew) to show the warning and to ask the server, at the deadline, whether it has locked,
//   * never decides "still active" from its own timers: after sleep, in a throttled background
//     tab, or when a deadline has passed it asks GET /api/session first,
//   * removes the console from the DOM while locked (the node tree is kept in a variable, so
//     unsaved input and open dialogs come back on unlock), and
//   * tells its other tabs at once over a BroadcastChannel (lock, unlock, close, new deadlines);
//     a message can hide the console, never show it: that takes the server's word.

import { clearCsrf, isCsrfRefusal, request, setCsrf } from './api.js';
import { ActivityThrottle, reportGapMs, watchActivity } from './activity.js';
import { ConsoleView } from './console.js';

const CHANNEL_NAME = 'tui-engine-session';
const TICK_MS = 250;
/** A gap between ticks longer than this means the page was frozen (sleep, background throttling). */
const FROZEN_GAP_MS = 2500;
const CALLS_POLL_MS = 1000;
const ENDINGS_POLL_MS = 3000;
const HIDDEN_POLL_FACTOR = 5;
/** How often to re-ask the server when a deadline has passed but it has not locked yet. */
const DEADLINE_RECHECK_MS = 500;
/** How soon to re-ask when the server gave no deadline only because a request was running. */
const UNKNOWN_DEADLINE_RECHECK_MS = 1000;

const root = document.getElementById('root');
// Views are cloned from <template>s; take them out of the document at once so that a locked
// page's DOM holds nothing but the lock dialog (not even the console's inert markup).
const templates = new Map(
  [...document.querySelectorAll('template')].map((t) => {
    t.remove();
    return [t.id, t];
  }),
);
const warningDialog = document.getElementById('warning-dialog');
const warningSeconds = document.getElementById('warning-seconds');
const channel = 'BroadcastChannel' in window ? new BroadcastChannel(CHANNEL_NAME) : null;

/** Everything the page knows about the session. Deadlines are on the server's clock (epoch ms). */
const session = {
  view: 'loading', // loading | login | active | locked | closed | offline
  user: null,
  appName: null,
  offsetMs: 0, // server clock − local clock, measured at the midpoint of each /api/session call
  lockAt: null,
  warnAt: null,
  timeoutMs: 0,
  heartbeatMs: 15000,
  lastSessionPoll: 0,
  lastDeadlineCheck: 0,
  appliedSeq: 0, // replies older than the last applied one are ignored (no stale "active")
  lockCount: 0,
  warningCount: 0,
};
let seq = 0;
let consoleView = null;
let lastTick = Date.now();
let lastCallsPoll = 0;
let lastEndingsPoll = 0;
let activityInFlight = false;
let dataInFlight = 0; // this page's data requests still running (the server counts them as progress)
/**
 * Background polls (calls, endings) still running. The server counts every running request as
 * progress and answers `lock_at: null` meanwhile, so a status or activity request that overlaps
 * one of our own polls would learn nothing about the deadline (the warning would flicker).
 * Status and activity requests therefore wait for running polls (milliseconds), and polls do
 * not start while those are in flight.
 */
const pollsInFlight = new Set();

function trackPoll(promise) {
  pollsInFlight.add(promise);
  promise.finally(() => pollsInFlight.delete(promise));
}

function pollsSettled() {
  return pollsInFlight.size === 0 ? null : Promise.allSettled([...pollsInFlight]);
}
let sessionInFlight = null;
const throttle = new ActivityThrottle();

const serverNow = () => Date.now() + session.offsetMs;

// -- talking to the server ----------------------------------------------------------------------------

/**
 * GET /api/session (status only: never counts as activity). Concurrent polls share one request;
 * `fresh` forces a new one after a change we caused or were told about (unlock, login, another
 * tab): a poll already in flight may have been answered before the change, and since newer
 * replies win (seq), the fresh one settles the state.
 */
function refreshSession(fresh = false) {
  if (sessionInFlight && !fresh) return sessionInFlight;
  const mine = fetchSession().finally(() => {
    if (sessionInFlight === mine) sessionInFlight = null;
  });
  sessionInFlight = mine; // later polls share the newest request
  return mine;
}

async function fetchSession() {
  const polls = pollsSettled();
  if (polls) await polls;
  const mySeq = ++seq;
  const t0 = Date.now();
  session.lastSessionPoll = t0;
  let reply;
  try {
    reply = await request('GET', '/api/session');
  } catch {
    serverUnreachable();
    return;
  }
  if (reply.status === 200 && reply.data) applySession(reply.data, mySeq, (t0 + Date.now()) / 2);
  else if (reply.status === 401) applySession({ state: 'none' }, mySeq);
}

/** Report activity now (the throttle said so, or the user acknowledged the warning). */
async function sendActivity(acknowledged) {
  if (activityInFlight) return;
  activityInFlight = true;
  // The deadline runs from the input itself (docs/web-api.md), on the server's clock.
  const inputAt = acknowledged || throttle.lastInputAt === null ? Date.now() : throttle.lastInputAt;
  throttle.sent(Date.now());
  const polls = pollsSettled();
  if (polls) await polls;
  const mySeq = ++seq;
  const t0 = Date.now();
  try {
    const body = { at: Math.round(inputAt + session.offsetMs), ...(acknowledged ? { acknowledged: true } : {}) };
    const reply = await request('POST', '/api/activity', { body });
    if (reply.status === 200 && reply.data) {
      applySession(reply.data, mySeq, (t0 + Date.now()) / 2);
      post({ type: 'session', body: reply.data, offsetMs: session.offsetMs });
    } else if (isCsrfRefusal(reply) || reply.status === 401) {
      throttle.note(inputAt);
      await refreshSession(true);
    } else if (reply.status === 423) {
      lockFromServer();
    }
  } catch {
    serverUnreachable();
  } finally {
    activityInFlight = false;
  }
}

/**
 * A data request on the user's behalf or by a poller. 423 → lock at once (every tab); 401 → the
 * session is gone; a CSRF refusal → fetch the rotated token and retry once. Returns the Reply, or
 * null when the session module took over.
 */
async function dataCall(method, path, opts = {}) {
  dataInFlight += 1;
  try {
    return await dataCallOnce(method, path, opts);
  } finally {
    dataInFlight -= 1;
    // Answers given while this request ran said "no deadline" (it was progress): ask again.
    if (dataInFlight === 0 && deadlineUnknown()) refreshSession(true);
  }
}

/**
 * `lock_at` is null while any request of the session is running (progress), even a one-second
 * background poll. With a timeout configured that means "not known right now", not "never":
 * the deadline must be asked for again once the requests are over.
 */
function deadlineUnknown() {
  return session.view === 'active' && session.lockAt === null && session.timeoutMs > 0;
}

async function dataCallOnce(method, path, opts) {
  for (let attempt = 0; attempt < 2; attempt++) {
    let reply;
    try {
      reply = await request(method, path, opts);
    } catch {
      serverUnreachable();
      return null;
    }
    if (reply.status === 423) {
      lockFromServer();
      return null;
    }
    if (reply.status === 401) {
      await refreshSession();
      return null;
    }
    if (attempt === 0 && method !== 'GET' && isCsrfRefusal(reply)) {
      await refreshSession(true);
      continue;
    }
    if (session.view !== 'active') return null; // arrived after a lock: show nothing
    return reply;
  }
  return null;
}

// -- the session state --------------------------------------------------------------------------------

/** Apply a session body from the server (or from another tab). Older replies never win. */
function applySession(body, mySeq, localMidpoint) {
  if (mySeq < session.appliedSeq) return;
  session.appliedSeq = mySeq;
  if (localMidpoint !== undefined && typeof body.server_time === 'number') {
    session.offsetMs = body.server_time - localMidpoint;
  }
  setCsrf(body.csrf);
  session.user = body.user ?? session.user;
  if (typeof body.application === 'string') session.appName = body.application;
  session.lockAt = numberOrNull(body.lock_at);
  session.warnAt = numberOrNull(body.warn_at);
  if (typeof body.timeout_ms === 'number') session.timeoutMs = body.timeout_ms;
  if (typeof body.heartbeat_ms === 'number') session.heartbeatMs = body.heartbeat_ms;
  throttle.gapMs = reportGapMs(session.heartbeatMs, session.timeoutMs);
  switch (body.state) {
    case 'active':
      showConsole();
      break;
    case 'locked':
      showLocked();
      break;
    case 'closed':
      showClosed();
      break;
    default:
      if (session.view === 'active' || session.view === 'locked') showClosed();
      else if (session.view !== 'closed') showLogin();
  }
}

function lockFromServer() {
  session.appliedSeq = ++seq; // anything still in flight from before the lock is stale
  showLocked();
  post({ type: 'locked' });
}

function serverUnreachable() {
  // Without the server we cannot learn of activity in other tabs; be safe and hide the content
  // once the last known deadline has passed. Unlocking still needs the server.
  if (session.view === 'active' && session.lockAt !== null && serverNow() >= session.lockAt) showLocked();
  if (session.view === 'loading') mountMessage('offline', 'Cannot reach the engine. Retrying…');
}

// -- views --------------------------------------------------------------------------------------------

const TITLES = { login: 'Sign in', locked: '\u{1F512} Locked', closed: 'Session closed', offline: 'Offline' };

function setView(name) {
  session.view = name;
  root.dataset.view = name;
  // The tab shows the lock: someone glancing at a row of tabs sees which session waits for a password.
  if (name === 'active' && consoleView) consoleView.showTitle();
  else document.title = `${TITLES[name] ?? 'tui-engine'}${session.user && name === 'locked' ? ` (${session.user})` : ''} · tui-engine console`;
}

function mountTemplate(id) {
  const node = templates.get(id).content.firstElementChild.cloneNode(true);
  root.replaceChildren(node);
  return node;
}

function mountMessage(view, text) {
  const p = document.createElement('p');
  p.className = 'notice';
  p.textContent = text;
  root.replaceChildren(p);
  setView(view);
}

function showConsole() {
  updateWarning();
  if (session.view === 'active') return;
  const fresh = consoleView === null;
  if (fresh) {
    consoleView = new ConsoleView(templates.get('tpl-console'), {
      call: dataCall,
      logout,
      appName: () => session.appName,
      taskFinished: () => refreshSession(), // shares the fresh one the data call just started
    });
  }
  consoleView.setUser(session.user);
  root.replaceChildren(consoleView.node);
  setView('active');
  throttle.reset();
  if (fresh) trackPoll(consoleView.loadAll());
  else consoleView.restoreState();
  lastCallsPoll = Date.now();
  lastEndingsPoll = Date.now();
}

function showLocked() {
  closeWarning();
  if (session.view === 'locked') return;
  if (consoleView && session.view === 'active') consoleView.rememberState();
  const node = mountTemplate('tpl-locked'); // replaces (detaches) the console: nothing readable stays
  setView('locked');
  session.lockCount += 1;
  root.dataset.lockCount = String(session.lockCount);
  for (const who of node.querySelectorAll('.locked-user')) who.textContent = session.user ?? 'the user who signed in';
  wireLockDialog(node);
  node.querySelector('#unlock-password').focus();
}

function showClosed() {
  closeWarning();
  dropConsole();
  clearCsrf();
  if (session.view === 'closed') return;
  const node = mountTemplate('tpl-closed');
  setView('closed');
  node.querySelector('#closed-login').addEventListener('click', () => showLogin());
}

function showLogin() {
  closeWarning();
  dropConsole();
  if (session.view === 'login') return;
  const node = mountTemplate('tpl-login');
  setView('login');
  node.querySelector('#login-form').addEventListener('submit', submitLogin);
  node.querySelector('#login-username').focus();
}

function dropConsole() {
  if (consoleView) consoleView.dispose();
  consoleView = null;
}

// -- login, unlock, close, logout -----------------------------------------------------------------------

async function submitLogin(ev) {
  ev.preventDefault();
  const form = ev.currentTarget;
  const error = form.querySelector('#login-error');
  const body = { username: form.elements.username.value.trim(), password: form.elements.password.value };
  error.textContent = '';
  let reply;
  try {
    reply = await request('POST', '/api/login', { body });
  } catch {
    error.textContent = 'Cannot reach the engine.';
    return;
  }
  if (reply.ok) {
    setCsrf(reply.data?.csrf);
    post({ type: 'login' });
    await refreshSession(true);
  } else {
    form.elements.password.value = '';
    error.textContent = reply.status === 401 ? 'Invalid username or password.' : reply.message();
  }
}

function wireLockDialog(node) {
  const lock = node.querySelector('#lock-dialog');
  const confirm = node.querySelector('#confirm-close-dialog');
  node.querySelector('#unlock-form').addEventListener('submit', submitUnlock);
  node.querySelector('#unlock-cancel').addEventListener('click', () => {
    lock.hidden = true;
    confirm.hidden = false;
    node.querySelector('#confirm-back').focus();
  });
  node.querySelector('#confirm-back').addEventListener('click', () => {
    confirm.hidden = true;
    lock.hidden = false;
    node.querySelector('#unlock-password').focus();
  });
  node.querySelector('#confirm-close').addEventListener('click', () => closeSession(node));
}

async function submitUnlock(ev) {
  ev.preventDefault();
  const form = ev.currentTarget;
  const input = form.elements.password;
  const error = form.querySelector('#unlock-error');
  const buttons = form.querySelectorAll('button');
  buttons.forEach((b) => (b.disabled = true));
  try {
    const reply = await unlockRequest(input.value);
    input.value = '';
    handleUnlockReply(reply, error);
  } catch {
    error.textContent = 'Cannot reach the engine. Try again.';
  } finally {
    buttons.forEach((b) => (b.disabled = false));
    if (session.view === 'locked') input.focus();
  }
}

async function unlockRequest(password) {
  let reply = await request('POST', '/api/unlock', { body: { password } });
  if (isCsrfRefusal(reply)) {
    await refreshSession(true); // another tab rotated the session: take its token and retry once
    reply = await request('POST', '/api/unlock', { body: { password } });
  }
  return reply;
}

function handleUnlockReply(reply, error) {
  const d = reply.data ?? {};
  if (reply.ok) {
    setCsrf(d.csrf);
    post({ type: 'unlocked' });
    refreshSession(true);
  } else if (reply.status === 401) {
    // One answer for a wrong password and for another user's right one (docs/web-api.md).
    const left = typeof d.max === 'number' && typeof d.failures === 'number' ? d.max - d.failures : null;
    error.textContent =
      left === null ? 'Invalid password.' : `Invalid password. ${left} attempt${left === 1 ? '' : 's'} left.`;
  } else if (reply.status === 410) {
    post({ type: 'closed' });
    showClosed();
  } else {
    error.textContent = reply.message('The session could not be unlocked.');
  }
}

async function closeSession(node) {
  const error = node.querySelector('#confirm-close-error');
  try {
    let reply = await request('POST', '/api/close', {});
    if (isCsrfRefusal(reply)) {
      await refreshSession(true);
      reply = await request('POST', '/api/close', {});
    }
    if (reply.ok || reply.status === 410 || reply.status === 401) {
      post({ type: 'closed' });
      showClosed();
    } else {
      error.textContent = reply.message('The session could not be closed.');
    }
  } catch {
    error.textContent = 'Cannot reach the engine. Try again.';
  }
}

async function logout() {
  session.appliedSeq = ++seq; // a session reply still in flight must not show the console again
  try {
    await request('POST', '/api/logout', {});
  } catch {
    // The server closes idle sessions itself; leaving the page state is still right.
  }
  session.appliedSeq = ++seq;
  post({ type: 'logout' });
  clearCsrf();
  showLogin();
}

// -- the warning --------------------------------------------------------------------------------------

function updateWarning() {
  const now = serverNow();
  const due = session.view === 'active' && session.warnAt !== null && session.lockAt !== null;
  if (!due || now < session.warnAt || now >= session.lockAt) {
    closeWarning();
    return;
  }
  warningSeconds.textContent = String(Math.max(0, Math.ceil((session.lockAt - now) / 1000)));
  if (!warningDialog.open) {
    session.warningCount += 1;
    warningDialog.showModal();
    warningDialog.querySelector('#warning-ack').focus();
  }
}

function closeWarning() {
  if (warningDialog.open) warningDialog.close();
}

warningDialog.querySelector('#warning-ack').addEventListener('click', () => sendActivity(true));
warningDialog.addEventListener('cancel', (ev) => {
  ev.preventDefault(); // Escape is an acknowledgement too
  sendActivity(true);
});

// -- activity and the clock ---------------------------------------------------------------------------

function onActivity(kind) {
  if (session.view !== 'active') return;
  throttle.note();
  if (kind === 'visibilitychange' && document.visibilityState === 'visible') {
    refreshSession(); // a background tab coming back: ask before trusting old deadlines
    return;
  }
  flushActivity();
}

/** Send pending activity if the throttle allows, but never past a known deadline without asking. */
function flushActivity() {
  const now = Date.now();
  if (session.view !== 'active' || !throttle.due(now) || activityInFlight) return;
  if (session.lockAt !== null && serverNow() >= session.lockAt) {
    checkDeadline(now);
    return;
  }
  sendActivity(false);
}

/** A deadline passed locally: the server decides (another tab may have kept the session alive). */
function checkDeadline(now) {
  if (now - session.lastDeadlineCheck < DEADLINE_RECHECK_MS) return;
  session.lastDeadlineCheck = now;
  refreshSession();
}

function tick() {
  const now = Date.now();
  const frozen = now - lastTick > FROZEN_GAP_MS;
  lastTick = now;
  if (frozen) {
    refreshSession(); // woke from sleep or a throttled background tab: ask the server first
    return;
  }
  if (session.view === 'active') activeTick(now);
  const pollMs = Math.max(1000, Math.min(session.heartbeatMs || 15000, 60000));
  if (now - session.lastSessionPoll >= pollMs) refreshSession();
}

function activeTick(now) {
  flushActivity();
  if (session.lockAt !== null && serverNow() >= session.lockAt) checkDeadline(now);
  if (deadlineUnknown() && dataInFlight === 0 && now - session.lastSessionPoll >= UNKNOWN_DEADLINE_RECHECK_MS) {
    refreshSession(); // another tab's request, or ours that ended before this answer came
  }
  updateWarning();
  if (!consoleView || sessionInFlight || activityInFlight) return; // see pollsInFlight
  const slow = document.visibilityState === 'hidden' ? HIDDEN_POLL_FACTOR : 1;
  if (now - lastCallsPoll >= CALLS_POLL_MS * slow) {
    lastCallsPoll = now;
    trackPoll(consoleView.pollCalls());
  }
  if (now - lastEndingsPoll >= ENDINGS_POLL_MS * slow) {
    lastEndingsPoll = now;
    trackPoll(consoleView.pollEndings());
  }
}

// -- other tabs ---------------------------------------------------------------------------------------

function post(message) {
  if (channel) channel.postMessage(message);
}

function onMessage(ev) {
  const msg = ev.data ?? {};
  switch (msg.type) {
    case 'session':
      // Any script of this origin can post on the channel: a message may hide the console
      // (lock, close) at once, but it never shows it. "Active" from another tab while this one
      // is not showing the console is a reason to ask the server, nothing more.
      if (!msg.body || typeof msg.body !== 'object') break;
      if (msg.body.state === 'active' && session.view !== 'active') {
        refreshSession(true);
        break;
      }
      if (typeof msg.offsetMs === 'number') session.offsetMs = msg.offsetMs;
      applySession(msg.body, ++seq);
      break;
    case 'locked':
      session.appliedSeq = ++seq;
      showLocked();
      refreshSession();
      break;
    case 'closed':
      session.appliedSeq = ++seq;
      showClosed();
      break;
    case 'logout':
      session.appliedSeq = ++seq;
      clearCsrf();
      showLogin();
      break;
    case 'unlocked':
    case 'login':
      refreshSession(true);
      break;
    default:
      break;
  }
}

// -- start --------------------------------------------------------------------------------------------

function numberOrNull(v) {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

if (channel) channel.addEventListener('message', onMessage);
watchActivity(onActivity);
for (const ev of ['pageshow', 'online', 'resume']) {
  (ev === 'resume' ? document : window).addEventListener(ev, () => refreshSession());
}
setInterval(tick, TICK_MS);
refreshSession();

// Read-only hook for end-to-end tests and debugging: the current view, how many locks and
// warnings this page has shown so far.
window.tuiEngine = Object.freeze({
  view: () => session.view,
  lockCount: () => session.lockCount,
  warningCount: () => session.warningCount,
});
