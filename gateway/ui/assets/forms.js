// Definition forms (topics, subscriptions): fields from a spec, values parsed into the API's
// JSON, and the API's 422 messages shown beside the field they name. The API's messages name the
// field first (`callback "ftp://x" is not an http:// or https:// URL`, `retry[1] -2 is out of
// range`); a body the gateway could not read names the object and quotes the field in backticks
// (`topic "x": missing field \`callback\``).

import { h, button } from './dom.js';

/**
 * spec: [{name, label, type, hint, options, optional, createOnly, showIf(values), clearWhenHidden,
 *         placeholder, virtual}]
 * types: text, url, number, int, list-number, list-text, select, radio, secret.
 */
export function definitionForm({ spec, initial = {}, creating, submitLabel, onSubmit, onCancel, idPrefix = 'f' }) {
  const form = h('form', { class: 'form', novalidate: true, 'aria-describedby': `${idPrefix}-form-error` });
  const formError = h('div', { class: 'alert alert-error form-error', id: `${idPrefix}-form-error`, role: 'alert', hidden: true });
  const inputs = new Map();
  const wrappers = new Map();
  const errors = new Map();
  let removeSecret = null;

  for (const f of spec) {
    if (f.createOnly && !creating) continue;
    const id = `${idPrefix}-${f.name}`;
    const hintId = `${id}-hint`;
    const errId = `${id}-error`;
    const describedBy = [f.hint ? hintId : '', errId].filter(Boolean).join(' ');
    const err = h('p', { class: 'field-error', id: errId, hidden: true });
    const hint = f.hint ? h('p', { class: 'hint', id: hintId }, f.hint) : null;
    let control;
    let wrap;
    const start = initialText(f, initial);
    if (f.type === 'radio') {
      control = h('div', { class: 'radios' }, f.options.map(([value, label]) => h('label', { class: 'radio' },
        h('input', { type: 'radio', name: f.name, value, checked: start === value, 'aria-describedby': describedBy }), ' ', label)));
      wrap = h('fieldset', { class: 'field', dataset: { field: f.name } }, h('legend', {}, f.label), control, hint, err);
    } else {
      if (f.type === 'select') {
        control = h('select', { id, name: f.name, 'aria-describedby': describedBy },
          f.options.map((o) => h('option', { value: o, selected: o === start }, o)));
      } else {
        control = h('input', {
          id,
          name: f.name,
          type: f.type === 'secret' ? 'password' : f.type === 'url' ? 'url' : 'text',
          inputmode: ['number', 'int', 'list-number'].includes(f.type) ? (f.type === 'int' ? 'numeric' : 'decimal') : null,
          autocomplete: 'off',
          spellcheck: 'false',
          placeholder: f.type === 'secret' && initial.secret_set ? 'unchanged (a secret is set)' : f.placeholder,
          value: start,
          'aria-describedby': describedBy,
        });
      }
      wrap = h('div', { class: 'field', dataset: { field: f.name } },
        h('label', { for: id }, f.label, f.optional ? h('span', { class: 'optional' }, ' optional') : null), control, hint, err);
      if (f.type === 'secret' && initial.secret_set && !creating) {
        removeSecret = h('input', { type: 'checkbox', id: `${id}-remove`, name: `${f.name}-remove` });
        wrap.append(h('label', { class: 'check', for: `${id}-remove` }, removeSecret, ' Remove the secret (deliveries are no longer signed)'));
      }
    }
    inputs.set(f.name, control);
    wrappers.set(f.name, wrap);
    errors.set(f.name, err);
    form.append(wrap);
  }

  const values = () => {
    const out = {};
    for (const f of spec) {
      const c = inputs.get(f.name);
      if (!c) continue;
      out[f.name] = f.type === 'radio' ? (c.querySelector('input:checked') || {}).value || '' : c.value;
    }
    return out;
  };
  const visible = (f, v) => !f.showIf || f.showIf(v);
  const refresh = () => {
    const v = values();
    for (const f of spec) {
      const w = wrappers.get(f.name);
      if (w) w.hidden = !visible(f, v);
    }
  };
  form.addEventListener('change', refresh);
  form.addEventListener('input', (e) => {
    const name = e.target.name && e.target.name.replace(/-remove$/, '');
    if (name && errors.has(name)) setError(name, null);
  });
  refresh();

  function setError(name, message) {
    const err = errors.get(name);
    const w = wrappers.get(name);
    if (!err) return false;
    err.textContent = message || '';
    err.hidden = !message;
    for (const el of w.querySelectorAll('input, select')) {
      if (message) el.setAttribute('aria-invalid', 'true');
      else el.removeAttribute('aria-invalid');
    }
    return true;
  }
  function clearErrors() {
    for (const name of errors.keys()) setError(name, null);
    formError.hidden = true;
    formError.textContent = '';
  }
  function focusField(name) {
    const w = wrappers.get(name);
    const el = w && w.querySelector('input:not([type=checkbox]), select');
    if (el) el.focus();
  }

  /** Shows an error where it belongs; returns the field it was put beside, or null. */
  function showError(message) {
    const name = fieldOf(message, [...wrappers.keys()].filter((n) => !wrappers.get(n).hidden));
    if (name && setError(name, message)) {
      focusField(name);
      return name;
    }
    formError.textContent = message;
    formError.hidden = false;
    formError.focus();
    return null;
  }

  const submit = button(submitLabel, null, { kind: 'btn-primary', type: 'submit', name: 'submit' });
  form.append(formError, h('div', { class: 'form-buttons' }, submit, onCancel ? button('Cancel', onCancel) : null));
  formError.tabIndex = -1;

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors();
    const v = values();
    const { body, problems } = collect(spec, v, initial, creating, visible, removeSecret && removeSecret.checked);
    if (problems.length) {
      problems.forEach(([name, msg]) => setError(name, msg));
      focusField(problems[0][0]);
      return;
    }
    submit.disabled = true;
    form.setAttribute('aria-busy', 'true');
    try {
      await onSubmit(body, v);
    } catch (err) {
      if (err && err.status && err.status !== 401) showError(err.message);
      else if (err && err.name !== 'AbortError') showError(err.message || String(err));
    } finally {
      submit.disabled = false;
      form.removeAttribute('aria-busy');
    }
  });

  return { form, showError, setError, values };
}

/** The field a message of the API names, among `names`; null when it names none of them. */
export function fieldOf(message, names) {
  const has = (n) => names.includes(n);
  const body = /^(?:topic|subscription) "(?:[^"\\]|\\.)*": (.*)$/s.exec(message);
  if (body) {
    const quoted = /field `([^`]+)`/.exec(body[1]);
    return quoted && has(quoted[1]) ? quoted[1] : null;
  }
  const word = (/^([a-z_]+)/.exec(message) || [])[1];
  if (!word) return null;
  if ((word === 'topic' || word === 'subscription') && has('name')) return 'name';
  return has(word) ? word : null;
}

function initialText(f, initial) {
  if (f.initial) return f.initial(initial);
  const v = initial[f.name];
  if (v == null) return f.default != null ? f.default : '';
  if (Array.isArray(v)) return v.join(', ');
  return String(v);
}

/** Parses the form into the API's body: all set fields when creating, the changed ones when editing. */
function collect(spec, v, initial, creating, visible, removeSecret) {
  const body = {};
  const problems = [];
  for (const f of spec) {
    if (f.virtual || !(f.name in v)) continue;
    if (f.createOnly) continue;
    const shown = visible(f, v);
    const raw = v[f.name].trim();
    if (f.type === 'secret') {
      if (removeSecret) body[f.name] = null;
      else if (raw) body[f.name] = v[f.name];
      continue;
    }
    if (!shown) {
      if (!creating && f.clearWhenHidden && initial[f.name] != null) body[f.name] = null;
      continue;
    }
    if (raw === '' && !f.keepEmpty) {
      if (!creating && initial[f.name] != null && f.optional) body[f.name] = null;
      continue;
    }
    const [value, problem] = parse(f, raw);
    if (problem) {
      problems.push([f.name, problem]);
      continue;
    }
    if (creating || JSON.stringify(value) !== JSON.stringify(initial[f.name])) body[f.name] = value;
  }
  return { body, problems };
}

function parse(f, raw) {
  const num = (s) => (/^-?\d+(\.\d+)?$/.test(s) ? Number(s) : NaN);
  switch (f.type) {
    case 'number': {
      const n = num(raw);
      return Number.isNaN(n) ? [null, `${f.name} "${raw}" is not a number: expected ${f.unit || 'seconds'}, e.g. 1.5`] : [n, null];
    }
    case 'int': {
      const n = /^-?\d+$/.test(raw) ? Number(raw) : NaN;
      return Number.isNaN(n) ? [null, `${f.name} "${raw}" is not a whole number`] : [n, null];
    }
    case 'list-number': {
      const parts = raw.split(/[\s,]+/).filter(Boolean);
      const bad = parts.find((p) => Number.isNaN(num(p)));
      return bad !== undefined ? [null, `${f.name} "${bad}" is not a number of seconds: give seconds separated by commas, e.g. 1, 3, 5`] : [parts.map(num), null];
    }
    case 'list-text':
      return [raw.split(',').map((s) => s.trim()), null];
    default:
      return [raw, null];
  }
}
