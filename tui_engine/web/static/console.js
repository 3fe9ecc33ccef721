// The engine's admin console: pages Calls (live calls, recent endings), History (call records,
// filters, paging, CSV export: the long task), Options (one form per application section, with
// the template's help), Users and Audit (shown only when the engine serves /api/audit).
//
// Pages are shown and hidden inside one node tree (hash routes, #/calls ...), so typing in one
// page survives a visit to another, and a lock, like everything else in the console.
//
// The console is built once per session from its <template>. When the session locks, the session
// module detaches this node tree and keeps it; unlocking puts the very same nodes back, so typed
// text, open dialogs, focus and scroll position are exactly as the user left them.
//
// All text from the server goes through textContent (never innerHTML): caller IDs and option
// values are data from the outside world.

const CALLS_EMPTY = 'No live calls.';
const ENDINGS_EMPTY = 'No calls have ended yet.';
const HISTORY_EMPTY = 'No call records match.';
const HISTORY_PAGE = 25;
const PAGES = {
  calls: 'Calls', history: 'Call history', voicemail: 'Voicemail', options: 'Options', users: 'Users', audit: 'Audit log',
};
const APP_KINDS = { tui: 'Phone menus', web: 'Admin portal' };
const SECTION_TITLES = {
  tui: 'Menu timing and call records',
  security: 'Session security',
  web: 'Portal',
};

/** `ctx.call(method, path, opts)` → Reply, or null when the session module took over (lock, logout). */
export class ConsoleView {
  constructor(template, ctx) {
    this.ctx = ctx;
    this.node = template.content.firstElementChild.cloneNode(true);
    this.q = (sel) => this.node.querySelector(sel);
    this.apps = {};
    this.help = {};
    this.exporting = null;
    this.exportUrl = null;
    this.saved = null;
    this.page = 'calls';
    this.history = { offset: 0, total: 0, filter: {} };
    this.auditAvailable = false;
    this.user = null;
    this.wire();
    this.onHash = () => this.route();
    window.addEventListener('hashchange', this.onHash);
    this.route();
  }

  // -- wiring -------------------------------------------------------------------------------------
  wire() {
    this.q('.logout').addEventListener('click', () => this.ctx.logout());
    this.q('.apps-reload').addEventListener('click', () => this.loadApplications(true));
    this.q('.user-create-form').addEventListener('submit', (ev) => this.createUser(ev));
    this.q('.export-button').addEventListener('click', (ev) => this.runExport(ev));
    this.q('.history-filter').addEventListener('submit', (ev) => {
      ev.preventDefault();
      this.history.offset = 0;
      this.loadHistory(true);
    });
    this.q('.history-filter').addEventListener('reset', () => {
      setTimeout(() => {
        this.history.offset = 0;
        this.loadHistory(true);
      });
    });
    this.q('.pager-prev').addEventListener('click', () => this.turnPage(-1));
    this.q('.pager-next').addEventListener('click', () => this.turnPage(1));
    this.q('.first-run-form').addEventListener('submit', (ev) => this.changeFirstPassword(ev));
    this.q('.password-form').addEventListener('submit', (ev) => this.changePassword(ev));
    this.q('.pin-form').addEventListener('submit', (ev) => this.setPin(ev));
    for (const btn of this.node.querySelectorAll('.dialog-cancel')) {
      btn.addEventListener('click', () => btn.closest('dialog').close());
    }
  }

  setUser(user) {
    this.user = user ?? null;
    this.q('.console-user').textContent = user ?? '';
    this.q('.avatar').textContent = (user ?? '?').slice(0, 1).toUpperCase();
  }

  /** First data for a fresh console (later updates come from the pollers). */
  async loadAll() {
    await Promise.all([
      this.pollCalls(), this.pollEndings(), this.loadApplications(false), this.loadUsers(),
      this.loadHistory(false), this.probeAudit(),
    ]);
  }

  // -- pages ------------------------------------------------------------------------------------------
  route() {
    const wanted = (window.location.hash.match(/^#\/([a-z]+)/) ?? [])[1];
    let page = wanted && wanted in PAGES ? wanted : 'calls';
    if (page === 'audit' && !this.auditAvailable) page = wanted === 'audit' ? this.page : page;
    this.page = page;
    for (const section of this.node.querySelectorAll('section.page')) section.hidden = section.dataset.page !== page;
    for (const link of this.node.querySelectorAll('.sidenav a')) {
      if (link.dataset.page === page) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
    this.showTitle();
    if (page === 'history' && this.node.isConnected) this.loadHistory(false);
    if (page === 'audit' && this.node.isConnected) this.loadAudit();
    if (page === 'voicemail' && this.node.isConnected) this.loadVoicemail();
  }

  showTitle() {
    if (this.node.isConnected) document.title = `${PAGES[this.page]} · tui-engine console`;
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
    this.q('.calls-count').closest('.tile').classList.toggle('live', calls.length > 0);
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
    rows.forEach((tr, i) => tr.children[2].replaceChildren(reasonChip(endings[i].reason)));
    this.q('.endings-count').textContent = String(endings.length);
    this.q('.noinput-count').textContent = String(endings.filter((e) => e.reason === 'no-input').length);
  }

  // -- call history -------------------------------------------------------------------------------
  readFilter() {
    const f = this.q('.history-filter').elements;
    const out = {};
    for (const name of ['caller', 'dialled', 'dialplan', 'reason']) {
      const v = f[name].value.trim();
      if (v) out[name] = v;
    }
    for (const name of ['since', 'until']) {
      const v = f[name].value;
      if (v) out[name] = String(new Date(v).getTime() / 1000); // local time as typed → epoch s
    }
    return out;
  }

  async loadHistory(byUser) {
    const filter = this.readFilter();
    const params = new URLSearchParams({ ...filter, limit: String(HISTORY_PAGE), offset: String(this.history.offset) });
    const reply = await this.ctx.call('GET', `/api/cdrs?${params}`, { activity: byUser });
    if (!reply) return;
    const status = this.q('.pager-text');
    if (!reply.ok) {
      setStatus(status, reply.message('The call history could not be read.'), true);
      return;
    }
    const data = reply.data ?? {};
    const records = listOf(data, 'records');
    this.history.total = Number(data.total ?? records.length);
    this.history.filter = filter;
    this.fillFacets(data.facets ?? {});
    const rows = records.map((r) => {
      const tr = row([
        formatTime(r.ended_at), r.caller, r.dialled, r.dialplan, (r.menus ?? []).join(' › '), r.digits,
        r.no_input, '', r.sip_status, formatDuration(r.duration),
      ]);
      tr.children[7].append(reasonChip(r.end_reason));
      tr.dataset.callId = String(r.call_id ?? '');
      tr.title = `Call ID ${r.call_id}`;
      return tr;
    });
    fillBody(this.q('.history-body'), rows, HISTORY_EMPTY, 10);
    const first = records.length ? this.history.offset + 1 : 0;
    const last = this.history.offset + records.length;
    status.classList.remove('error', 'ok');
    status.textContent = `${first}–${last} of ${this.history.total} records`;
    this.q('.pager-prev').disabled = this.history.offset === 0;
    this.q('.pager-next').disabled = last >= this.history.total;
  }

  turnPage(step) {
    const next = this.history.offset + step * HISTORY_PAGE;
    if (next < 0 || next >= Math.max(this.history.total, 1)) return;
    this.history.offset = next;
    this.loadHistory(true);
  }

  fillFacets(facets) {
    for (const [name, values] of [['dialplan', facets.dialplan], ['reason', facets.reason]]) {
      if (!Array.isArray(values)) continue;
      const select = this.q(`#h-${name}`);
      const current = select.value;
      const options = [el('option', { value: '', textContent: 'Any' })];
      for (const v of values) options.push(el('option', { value: String(v), textContent: String(v) }));
      select.replaceChildren(...options);
      select.value = values.includes(current) ? current : '';
    }
  }

  // -- audit ----------------------------------------------------------------------------------------
  /** The Audit page exists only when the engine serves GET /api/audit (admins). */
  async probeAudit() {
    const reply = await this.ctx.call('GET', '/api/audit?limit=1');
    this.auditAvailable = Boolean(reply && reply.ok);
    this.q('.sidenav a[data-page="audit"]').hidden = !this.auditAvailable;
    if (this.auditAvailable && window.location.hash.startsWith('#/audit')) this.route();
  }

  /** The signed-in user's mailbox (GET /api/voicemail): a row per message, each playable. */
  async loadVoicemail() {
    const reply = await this.ctx.call('GET', '/api/voicemail', { activity: true });
    if (!reply) return;
    const status = this.q('.voicemail-status');
    if (!reply.ok) {
      setStatus(status, reply.message('The mailbox could not be read.'), true);
      return;
    }
    const data = reply.data ?? {};
    const messages = listOf(data, 'messages');
    this.q('.voicemail-title').textContent = `Mailbox ${data.mailbox ?? ''}`;
    const rows = messages.map((m) => {
      const tr = row([formatTime(m.received), m.from, formatDuration(m.length), m.new ? 'new' : 'heard', '']);
      const src = `/api/voicemail/${encodeURIComponent(data.mailbox)}/${encodeURIComponent(m.id)}/audio`;
      const player = el('audio', { controls: true, preload: 'none', src });
      player.setAttribute('aria-label', `Message from ${m.from}`);
      const link = el('a', { href: src, textContent: 'Download' });
      link.setAttribute('download', '');
      const remove = el('button', { type: 'button', textContent: 'Delete', className: 'voicemail-delete' });
      remove.addEventListener('click', () => this.deleteMessage(data.mailbox, m.id));
      tr.children[4].replaceChildren(player, link, remove);
      return tr;
    });
    fillBody(this.q('.voicemail-body'), rows, 'No messages.', 5);
    setStatus(status, `${data.new ?? 0} new, ${messages.length} in all`, false);
  }

  async deleteMessage(mailbox, id) {
    const path = `/api/voicemail/${encodeURIComponent(mailbox)}/${encodeURIComponent(id)}`;
    const reply = await this.ctx.call('DELETE', path, { activity: true });
    if (!reply) return;
    if (!reply.ok) setStatus(this.q('.voicemail-status'), reply.message('The message could not be deleted.'), true);
    else await this.loadVoicemail();
  }

  async loadAudit() {
    const reply = await this.ctx.call('GET', '/api/audit?limit=200', { activity: true });
    if (!reply || !reply.ok) return;
    const events = listOf(reply.data, 'events', 'records', 'audit');
    const rows = events.map((e) => {
      const parts = [];
      if (e.actor && e.actor !== e.user) parts.push(`by ${e.actor}`);
      if (e.remote) parts.push(`from ${e.remote}`);
      const extra = e.details && typeof e.details === 'object' ? e.details : {};
      for (const [k, v] of Object.entries(extra)) {
        if (v !== null && v !== undefined && v !== '') parts.push(`${k}: ${typeof v === 'object' ? JSON.stringify(v) : v}`);
      }
      const tr = row([formatTime(e.at), '', e.user, parts.join(' · ')]);
      tr.children[1].append(auditChip(String(e.event ?? '—')));
      return tr;
    });
    fillBody(this.q('.audit-body'), rows, 'No events.', 4);
  }

  // -- applications ---------------------------------------------------------------------------------
  async loadApplications(byUser) {
    const reply = await this.ctx.call('GET', '/api/applications', { activity: byUser });
    if (reply && reply.status === 403) {
      this.q('.apps-body').replaceChildren(forbidden('Options are changed by administrators.'));
      this.q('.apps-reload').hidden = true;
      return;
    }
    if (!reply || !reply.ok) return;
    const data = reply.data ?? {};
    this.apps = data.applications && typeof data.applications === 'object' ? data.applications : data;
    this.help = data.help && typeof data.help === 'object' ? data.help : {};
    const body = this.q('.apps-body');
    body.replaceChildren(...Object.entries(this.apps).map(([app, sections]) => this.appCard(app, sections)));
    this.fillApplicationSelect();
  }

  appCard(app, sections) {
    const card = el('section', { className: 'card app-card' });
    const kind = 'tui' in (sections ?? {}) ? 'tui' : 'web';
    const head = el('div', { className: 'app-head' });
    const title = el('h2', { textContent: app });
    title.id = `app-${app}`.replace(/[^A-Za-z0-9_-]/g, '_');
    card.setAttribute('aria-labelledby', title.id);
    head.append(title, el('span', { className: `chip chip-${kind}`, textContent: APP_KINDS[kind] }));
    card.append(head);
    for (const [section, options] of Object.entries(sections ?? {})) {
      card.append(this.sectionForm(app, section, options ?? {}));
    }
    return card;
  }

  /** One form per application section, one Save: every option is validated and applied together. */
  sectionForm(app, section, options) {
    const form = el('form', { className: 'option-form', noValidate: true });
    form.setAttribute('aria-label', `${app} ${section}`);
    const legend = el('div', { className: 'section-head' });
    legend.append(
      el('h3', { textContent: SECTION_TITLES[section] ?? section }),
      el('code', { className: 'muted small', textContent: `[applications.${app}.${section}]` }),
    );
    form.append(legend);
    const inputs = [];
    for (const [option, value] of Object.entries(options)) {
      const { wrap, input } = this.optionField(app, section, option, value);
      inputs.push({ option, input, wrap });
      form.append(wrap);
    }
    const save = el('button', { type: 'submit', className: 'primary', textContent: 'Save' });
    save.setAttribute('aria-label', `Save ${app} ${section}`);
    const status = el('p', { className: 'form-status', role: 'status' });
    const actions = el('div', { className: 'form-actions' });
    actions.append(save, status);
    form.append(actions);
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      this.saveSection(app, section, inputs, status);
    });
    return form;
  }

  optionField(app, section, option, value) {
    const id = `opt-${app}-${section}-${option}`.replace(/[^A-Za-z0-9_-]/g, '_');
    const info = this.help?.[app]?.[section]?.[option] ?? {};
    const wrap = el('div', { className: 'option-field' });
    const label = el('label', { htmlFor: id });
    label.append(el('span', { className: 'sr-only', textContent: `${app} ${section} ` }), option);
    const input = optionInput(id, value);
    const helpId = `${id}-help`;
    const errorId = `${id}-error`;
    const help = el('p', { className: 'help', id: helpId, textContent: info.help ?? '' });
    if (info.allowed) help.append(el('span', { className: 'allowed', textContent: ` Allowed: ${info.allowed}.` }));
    const err = el('p', { className: 'field-error error', id: errorId, role: 'alert' });
    input.setAttribute('aria-describedby', `${helpId} ${errorId}`);
    input.addEventListener('input', () => {
      err.textContent = '';
      input.removeAttribute('aria-invalid');
    });
    if (input.type === 'checkbox') {
      const line = el('div', { className: 'checkbox-line' });
      line.append(input, label);
      wrap.append(line, help, err);
    } else {
      wrap.append(label, input, help, err);
    }
    wrap.dataset.option = option;
    return { wrap, input };
  }

  async saveSection(app, section, inputs, status) {
    const options = [];
    let bad = false;
    for (const { option, input, wrap } of inputs) {
      const err = wrap.querySelector('.field-error');
      err.textContent = '';
      input.removeAttribute('aria-invalid');
      try {
        options.push({ section, option, value: readOptionInput(input) });
      } catch (e) {
        err.textContent = e.message;
        input.setAttribute('aria-invalid', 'true');
        bad = true;
      }
    }
    if (bad) {
      setStatus(status, 'Not saved: correct the marked options.', true);
      return;
    }
    const path = `/api/applications/${encodeURIComponent(app)}/options`;
    const reply = await this.ctx.call('PUT', path, { body: { options }, activity: true });
    if (!reply) return;
    if (reply.ok && reply.data?.applied !== false) {
      setStatus(status, 'Saved and applied.', false);
      for (const o of options) if (this.apps[app]?.[section]) this.apps[app][section][o.option] = o.value;
      return;
    }
    const fields = reply.data?.fields ?? {};
    let placed = 0;
    for (const { option, input, wrap } of inputs) {
      const why = fields[`${section}.${option}`];
      if (why) {
        wrap.querySelector('.field-error').textContent = why;
        input.setAttribute('aria-invalid', 'true');
        placed += 1;
      }
    }
    if (reply.status === 409) setStatus(status, `Not applied: ${reply.message()}`, true);
    else if (placed) setStatus(status, 'Not saved: correct the marked options.', true);
    else setStatus(status, reply.message('Not saved.'), true);
  }

  // -- users ----------------------------------------------------------------------------------------
  async loadUsers() {
    const reply = await this.ctx.call('GET', '/api/users');
    if (reply && reply.status === 403) {
      fillBody(this.q('.users-body'), [], 'Users are managed by administrators.', 3);
      this.q('.user-create-form').closest('section').hidden = true;
      return;
    }
    if (!reply || !reply.ok) return;
    const users = listOf(reply.data, 'users').map((u) => (typeof u === 'string' ? { username: u } : u));
    const rows = users.map((u) => this.userRow(u));
    fillBody(this.q('.users-body'), rows, 'No users.', 3);
    const me = users.find((u) => u.username === this.user);
    this.q('.first-run').hidden = !(me && me.initial_password === true);
  }

  async changeFirstPassword(ev) {
    ev.preventDefault();
    const form = ev.currentTarget;
    const status = form.querySelector('.form-status');
    const body = { password: form.elements.password.value, current_password: form.elements.current_password.value };
    const path = `/api/users/${encodeURIComponent(this.user ?? '')}/password`;
    const reply = await this.ctx.call('POST', path, { body, activity: true });
    if (!reply) return;
    if (reply.ok) {
      form.reset();
      this.q('.first-run').hidden = true;
      await this.loadUsers();
    } else {
      setStatus(status, reply.message('The password was not changed.'), true);
    }
  }

  userRow(user) {
    const name = String(user.username ?? user.name ?? '');
    const details = [];
    if (typeof user.has_pin === 'boolean') details.push(user.has_pin ? 'TUI PIN set' : 'no TUI PIN');
    if (typeof user.password_changed_at === 'number') {
      details.push(`password changed ${formatTime(user.password_changed_at)}`);
    }
    const tr = row(['', details.join('; ')]);
    const who = el('span', { className: 'user-name' });
    who.append(el('span', { className: 'avatar small', textContent: name.slice(0, 1).toUpperCase() }), name);
    if (name === this.user) who.append(el('span', { className: 'chip', textContent: 'you' }));
    tr.children[0].replaceChildren(who);
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
      // The filters on screen, as typed (applied or not): what you see is what you export.
      const reply = await this.ctx.call('POST', '/api/export', { body: this.readFilter(), activity: true });
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
    setStatus(status, `Export finished: ${Math.max(0, lines.length - 1)} records.`, false);
  }

  dispose() {
    window.removeEventListener('hashchange', this.onHash);
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
  // Each cell carries its column's name: on a phone the rows become cards that label their values.
  const names = [...(tbody.closest('table')?.querySelectorAll('thead th') ?? [])].map((th) => th.textContent);
  for (const tr of rows) [...tr.children].forEach((td, i) => names[i] && (td.dataset.label = names[i]));
  if (rows.length === 0) {
    const tr = el('tr', { className: 'empty' });
    tr.append(el('td', { textContent: emptyText, colSpan: colspan }));
    tbody.replaceChildren(tr);
  } else {
    tbody.replaceChildren(...rows);
  }
}

/** What a page shows instead of data this user's role may not see (403 from the server). */
function forbidden(text) {
  const card = el('div', { className: 'card notice-card' });
  card.append(el('p', { textContent: text }));
  return card;
}

function reasonChip(reason) {
  const r = String(reason ?? '—');
  const tone = { completed: 'ok', 'caller-hangup': 'neutral', transfer: 'info', 'no-input': 'warn', invalid: 'warn' }[r];
  return el('span', { className: `chip chip-${tone ?? 'bad'}`, textContent: r });
}

function auditChip(event) {
  const tone = /fail|refused/.test(event) ? 'bad' : /lock|close/.test(event) ? 'warn' : /login|unlock/.test(event) ? 'ok' : 'info';
  return el('span', { className: `chip chip-${tone}`, textContent: event.replaceAll('_', ' ') });
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
  const n = Number(s);
  if (n < 60) return `${n.toFixed(1)} s`;
  const m = Math.floor(n / 60);
  return m < 60 ? `${m}m ${String(Math.floor(n % 60)).padStart(2, '0')}s` : `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
}

const TIME_TODAY = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const TIME_OTHER = new Intl.DateTimeFormat(undefined, {
  month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit',
});

/** Epoch seconds, epoch ms or an ISO string → local time ("14:05:09" today, "Nov 30, 23:06:45" before). */
function formatTime(t) {
  if (t == null) return '—';
  let ms;
  if (typeof t === 'number') ms = t > 1e12 ? t : t * 1000;
  else ms = Date.parse(String(t));
  if (!Number.isFinite(ms)) return String(t);
  const d = new Date(ms);
  const today = d.toDateString() === new Date().toDateString();
  return (today ? TIME_TODAY : TIME_OTHER).format(d);
}
