// chart.js: the console's charts, drawn by the vendored uPlot (the global `uPlot`, loaded by
// index.html before app.js). A chart takes its colours from the CSS custom properties
// (--chart-1 … --chart-8, --fg, --line), follows its container's width (ResizeObserver) and is
// a figure with a label for screen readers; each page shows the same figures in a table too.

// cssVar is the value of the custom property name on :root.
function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

// colour is the i-th series colour (they repeat after eight).
function colour(i) {
  return cssVar('--chart-' + ((i % 8) + 1)) || '#0b5cad';
}

// chart draws into el (emptied) a chart of data = [xs, ys1, ys2, …] with one series per name.
// opts: label (the chart's accessible name), bars (draw bars instead of lines), categories
// (names of the x positions 0…n-1: bars of one series over categories instead of a time
// axis), span (seconds: the time axis shows the last span seconds up to the latest point), yLabel,
// height (px, default 260). It returns {setData(data), destroy()}; the page calls destroy in its
// cleanup.
export function chart(el, names, data, opts = {}) {
  el.replaceChildren();
  // A figure (it holds uPlot's legend, whose entries toggle series) named by the label; the
  // canvas itself is an image of the same name.
  el.setAttribute('role', 'figure');
  if (opts.label) el.setAttribute('aria-label', opts.label);
  if (typeof uPlot === 'undefined') { // the vendored script failed to load: the tables remain
    return { setData() {}, destroy() {} };
  }
  const fg = cssVar('--fg') || '#1b1f24';
  const grid = cssVar('--line') || '#c9d0d8';
  const axis = { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
  const cats = opts.categories;
  const bars = opts.bars || !!cats;
  const barPath = bars && uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.7, 60], align: 0 }) : undefined;
  const series = [{}].concat(names.map((name, i) => {
    const s = { label: name, stroke: colour(i), width: 2, points: { show: !bars && data[0].length < 60 } };
    if (bars) Object.assign(s, { fill: colour(i), paths: barPath });
    return s;
  }));
  const o = {
    width: Math.max(200, el.clientWidth || 600),
    height: opts.height || 260,
    series,
    axes: [
      Object.assign({}, axis, cats ? {
        splits: () => cats.map((_, i) => i),
        values: (_u, splits) => splits.map((i) => (Number.isInteger(i) && cats[i] !== undefined ? cats[i] : '')),
        rotate: cats.length > 6 ? -30 : 0,
        size: cats.length > 6 ? 90 : 40,
      } : {}),
      Object.assign({}, axis, { label: opts.yLabel || undefined, size: 60 }),
    ],
    scales: cats ? { x: { time: false, range: () => [-0.5, cats.length - 0.5] } }
      : { x: { time: true, range: opts.span ? (_u, _min, max) => [(max || Date.now() / 1000) - opts.span, max || Date.now() / 1000] : undefined } },
    legend: { show: true, live: !cats },
    padding: cats ? [8, 80, 0, 0] : undefined, // room for the last category's slanted name
    cursor: { points: { show: !bars } },
  };
  const u = new uPlot(o, data, el);
  const canvas = el.querySelector('canvas');
  if (canvas && opts.label) {
    canvas.setAttribute('role', 'img');
    canvas.setAttribute('aria-label', opts.label);
  }
  let last = o.width;
  const ro = new ResizeObserver(() => {
    const w = Math.max(200, el.clientWidth);
    if (w !== last) {
      last = w;
      u.setSize({ width: w, height: o.height });
    }
  });
  ro.observe(el);
  return {
    setData(d) {
      u.setData(d);
    },
    destroy() {
      ro.disconnect();
      u.destroy();
    },
  };
}
