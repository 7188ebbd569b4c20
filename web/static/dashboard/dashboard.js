/* Charts of the statistics dashboard (Apache ECharts, served from node_modules); a click opens the cases
   behind the bar or slice, like the numbers do. */
(function () {
  "use strict";
  var payload = JSON.parse(document.getElementById("dashboard-data").textContent);
  var data = payload.data, labels = payload.labels;
  var palette = ["#2f6fb0", "#4aa3a2", "#e0a43a", "#c8574d", "#7d6bb3", "#6c9a3b", "#d9783c", "#8a96a3", "#3b7dd8"];

  function open(figure) {
    var query = new URLSearchParams(payload.args);
    query.set("figure", figure);
    window.location.href = payload.cases + "?" + query.toString();
  }

  function chart(id, option, figureOf) {
    var el = document.getElementById(id);
    if (!el || !window.echarts) { return; }
    var c = window.echarts.init(el, null, { renderer: "svg" });
    option.color = palette;
    option.animation = false;
    option.textStyle = { fontFamily: "inherit" };
    c.setOption(option);
    c.on("click", function (params) { var f = figureOf(params); if (f) { open(f); } });
    window.addEventListener("resize", function () { c.resize(); });
  }

  function bars(id, keys, values, names, prefix, horizontal) {
    var cat = { type: "category", data: keys.map(function (k) { var n = names[k] || k; return horizontal ? n : n.split(" ")[0]; }),
                axisLabel: { interval: 0, width: horizontal ? 150 : 80, overflow: "truncate" } };
    var val = { type: "value", minInterval: 1 };
    chart(id, {
      grid: { left: horizontal ? 160 : 40, right: 20, top: 20, bottom: 40 },
      tooltip: { trigger: "item", formatter: function (p) { return (names[keys[p.dataIndex]] || keys[p.dataIndex]) + ": " + p.value; } },
      xAxis: horizontal ? val : cat, yAxis: horizontal ? cat : val,
      series: [{ type: "bar", data: values, barMaxWidth: 36, label: { show: true, position: horizontal ? "right" : "top" } }]
    }, function (p) { return prefix + keys[p.dataIndex]; });
  }

  function pie(id, entries, names, prefix) {
    chart(id, {
      tooltip: { trigger: "item", formatter: "{b}: {c} ({d}%)" },
      legend: { orient: "vertical", right: 0, top: "middle", type: "scroll", textStyle: { fontSize: 11 } },
      series: [{ type: "pie", radius: ["40%", "68%"], center: ["34%", "50%"], avoidLabelOverlap: true,
                 label: { formatter: "{c}" },
                 data: entries.map(function (e) { return { name: names[e[0]] || e[0], value: e[1], key: e[0] }; }) }]
    }, function (p) { return prefix + p.data.key; });
  }

  var months = data.policies.by_month;
  chart("chart-policies", {
    grid: { left: 50, right: 80, top: 30, bottom: 30 },
    tooltip: { trigger: "axis" },
    legend: { top: 0, data: [document.documentElement.lang === "en" ? "Policies" : "保单", document.documentElement.lang === "en" ? "Premium (CNY)" : "保费（元）"] },
    xAxis: { type: "category", data: months.map(function (m) { return m.month; }) },
    yAxis: [{ type: "value", minInterval: 1 }, { type: "value", axisLabel: { formatter: function (v) { return (v / 10000) + "万"; } } }],
    series: [
      { name: document.documentElement.lang === "en" ? "Policies" : "保单", type: "bar", barMaxWidth: 40, data: months.map(function (m) { return m.signed; }) },
      { name: document.documentElement.lang === "en" ? "Premium (CNY)" : "保费（元）", type: "line", yAxisIndex: 1, smooth: true, symbolSize: 8,
        data: months.map(function (m) { return Number(m.premium); }) }
    ]
  }, function (p) { return "policies.by_month." + months[p.dataIndex].month + ".signed"; });

  pie("chart-phases", Object.entries(data.phases), labels.phases, "phases.");
  var grades = Object.keys(data.risk.findings);
  bars("chart-findings", grades, grades.map(function (g) { return data.risk.findings[g]; }), labels.grades, "risk.findings.");
  var cats = Object.keys(data.claims.by_category);
  bars("chart-categories", cats, cats.map(function (k) { return data.claims.by_category[k]; }), labels.categories,
       "claims.by_category.", false);
  pie("chart-outcomes", Object.entries(data.claims.by_outcome), labels.outcomes, "claims.by_outcome.");
  var slas = Object.keys(data.sla.by_sla);
  bars("chart-sla", slas, slas.map(function (k) { return data.sla.by_sla[k]; }), labels.slas, "sla.by_sla.", true);
  var payers = Object.keys(data.appraisals.fee_payer);
  pie("chart-appraisals", payers.map(function (k) { return [k, Number(data.appraisals.fee_payer[k].fees)]; }),
      { insurer: document.documentElement.lang === "en" ? "Insurer" : "保险公司", owner: document.documentElement.lang === "en" ? "Owner" : "业主" },
      "appraisals.fee_payer.");
})();
