// The engine's admin console: live calls, recent call endings, applications (editable options),
// users, a long export task and scratch notes.
//
// The console is built once per session from its <template>. When the session locks, the session
// module detaches this node tree and keeps it; unlocking puts the very same nodes back, so typed
// text, open dialogs, focus and scroll position are exactly as the user left them.
//
// All text from the server goes through textContent (never innerHTML): caller IDs and option
// values are data from the outside world.

const CALLS_EMPTY = 'No live calls.';
const ENDINGS_EMPTY = 'No calls have ended yet.';

/** `ctx.call(method, path, opts)` → Reply, or null when the session module took over (lock, logout). */
export class ConsoleView {
  constructor(template, ctx) {
    this.ctx = ctx;
    this.node = template.content.firstElementChild.cloneNode(true);
    this.q = (sel) => this.node.querySelector(sel);
    this.apps = {};
    this.exporting = null;
    this.exportUrl = null;
    this.saved = null;
    this.wire();
  }

  // -- wiring -------------------------------------------------------------------------------------
  wire() {
    this.q('.logout').addEventListener('click', () => this.ctx.logout());
    this.q('.apps-reload').addEventListener('click', () => this.loadApplications(true));
    this.q('.user-create-form').addEventListener('submit', (ev) => this.createUser(ev));
    this.q('.export-form').addEventListener('submit', (ev) => this.runExport(ev));
    this.q('.password-form').addEventListener('submit', (ev) => this.changePassword(ev));
    this.q('.pin-form').addEventListener('submit', (ev) => this.setPin(ev));
    for (const btn of this.node.querySelectorAll('.dialog-cancel')) {
      btn.addEventListener('click', () => btn.closest('dialog').close());
    }
  }

  setUser(user) {
    this.user = user ?? null;
    this.q('.console-user').textContent = user ?? '';
  }

  /** First data for a fresh console (later updates come from the pollers). */
  async loadAll() {
    await Promise.all([this.pollCalls(), this.pollEndings(), this.loadApplications(false), this.loadUsers()]);
  }

  // -- detach / reattach ----------------------------------------------------------------------------
  /** Remember what a plain DOM move would lose: focus, scroll, which dialogs were modal. */
  rememberState() {
    const active = document.activeElement;
    this.saved = {
      focus: active && this.node.contains(active) ? active : null,
      scrollY: window.scrollY,
      dialogs: [...this.node.querySelectorAll('dialog')]
        .filter((d) => d.open)
        .map((d) => ({ dialog: d, modal: d.matches(':modal') })),
    };
  }

  /** After reattaching: reopen dialogs as they were (a removed modal dialog leaves the top layer). */
  restoreState() {
    const saved = this.saved;
    this.saved = null;
    if (!saved) return;
    for (const { dialog, modal } of saved.dialogs) {
      if (modal && !dialog.matches(':modal')) {
        dialog.removeAttribute('open');
        dialog.showModal();
      } else if (!dialog.open) {
        dialog.show();
      }
    }
    window.scrollTo(0, saved.scrollY);
    if (saved.focus && this.node.contains(saved.focus)) saved.focus.focus({ preventScroll: true });
  }

  // -- live calls and endings -------------------------------------------------------------------
  async pollCalls() {
    const reply = await this.ctx.call('GET', '/api/calls');
    if (!reply || !reply.ok) return;
    const calls = listOf(reply.data, 'calls');
    const rows = calls.map((c) =>
      row([
        c.caller,
        c.dialplan,
        c.menu,
        c.attempt != null && c.of != null ? `${c.attempt} of ${c.of}` : c.attempt,
        formatSecondsLeft(c.seconds_left),
      ]),
    );
    rows.forEach((tr, i) => (tr.dataset.callId = String(calls[i].call_id ?? '')));
    fillBody(this.q('.calls-body'), rows, CALLS_EMPTY, 5);
    this.q('.calls-count').textContent = String(calls.length);
    this.q('.calls-status').textContent = `Updated ${new Date().toLocaleTimeString()}`;
  }

  async pollEndings() {
    const reply = await this.ctx.call('GET', '/api/call-endings');
    if (!reply || !reply.ok) return;
    const endings = listOf(reply.data, 'endings', 'call_endings', 'call-endings');
    const rows = endings.map((e) =>
      row([formatTime(e.ended_at), e.caller, e.reason, formatDuration(e.duration), e.call_id]),
    );
    fillBody(this.q('.endings-body'), rows, ENDINGS_EMPTY, 5);
  }

  // -- applications ---------------------------------------------------------------------------------
  async loadApplications(byUser) {
    const reply = await this.ctx.call('GET', '/api/applications', { activity: byUser });
    if (!reply || !reply.ok) return;
    const data = reply.data ?? {};
    this.apps = data.applications && typeof data.applications === 'object' ? data.applications : data;
    const body = this.q('.apps-body');
    body.replaceChildren(...Object.entries(this.apps).map(([app, sections]) => this.appFieldset(app, sections)));
    this.fillApplicationSelect();
  }

  appFieldset(app, sections) {
    const fs = el('fieldset', { className: 'app' });
    fs.append(el('legend', { textContent: app }));
    for (const [section, options] of Object.entries(sections ?? {})) {
      fs.append(el('h3', { className: 'section-name', textContent: `[${section}]` }));
      for (const [option, value] of Object.entries(options ?? {})) {
        fs.append(this.optionRow(app, section, option, value));
      }
    }
    return fs;
  }

  optionRow(app, section, option, value) {
    const id = `opt-${app}-${section}-${option}`.replace(/[^A-Za-z0-9_-]/g, '_');
    const wrap = el('div', { className: 'option-row' });
    const label = el('label', { htmlFor: id });
    label.append(el('span', { className: 'sr-only', textContent: `${app} ${section} ` }), option);
    const input = optionInput(id, value);
    const save = el('button', { type: 'button', textContent: 'Save' });
    save.setAttribute('aria-label', `Save ${app} ${section} ${option}`);
    const status = el('span', { className: 'option-status', role: 'status' });
    save.addEventListener('click', () => this.saveOption(app, section, option, input, status));
    wrap.append(label, input, save, status);
    return wrap;
  }

  async saveOption(app, section, option, input, status) {
    let value;
    try {
      value = readOptionInput(input);
    } catch (err) {
      setStatus(status, err.message, true);
      return;
    }
    const path = `/api/applications/${encodeURIComponent(app)}/options`;
    const reply = await this.ctx.call('PUT', path, { body: { section, option, value }, activity: true });
    if (!reply) return;
    if (reply.ok) {
      setStatus(status, 'Saved; applied now.', false);
      if (this.apps[app]?.[section]) this.apps[app][section][option] = value;
    } else {
      setStatus(status, reply.message('Not saved.'), true);
    }
  }

  // -- users ----------------------------------------------------------------------------------------
  async loadUsers() {
    const reply = await this.ctx.call('GET', '/api/users');
    if (!reply || !reply.ok) return;
    const users = listOf(reply.data, 'users').map((u) => (typeof u === 'string' ? { username: u } : u));
    const rows = users.map((u) => this.userRow(u));
    fillBody(this.q('.users-body'), rows, 'No users.', 3);
  }

  userRow(user) {
    const name = String(user.username ?? user.name ?? '');
    const details = [];
    if (typeof user.has_pin === 'boolean') details.push(user.has_pin ? 'TUI PIN set' : 'no TUI PIN');
    if (typeof user.password_changed_at === 'number') {
      details.push(`password changed ${formatTime(user.password_changed_at)}`);
    }
    const tr = row([name, details.join('; ')]);
    const actions = el('td', { className: 'user-actions' });
    const pw = el('button', { type: 'button', textContent: 'Change password' });
    pw.setAttribute('aria-label', `Change password for ${name}`);
    pw.addEventListener('click', () => this.openUserDialog('.password-dialog', name));
    const pin = el('button', { type: 'button', textContent: 'Set TUI PIN' });
    pin.setAttribute('aria-label', `Set TUI PIN for ${name}`);
    pin.addEventListener('click', () => this.openUserDialog('.pin-dialog', name));
    actions.append(pw, pin);
    tr.append(actions);
    return tr;
  }

  openUserDialog(selector, name) {
    const dialog = this.q(selector);
    dialog.dataset.user = name;
    dialog.querySelector('.dialog-user').textContent = name;
    dialog.querySelector('form').reset();
    dialog.querySelector('.form-status').textContent = '';
    // One's own password is changed with the current one (the server insists: docs/web-api.md).
    const current = dialog.querySelector('.current-password-field');
    if (current) {
      current.hidden = name !== this.user;
      current.querySelector('input').required = name === this.user;
    }
    this.fillApplicationSelect();
    dialog.showModal();
  }

  /** "This application" first (the portal serving this page), then every other application. */
  fillApplicationSelect() {
    const select = this.q('#change-password-app');
    const current = select.value;
    const own = this.ctx.appName() ?? this.guessOwnApp();
    const options = [el('option', { value: own ?? '', textContent: `This application${own ? ` (${own})` : ''}` })];
    const others = Object.keys(this.apps).filter((app) => app !== own);
    for (const app of others) {
      options.push(el('option', { value: app, textContent: `Another application: ${app}` }));
    }
    // The server applies "" to its own application; any other name is "another application"
    // (the CLI or a second portal), even one this engine does not configure.
    if (others.length === 0 || !own) {
      options.push(el('option', { value: 'other', textContent: 'Another application (CLI, other portal)' }));
    }
    select.replaceChildren(...options);
    if ([...select.options].some((o) => o.value === current)) select.value = current;
  }

  /** Until the server names its application: the one web application (it has a [web] section). */
  guessOwnApp() {
    const web = Object.entries(this.apps).filter(([, sections]) => sections && 'web' in sections);
    return web.length === 1 ? web[0][0] : null;
  }

  async createUser(ev) {
    ev.preventDefault();
    const form = ev.currentTarget;
    const status = form.querySelector('.form-status');
    const body = { username: form.elements.username.value.trim(), password: form.elements.password.value };
    const reply = await this.ctx.call('POST', '/api/users', { body, activity: true });
    if (!reply) return;
    if (reply.ok) {
      setStatus(status, `User ${body.username} created.`, false);
      form.reset();
      await this.loadUsers();
    } else {
      setStatus(status, reply.message('The user was not created.'), true);
    }
  }

  async changePassword(ev) {
    ev.preventDefault();
    const dialog = this.q('.password-dialog');
    const form = ev.currentTarget;
    const name = dialog.dataset.user;
    const body = { password: form.elements.password.value, application: form.elements.application.value };
    if (name === this.user) body.current_password = form.elements.current_password.value;
    const path = `/api/users/${encodeURIComponent(name)}/password`;
    const reply = await this.ctx.call('POST', path, { body, activity: true });
    if (!reply) return;
    if (reply.ok) {
      dialog.close();
      const where = body.application || 'this application';
      setStatus(this.q('.user-create-form .form-status'), `Password of ${name} changed for ${where}.`, false);
    } else {
      setStatus(form.querySelector('.form-status'), reply.message('The password was not changed.'), true);
    }
  }

  async setPin(ev) {
    ev.preventDefault();
    const dialog = this.q('.pin-dialog');
    const form = ev.currentTarget;
    const name = dialog.dataset.user;
    const path = `/api/users/${encodeURIComponent(name)}/pin`;
    const reply = await this.ctx.call('POST', path, { body: { pin: form.elements.pin.value }, activity: true });
    if (!reply) return;
    if (reply.ok) {
      dialog.close();
      setStatus(this.q('.user-create-form .form-status'), `TUI PIN of ${name} set.`, false);
      await this.loadUsers();
    } else {
      setStatus(form.querySelector('.form-status'), reply.message('The PIN was not set.'), true);
    }
  }

  // -- export (a long task) -----------------------------------------------------------------------
  async runExport(ev) {
    ev.preventDefault();
    if (this.exporting) return;
    const seconds = Number(this.q('#export-seconds').value || '0');
    const progress = this.q('.export-progress');
    const label = this.q('.export-progress-label');
    const status = this.q('.export-status');
    const link = this.q('.export-link');
    const started = Date.now();
    this.exporting = { started };
    progress.hidden = false;
    link.hidden = true;
    status.textContent = '';
    this.q('.export-button').disabled = true;
    const ticker = setInterval(() => {
      label.textContent = `Exporting… ${Math.round((Date.now() - started) / 1000)} s`;
    }, 250);
    label.textContent = 'Exporting… 0 s';
    try {
      const reply = await this.ctx.call('POST', '/api/export', { body: { seconds }, activity: true });
      if (reply && reply.ok) this.exportDone(reply, status, link);
      else if (reply) setStatus(status, reply.message('The export failed.'), true);
    } finally {
      clearInterval(ticker);
      progress.hidden = true;
      this.q('.export-button').disabled = false;
      this.exporting = null;
      this.ctx.taskFinished();
    }
  }

  exportDone(reply, status, link) {
    const lines = reply.text.split('\n').filter((l) => l.trim() !== '');
    if (this.exportUrl) URL.revokeObjectURL(this.exportUrl);
    this.exportUrl = URL.createObjectURL(new Blob([reply.text], { type: 'text/csv' }));
    link.href = this.exportUrl;
    link.hidden = false;
    setStatus(status, `Export finished: ${Math.max(0, lines.length - 1)} rows.`, false);
  }

  dispose() {
    if (this.exportUrl) URL.revokeObjectURL(this.exportUrl);
    for (const d of this.node.querySelectorAll('dialog[open]')) d.close();
  }
}

// -- small DOM helpers --------------------------------------------------------------------------------
function el(tag, props = {}) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'role') node.setAttribute('role', v);
    else node[k] = v;
  }
  return node;
}

function row(cells) {
  const tr = document.createElement('tr');
  for (const c of cells) tr.append(el('td', { textContent: c == null ? '—' : String(c) }));
  return tr;
}

function fillBody(tbody, rows, emptyText, colspan) {
  if (rows.length === 0) {
    const tr = el('tr', { className: 'empty' });
    tr.append(el('td', { textContent: emptyText, colSpan: colspan }));
    tbody.replaceChildren(tr);
  } else {
    tbody.replaceChildren(...rows);
  }
}

function setStatus(node, text, isError) {
  node.textContent = text;
  node.classList.toggle('error', isError);
  node.classList.toggle('ok', !isError);
}

/** Accept either a bare list or an object holding it under one of `keys`. */
function listOf(data, ...keys) {
  if (Array.isArray(data)) return data;
  for (const k of keys) if (data && Array.isArray(data[k])) return data[k];
  return [];
}

function optionInput(id, value) {
  const input = el('input', { id, name: id });
  if (typeof value === 'boolean') {
    input.type = 'checkbox';
    input.checked = value;
    input.dataset.kind = 'boolean';
  } else if (typeof value === 'number') {
    // text, not type=number: a duration may be written "90s" as well as 10 (minutes or seconds)
    input.type = 'text';
    input.inputMode = 'decimal';
    input.value = String(value);
    input.dataset.kind = 'number';
  } else if (typeof value === 'string') {
    input.value = value;
    input.dataset.kind = 'string';
  } else {
    input.value = JSON.stringify(value);
    input.dataset.kind = 'json';
  }
  return input;
}

function readOptionInput(input) {
  switch (input.dataset.kind) {
    case 'boolean':
      return input.checked;
    case 'number': {
      const text = input.value.trim();
      if (text === '') throw new Error('Enter a value.');
      const n = Number(text);
      return Number.isFinite(n) ? n : text; // "90s": the server says whether it is allowed
    }
    case 'json':
      try {
        return JSON.parse(input.value);
      } catch {
        throw new Error('Enter a JSON value, e.g. ["127.0.0.0/8"].');
      }
    default:
      return input.value;
  }
}

function formatSecondsLeft(s) {
  if (s == null || !Number.isFinite(Number(s))) return '—';
  return `${Math.max(0, Number(s)).toFixed(1)} s`;
}

function formatDuration(s) {
  if (s == null || !Number.isFinite(Number(s))) return '—';
  return `${Number(s).toFixed(1)} s`;
}

/** Epoch seconds, epoch ms or an ISO string → local time. */
function formatTime(t) {
  if (t == null) return '—';
  let ms;
  if (typeof t === 'number') ms = t > 1e12 ? t : t * 1000;
  else ms = Date.parse(String(t));
  return Number.isFinite(ms) ? new Date(ms).toLocaleString() : String(t);
}
