// The report's charts, drawn by Apache ECharts' server-side SVG renderer (no browser, no DOM):
// each is an ECharts option, rendered once to an .svg file next to report.md.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';

// ECharts ships CommonJS for Node; its SSR renderer needs no canvas.
const echarts = createRequire(import.meta.url)('echarts');

const WIDTH = 880;
const HEIGHT = 380;

function svg(option) {
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width: WIDTH, height: HEIGHT });
  chart.setOption({
    animation: false,
    backgroundColor: '#ffffff',
    textStyle: { fontFamily: 'Helvetica, Arial, sans-serif' },
    legend: { bottom: 4 },
    grid: { left: 70, right: 70, top: 70, bottom: 80 },
    ...option,
  });
  const out = chart.renderToSVGString();
  chart.dispose();
  return out;
}

const title = (text, subtext) => ({ text, subtext, left: 'center', textStyle: { fontSize: 15 } });
const seconds = (name = 'seconds into the run') => ({ type: 'value', name, nameLocation: 'middle', nameGap: 28 });
const millis = { type: 'value', name: 'ms' };
const round = (x) => (x === null || x === undefined ? null : Math.round(x * 10) / 10);

/** p50/p95/p99 of each second's requests (by when they were due). */
function latencyOverTime(run, caption) {
  const points = run.timeline.filter((s) => s.requests > 0);
  const line = (name, key) => ({
    name,
    type: 'line',
    showSymbol: false,
    data: points.map((s) => [s.second + 0.5, round(s[key])]),
  });
  return svg({
    title: title(`Latency per second: ${run.label}`, caption),
    xAxis: seconds(),
    yAxis: millis,
    series: [line('p50', 'p50'), line('p95', 'p95'), line('p99', 'p99')],
  });
}

/** Buffer depth (intents waiting) and flush rate (intents stored per second) over a write run. */
function bufferOverTime(run) {
  const s = run.bufferSamples;
  const rate = s.slice(1).map((b, i) => [round(b.t), Math.round((b.flushed - s[i].flushed) / (b.t - s[i].t))]);
  return svg({
    title: title(
      `Write buffer during ${run.sends.toLocaleString('en')} sends from ${run.connections.toLocaleString('en')} connections`,
      run.label,
    ),
    xAxis: seconds(),
    yAxis: [
      { type: 'value', name: 'intents waiting' },
      { type: 'value', name: 'flushed / s', splitLine: { show: false } },
    ],
    series: [
      { name: 'depth (pending)', type: 'line', showSymbol: false, data: s.map((b) => [round(b.t), b.depth]) },
      { name: 'being flushed', type: 'line', showSymbol: false, data: s.map((b) => [round(b.t), b.inFlight]) },
      { name: 'flush rate', type: 'line', yAxisIndex: 1, showSymbol: false, data: rate },
    ],
  });
}

/** Share of cache lookups answered without PostgreSQL, by cache family, and overall. */
function hitRates(run) {
  const families = Object.entries(run.cache.families).filter(([, f]) => f.hitRate !== null);
  const names = [...families.map(([name]) => name), 'all'];
  const values = [...families.map(([, f]) => f.hitRate), run.cache.hitRate].map((x) => round(100 * x));
  return svg({
    title: title('Read cache hit rate (L1 or Redis) by family', `${run.label}; the plan's target: > 70 %`),
    xAxis: { type: 'category', data: names },
    yAxis: { type: 'value', name: '%', max: 100 },
    series: [
      {
        name: 'hit rate',
        type: 'bar',
        data: values,
        label: { show: true, position: 'top' },
        markLine: { symbol: 'none', data: [{ yAxis: 70, name: 'target' }], lineStyle: { type: 'dashed' } },
      },
    ],
  });
}

/** Acknowledged sends per second for each target of one write phase. */
function sendsPerSecond(runs, caption) {
  const ok = runs.filter((r) => !r.failed);
  return svg({
    title: title('sendMessage acknowledged per second', caption),
    grid: { left: 300, right: 60, top: 70, bottom: 50 },
    legend: { show: false },
    xAxis: { type: 'value', name: 'sends/s' },
    yAxis: { type: 'category', data: ok.map((r) => r.label), inverse: true },
    series: [
      { type: 'bar', data: ok.map((r) => Math.round(r.ackedPerSecond)), label: { show: true, position: 'right' } },
    ],
  });
}

/** Answers per second by HTTP status during the overload, and their p95. */
function overloadOverTime(run) {
  const points = run.timeline.filter((s) => s.requests > 0);
  const classes = { 200: '200', 429: '429', 503: '503 (Retry-After)', other: 'other / none' };
  const count = (s, cls) =>
    Object.entries(s.httpCodes)
      .filter(([code]) => (cls === 'other' ? !['200', '429', '503'].includes(code) : code === cls))
      .reduce((n, [, v]) => n + v, 0);
  return svg({
    title: title(
      `Overload: ${run.rate.toLocaleString('en')} sends/s offered for ${run.seconds} s`,
      `${run.label}; ${run.capacity.toFixed(0)} sends/s measured capacity × ${(run.rate / run.capacity).toFixed(1)}`,
    ),
    xAxis: {
      type: 'category',
      data: points.map((s) => s.second),
      name: 'seconds into the overload',
      nameLocation: 'middle',
      nameGap: 28,
    },
    yAxis: [
      { type: 'value', name: 'answers' },
      { type: 'value', name: 'p95 ms', splitLine: { show: false } },
    ],
    series: [
      ...Object.entries(classes).map(([cls, name]) => ({
        name,
        type: 'bar',
        stack: 'codes',
        data: points.map((s) => count(s, cls)),
      })),
      { name: 'p95', type: 'line', yAxisIndex: 1, showSymbol: false, data: points.map((s) => round(s.p95)) },
    ],
  });
}

/** Writes every chart the report's results allow into `dir`; returns their file names by subject. */
export function renderCharts(report, dir) {
  const files = {};
  const write = (name, content) => {
    writeFileSync(join(dir, name), content);
    files[name.replace(/\.svg$/, '')] = name;
  };
  const { throughput, writes, writesBig, reads, mixed, overload } = report.results;
  if (throughput.some((r) => !r.failed))
    write(
      'sends.svg',
      sendsPerSecond(
        throughput,
        `${report.config.throughputSends.toLocaleString('en')} sends from ${report.config.throughputConnections} closed-loop connections`,
      ),
    );
  const bufferRun = [...writesBig, ...writes, ...throughput].find(
    (r) => r.target === 'parley' && r.bufferSamples?.length > 1,
  );
  if (bufferRun) write('buffer.svg', bufferOverTime(bufferRun));
  const cached = reads.find((r) => r.cache);
  if (cached) write('hit-rate.svg', hitRates(cached));
  for (const run of mixed.filter((r) => !r.failed))
    write(
      `latency-mixed-${run.target}.svg`,
      latencyOverTime(run, `mixed scenario: ${run.rate} requests/s offered (open model), 70 % reads, 30 % sends`),
    );
  for (const run of overload.filter((r) => !r.failed)) write(`overload-${run.target}.svg`, overloadOverTime(run));
  return files;
}
