// One dashboard (/ui/dashboards/{id}): variables (`var-<name>` in the URL), panels in a 24-column
// grid, the shared time range and auto-refresh. Edit mode (saved dashboards; `edit=1` in the URL):
// add, remove, reorder and edit panels, dashboard settings, the JSON itself; save (PUT, 400
// problems shown next to the field they name), delete. Save as copy (provisioned ones too),
// export (download) and import (JSON into the editor).
import { useEffect, useMemo, useState } from 'preact/hooks';
import type { Route } from '../lib/url';
import { carrySearch, dashboardPath } from '../lib/url';
import { useAsync, useSubmit, useTitle } from '../lib/hooks';
import { navigate, setParams, useParams, useSearch, useTime } from '../lib/store';
import { labelValues, ApiError } from '../lib/api';
import {
  COLORS,
  PANEL_TYPES,
  UNITS,
  chooseValue,
  createDashboard,
  deleteDashboard,
  forSave,
  getDashboard,
  newPanel,
  problemsAt,
  readingOrder,
  reflow,
  saveDashboard,
  slug,
  splitProblems,
  varKey,
  type Dashboard,
  type Panel,
  type PanelType,
  type Variable,
} from '../lib/dashboards';
import { DashPanel } from '../components/panel';
import { ErrorBox, Link, Loading, PageHeader } from '../components/common';

type Problem = { path: string; text: string };

export default function DashboardPage({ route }: { route: Route }) {
  const id = route.page === 'dashboard' ? route.id : '';
  const [version, setVersion] = useState(0);
  const doc = useAsync((signal) => getDashboard(id, signal), [id, version]);
  useTitle(doc.data?.title ?? `Dashboard ${id}`);
  if (doc.error) {
    return (
      <div class="page" data-page="dashboard" data-ready="true">
        <PageHeader title={<span class="crumb-title">Dashboard {id}</span>}>
          <Link class="btn" href={`/ui/dashboards${carrySearch(location.search)}`}>
            All dashboards
          </Link>
        </PageHeader>
        <ErrorBox error={doc.error} />
      </div>
    );
  }
  if (!doc.data || doc.data.id !== id) {
    return (
      <div class="page" data-page="dashboard" data-ready="false">
        <Loading />
      </div>
    );
  }
  return <DashboardView key={`${id}/${version}`} dashboard={doc.data} reload={() => setVersion((v) => v + 1)} />;
}

function downloadHref(d: Dashboard): string {
  return `data:application/json;charset=utf-8,${encodeURIComponent(JSON.stringify(forSave(d), null, 2))}`;
}

function DashboardView({ dashboard, reload }: { dashboard: Dashboard; reload: () => void }) {
  const params = useParams();
  const search = useSearch();
  const time = useTime();
  const editing = params.get('edit') === '1' && !dashboard.provisioned;
  const [draft, setDraft] = useState<Dashboard | null>(null);
  const [problems, setProblems] = useState<Problem[]>([]);
  const [topError, setTopError] = useState<Error | null>(null);
  const [selected, setSelected] = useState<number | null>(null);
  const [dialog, setDialog] = useState<'' | 'copy' | 'delete' | 'json' | 'settings'>('');
  const [busy, setBusy] = useState(false);

  // The dashboard's own time range when the URL has none.
  useEffect(() => {
    if (!params.get('from') && dashboard.time) setParams({ from: dashboard.time.from, to: dashboard.time.to }, { replace: true });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [dashboard.id]);

  useEffect(() => {
    if (editing && !draft) setDraft({ ...dashboard, panels: readingOrder(dashboard.panels) });
    if (!editing && draft) {
      setDraft(null);
      setProblems([]);
      setTopError(null);
      setSelected(null);
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [editing]);

  const shown = editing && draft ? draft : dashboard;
  const vars = useVariables(shown.variables ?? [], params, time);

  const edit = (f: (d: Dashboard) => Dashboard) => setDraft((d) => (d ? f(d) : d));
  const setPanels = (f: (ps: Panel[]) => Panel[], flow = true) => edit((d) => ({ ...d, panels: flow ? reflow(f(d.panels)) : f(d.panels) }));

  const save = async () => {
    if (!draft) return;
    setBusy(true);
    setProblems([]);
    setTopError(null);
    try {
      await saveDashboard(draft);
      setParams({ edit: null });
      reload();
    } catch (e) {
      showProblems(e as Error);
    } finally {
      setBusy(false);
    }
  };

  const showProblems = (e: Error) => {
    if (e instanceof ApiError && e.status === 400) {
      const ps = splitProblems(e.message);
      setProblems(ps);
      const firstPanel = ps.map((p) => /^panels\[(\d+)\]/.exec(p.path)).find((m) => m);
      if (firstPanel) setSelected(parseInt(firstPanel[1]!, 10));
      const unplaced = ps.filter((p) => !placed(p.path));
      if (unplaced.length) setTopError(new ApiError(unplaced.map((p) => (p.path ? `${p.path}: ${p.text}` : p.text)).join('; '), 400, 'bad_data', ''));
    } else setTopError(e);
  };

  const panels = shown.panels;
  const rows = panels.reduce((m, p) => Math.max(m, p.grid.y + p.grid.h), 0);
  const sel = editing && draft && selected !== null ? draft.panels[selected] : undefined;

  return (
    <div class="page" data-page="dashboard" data-ready={vars.ready ? 'true' : 'false'} data-id={dashboard.id} data-editing={editing ? 'true' : 'false'}>
      <PageHeader
        title={
          <>
            <Link class="crumb" href={`/ui/dashboards${carrySearch(search)}`}>
              Dashboards
            </Link>
            <span class="crumb-sep">/</span>
            <span class="dash-title">{shown.title}</span>
            {dashboard.provisioned && (
              <span class="badge provisioned-badge" data-testid="read-only" title={`provisioned from ${dashboard.file ?? 'the examples Lookout ships'}`}>
                read-only
              </span>
            )}
          </>
        }
      >
        {editing ? (
          <>
            <button type="button" class="btn" data-testid="add-panel" onClick={() => {
              setPanels((ps) => [...ps, newPanel()]);
              setSelected(draft?.panels.length ?? 0);
            }}>
              Add panel
            </button>
            <button type="button" class="btn" data-testid="edit-settings" onClick={() => setDialog(dialog === 'settings' ? '' : 'settings')}>
              Settings
            </button>
            <button type="button" class="btn" data-testid="edit-json" onClick={() => setDialog(dialog === 'json' ? '' : 'json')}>
              JSON / import
            </button>
            <button type="button" class="btn primary" data-testid="save" disabled={busy} onClick={save}>
              Save
            </button>
            <button type="button" class="btn" data-testid="cancel-edit" onClick={() => setParams({ edit: null })}>
              Cancel
            </button>
          </>
        ) : (
          <>
            {!dashboard.provisioned && (
              <button type="button" class="btn" data-testid="edit" onClick={() => setParams({ edit: '1' })}>
                Edit
              </button>
            )}
            <button type="button" class="btn" data-testid="save-copy" onClick={() => setDialog(dialog === 'copy' ? '' : 'copy')}>
              Save as copy
            </button>
            <a class="btn" data-testid="export" href={downloadHref(dashboard)} download={`${dashboard.id}.json`}>
              Export
            </a>
            {!dashboard.provisioned && (
              <button type="button" class="btn danger" data-testid="delete" onClick={() => setDialog(dialog === 'delete' ? '' : 'delete')}>
                Delete
              </button>
            )}
          </>
        )}
      </PageHeader>
      {dashboard.provisioned && (
        <div class="muted small provisioned-note">
          Provisioned from <code>{dashboard.file ?? 'the examples Lookout ships'}</code>: read-only. Save a copy to change it.
        </div>
      )}
      {shown.description && <div class="muted dash-description">{shown.description}</div>}
      {topError && (
        <div data-testid="save-error">
          <ErrorBox error={topError} />
        </div>
      )}
      {problemsAt(problems, 'title').length > 0 && dialog !== 'settings' && <FieldProblems list={problemsAt(problems, 'title')} prefix="title" />}
      {dialog === 'copy' && <CopyForm dashboard={editing && draft ? draft : dashboard} search={search} onCancel={() => setDialog('')} />}
      {dialog === 'delete' && (
        <DeleteForm
          dashboard={dashboard}
          onCancel={() => setDialog('')}
          onDone={() => navigate(`/ui/dashboards${carrySearch(search)}`)}
        />
      )}
      {editing && draft && dialog === 'settings' && <SettingsForm draft={draft} problems={problems} onChange={(d) => setDraft(d)} onClose={() => setDialog('')} />}
      {editing && draft && dialog === 'json' && (
        <JsonForm
          draft={draft}
          onApply={(d) => {
            setDraft({ ...d, id: draft.id, panels: readingOrder(d.panels ?? []) });
            setDialog('');
          }}
          onCancel={() => setDialog('')}
        />
      )}
      {vars.list.length > 0 && (
        <div class="dash-vars" data-testid="variables">
          {vars.list.map((v) => (
            <label class="inline-label dash-var">
              {v.variable.title || v.variable.name}
              <select
                class="btn"
                data-var={v.variable.name}
                value={v.value}
                onChange={(e) => setParams({ [varKey(v.variable.name)]: e.currentTarget.value })}
              >
                {v.values.length === 0 && <option value={v.value}>{v.value || '(no values)'}</option>}
                {v.values.map((x) => (
                  <option value={x}>{x}</option>
                ))}
              </select>
              {v.error && <span class="field-problem">{v.error.message}</span>}
            </label>
          ))}
        </div>
      )}
      {sel && draft && selected !== null && (
        <PanelEditor
          key={selected}
          panel={sel}
          index={selected}
          problems={problems}
          onChange={(p, flow) => setPanels((ps) => ps.map((x, i) => (i === selected ? p : x)), flow)}
          onClose={() => setSelected(null)}
        />
      )}
      {panels.length === 0 ? (
        <div class="panel empty-state">{editing ? 'No panels yet: "Add panel".' : 'This dashboard has no panels.'}</div>
      ) : (
        <div class="dash-grid" style={{ gridTemplateRows: `repeat(${rows}, var(--dash-row))` }} data-testid="dash-grid">
          {panels.map((p, i) => (
            <DashPanel
              key={`${i}:${p.type}`}
              panel={p}
              index={i}
              values={vars.values}
              time={time}
              enabled={vars.ready}
              tools={
                editing ? (
                  <PanelTools
                    index={i}
                    count={panels.length}
                    selected={selected === i}
                    problems={problemsAt(problems, `panels[${i}]`).length}
                    onEdit={() => setSelected(selected === i ? null : i)}
                    onMove={(d) => {
                      setPanels((ps) => {
                        const out = [...ps];
                        const [x] = out.splice(i, 1);
                        out.splice(i + d, 0, x!);
                        return out;
                      });
                      setSelected(i + d);
                    }}
                    onRemove={() => {
                      setPanels((ps) => ps.filter((_, j) => j !== i));
                      setSelected(null);
                      setProblems([]);
                    }}
                  />
                ) : undefined
              }
            />
          ))}
        </div>
      )}
    </div>
  );
}

/** Whether a problem's path has a field in the editors (else it is shown at the top). */
function placed(path: string): boolean {
  return /^panels\[\d+\]/.test(path) || path === 'title' || path === 'description' || path === 'tags';
}

function FieldProblems({ list, prefix }: { list: string[]; prefix: string }) {
  if (!list.length) return null;
  return (
    <div class="field-problems" data-problem-for={prefix}>
      {list.map((t) => (
        <div class="field-problem">{t}</div>
      ))}
    </div>
  );
}

// ---------- variables ----------

interface VarState {
  variable: Variable;
  values: string[];
  value: string;
  error?: Error;
}

function useVariables(variables: Variable[], params: URLSearchParams, time: ReturnType<typeof useTime>) {
  const key = JSON.stringify(variables.map((v) => [v.label, v.match ?? '']));
  const res = useAsync(
    (signal) =>
      Promise.all(
        variables.map((v) =>
          labelValues(v.label, { match: v.match ? [v.match] : undefined, startMs: time.start, endMs: time.end, signal }).then(
            (values) => ({ values, error: undefined as Error | undefined }),
            (error: unknown) => {
              if (signal.aborted) throw error;
              return { values: [] as string[], error: error as Error };
            },
          ),
        ),
      ),
    [key, time.start, time.end, time.tick],
  );
  const list: VarState[] = variables.map((v, i) => {
    const r = res.data?.[i];
    const values = r?.values ?? [];
    return { variable: v, values, value: chooseValue(params.get(varKey(v.name)), v.default, values), error: r?.error };
  });
  const values = useMemo(() => Object.fromEntries(list.map((v) => [v.variable.name, v.value])), [JSON.stringify(list.map((v) => v.value))]);
  // Ready once the values are known (stays ready while an auto-refresh reloads them).
  const [ready, setReady] = useState(variables.length === 0);
  useEffect(() => {
    if (res.data || res.error || variables.length === 0) setReady(true);
  }, [res.data, res.error, variables.length]);
  return { list, values, ready };
}

// ---------- edit mode ----------

function PanelTools(props: {
  index: number;
  count: number;
  selected: boolean;
  problems: number;
  onEdit: () => void;
  onMove: (d: -1 | 1) => void;
  onRemove: () => void;
}) {
  return (
    <span class="panel-tools" data-testid={`panel-tools-${props.index}`}>
      {props.problems > 0 && <span class="badge status-unhealthy" title="this panel has problems">{props.problems} problem{props.problems > 1 ? 's' : ''}</span>}
      <button type="button" class="btn tiny" title="Move earlier" disabled={props.index === 0} onClick={() => props.onMove(-1)} data-action="up">
        ◀
      </button>
      <button type="button" class="btn tiny" title="Move later" disabled={props.index === props.count - 1} onClick={() => props.onMove(1)} data-action="down">
        ▶
      </button>
      <button type="button" class={`btn tiny${props.selected ? ' primary' : ''}`} onClick={props.onEdit} data-action="edit">
        Edit
      </button>
      <button type="button" class="btn tiny danger" onClick={props.onRemove} data-action="remove">
        Remove
      </button>
    </span>
  );
}

function thresholdsText(p: Panel): string {
  return (p.thresholds ?? []).map((t) => `${t.value} ${t.color}`).join('\n');
}

function PanelEditor(props: {
  panel: Panel;
  index: number;
  problems: Problem[];
  onChange: (p: Panel, flow: boolean) => void;
  onClose: () => void;
}) {
  const { panel: p, index } = props;
  const at = (suffix: string) => problemsAt(props.problems, `panels[${index}]${suffix}`);
  const set = (patch: Partial<Panel>, flow = false) => props.onChange({ ...p, ...patch }, flow);
  const [thr, setThr] = useState(thresholdsText(p));
  const [thrError, setThrError] = useState('');
  const setThresholds = (text: string) => {
    setThr(text);
    const out: { value: number; color: string }[] = [];
    for (const line of text.split('\n')) {
      const t = line.trim();
      if (!t) continue;
      const m = /^(-?[\d.eE+-]+)\s+(\S+)$/.exec(t);
      if (!m || !Number.isFinite(parseFloat(m[1]!))) {
        setThrError(`"${t}": write a number, a space and a colour (${COLORS.join(', ')} or #rrggbb)`);
        return;
      }
      out.push({ value: parseFloat(m[1]!), color: m[2]! });
    }
    setThrError('');
    set({ thresholds: out });
  };
  const other = problemsAt(props.problems, `panels[${index}]`).filter(
    (t) => !/^(title|type|unit|decimals|thresholds|grid|queries|description)/.test(t),
  );
  return (
    <div class="panel panel-editor" data-testid="panel-editor" data-index={String(index)}>
      <div class="panel-title">
        Panel {index + 1}
        <button type="button" class="btn tiny" style={{ marginLeft: 'auto' }} onClick={props.onClose}>
          Close
        </button>
      </div>
      <FieldProblems list={other} prefix={`panels[${index}]`} />
      <div class="editor-grid">
        <label class="field">
          <span>Title</span>
          <input name="title" value={p.title} onInput={(e) => set({ title: e.currentTarget.value })} />
          <FieldProblems list={at('.title')} prefix={`panels[${index}].title`} />
        </label>
        <label class="field">
          <span>Type</span>
          <select name="type" value={p.type} onChange={(e) => set({ type: e.currentTarget.value as PanelType })}>
            {PANEL_TYPES.map((t) => (
              <option value={t}>{t}</option>
            ))}
          </select>
          <FieldProblems list={at('.type')} prefix={`panels[${index}].type`} />
        </label>
        <label class="field">
          <span>Unit</span>
          <input name="unit" list="dash-units" value={p.unit ?? ''} onInput={(e) => set({ unit: e.currentTarget.value })} placeholder="short, bytes, currency:EUR…" />
          <datalist id="dash-units">
            {[...UNITS.filter((u) => u), 'currency:EUR', 'currency:USD'].map((u) => (
              <option value={u} />
            ))}
          </datalist>
          <FieldProblems list={at('.unit')} prefix={`panels[${index}].unit`} />
        </label>
        <label class="field">
          <span>Decimals</span>
          <input
            name="decimals"
            type="number"
            min={0}
            max={10}
            value={p.decimals ?? ''}
            onInput={(e) => {
              const v = e.currentTarget.value;
              set({ decimals: v === '' ? null : parseInt(v, 10) });
            }}
          />
          <FieldProblems list={at('.decimals')} prefix={`panels[${index}].decimals`} />
        </label>
        <label class="field">
          <span>Width (1–24 columns)</span>
          <input
            name="width"
            type="number"
            min={1}
            max={24}
            value={p.grid.w}
            onInput={(e) => {
              const w = parseInt(e.currentTarget.value, 10);
              if (w >= 1 && w <= 24) set({ grid: { ...p.grid, w } }, true);
            }}
          />
        </label>
        <label class="field">
          <span>Height (rows)</span>
          <input
            name="height"
            type="number"
            min={1}
            max={50}
            value={p.grid.h}
            onInput={(e) => {
              const h = parseInt(e.currentTarget.value, 10);
              if (h >= 1 && h <= 50) set({ grid: { ...p.grid, h } }, true);
            }}
          />
          <FieldProblems list={at('.grid')} prefix={`panels[${index}].grid`} />
        </label>
        <label class="field wide">
          <span>Description</span>
          <input name="description" value={p.description ?? ''} onInput={(e) => set({ description: e.currentTarget.value })} />
        </label>
        <label class="field wide">
          <span>Thresholds (one per line: value colour, e.g. "0.6 green")</span>
          <textarea name="thresholds" rows={3} value={thr} onInput={(e) => setThresholds(e.currentTarget.value)} />
          {thrError && <div class="field-problem">{thrError}</div>}
          <FieldProblems list={at('.thresholds')} prefix={`panels[${index}].thresholds`} />
        </label>
      </div>
      <div class="queries-editor">
        <FieldProblems list={problemsAt(props.problems, `panels[${index}].queries`).filter((t) => !/^\[\d+\]/.test(t))} prefix={`panels[${index}].queries`} />
        {p.queries.map((q, j) => (
          <div class="query-row" data-query={String(j)}>
            <label class="field wide">
              <span>Query {j + 1} (PromQL; $variables, $__rate_interval, $__interval, $__range)</span>
              <textarea
                name={`expr-${j}`}
                class="code-area"
                rows={2}
                value={q.expr}
                onInput={(e) => set({ queries: p.queries.map((x, k) => (k === j ? { ...x, expr: e.currentTarget.value } : x)) })}
              />
              <FieldProblems list={at(`.queries[${j}]`)} prefix={`panels[${index}].queries[${j}]`} />
            </label>
            <label class="field">
              <span>Legend ({'{{label}}'})</span>
              <input
                name={`legend-${j}`}
                value={q.legend ?? ''}
                onInput={(e) => set({ queries: p.queries.map((x, k) => (k === j ? { ...x, legend: e.currentTarget.value } : x)) })}
              />
            </label>
            <button type="button" class="btn tiny danger" disabled={p.queries.length === 1} onClick={() => set({ queries: p.queries.filter((_, k) => k !== j) })}>
              Remove query
            </button>
          </div>
        ))}
        <button type="button" class="btn tiny" onClick={() => set({ queries: [...p.queries, { expr: '', legend: '' }] })}>
          Add query
        </button>
      </div>
    </div>
  );
}

function SettingsForm(props: { draft: Dashboard; problems: Problem[]; onChange: (d: Dashboard) => void; onClose: () => void }) {
  const d = props.draft;
  return (
    <div class="panel panel-editor" data-testid="settings-editor">
      <div class="panel-title">
        Dashboard settings
        <button type="button" class="btn tiny" style={{ marginLeft: 'auto' }} onClick={props.onClose}>
          Close
        </button>
      </div>
      <div class="editor-grid">
        <label class="field">
          <span>Title</span>
          <input name="dash-title" value={d.title} onInput={(e) => props.onChange({ ...d, title: e.currentTarget.value })} />
          <FieldProblems list={problemsAt(props.problems, 'title')} prefix="title" />
        </label>
        <label class="field wide">
          <span>Description</span>
          <input name="dash-description" value={d.description ?? ''} onInput={(e) => props.onChange({ ...d, description: e.currentTarget.value })} />
        </label>
        <label class="field">
          <span>Tags (comma-separated)</span>
          <input
            name="dash-tags"
            value={(d.tags ?? []).join(', ')}
            onInput={(e) =>
              props.onChange({
                ...d,
                tags: e.currentTarget.value
                  .split(',')
                  .map((t) => t.trim())
                  .filter(Boolean),
              })
            }
          />
          <FieldProblems list={problemsAt(props.problems, 'tags')} prefix="tags" />
        </label>
      </div>
      <div class="muted small">Variables, the default time range and everything else: "JSON / import".</div>
    </div>
  );
}

function JsonForm(props: { draft: Dashboard; onApply: (d: Dashboard) => void; onCancel: () => void }) {
  const [text, setText] = useState(() => JSON.stringify(forSave(props.draft), null, 2));
  const [error, setError] = useState('');
  return (
    <div class="panel import-form" data-testid="json-editor">
      <div class="panel-title">The dashboard as JSON: edit it, or paste or load one to import it into this dashboard (its id stays)</div>
      <input
        type="file"
        accept="application/json,.json"
        aria-label="JSON file"
        onChange={async (e) => {
          const f = e.currentTarget.files?.[0];
          if (f) setText(await f.text());
        }}
      />
      <textarea class="code-area" rows={16} value={text} onInput={(e) => setText(e.currentTarget.value)} />
      {error && <div class="field-problem">{error}</div>}
      <div class="form-actions">
        <button
          type="button"
          class="btn primary"
          onClick={() => {
            try {
              const d = JSON.parse(text) as Dashboard;
              if (!d || typeof d !== 'object' || Array.isArray(d)) throw new Error('not a JSON object');
              props.onApply({ ...d, panels: Array.isArray(d.panels) ? d.panels : [] });
            } catch (e) {
              setError(`invalid JSON: ${(e as Error).message}`);
            }
          }}
        >
          Apply to the editor
        </button>
        <button type="button" class="btn" onClick={props.onCancel}>
          Cancel
        </button>
      </div>
    </div>
  );
}

function CopyForm({ dashboard, search, onCancel }: { dashboard: Dashboard; search: string; onCancel: () => void }) {
  const [title, setTitle] = useState(`${dashboard.title} (copy)`);
  const [id, setId] = useState('');
  const { busy, error, submit } = useSubmit(async () => {
    const d = await createDashboard({ ...dashboard, id: id || slug(title), title, provisioned: false, file: null });
    navigate(dashboardPath(d.id) + carrySearch(search));
  });
  return (
    <form class="panel inline-form" onSubmit={submit} data-testid="copy-form">
      <label class="inline-label">
        Title
        <input class="filter" name="copy-title" required value={title} onInput={(e) => setTitle(e.currentTarget.value)} />
      </label>
      <label class="inline-label">
        Id
        <input class="filter" name="copy-id" placeholder={slug(title)} value={id} onInput={(e) => setId(e.currentTarget.value)} />
      </label>
      <button type="submit" class="btn primary" disabled={busy}>
        Save copy
      </button>
      <button type="button" class="btn" onClick={onCancel}>
        Cancel
      </button>
      {error && <ErrorBox error={error} />}
    </form>
  );
}

function DeleteForm({ dashboard, onCancel, onDone }: { dashboard: Dashboard; onCancel: () => void; onDone: () => void }) {
  const [error, setError] = useState<Error | null>(null);
  return (
    <div class="panel inline-form" data-testid="delete-form">
      <span>
        Delete the dashboard <strong>{dashboard.title}</strong>? This cannot be undone.
      </span>
      <button
        type="button"
        class="btn danger"
        data-testid="confirm-delete"
        onClick={async () => {
          try {
            await deleteDashboard(dashboard.id);
            onDone();
          } catch (e) {
            setError(e as Error);
          }
        }}
      >
        Delete
      </button>
      <button type="button" class="btn" onClick={onCancel}>
        Cancel
      </button>
      {error && <ErrorBox error={error} />}
    </div>
  );
}
