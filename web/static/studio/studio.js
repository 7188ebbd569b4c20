/* The studio modeler: bpmn-js with the spiffworkflow moddle extension, our side panel, lint pinned to
   elements, deploy, and the sandbox with its time machine. Plain JS, no build step. */
(function () {
  'use strict';
  var config = JSON.parse(document.getElementById('studio-config').textContent);
  var api = window.idiflow.api, t = window.idiflow.t;
  var SPIFF = 'spiffworkflow:';
  var state = { operators: [], forms: [], roles: [], problems: [], sandbox: null };
  var modeler, sbViewer;

  function $(id) { return document.getElementById(id); }
  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }
  function status(text) { $('status').textContent = text; }

  // ---- extension elements helpers ---------------------------------------------------------------

  function extensions(bo, create) {
    if (!bo.extensionElements && create) {
      bo.extensionElements = modeler.get('moddle').create('bpmn:ExtensionElements', { values: [] });
      bo.extensionElements.$parent = bo;
    }
    return bo.extensionElements;
  }
  function findExt(bo, type) {
    var ext = extensions(bo, false);
    return ext ? (ext.values || []).filter(function (v) { return v.$type === SPIFF + type; })[0] : undefined;
  }
  function ensureExt(bo, type, attrs) {
    var found = findExt(bo, type);
    if (!found) {
      found = modeler.get('moddle').create(SPIFF + type, attrs || {});
      var ext = extensions(bo, true);
      ext.values = ext.values || [];
      ext.values.push(found);
      found.$parent = ext;
    }
    return found;
  }
  function removeExt(bo, type) {
    var ext = extensions(bo, false);
    if (ext) { ext.values = (ext.values || []).filter(function (v) { return v.$type !== SPIFF + type; }); }
  }
  function getProperty(bo, name) {
    var props = findExt(bo, 'Properties');
    var prop = props && (props.properties || []).filter(function (p) { return p.name === name; })[0];
    return prop ? prop.value : '';
  }
  function setProperty(bo, name, value) {
    var props = ensureExt(bo, 'Properties');
    props.properties = (props.properties || []).filter(function (p) { return p.name !== name; });
    if (value) {
      var prop = modeler.get('moddle').create(SPIFF + 'Property', { name: name, value: value });
      prop.$parent = props;
      props.properties.push(prop);
    }
    if (!props.properties.length) { removeExt(bo, 'Properties'); }
    changed();
  }
  function bodyExt(bo, type) { var found = findExt(bo, type); return found ? found.value || '' : ''; }
  function setBodyExt(bo, type, value) {
    if (value) { ensureExt(bo, type).value = value; } else { removeExt(bo, type); }
    changed();
  }
  function changed() { status(t('unsaved')); }

  // ---- lanes ------------------------------------------------------------------------------------

  function allLanes() {
    return modeler.get('elementRegistry').filter(function (e) { return e.type === 'bpmn:Lane'; });
  }
  function laneOf(bo) {
    var lane = allLanes().filter(function (l) { return (l.businessObject.flowNodeRef || []).indexOf(bo) >= 0; })[0];
    return lane ? lane.businessObject : null;
  }
  function setLane(bo, laneId) {
    allLanes().forEach(function (l) {
      var refs = l.businessObject.flowNodeRef || [];
      var at = refs.indexOf(bo);
      if (at >= 0) { refs.splice(at, 1); }
      if (l.businessObject.id === laneId) {
        l.businessObject.flowNodeRef = refs;
        refs.push(bo);
      }
    });
    changed();
  }
  function poolOf(element) {
    var parent = element.parent;
    while (parent && parent.type !== 'bpmn:Participant') { parent = parent.parent; }
    return parent;
  }
  /** Put a task in the lane named after `role` (lane name = role key), adding that lane if the pool has none. */
  function setRole(element, role) {
    var modeling = modeler.get('modeling');
    var lane = allLanes().filter(function (l) { return l.businessObject.name === role; })[0];
    if (!lane) {
      var pool = poolOf(element);
      if (!pool) { status(t('needsPool')); return; }
      lane = modeling.addLane(pool, 'bottom');
      var id = 'Lane_' + role.replace(/[^A-Za-z0-9_]/g, '_');
      modeling.updateProperties(lane, modeler.get('elementRegistry').get(id) ? { name: role } : { id: id, name: role });
    }
    // Move the shape into the lane: bpmn-js then rewrites the lanes' flowNodeRef lists itself.
    var dy = (lane.y + lane.height / 2) - (element.y + element.height / 2);
    if (element.y < lane.y || element.y + element.height > lane.y + lane.height) {
      modeling.moveElements([element], { x: 0, y: dy });
    }
    var now = laneOf(element.businessObject);
    if (!now || now.id !== lane.businessObject.id) { setLane(element.businessObject, lane.businessObject.id); }
    changed();
    showPanel(element);
  }

  // ---- side panel -------------------------------------------------------------------------------

  function field(panel, label, input) {
    var wrap = el('label', {}, label);
    wrap.appendChild(input);
    panel.appendChild(wrap);
    return input;
  }
  function textInput(id, value, onChange, multiline) {
    var input = el(multiline ? 'textarea' : 'input', { id: id });
    input.value = value || '';
    input.addEventListener('change', function () { onChange(input.value.trim()); });
    return input;
  }
  function select(id, options, value, onChange) {
    var input = el('select', { id: id });
    input.appendChild(el('option', { value: '' }, '—'));
    options.forEach(function (o) {
      var opt = el('option', { value: o.value }, o.label);
      if (o.value === value) { opt.selected = true; }
      input.appendChild(opt);
    });
    if (value && !options.some(function (o) { return o.value === value; })) {
      var extra = el('option', { value: value }, value + ' (?)');
      extra.selected = true;
      input.appendChild(extra);
    }
    input.addEventListener('change', function () { onChange(input.value); });
    return input;
  }

  function showPanel(element) {
    var panel = $('panel');
    panel.innerHTML = '';
    if (!element) { panel.appendChild(el('p', {}, t('selectElement'))); return; }
    var bo = element.businessObject;
    panel.dataset.element = bo.id;
    var typeName = bo.$type.replace('bpmn:', '');
    panel.appendChild(el('h3', {}, t('type_' + typeName, null, typeName) + ' ' + bo.id));
    field(panel, t('name'), textInput('p-name', bo.name, function (v) {
      modeler.get('modeling').updateProperties(element, { name: v });
    }));
    var type = bo.$type;
    if (type === 'bpmn:UserTask' || type === 'bpmn:ManualTask') {
      field(panel, t('formSchema'), select('p-form',
        state.forms.map(function (f) { return { value: f, label: f }; }),
        getProperty(bo, 'formJsonSchemaFilename'), function (v) { setProperty(bo, 'formJsonSchemaFilename', v); }));
      var lane = laneOf(bo);
      var inDiagram = allLanes().map(function (l) { return l.businessObject.name; });
      field(panel, t('laneRole'), select('p-lane', state.roles.map(function (r) {
        var mark = inDiagram.indexOf(r.id) >= 0 ? '' : ' ' + t('newLane');
        return { value: r.id, label: r.id + ' · ' + r.label + mark };
      }), lane ? lane.name : '', function (v) { if (v) { setRole(element, v); } }));
      field(panel, t('instructions'), textInput('p-instructions', bodyExt(bo, 'InstructionsForEndUser'),
        function (v) { setBodyExt(bo, 'InstructionsForEndUser', v); }, true));
    }
    if (type === 'bpmn:ServiceTask') { servicePanel(panel, bo); }
    if (type === 'bpmn:BusinessRuleTask') {
      field(panel, t('decisionId'), textInput('p-decision', bodyExt(bo, 'CalledDecisionId'),
        function (v) { setBodyExt(bo, 'CalledDecisionId', v); }));
    }
    if (/Task$/.test(type)) {
      field(panel, t('preScript'), textInput('p-pre', bodyExt(bo, 'PreScript'),
        function (v) { setBodyExt(bo, 'PreScript', v); }, true));
      field(panel, t('postScript'), textInput('p-post', bodyExt(bo, 'PostScript'),
        function (v) { setBodyExt(bo, 'PostScript', v); }, true));
    }
    (bo.eventDefinitions || []).forEach(function (def) {
      if (def.$type === 'bpmn:TimerEventDefinition') { timerPanel(panel, def); }
      if (def.$type === 'bpmn:MessageEventDefinition') { messagePanel(panel, def); }
    });
    var mine = state.problems.filter(function (p) { return p.element === bo.id; });
    if (mine.length) {
      var list = el('ul', { class: 'problems' });
      mine.forEach(function (p) { list.appendChild(el('li', {}, p.message + ' ' + (p.fix || ''))); });
      panel.appendChild(list);
    }
  }

  function servicePanel(panel, bo) {
    var op = findExt(bo, 'ServiceTaskOperator');
    field(panel, t('operator'), select('p-operator',
      state.operators.map(function (o) { return { value: o.id, label: o.id }; }), op ? op.id : '', function (v) {
        if (!v) { removeExt(bo, 'ServiceTaskOperator'); } else {
          var found = ensureExt(bo, 'ServiceTaskOperator');
          found.id = v;
          var known = state.operators.filter(function (o) { return o.id === v; })[0];
          (known ? known.params : []).forEach(function (name) { setParam(found, name, undefined); });
        }
        changed();
        showPanel(modeler.get('selection').get()[0]);
      }));
    if (!op) { return; }
    field(panel, t('resultVariable'), textInput('p-result', op.resultVariable, function (v) {
      op.resultVariable = v || undefined; changed();
    }));
    var params = (op.parameters && op.parameters.parameters) || [];
    panel.appendChild(el('label', {}, t('parameters')));
    params.forEach(function (p, i) {
      var row = el('div', { class: 'param' });
      row.appendChild(el('code', {}, p.id));
      row.appendChild(textInput('p-param-' + i, p.value, function (v) { p.value = v; changed(); }));
      panel.appendChild(row);
    });
    var add = textInput('p-param-new', '', function (v) {
      if (v) { setParam(op, v, ''); showPanel(modeler.get('selection').get()[0]); }
    });
    add.placeholder = t('addParameter');
    panel.appendChild(add);
  }
  function setParam(op, name, value) {
    var moddle = modeler.get('moddle');
    if (!op.parameters) { op.parameters = moddle.create(SPIFF + 'Parameters', { parameters: [] }); op.parameters.$parent = op; }
    var list = op.parameters.parameters = op.parameters.parameters || [];
    var found = list.filter(function (p) { return p.id === name; })[0];
    if (!found) {
      found = moddle.create(SPIFF + 'Parameter', { id: name, type: 'any', value: value || '' });
      found.$parent = op.parameters;
      list.push(found);
    } else if (value !== undefined) { found.value = value; }
    changed();
  }

  function timerPanel(panel, def) {
    var kinds = ['timeDate', 'timeDuration', 'timeCycle'];
    var kind = kinds.filter(function (k) { return def[k]; })[0] || 'timeDuration';
    var current = def[kind] ? def[kind].body : '';
    var kindSelect = select('p-timer-kind', kinds.map(function (k) { return { value: k, label: k }; }), kind,
      function () { write(); });
    field(panel, t('timerKind'), kindSelect);
    var expr = field(panel, t('timerExpression'), textInput('p-timer', current,
      function () { write(); }));
    var sample = field(panel, t('sampleDate'), textInput('p-sample', new Date().toISOString().slice(0, 10),
      function () {}));
    var data = field(panel, t('sampleData'), textInput('p-sample-data', '{}', function () {}));
    var out = el('div', { id: 'p-timer-preview' });
    var button = el('button', { id: 'p-timer-check', type: 'button' }, t('previewDates'));
    panel.appendChild(button);
    panel.appendChild(out);
    function write() {
      var moddle = modeler.get('moddle');
      kinds.forEach(function (k) { def[k] = undefined; });
      var k = kindSelect.value || 'timeDuration';
      def[k] = moddle.create('bpmn:FormalExpression', { body: expr.value.trim() });
      def[k].$parent = def;
      changed();
    }
    button.addEventListener('click', function () {
      var parsed;
      try { parsed = JSON.parse(data.value || '{}'); } catch (e) { out.textContent = t('notJson'); return; }
      api('POST', config.timerPreview, { kind: kindSelect.value, expression: expr.value, sample_date: sample.value,
                                         data: parsed })
        .then(function (r) {
          out.textContent = r.ok ? r.body.value + ' → ' + r.body.dates.join(', ') : (r.body.detail || t('error'));
        });
    });
  }

  function messagePanel(panel, def) {
    var moddle = modeler.get('moddle');
    var name = def.messageRef ? def.messageRef.name : '';
    field(panel, t('messageName'), textInput('p-message', name, function (v) {
      var definitions = modeler.getDefinitions();
      var msg = (definitions.rootElements || []).filter(function (e) {
        return e.$type === 'bpmn:Message' && e.name === v;
      })[0];
      if (!msg && v) {
        msg = moddle.create('bpmn:Message', { id: 'Message_' + v.replace(/[^A-Za-z0-9_]/g, '_'), name: v });
        msg.$parent = definitions;
        definitions.rootElements.push(msg);
      }
      def.messageRef = msg || undefined;
      changed();
    }));
    // Spiff reads spiffworkflow:messageVariable as a child of the message event definition (our diagrams keep
    // it there; the moddle extension declares it); an older copy inside extensionElements is moved out.
    var direct = def.get(SPIFF + 'messageVariable');
    field(panel, t('messageVariable'), textInput('p-message-var', direct ? direct.value : bodyExt(def, 'MessageVariable'),
      function (v) {
        removeExt(def, 'MessageVariable');
        var node = v ? moddle.create(SPIFF + 'MessageVariable', { value: v }) : undefined;
        if (node) { node.$parent = def; }
        def.set(SPIFF + 'messageVariable', node);
        changed();
      }));
    var corr = findExt(def, 'ProcessVariableCorrelation');
    field(panel, t('correlationProperty'), textInput('p-corr-prop', corr && corr.propertyId ? corr.propertyId.value : '',
      function (v) { correlation('propertyId', 'PropertyId', v); }));
    field(panel, t('correlationExpression'), textInput('p-corr-expr', corr && corr.expression ? corr.expression.value : '',
      function (v) { correlation('expression', 'Expression', v); }));
    function correlation(prop, type, v) {
      var found = ensureExt(def, 'ProcessVariableCorrelation');
      found[prop] = v ? moddle.create(SPIFF + type, { value: v }) : undefined;
      if (found[prop]) { found[prop].$parent = found; }
      if (!found.propertyId && !found.expression) { removeExt(def, 'ProcessVariableCorrelation'); }
      changed();
    }
  }

  // ---- lint problems ----------------------------------------------------------------------------

  function showProblems(problems) {
    state.problems = problems || [];
    var canvas = modeler.get('canvas'), registry = modeler.get('elementRegistry'), overlays = modeler.get('overlays');
    registry.getAll().forEach(function (e) { canvas.removeMarker(e.id, 'lint-error'); });
    overlays.remove({ type: 'lint' });
    var list = $('problems');
    list.innerHTML = '';
    if (!state.problems.length) {
      list.appendChild(el('li', { class: 'lint-clean', id: 'lint-clean' }, t('clean')));
    }
    var counts = {};
    state.problems.forEach(function (p, i) {
      var item = el('li', { 'data-element': p.element || '', id: 'problem-' + i },
                    (p.element ? '[' + p.element + '] ' : '') + p.message + (p.fix ? ' — ' + p.fix : ''));
      item.addEventListener('click', function () { selectElement(p.element); });
      list.appendChild(item);
      if (p.element && registry.get(p.element)) {
        canvas.addMarker(p.element, 'lint-error');
        counts[p.element] = (counts[p.element] || 0) + 1;
      }
    });
    Object.keys(counts).forEach(function (id) {
      var pin = el('span', { class: 'lint-pin', 'data-element': id }, '!' + counts[id]);
      pin.addEventListener('click', function () { selectElement(id); });
      overlays.add(id, 'lint', { position: { top: -12, left: -12 }, html: pin });
    });
  }
  function selectElement(id) {
    var element = id && modeler.get('elementRegistry').get(id);
    if (element) {
      modeler.get('selection').select(element);
      modeler.get('canvas').scrollToElement(element);
    }
  }

  // ---- save, deploy -----------------------------------------------------------------------------

  function save() {
    status(t('saving'));
    return modeler.saveXML({ format: true }).then(function (result) {
      return api('PUT', config.draft, { xml: result.xml });
    }).then(function (r) {
      if (!r.ok) { status(t('notSaved') + ': ' + (r.body && r.body.detail)); return r; }
      showProblems(r.body.problems);
      status(r.body.problems.length ? t('savedProblems', { n: r.body.problems.length }) : t('savedClean'));
      $('status').dataset.state = r.body.problems.length ? 'problems' : 'clean';
      var selected = modeler.get('selection').get()[0];
      if (selected) { showPanel(selected); }
      return r;
    });
  }
  function deploy() {
    save().then(function (saved) {
      if (!saved.ok || saved.body.problems.length) { status(t('fixFirst')); return; }
      api('POST', config.deploy, {}).then(function (r) {
        if (!r.ok) { status(t('deployRefused') + ': ' + (r.body && r.body.detail)); return; }
        status(t('deployed', { process: r.body.process_id, version: r.body.version }));
        $('status').dataset.state = 'deployed';
        $('status').dataset.version = r.body.version;
        var changes = el('ul', { id: 'deploy-changes' });
        r.body.changes.forEach(function (line) { changes.appendChild(el('li', {}, line)); });
        $('status').appendChild(changes);
      });
    });
  }

  // ---- sandbox ----------------------------------------------------------------------------------

  function renderSandbox(data) {
    state.sandbox = data;
    $('sb-clock').textContent = t('clock') + ' ' + data.clock.local.replace('T', ' ').slice(0, 16);
    $('sb-status').textContent = t('status_' + data.status);
    $('sb-status').dataset.status = data.status;
    $('sb-next').disabled = $('sb-advance').disabled = data.status !== 'running';
    var top = data.diagrams[0];
    var drawn = sbViewer ? Promise.resolve() : Promise.resolve().then(function () {
      sbViewer = new BpmnJS({ container: '#sb-canvas' });
      return sbViewer.importXML(top.xml).then(function () { sbViewer.get('canvas').zoom('fit-viewport'); });
    });
    drawn.then(function () {
      window.idiflow.clearHighlight(sbViewer);
      window.idiflow.highlight(sbViewer, top);
      $('sb-canvas').dataset.current = top.current.join(' ');
    });
    var timers = $('sb-timers');
    timers.innerHTML = '';
    var head = el('tr');
    head.appendChild(el('th', {}, t('timer')));
    head.appendChild(el('th', {}, t('dueLocal')));
    timers.appendChild(head);
    data.timers.forEach(function (t) {
      var row = el('tr', { 'data-timer': t.task_name });
      row.appendChild(el('td', {}, t.task_name));
      row.appendChild(el('td', {}, t.due_local.replace('T', ' ').slice(0, 16)));
      timers.appendChild(row);
    });
    var box = $('sb-tasks');
    box.innerHTML = '';
    data.tasks.forEach(function (task) {
      var form = el('div', { class: 'sb-task', 'data-task': task.name });
      form.appendChild(el('strong', {}, task.title + ' (' + (task.lane || '') + ', ' + (task.form || t('noForm')) + ')'));
      var input = el('input', { size: 40, class: 'sb-task-data', value: sampleFor(task.schema) });
      var done = el('button', { class: 'sb-complete' }, t('complete'));
      done.addEventListener('click', function () {
        var parsed;
        try { parsed = JSON.parse(input.value || '{}'); } catch (e) { $('sb-status').textContent = t('notJson'); return; }
        api('POST', config.sandbox + '/' + data.instance_id + '/tasks/' + task.id, { data: parsed }).then(handle);
      });
      form.appendChild(input);
      form.appendChild(done);
      box.appendChild(form);
    });
  }
  function sampleFor(schema) {
    var sample = {};
    ((schema && schema.required) || []).forEach(function (name) {
      var type = ((schema.properties || {})[name] || {}).type;
      sample[name] = type === 'boolean' ? true : type === 'number' || type === 'integer' ? 1 : '';
    });
    return JSON.stringify(sample);
  }
  function handle(r) {
    if (!r.ok) { $('sb-status').textContent = (r.body && r.body.detail) || t('error'); return; }
    renderSandbox(r.body);
  }
  function runSandbox() {
    var data;
    try { data = JSON.parse($('sb-data').value || '{}'); } catch (e) { $('sb-status').textContent = t('notJson'); return; }
    save().then(function () {
      sbViewer = null;
      $('sb-canvas').innerHTML = '';
      return api('POST', config.sandbox, { data: data, start_at: $('sb-start').value || undefined, reset: true });
    }).then(handle);
  }
  function moveClock(body) {
    if (!state.sandbox) { return; }
    api('POST', config.sandbox + '/' + state.sandbox.instance_id + '/clock', body).then(handle);
  }

  // ---- start ------------------------------------------------------------------------------------

  Promise.all([api('GET', config.moddle), api('GET', config.draft), api('GET', config.operators),
               api('GET', config.forms), api('GET', config.roles)]).then(function (answers) {
    state.operators = answers[2].body || [];
    state.forms = answers[3].body || [];
    state.roles = answers[4].body || [];
    modeler = new BpmnJS({ container: '#modeler', moddleExtensions: { spiffworkflow: answers[0].body } });
    window.studio = { modeler: modeler, save: save, showProblems: showProblems };
    return modeler.importXML(answers[1].body.xml).then(function () {
      modeler.get('canvas').zoom('fit-viewport');
      showProblems(answers[1].body.problems || []);
      modeler.on('selection.changed', function (e) { showPanel(e.newSelection[0]); });
      modeler.on('commandStack.changed', changed);
      $('modeler').dataset.ready = 'true';
      status(t('loaded'));
    });
  }).catch(function (err) { status(t('couldNotLoad') + ': ' + err.message); });

  $('save').addEventListener('click', save);
  $('deploy').addEventListener('click', deploy);
  $('sb-run').addEventListener('click', runSandbox);
  $('sb-next').addEventListener('click', function () { moveClock({ next: true }); });
  $('sb-advance').addEventListener('click', function () { moveClock({ advance: $('sb-delta').value }); });
})();
