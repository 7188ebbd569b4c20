/* The decision-table editor: dmn-js (served from node_modules) on one DMN file of a studio draft; saving
   lints the whole draft on the server, deploying deploys the diagram and its tables as one version. */
(function () {
  'use strict';
  var config = JSON.parse(document.getElementById('decision-config').textContent);
  var api = window.idiflow.api, t = window.idiflow.t;
  // dmn-js asks its `translate` service for every label; ours answers from the page's catalog texts.
  var dmnTexts = t('dmn', null, {});
  if (typeof dmnTexts !== 'object') { dmnTexts = {}; }
  function translate(template, replacements) {
    var text = Object.prototype.hasOwnProperty.call(dmnTexts, template) ? dmnTexts[template] : template;
    return text.replace(/{([^}]+)}/g, function (all, key) {
      return replacements && replacements[key] !== undefined ? replacements[key] : all;
    });
  }
  // Per view type: dmn-js replaces `common.additionalModules` with each view's own list.
  var translated = { additionalModules: [{ translate: ['value', translate] }] };
  var editor = new DmnJS({ container: '#dmn-editor', common: { keyboard: { bindTo: window } },
                           drd: translated, decisionTable: translated, literalExpression: translated,
                           boxedExpression: translated });
  window.decisions = { editor: editor, save: save };

  function $(id) { return document.getElementById(id); }
  function status(text, state) {
    $('status').textContent = text;
    if (state) { $('status').dataset.state = state; }
  }

  function showViews() {
    var host = $('dmn-views');
    host.innerHTML = '';
    var active = editor.getActiveView();
    editor.getViews().filter(function (v) { return v.type !== 'drd'; }).forEach(function (view) {
      var button = document.createElement('button');
      button.type = 'button';
      button.className = 'view' + (active && active.element === view.element ? ' active' : '');
      button.dataset.decision = view.element.id;
      button.textContent = view.element.name || view.element.id;
      button.addEventListener('click', function () { editor.open(view).then(showViews); });
      host.appendChild(button);
    });
  }

  function showProblems(problems) {
    var list = $('problems');
    list.innerHTML = '';
    if (!problems.length) {
      var ok = document.createElement('li');
      ok.className = 'lint-clean';
      ok.id = 'lint-clean';
      ok.textContent = t('clean');
      list.appendChild(ok);
    }
    problems.forEach(function (p) {
      var item = document.createElement('li');
      item.dataset.file = p.file || '';
      item.textContent = (p.file ? p.file + ': ' : '') + (p.element ? '[' + p.element + '] ' : '') + p.message +
                         (p.fix ? ' — ' + p.fix : '');
      list.appendChild(item);
    });
  }

  function save() {
    status(t('saving'));
    return editor.saveXML({ format: true }).then(function (result) {
      return api('PUT', config.decision, { xml: result.xml });
    }).then(function (r) {
      if (!r.ok) { status(t('notSaved') + ': ' + ((r.body && r.body.detail) || r.status), 'error'); return r; }
      showProblems(r.body.problems);
      status(r.body.problems.length ? t('savedProblems', { n: r.body.problems.length }) : t('savedClean'),
             r.body.problems.length ? 'problems' : 'clean');
      return r;
    });
  }

  function deploy() {
    save().then(function (saved) {
      if (!saved.ok || saved.body.problems.length) { status(t('fixFirst')); return; }
      api('POST', config.deploy, {}).then(function (r) {
        if (!r.ok) { status(t('deployRefused') + ': ' + ((r.body && r.body.detail) || r.status), 'error'); return; }
        status(t('deployed', { process: r.body.process_id, version: r.body.version }), 'deployed');
        $('status').dataset.version = r.body.version;
      });
    });
  }

  api('GET', config.decision).then(function (r) {
    if (!r.ok) { throw new Error((r.body && r.body.detail) || r.status); }
    return editor.importXML(r.body.xml).then(function (result) {
      // Open the first decision table rather than the (layout-less) requirements diagram.
      var table = editor.getViews().filter(function (v) { return v.type === 'decisionTable'; })[0];
      return (table ? editor.open(table) : Promise.resolve()).then(function () {
        showViews();
        if (r.body.checked) { showProblems(r.body.problems || []); }
        $('dmn-editor').dataset.ready = 'true';
        $('dmn-editor').dataset.warnings = String(result.warnings.length);
        status(t('loaded'));
        editor.on('views.changed', showViews);
      });
    });
  }).catch(function (err) { status(t('couldNotLoad') + ': ' + err.message, 'error'); });

  $('save').addEventListener('click', save);
  $('deploy').addEventListener('click', deploy);
})();
