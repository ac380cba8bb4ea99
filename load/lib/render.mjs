// Renders a benchmark's report.md and charts again from its report.json, with the checks as
// report.mjs now computes them: for a change in how the report reads, without a new run.
//   node load/lib/render.mjs load/results/<date>
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderCharts } from './charts.mjs';
import { checks, renderReport } from './report.mjs';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: node load/lib/render.mjs <folder with report.json>');
  process.exit(2);
}
const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8'));
report.checks = checks(report);
report.charts = renderCharts(report, dir);
writeFileSync(join(dir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
writeFileSync(join(dir, 'report.md'), renderReport(report));
console.log(`rendered ${join(dir, 'report.md')}`);
