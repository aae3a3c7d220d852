// Alerts (/ui/alerts): firing and pending alerts, rules by group (state, health, last error,
// expression, for, labels, last evaluation and its duration), the history of state changes, and
// for a selected alert (`alert=<rule>&fp=<labels>` in the URL) a chart of its rule's expression
// (for `A > threshold`: A, with the threshold as a line) and its evidence: error traces and
// error log lines of its service.
import type { Route } from '../lib/url';
import { useAsync, useTitle } from '../lib/hooks';
import { setParams, useParams, useTime, type TimeState } from '../lib/store';
import { alerts as fetchAlerts, getJson, qs, queryRange, rules as fetchRules, type Alert, type Labels, type Rule, type RuleGroup, type RangeResult } from '../lib/api';
import { pickStep } from '../lib/time';
import { formatAgo, formatDateTime, formatDurationMs, formatNumber } from '../lib/format';
import { serviceLogsLink, traceLink } from '../lib/links';
import { alertService, labelsKey, seriesOfAlert, splitComparison } from '../lib/alerts';
import { Chart } from '../components/chart';
import { ErrorBox, Link, Loading, PageHeader } from '../components/common';

type RuleX = Rule & { evaluationTime?: number; lastEvaluation?: string; keepFiringFor?: number };
type GroupX = Omit<RuleGroup, 'rules'> & { rules: RuleX[]; evaluationTime?: number; lastEvaluation?: string };

interface Change {
  at: number;
  rule: string;
  group: string;
  labels: Labels;
  from: string;
  to: string;
  value: number | null;
}

interface Evidence {
  traceIds?: string[];
  logLines?: unknown[];
  links?: unknown[];
}

const sec = (ms: number) => String(Math.floor(ms / 1000));

function LabelChips({ labels, skip = [] }: { labels: Labels | undefined; skip?: string[] }) {
  if (!labels) return null;
  return (
    <span class="kv">
      {Object.keys(labels)
        .filter((k) => !skip.includes(k))
        .sort()
        .map((k) => (
          <span class="chip" data-label={k}>
            {k}={labels[k]}
          </span>
        ))}
    </span>
  );
}

function StateBadge({ state }: { state: string }) {
  return (
    <span class={`badge state-${state}`} data-state={state}>
      {state}
    </span>
  );
}

function value(v: string | number | null | undefined): string {
  if (v === null || v === undefined || v === '') return '–';
  const n = typeof v === 'number' ? v : parseFloat(v);
  return Number.isNaN(n) ? String(v) : formatNumber(n, 4);
}

export default function AlertsPage(_props: { route: Route }) {
  useTitle('Alerts');
  const params = useParams();
  const time = useTime();
  const selAlert = params.get('alert');
  const selFp = params.get('fp') ?? '';
  const rules = useAsync((s) => fetchRules(s) as Promise<GroupX[]>, [time.tick]);
  const active = useAsync((s) => fetchAlerts(s), [time.tick]);
  const history = useAsync((s) => getJson<{ changes: Change[] }>(`/lookout/v1/alerts/history${qs({ since: '24h' })}`, s), [time.tick]);
  const ready = [rules, active, history].every((r) => r.data || r.error);
  const now = time.tick;

  const alertsList = (active.data ?? []).filter((a) => a.state !== 'inactive');
  alertsList.sort((a, b) => (a.state === b.state ? (a.labels.alertname ?? '').localeCompare(b.labels.alertname ?? '') : a.state === 'firing' ? -1 : 1));
  const select = (labels: Labels) => setParams({ alert: labels.alertname ?? null, fp: labelsKey(labels) });
  const ruleOf = (name: string): RuleX | undefined => {
    for (const g of rules.data ?? []) for (const r of g.rules) if (r.type === 'alerting' && r.name === name) return r;
    return undefined;
  };
  // The selected alert's labels: from the active alerts, else the history.
  let selLabels: Labels | null = null;
  if (selAlert) {
    const pool: Labels[] = [...alertsList.map((a) => a.labels), ...(history.data?.changes ?? []).map((c) => c.labels)];
    selLabels = pool.find((l) => l.alertname === selAlert && labelsKey(l) === selFp) ?? null;
  }
  const firing = alertsList.filter((a) => a.state === 'firing').length;
  const pending = alertsList.filter((a) => a.state === 'pending').length;

  return (
    <div class="page alerts-layout" data-page="alerts" data-ready={ready ? 'true' : 'false'}>
      <PageHeader title="Alerts">
        <span class="summary">
          <span class="summary-item status-text-unhealthy" data-testid="firing-count">
            {firing} firing
          </span>
          <span class="summary-item status-text-degraded">{pending} pending</span>
        </span>
      </PageHeader>

      {selAlert && (
        <SelectedAlert
          name={selAlert}
          labels={selLabels}
          rule={ruleOf(selAlert)}
          alert={alertsList.find((a) => a.labels.alertname === selAlert && labelsKey(a.labels) === selFp)}
          time={time}
          rulesLoaded={!!rules.data || !!rules.error}
        />
      )}

      <div class="section-title">Firing and pending</div>
      {active.error ? (
        <ErrorBox error={active.error} />
      ) : !active.data ? (
        <Loading />
      ) : (
        <div class="panel">
          <table class="table" data-testid="active-alerts">
            <thead>
              <tr>
                <th>State</th>
                <th>Alert</th>
                <th>Labels</th>
                <th class="num">Value</th>
                <th>Active since</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {alertsList.map((a: Alert) => {
                const fp = labelsKey(a.labels);
                const sel = a.labels.alertname === selAlert && fp === selFp;
                return (
                  <tr data-alert={a.labels.alertname} data-fp={fp} data-state={a.state} class={sel ? 'selected-row' : ''}>
                    <td>
                      <StateBadge state={a.state} />
                    </td>
                    <td class="name">{a.labels.alertname}</td>
                    <td>
                      <LabelChips labels={a.labels} skip={['alertname']} />
                      {a.annotations?.summary && <div class="muted small">{a.annotations.summary}</div>}
                    </td>
                    <td class="num">{value(a.value)}</td>
                    <td title={a.activeAt}>{a.activeAt ? `${formatDateTime(Date.parse(a.activeAt))} (${formatAgo(Date.parse(a.activeAt), now)})` : '–'}</td>
                    <td>
                      <button type="button" class="btn tiny" data-action="select" onClick={() => select(a.labels)}>
                        Details
                      </button>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          {alertsList.length === 0 && <div class="empty-state">No alert is firing or pending.</div>}
        </div>
      )}

      <div class="section-title">Rules</div>
      {rules.error ? (
        <ErrorBox error={rules.error} />
      ) : !rules.data ? (
        <Loading />
      ) : (
        rules.data.map((g) => <GroupView group={g} now={now} />)
      )}

      <div class="section-title">History (last 24 hours)</div>
      {history.error ? (
        <ErrorBox error={history.error} />
      ) : !history.data ? (
        <Loading />
      ) : (
        <div class="panel">
          <table class="table" data-testid="alert-history">
            <thead>
              <tr>
                <th>Time</th>
                <th>Rule</th>
                <th>Labels</th>
                <th>Change</th>
                <th class="num">Value</th>
              </tr>
            </thead>
            <tbody>
              {history.data.changes.map((c) => (
                <tr data-rule={c.rule} data-to={c.to}>
                  <td>{formatDateTime(c.at)}</td>
                  <td class="name">
                    <button type="button" class="linklike" onClick={() => select(c.labels)}>
                      {c.rule}
                    </button>
                    <div class="muted small">{c.group}</div>
                  </td>
                  <td>
                    <LabelChips labels={c.labels} skip={['alertname']} />
                  </td>
                  <td>
                    <StateBadge state={c.from} /> → <StateBadge state={c.to} />
                  </td>
                  <td class="num">{value(c.value)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {history.data.changes.length === 0 && <div class="empty-state">No state changes in the last 24 hours.</div>}
        </div>
      )}
    </div>
  );
}

function GroupView({ group, now }: { group: GroupX; now: number }) {
  return (
    <div class="panel rule-group" data-group={group.name}>
      <div class="panel-title">
        <span>{group.name}</span>
        <span class="muted small">
          {group.file} · every {formatDurationMs(group.interval * 1000)}
          {group.lastEvaluation && ` · evaluated ${formatAgo(Date.parse(group.lastEvaluation), now)}`}
          {group.evaluationTime !== undefined && ` in ${formatDurationMs(group.evaluationTime * 1000)}`}
        </span>
      </div>
      <table class="table">
        <thead>
          <tr>
            <th>Rule</th>
            <th>State</th>
            <th>Health</th>
            <th>Expression</th>
            <th>For</th>
            <th>Labels</th>
            <th>Last evaluation</th>
          </tr>
        </thead>
        <tbody>
          {group.rules.map((r) => (
            <tr data-rule={r.name} data-health={r.health}>
              <td class="name">
                {r.name}
                <div class="muted small">{r.type === 'alerting' ? 'alert' : 'recording'}</div>
              </td>
              <td>{r.type === 'alerting' ? <StateBadge state={r.state ?? 'inactive'} /> : '–'}</td>
              <td>
                <span class={`badge health-${r.health}`}>{r.health}</span>
                {r.lastError && <div class="field-problem" data-testid="rule-error">{r.lastError}</div>}
              </td>
              <td class="rule-expr">{r.query}</td>
              <td>{r.duration ? formatDurationMs(r.duration * 1000) : '–'}</td>
              <td>
                <LabelChips labels={r.labels} />
              </td>
              <td class="small">
                {r.lastEvaluation && !r.lastEvaluation.startsWith('0001') ? formatAgo(Date.parse(r.lastEvaluation), now) : 'never'}
                {r.evaluationTime !== undefined && <div class="muted">took {formatDurationMs(r.evaluationTime * 1000)}</div>}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function SelectedAlert(props: { name: string; labels: Labels | null; rule: RuleX | undefined; alert: Alert | undefined; time: TimeState; rulesLoaded: boolean }) {
  const { name, labels, rule, time } = props;
  const cmp = rule ? splitComparison(rule.query) : null;
  const expr = rule ? (cmp ? cmp.expr : rule.query) : null;
  const step = pickStep(time.start, time.end, 300);
  const chart = useAsync<RangeResult>(
    async (signal) => {
      if (!expr) return new Promise<RangeResult>(() => {});
      const r = await queryRange(expr, time.start, time.end, { step, signal });
      const mine = labels ? r.series.filter((s) => seriesOfAlert(s.metric, labels)) : r.series;
      const series = mine.length ? mine : r.series;
      if (cmp) {
        const values: [number, string][] = [];
        for (let t = r.start; t <= r.end + 1e-9; t += r.step) values.push([t, String(cmp.threshold)]);
        series.push({ metric: { __name__: `threshold (${cmp.op} ${cmp.threshold})` }, values });
      }
      return { ...r, series };
    },
    [expr, labels ? labelsKey(labels) : '', time.start, time.end, step, time.tick],
  );
  const service = labels ? alertService(labels) : null;
  return (
    <div class="panel selected-alert" data-testid="selected-alert" data-alert={name}>
      <div class="panel-title">
        <span>{name}</span>
        {props.alert && <StateBadge state={props.alert.state} />}
        <button type="button" class="btn tiny" style={{ marginLeft: 'auto' }} onClick={() => setParams({ alert: null, fp: null })}>
          Close
        </button>
      </div>
      {labels ? <LabelChips labels={labels} skip={['alertname']} /> : <div class="muted">This alert is neither active nor in the last 24 hours of history.</div>}
      {props.alert?.annotations?.summary && <div>{props.alert.annotations.summary}</div>}
      {rule ? (
        <>
          <div class="rule-expr muted small" data-testid="charted-expr">
            {cmp ? `${cmp.expr}   (threshold ${cmp.op} ${cmp.threshold})` : rule.query}
          </div>
          <Chart
            title={`${name}: ${cmp ? cmp.expr : rule.query}`}
            unit="plain"
            data={chart.data}
            error={chart.error}
            loading={chart.loading}
            height={220}
            testId="alert-chart"
            legend={(l) => (l.__name__?.startsWith('threshold') ? l.__name__ : Object.keys(l).filter((k) => k !== '__name__').sort().map((k) => `${k}=${l[k]}`).join(', ') || (l.__name__ ?? 'value'))}
          />
        </>
      ) : (
        props.rulesLoaded && <div class="muted">No alerting rule named {name}.</div>
      )}
      {service ? <EvidenceView service={service} time={time} /> : labels && <div class="muted">No service_name, service or job label: no evidence to look up.</div>}
    </div>
  );
}

function EvidenceView({ service, time }: { service: string; time: TimeState }) {
  const ev = useAsync(
    (s) => getJson<Evidence>(`/lookout/v1/alerts/evidence${qs({ service, start: sec(time.start), end: sec(time.end) })}`, s),
    [service, time.start, time.end, time.tick],
  );
  return (
    <div class="evidence" data-testid="evidence" data-ready={ev.data || ev.error ? 'true' : 'false'}>
      <div class="section-title">
        Evidence from <span class="service-name">{service}</span>
      </div>
      {ev.error ? (
        <ErrorBox error={ev.error} />
      ) : !ev.data ? (
        <Loading />
      ) : (
        <>
          <div class="small muted">Error traces</div>
          {ev.data.traceIds?.length ? (
            <ul class="evidence-list" data-testid="evidence-traces">
              {ev.data.traceIds.map((id) => (
                <li>
                  <Link href={traceLink(id)} data-trace-id={id}>
                    {id}
                  </Link>
                </li>
              ))}
            </ul>
          ) : (
            <div class="muted small">none in the time range</div>
          )}
          <div class="small muted">
            Error log lines{' '}
            <Link href={serviceLogsLink(service, time.start, time.end)} data-testid="evidence-logs-link">
              (all logs of the service in the window)
            </Link>
          </div>
          {ev.data.logLines?.length ? (
            <ul class="evidence-list" data-testid="evidence-logs">
              {ev.data.logLines.map((l) => (
                <li>{typeof l === 'string' ? l : JSON.stringify(l)}</li>
              ))}
            </ul>
          ) : (
            <div class="muted small">none in the time range</div>
          )}
          {ev.data.links?.length ? (
            <div class="small muted" data-testid="evidence-links">
              More:{' '}
              {ev.data.links.map((l) => {
                const href = typeof l === 'string' ? l : '';
                return /^(https?:\/\/|\/)/.test(href) ? (
                  <a href={href} rel="noreferrer">
                    {href}
                  </a>
                ) : (
                  <span>{JSON.stringify(l)}</span>
                );
              })}
            </div>
          ) : null}
        </>
      )}
    </div>
  );
}
