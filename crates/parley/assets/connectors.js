/*
 * Parley's HaloPSA form (the Connectors page's form and the wizard's
 * "Connect your PSA" step): progressive enhancement of a plain form.
 *
 * Without this script the form posts: Test Connection re-renders the page
 * with each check, Save stores the connector. With it: the Site URL is
 * normalised as the admin types (POST /api/v1/connector/normalize), and Test
 * and Save go through the JSON API (POST /api/v1/connector/test, PUT
 * /api/v1/connector) so the typed secret stays in its field. Nothing here
 * ever writes the secret into the page.
 */
(function () {
  'use strict';

  const API = '/api/v1';
  const NORMALIZE_DELAY_MS = 350;

  function boot() {
    const form = document.getElementById('connector-form');
    if (!form || !window.fetch) return;

    const csrfMeta = document.querySelector('meta[name="csrf-token"]');
    const csrf = csrfMeta ? csrfMeta.getAttribute('content') || '' : '';
    const el = (id) => document.getElementById(id);
    const siteUrl = el('site_url');
    const urlStatus = el('site-url-status');
    const replace = el('replace');
    const confirmReplace = el('confirm_replace');
    const testButton = el('test-connection');
    const saveButton = el('save-connector');
    const progress = el('test-progress');
    const formError = el('form-error');
    const checks = el('checks');
    const checkList = el('check-list');
    const summary = el('checks-summary');
    const defaults = el('defaults');
    const retype = el('retype-secret');
    const savedSiteUrl = form.dataset.savedSiteUrl || '';

    // The script keeps the typed secret, so the no-script reminder to type it
    // again does not apply.
    if (retype) retype.hidden = true;

    /* ---------- calls ---------- */

    async function call(method, path, body) {
      const response = await fetch(API + path, {
        method,
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      let data = null;
      try { data = await response.json(); } catch (_) { data = null; }
      if (!response.ok) {
        const message = data && data.error && data.error.message
          ? data.error.message
          : 'Parley did not answer (HTTP ' + response.status + '). Try again.';
        const error = new Error(message);
        error.status = response.status;
        throw error;
      }
      return data;
    }

    function values() {
      return {
        site_url: siteUrl.value,
        client_id: el('client_id').value,
        client_secret: el('client_secret').value,
        tenant: el('tenant').value,
      };
    }

    function showError(message) {
      formError.textContent = message ? capitalise(message) : '';
      formError.hidden = !message;
    }

    function capitalise(text) {
      return text ? text.charAt(0).toUpperCase() + text.slice(1) : text;
    }

    /* ---------- the Site URL, normalised as it is typed ---------- */

    let timer = 0;
    let asked = 0;

    function showUrl(kind, text) {
      urlStatus.textContent = text;
      urlStatus.className = 'field__status field__status--' + kind;
      urlStatus.hidden = !text;
    }

    function showReplace(normalized) {
      if (!replace || !savedSiteUrl) return;
      const other = Boolean(normalized) && normalized !== savedSiteUrl;
      replace.hidden = !other;
      if (!other && confirmReplace) confirmReplace.checked = false;
    }

    async function normalize() {
      const typed = siteUrl.value.trim();
      const mine = ++asked;
      if (!typed) { showUrl('none', ''); showReplace(''); return; }
      try {
        const answer = await call('POST', '/connector/normalize', { site_url: typed });
        if (mine !== asked) return; // a later keystroke has its own answer
        if (answer.changes && answer.changes.length) {
          showUrl('changed', 'Parley will use ' + answer.site_url + ': ' + answer.changes.join('; ') + '.');
        } else {
          showUrl('ok', 'Parley will use ' + answer.site_url + '.');
        }
        showReplace(answer.site_url);
      } catch (error) {
        if (mine !== asked) return;
        showUrl('error', capitalise(error.message));
        showReplace('');
      }
    }

    siteUrl.addEventListener('input', () => {
      clearTimeout(timer);
      timer = setTimeout(normalize, NORMALIZE_DELAY_MS);
    });
    if (siteUrl.value.trim() && siteUrl.value.trim() !== savedSiteUrl) normalize();

    /* ---------- Test Connection ---------- */

    const LABELS = { pass: 'Pass', warn: 'Warn', fail: 'Fail', skip: 'Skip' };

    function renderChecks(report) {
      checkList.textContent = '';
      for (const check of report.checks) {
        const status = LABELS[check.status] ? check.status : 'skip';
        const li = document.createElement('li');
        li.className = 'check check--' + status;
        li.dataset.status = status;
        const badge = document.createElement('span');
        badge.className = 'check__status';
        badge.textContent = LABELS[status];
        const body = document.createElement('div');
        body.className = 'check__body';
        const name = document.createElement('strong');
        name.className = 'check__name';
        name.textContent = check.name;
        const detail = document.createElement('span');
        detail.className = 'check__detail';
        detail.textContent = check.detail;
        body.append(name, detail);
        if (check.fix) {
          const fix = document.createElement('span');
          fix.className = 'check__fix';
          const label = document.createElement('strong');
          label.textContent = 'Fix:';
          fix.append(label, ' ' + check.fix);
          body.append(fix);
        }
        li.append(badge, body);
        checkList.append(li);
      }
      summary.textContent = report.ok ? 'Every check passed' : 'The test found a problem';
      summary.className = 'checks__summary checks__summary--' + (report.ok ? 'pass' : 'fail');
      checks.hidden = false;
    }

    /** Fills a select from Halo's list: the saved value if Halo has it, else Halo's own choice. */
    function fillSelect(select, choices) {
      const only = select.dataset.only || 'all';
      const prefer = select.dataset.prefer || 'none';
      const empty = select.dataset.empty || '';
      const current = select.value || select.dataset.saved || '';
      const offered = choices.filter((c) => only !== 'hidden' || c.hidden_from_user === true);

      select.textContent = '';
      if (empty) select.append(new Option(empty, ''));
      for (const choice of offered) select.append(new Option(choice.name, String(choice.id)));

      let chosen = offered.find((c) => String(c.id) === current);
      if (!chosen) {
        if (prefer === 'first') chosen = offered[0];
        else if (prefer === 'visible') chosen = offered.find((c) => c.hidden_from_user === false);
        else if (prefer === 'hidden') chosen = offered.find((c) => c.hidden_from_user === true);
        else if (prefer === 'closed') chosen = offered.find((c) => c.name.toLowerCase() === 'closed');
      }
      select.value = chosen ? String(chosen.id) : '';
    }

    function renderDefaults(lists) {
      const sources = {
        ticket_type_id: lists.ticket_types,
        initial_status_id: lists.statuses,
        priority_id: lists.priorities,
        visible_outcome_id: lists.outcomes,
        private_outcome_id: lists.outcomes,
        closed_status_id: lists.statuses,
      };
      for (const [name, choices] of Object.entries(sources)) {
        const select = form.querySelector('select[name="' + name + '"]');
        if (select) fillSelect(select, choices || []);
      }
      defaults.hidden = false;
    }

    function busy(on) {
      testButton.disabled = on;
      if (saveButton) saveButton.disabled = on;
      progress.hidden = !on;
      form.setAttribute('aria-busy', on ? 'true' : 'false');
    }

    async function test() {
      showError('');
      busy(true);
      try {
        const report = await call('POST', '/connector/test', values());
        renderChecks(report);
        if (report.ok && report.lists) {
          renderDefaults(report.lists);
        } else {
          defaults.hidden = true;
        }
        checks.scrollIntoView({ block: 'nearest' });
      } catch (error) {
        checks.hidden = true;
        defaults.hidden = true;
        showError(error.message);
      } finally {
        busy(false);
      }
    }

    /* ---------- Save ---------- */

    function chosenDefaults() {
      const number = (name) => {
        const field = form.querySelector('[name="' + name + '"]');
        return field && field.value !== '' ? Number(field.value) : null;
      };
      const team = form.querySelector('[name="team"]');
      return {
        ticket_type_id: number('ticket_type_id'),
        initial_status_id: number('initial_status_id'),
        priority_id: number('priority_id'),
        team: team && team.value.trim() ? team.value.trim() : null,
        visible_outcome_id: number('visible_outcome_id'),
        private_outcome_id: number('private_outcome_id'),
        closed_status_id: number('closed_status_id'),
        every_chat_becomes_ticket: Boolean(
          form.querySelector('[name="every_chat_becomes_ticket"]:checked')
        ),
      };
    }

    async function save() {
      showError('');
      busy(true);
      try {
        const request = Object.assign(values(), {
          defaults: chosenDefaults(),
          confirm_replace: Boolean(confirmReplace && confirmReplace.checked),
        });
        await call('PUT', '/connector', request);
        window.location.assign('/admin/connectors?saved=1');
      } catch (error) {
        if (error.status === 409 && replace) replace.hidden = false;
        showError(error.message);
        busy(false);
      }
    }

    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const submitter = event.submitter;
      if (submitter && submitter.id === 'save-connector') save();
      else test(); // the Test button, or Enter in a field
    });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
  else boot();
})();
