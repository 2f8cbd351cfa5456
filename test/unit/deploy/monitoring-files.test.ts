/**
 * deploy/grafana/cron-log-service.json and deploy/prometheus/alerts.yml: valid JSON and YAML of
 * the expected shape, and every metric they query is one the archiver exports (read from the
 * registry of src/observe/metrics.ts, histograms with their _bucket/_sum/_count series).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { Metrics, METRIC_PREFIX } from '../../../src/observe/metrics.js';

const root = new URL('../../../', import.meta.url);

/** Every series name the archiver's registry exposes. */
async function exportedNames(): Promise<Set<string>> {
  const metrics = new Metrics({ namespace: 'app.apilogs' });
  try {
    const names = new Set<string>();
    for (const m of await metrics.registry.getMetricsAsJSON()) {
      if (!m.name.startsWith(METRIC_PREFIX)) continue;
      names.add(m.name);
      if (String(m.type) === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(m.name + suffix);
    }
    return names;
  } finally {
    metrics.close();
  }
}

/** The metric names an expression queries. */
function queried(expr: string): string[] {
  return [...expr.matchAll(new RegExp(`\\b${METRIC_PREFIX}[a-z0-9_]+\\b`, 'g'))].map((m) => m[0]);
}

function unknownIn(exprs: readonly string[], exported: ReadonlySet<string>): string[] {
  return [...new Set(exprs.flatMap(queried))].filter((n) => !exported.has(n));
}

test('the Grafana dashboard is valid JSON and queries only exported metrics, covering what an operator watches', async () => {
  const dash = JSON.parse(await readFile(new URL('deploy/grafana/cron-log-service.json', root), 'utf8')) as {
    title: string;
    uid: string;
    panels: Array<{ title: string; type: string; targets: Array<{ expr: string }> }>;
    templating: { list: Array<{ query?: unknown; definition?: string }> };
  };
  assert.equal(dash.uid, 'cron-log-service');
  assert.ok(dash.panels.length >= 8);
  const exprs = [
    ...dash.panels.flatMap((p) => p.targets.map((t) => t.expr)),
    ...dash.templating.list.flatMap((v) => (v.definition ? [v.definition] : [])),
  ];
  for (const e of exprs) assert.equal(typeof e, 'string');
  const exported = await exportedNames();
  assert.deepEqual(unknownIn(exprs, exported), []);
  const used = new Set(exprs.flatMap(queried));
  for (const needed of [
    'cronlog_capture_lag_seconds',
    'cronlog_events_captured_total',
    'cronlog_hours_delivered_total',
    'cronlog_hours_verified_total',
    'cronlog_delivery_failures_total',
    'cronlog_upload_retries_total',
    'cronlog_seal_run_duration_seconds_bucket',
    'cronlog_spool_open_bytes',
  ]) {
    assert.ok(used.has(needed), `the dashboard shows ${needed}`);
  }
  // The check itself tells a misspelt metric.
  assert.deepEqual(unknownIn(['rate(cronlog_events_capture_total[5m])'], exported), ['cronlog_events_capture_total']);
});

test('the Prometheus alert rules are valid YAML and query only exported metrics, covering what status calls attention', async () => {
  const doc = parse(await readFile(new URL('deploy/prometheus/alerts.yml', root), 'utf8')) as {
    groups: Array<{ name: string; rules: Array<{ alert: string; expr: string; labels?: { severity?: string }; annotations?: { summary?: string } }> }>;
  };
  const rules = doc.groups.flatMap((g) => g.rules);
  assert.ok(rules.length >= 5);
  for (const r of rules) {
    assert.match(r.alert, /^CronLog[A-Za-z]+$/);
    assert.equal(typeof r.expr, 'string');
    assert.ok(r.labels?.severity === 'warning' || r.labels?.severity === 'critical', `${r.alert} has a severity`);
    assert.ok((r.annotations?.summary ?? '').length > 0, `${r.alert} has a summary`);
  }
  const exported = await exportedNames();
  assert.deepEqual(unknownIn(rules.map((r) => r.expr), exported), []);
  const used = new Set(rules.flatMap((r) => queried(r.expr)));
  for (const needed of [
    'cronlog_capture_lag_seconds',
    'cronlog_oplog_headroom_seconds',
    'cronlog_delivery_failures_total',
    'cronlog_reconcile_mismatched_hours',
    'cronlog_reconcile_failures_total',
  ]) {
    assert.ok(used.has(needed), `an alert watches ${needed}`);
  }
});
