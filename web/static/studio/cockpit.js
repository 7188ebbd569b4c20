/* Cockpit instance page: one viewer per diagram (the process, then each called process holding tokens). */
(function () {
  'use strict';
  var host = document.getElementById('diagrams');
  if (!host) { return; }

  function draw(diagram, index) {
    var box = document.createElement('section');
    box.className = 'diagram';
    box.dataset.processId = diagram.process_id;
    var title = document.createElement('h3');
    title.textContent = diagram.called_from
      ? diagram.process_id + ' ← ' + diagram.called_from
      : diagram.process_id;
    var canvas = document.createElement('div');
    canvas.className = index === 0 ? 'canvas' : 'canvas small';
    canvas.id = 'canvas-' + diagram.process_id;
    box.appendChild(title);
    box.appendChild(canvas);
    host.appendChild(box);
    if (!diagram.xml) {
      canvas.textContent = window.idiflow.t('noDiagram', { process: diagram.process_id });
      return Promise.resolve();
    }
    var viewer = new BpmnJS({ container: canvas });
    return viewer.importXML(diagram.xml).then(function () {
      viewer.get('canvas').zoom('fit-viewport');
      window.idiflow.highlight(viewer, diagram);
      canvas.dataset.ready = 'true';
    }).catch(function (err) {
      canvas.textContent = window.idiflow.t('couldNotDraw', { process: diagram.process_id }) + ': ' + err.message;
    });
  }

  fetch(host.dataset.url, { headers: { Accept: 'application/json' }, credentials: 'same-origin' })
    .then(function (r) { return r.json(); })
    .then(function (data) {
      return Promise.all(data.diagrams.map(draw));
    })
    .then(function () { host.dataset.ready = 'true'; });
})();
