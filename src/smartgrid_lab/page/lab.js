// The lab's panel beside mosaik-web's topology: the simulated clock, the
// run's progress and speed, the node voltage colour scale (p.u.) with its
// band, curves of the day, the run's outcome, its exercise's objectives as
// they accumulate, and the finished runs in results/, any of which it can
// replay.  It listens on its own websocket (/lab-websocket, see
// smartgrid_lab/web.py): "setup", then "steps" (one summary per step, and
// the objectives' points) and "outcome"; a replay is one request,
// /lab/replay/<run id>.  Drawn with the d3 that mosaik-web serves; nothing
// comes from elsewhere.
(function () {
    'use strict';

    var SPEED_WINDOW = 5;  // wall seconds the speed is measured over
    var REPLAY_FRAMES = 300;  // a replay plays in about this many frames ...
    var FRAME_MS = 40;  // ... this long each
    var DAY = 24 * 3600;
    var panel = d3.select('body').append('div').attr('id', 'lab');
    var clock = panel.append('div').attr('id', 'lab-clock').text('waiting for mosaik…');
    var run = panel.append('div').attr('id', 'lab-run');
    var replay_box = panel.append('div').attr('id', 'lab-replay');
    var error = panel.append('div').attr('id', 'lab-error');
    var legend = panel.append('svg').attr('id', 'lab-legend').attr('width', 430);
    var curves = panel.append('div');
    var goals = panel.append('div').attr('id', 'lab-objectives');
    var past = panel.append('div').attr('id', 'lab-runs');  // the list of runs in results/
    var charts = [], goal_charts = [], shown_goals = null;
    var setup = null, steps = [], outcome = null;  // the run this page serves, live
    var objectives = [], points = [];  // its exercise's objectives, their KPIs so far
    var replay = null;  // while a past run is replayed: {data, at (its step shown), timer}
    var pqbus = null;  // the node voltage type (nominal, band, min, max)

    // mosaik.js colours the topology with each live step; not during a replay.
    var colour_topology = topology.update, live_topology = null;
    topology.update = function (data) {
        live_topology = data;
        if (!replay) colour_topology(data);
    };

    var ws = new WebSocket('ws://' + location.host + '/lab-websocket');
    ws.onmessage = function (evt) {
        var msg = JSON.parse(evt.data);
        ({setup: on_setup, steps: on_steps, outcome: on_outcome})[msg[0]](msg[1]);
    };

    function on_setup(data) {
        setup = data;
        objectives = data.objectives;
        pqbus = Object.values(data.etypes).find(function (t) { return t.nominal; }) || null;
        var refbus = Object.values(data.etypes).find(function (t) { return t.rating; });
        if (pqbus) {
            draw_legend();
            charts.push(Chart(curves, 'Node voltage, lowest and highest', 'p.u.',
                              [['v_min', 'lowest'], ['v_max', 'highest']],
                              {band: pqbus.band, domain: [pqbus.min / pqbus.nominal,
                                                          pqbus.max / pqbus.nominal]}));
        }
        if (refbus) {
            var kva = refbus.rating / 1e3;
            charts.push(Chart(curves, 'Transformer (import > 0, export < 0)', 'kW',
                              [['trafo_kw', 'power']],
                              {limits: [[kva, 'rating ' + kva + ' kVA'], [-kva, '']],
                               domain: [-1.1 * kva, 1.1 * kva]}));
        }
        charts.push(Chart(curves, 'Households and generators', 'kW',
                          [['load_kw', 'household load'], ['pv_kw', 'PV feed-in']],
                          {domain: [0, 1]}));
        list_past_runs();
        redraw();
    }

    function on_steps(data) {
        steps = steps.concat(data.steps);
        points = points.concat(data.points);
        redraw();
    }

    function on_outcome(data) {
        outcome = data;
        redraw();
        list_past_runs();  // this one may have its manifest now
    }

    // The runs in results/, newest first, from their manifests.
    function list_past_runs() {
        d3.json('/lab/runs.json').then(function (runs) {
            past.selectAll('*').remove();
            past.append('div').attr('class', 'title')
                .text(runs.length ? 'Runs in results/ (repeat one: make rerun RUN=<id>)'
                                  : 'No finished run in results/ yet');
            var row = past.selectAll('div.run').data(runs).join('div')
                .attr('class', function (r) { return 'run ' + r.status; })
                .attr('data-run', function (r) { return r.run_id; })
                .attr('title', function (r) { return r.error || ''; });
            row.filter(function (r) { return r.replay; }).append('button').text('replay')
                .on('click', function (event, r) { start_replay(r.run_id); });
            row.append('span').text(function (r) {
                return [r.run_id, r.exercise, r.mode, r.status,
                        (r.started_utc || '').slice(0, 16).replace('T', ' ') + ' UTC',
                        Math.round(r.wall_seconds) + ' s'].join(' · ') +
                    (r.error ? ': ' + r.error : '');
            });
        });
    }

    // What the panel shows: the live run, or the replayed one up to its step shown.
    function view() {
        if (!replay) {
            return {start_date: setup.start_date, steps: steps, outcome: outcome,
                    objectives: objectives, points: points};
        }
        var data = replay.data, shown = data.steps.slice(0, replay.at + 1);
        var until = shown.length ? shown[shown.length - 1].time : -1;
        return {start_date: data.start_date, steps: shown, outcome: data.run,
                objectives: data.objectives,
                points: data.points.filter(function (p) { return p.time <= until; })};
    }

    function redraw() {
        if (!setup) return;
        var v = view(), last = v.steps[v.steps.length - 1];
        if (last) {
            var start = new Date(v.start_date.slice(0, 19) + 'Z');  // as written, no time zone
            clock.text(d3.utcFormat('%a %d %b %Y, %H:%M')(new Date(+start + last.time * 1000)));
        }
        run.text(replay ? replay_line() : run_line(last));
        var failed = v.outcome && (v.outcome.status === 'failed' ||
                                   v.outcome.status === 'interrupted');
        error.classed('shown', failed).text(failed ? error_paragraph(v.outcome) : '');
        charts.forEach(function (chart) { chart.update(v.steps); });
        draw_objectives(v.objectives, v.points);
        var out = new Set(last ? last.out_of_band : []);
        d3.selectAll('#topology .node').classed('out-of-band', function (node) {
            return out.has(node.name);
        });
        if (replay && last) {
            var values = replay.data.nodes.values[replay.at], frame = {};
            replay.data.nodes.names.forEach(function (name, i) { frame[name] = {value: values[i]}; });
            colour_topology({node_data: [frame]});
        }
    }

    // Each objective: its KPI so far against its threshold, and its curve.
    function draw_objectives(list, pts) {
        if (list !== shown_goals) {  // another run's: new charts
            shown_goals = list;
            goals.selectAll('*').remove();
            goal_charts = list.map(function (o) {
                var row = goals.append('div').attr('class', 'objective');
                var chart = Chart(goals, '', o.unit, [[o.id, 'so far']],
                                  {limits: [[o.limit, 'objective ' + o.threshold]],
                                   domain: [0, o.limit], height: 110});
                return {objective: o, row: row, chart: chart};
            });
            if (list.length) {
                goals.insert('div', ':first-child').attr('class', 'title')
                    .text('Objectives of exercise ' + (replay ? replay.data.run : setup).exercise);
            }
        }
        goal_charts.forEach(function (g) {
            var o = g.objective, now = pts.filter(function (p) { return p[o.id] !== null; }).pop();
            var value = now ? now[o.id] : null;
            var met = value !== null && (o.at_most ? value <= o.limit : value >= o.limit);
            g.row.classed('met', met).classed('missed', value !== null && !met)
                .text(o.title + ': ' + (value === null ? '–' : d3.format('.4~g')(value) + ' ' +
                      o.unit) + ' (objective ' + o.threshold + ')' +
                      (value === null ? '' : met ? ' ok' : ' FAIL'));
            g.chart.update(pts);
        });
    }

    // A past run, from its HDF5 file and manifest, shown at its last step.
    function start_replay(run_id) {
        d3.json('/lab/replay/' + encodeURIComponent(run_id)).then(function (data) {
            stop_playing();
            replay = {data: data, at: data.steps.length - 1, timer: null};
            var r = data.run, swapped = Object.entries(r.swapped);
            replay_box.selectAll('*').remove();
            replay_box.classed('shown', true);
            replay_box.append('div').attr('class', 'title').text('Replay of run ' + r.run_id);
            replay_box.append('div').attr('class', 'summary').text(
                ['exercise ' + r.exercise, 'scenario ' + r.scenario, r.mode, r.status,
                 swapped.length ? 'swapped: ' + swapped.map(function (s) {
                     return s[0] + ' = ' + s[1];
                 }).join(', ') : 'no simulator swapped'].join(' · '));
            var grade = data.grade, verdict = !grade ? 'Not graded (make grade RUN=' + r.run_id +
                ')' : 'Graded ' + grade.verdict + ', score ' + grade.score + '/100' +
                (grade.problems.length ? ', ' + grade.problems.length + ' problems, first: ' +
                 grade.problems[0] : '');
            replay_box.append('div').attr('class', 'verdict').attr('title', verdict).text(verdict);
            var controls = replay_box.append('div').attr('class', 'controls');
            controls.append('button').attr('class', 'play').text('play').on('click', play);
            controls.append('input').attr('type', 'range').attr('min', 0)
                .attr('max', data.steps.length - 1).property('value', replay.at)
                .on('input', function () { stop_playing(); replay.at = +this.value; redraw(); });
            controls.append('button').attr('class', 'live').text('back to the live run')
                .on('click', stop_replay);
            redraw();
        });
    }

    function play() {
        if (replay.timer) return stop_playing();
        if (replay.at >= replay.data.steps.length - 1) replay.at = 0;
        var stride = Math.ceil(replay.data.steps.length / REPLAY_FRAMES);
        replay_box.select('.play').text('pause');
        replay.timer = setInterval(function () {
            replay.at = Math.min(replay.at + stride, replay.data.steps.length - 1);
            replay_box.select('input').property('value', replay.at);
            if (replay.at === replay.data.steps.length - 1) stop_playing();
            redraw();
        }, FRAME_MS);
    }

    function stop_playing() {
        if (!replay || !replay.timer) return;
        clearInterval(replay.timer);
        replay.timer = null;
        replay_box.select('.play').text('play');
    }

    function stop_replay() {
        stop_playing();
        replay = null;
        replay_box.classed('shown', false).selectAll('*').remove();
        if (live_topology) colour_topology(live_topology);
        redraw();
    }

    function replay_line() {
        var r = replay.data.run;
        return 'replay · step ' + (replay.at + 1) + ' of ' + replay.data.steps.length + ' · ' +
            r.status + (r.wall_seconds ? ' in ' + Math.round(r.wall_seconds) + ' s' : '');
    }

    function run_line(last) {
        if (!last) return 'no step yet';
        var done = outcome && outcome.status === 'completed';  // mosaik's last step says 99.9
        var parts = [(done ? 100 : Math.floor(last.progress)) + ' % of the run',
                     steps.length + ' steps'];
        var speed = sim_minutes_per_second();
        if (speed !== null) parts.push(d3.format('.3~r')(speed) + ' simulated min per second');
        parts.push(outcome ? outcome.status + (outcome.status === 'completed' ?
                   ' in ' + Math.round(last.wall) + ' s' : '') : 'running');
        return parts.join(' · ');
    }

    // Over the last SPEED_WINDOW wall seconds while running, the whole run after it.
    function sim_minutes_per_second() {
        var last = steps[steps.length - 1], first = steps[0];
        if (!outcome) {
            first = steps.find(function (s) { return s.wall >= last.wall - SPEED_WINDOW; });
        }
        var wall = last.wall - first.wall;
        return wall > 0 ? (last.time - first.time) / 60 / wall : null;
    }

    function error_paragraph(outcome) {
        var reached = outcome.simulated_seconds_reached;
        var at = reached === null || reached === undefined ? '' : ' at ' +
            d3.utcFormat('%H:%M')(new Date(reached * 1000)) + ' simulated time';
        return 'The run ' + (outcome.status === 'interrupted' ? 'was interrupted' : 'failed') +
            at + (outcome.error && outcome.status === 'failed' ? ': ' + outcome.error : '.');
    }

    // The node colour scale of mosaik.js (hue 120 at the middle, 0 at min and
    // max), in p.u., with the band marked, and the ring of out-of-band nodes.
    function draw_legend() {
        var lo = pqbus.min / pqbus.nominal, hi = pqbus.max / pqbus.nominal;
        var x = d3.scaleLinear().domain([lo, hi]).range([16, 296]);
        var hue = function (v) { return 120 - 240 * Math.abs(v - (lo + hi) / 2) / (hi - lo); };
        legend.attr('height', 62);
        legend.append('text').attr('class', 'title').attr('x', 0).attr('y', 12)
            .text('Node voltage (p.u.), band ' + pqbus.band.join('–'));
        var gradient = legend.append('defs').append('linearGradient').attr('id', 'lab-scale');
        d3.range(0, 1.0001, 0.125).forEach(function (f) {
            gradient.append('stop').attr('offset', f * 100 + '%')
                .attr('stop-color', 'hsl(' + hue(lo + f * (hi - lo)) + ', 100%, 50%)');
        });
        legend.append('rect').attr('x', 16).attr('y', 20).attr('width', 280).attr('height', 14)
            .attr('fill', 'url(#lab-scale)');
        pqbus.band.forEach(function (v) {
            legend.append('line').attr('class', 'band-edge').attr('x1', x(v)).attr('x2', x(v))
                .attr('y1', 16).attr('y2', 38);
        });
        legend.append('g').attr('transform', 'translate(0, 36)')
            .call(d3.axisBottom(x).tickValues([lo, pqbus.band[0], 1, pqbus.band[1], hi])
                  .tickFormat(d3.format('.2f')).tickSize(3));
        legend.append('circle').attr('class', 'ring').attr('cx', 324).attr('cy', 27).attr('r', 8);
        legend.append('text').attr('x', 338).attr('y', 31).text('outside the band');
    }

    // A curve chart over the day; *series* are [record key, label] pairs.
    function Chart(parent, title, unit, series, opts) {
        var m = {top: 34, right: 16, bottom: 20, left: 48}, w = 430, h = opts.height || 165;
        var svg = parent.append('svg').attr('class', 'chart').attr('width', w).attr('height', h);
        var x = d3.scaleLinear().range([m.left, w - m.right]);
        var y = d3.scaleLinear().range([h - m.bottom, m.top]);
        svg.append('text').attr('class', 'title').attr('x', m.left).attr('y', 12).text(title);
        var band = svg.append('rect').attr('class', 'band');
        var marks = svg.append('g');
        var x_axis = svg.append('g').attr('transform', 'translate(0,' + (h - m.bottom) + ')');
        var y_axis = svg.append('g').attr('transform', 'translate(' + m.left + ',0)');
        svg.append('text').attr('x', 4).attr('y', m.top - 6).text(unit);
        var keys = svg.append('g');
        series.forEach(function (s, i) {
            var item = keys.append('g')
                .attr('transform', 'translate(' + (m.left + i * 130) + ', 24)');
            item.append('line').attr('class', 'curve ' + s[0]).attr('x2', 16);
            item.append('text').attr('x', 20).attr('y', 4).text(s[1]);
        });
        var paths = series.map(function (s) {
            return svg.append('path').attr('class', 'curve ' + s[0]);
        });

        function update(steps) {
            var end = Math.max(DAY, steps.length ? steps[steps.length - 1].time : 0);
            x.domain([0, end]);
            var values = [];
            series.forEach(function (s) {
                steps.forEach(function (r) { if (r[s[0]] !== null) values.push(r[s[0]]); });
            });
            y.domain(d3.extent(values.concat(opts.domain))).nice();
            x_axis.call(d3.axisBottom(x).tickValues(d3.range(0, end + 1, 3 * 3600))
                        .tickFormat(function (t) { return d3.format('02d')(t / 3600) + ':00'; }));
            y_axis.call(d3.axisLeft(y).ticks(5));
            if (opts.band) {
                band.attr('x', m.left).attr('width', w - m.left - m.right)
                    .attr('y', y(opts.band[1])).attr('height', y(opts.band[0]) - y(opts.band[1]));
            }
            var lines = (opts.band || []).map(function (v) { return [v, 'band-edge', '']; })
                .concat((opts.limits || []).map(function (l) { return [l[0], 'limit', l[1]]; }))
                .concat(y.domain()[0] < 0 ? [[0, 'zero', '']] : []);
            var mark = marks.selectAll('g').data(lines).join(function (enter) {
                var g = enter.append('g');
                g.append('line');
                g.append('text').attr('text-anchor', 'end').attr('dy', -3);
                return g;
            });
            mark.select('line').attr('class', function (d) { return d[1]; })
                .attr('x1', m.left).attr('x2', w - m.right)
                .attr('y1', function (d) { return y(d[0]); })
                .attr('y2', function (d) { return y(d[0]); });
            mark.select('text').attr('x', w - m.right).attr('y', function (d) { return y(d[0]); })
                .text(function (d) { return d[2]; });
            series.forEach(function (s, i) {
                paths[i].datum(steps).attr('d', d3.line()
                    .defined(function (r) { return r[s[0]] !== null; })
                    .x(function (r) { return x(r.time); })
                    .y(function (r) { return y(r[s[0]]); }));
            });
        }

        return {update: update, series: series, paths: paths};
    }

    window.lab = {  // for tests and the curious: what the panel holds
        steps: function () { return steps; },
        outcome: function () { return outcome; },
        objective_points: function () { return points; },
        replayed: function () { return replay && replay.data; },
        points: function () {  // of each curve of each chart, objectives' last
            return charts.concat(goal_charts.map(function (g) { return g.chart; }))
                .map(function (chart) {
                    return chart.paths.map(function (path) {
                        return (path.attr('d') || '').split(/[ML]/).filter(Boolean).length;
                    });
                });
        }
    };
})();
