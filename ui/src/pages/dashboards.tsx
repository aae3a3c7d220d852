// The dashboards list (/ui/dashboards): title, tags, panel count, provisioned badge; filter by
// title or tag (`q` in the URL); new dashboard; import JSON (pasted or from a file).
import { useState } from 'preact/hooks';
import type { Route } from '../lib/url';
import { carrySearch, dashboardPath } from '../lib/url';
import { useAsync, useSubmit, useTitle } from '../lib/hooks';
import { navigate, setParams, useParams, useSearch } from '../lib/store';
import { createDashboard, listDashboards, type DashboardSummary } from '../lib/dashboards';
import { ErrorBox, Link, Loading, PageHeader } from '../components/common';

export function matches(d: DashboardSummary, q: string): boolean {
  const s = q.trim().toLowerCase();
  if (!s) return true;
  return d.title.toLowerCase().includes(s) || d.id.includes(s) || d.tags.some((t) => t.toLowerCase().includes(s));
}

export default function DashboardsPage(_props: { route: Route }) {
  useTitle('Dashboards');
  const params = useParams();
  const search = useSearch();
  const q = params.get('q') ?? '';
  const list = useAsync((signal) => listDashboards(signal), []);
  const [mode, setMode] = useState<'' | 'new' | 'import'>('');
  const all = list.data ?? [];
  const shown = all.filter((d) => matches(d, q));
  return (
    <div class="page" data-page="dashboards" data-ready={list.data || list.error ? 'true' : 'false'}>
      <PageHeader title="Dashboards">
        <input
          class="filter"
          type="search"
          placeholder="Filter by title or tag"
          aria-label="Filter dashboards"
          data-testid="dashboards-filter"
          value={q}
          onInput={(e) => setParams({ q: e.currentTarget.value }, { replace: true })}
        />
        <button type="button" class="btn primary" data-testid="new-dashboard" onClick={() => setMode(mode === 'new' ? '' : 'new')}>
          New dashboard
        </button>
        <button type="button" class="btn" data-testid="import-dashboard" onClick={() => setMode(mode === 'import' ? '' : 'import')}>
          Import JSON
        </button>
      </PageHeader>
      {mode === 'new' && <NewForm search={search} onCancel={() => setMode('')} />}
      {mode === 'import' && <ImportForm search={search} onCancel={() => setMode('')} />}
      {list.error ? (
        <ErrorBox error={list.error} />
      ) : !list.data ? (
        <Loading />
      ) : (
        <div class="panel">
          <table class="table dashboards-table" data-testid="dashboards-table">
            <thead>
              <tr>
                <th>Title</th>
                <th>Tags</th>
                <th class="num">Panels</th>
                <th>Source</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((d) => (
                <tr data-id={d.id}>
                  <td class="name">
                    <Link href={dashboardPath(d.id) + carrySearch(search)}>{d.title}</Link>
                    {d.description && <div class="muted small">{d.description}</div>}
                  </td>
                  <td>
                    {d.tags.map((t) => (
                      <button type="button" class="chip tag-chip" title="Filter by this tag" onClick={() => setParams({ q: t })}>
                        {t}
                      </button>
                    ))}
                  </td>
                  <td class="num">{d.panels}</td>
                  <td>
                    {d.provisioned ? (
                      <span class="badge provisioned-badge" title={d.file ?? 'shipped with Lookout'}>
                        provisioned
                      </span>
                    ) : (
                      <span class="muted">saved</span>
                    )}
                    {d.provisioned && <div class="muted small mono-wrap">{d.file ?? 'shipped example'}</div>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {shown.length === 0 && <div class="empty-state">{all.length ? 'No dashboard matches the filter.' : 'No dashboards yet.'}</div>}
        </div>
      )}
    </div>
  );
}

function NewForm({ search, onCancel }: { search: string; onCancel: () => void }) {
  const [title, setTitle] = useState('');
  const { busy, error, submit } = useSubmit(async () => {
    const d = await createDashboard({ id: '', title, panels: [], time: { from: 'now-1h', to: 'now' } });
    navigate(dashboardPath(d.id) + carrySearch(search, { edit: '1' }));
  });
  return (
    <form class="panel inline-form" onSubmit={submit} data-testid="new-dashboard-form">
      <label class="inline-label">
        Title
        <input class="filter" name="title" required value={title} onInput={(e) => setTitle(e.currentTarget.value)} />
      </label>
      <button type="submit" class="btn primary" disabled={busy}>
        Create
      </button>
      <button type="button" class="btn" onClick={onCancel}>
        Cancel
      </button>
      {error && <ErrorBox error={error} />}
    </form>
  );
}

function ImportForm({ search, onCancel }: { search: string; onCancel: () => void }) {
  const [text, setText] = useState('');
  const { busy, error, submit } = useSubmit(async () => {
    const d = await createDashboard(text);
    navigate(dashboardPath(d.id) + carrySearch(search));
  });
  return (
    <form class="panel import-form" onSubmit={submit} data-testid="import-form">
      <div class="panel-title">Import a dashboard (JSON, as exported)</div>
      <input
        type="file"
        accept="application/json,.json"
        aria-label="JSON file"
        onChange={async (e) => {
          const f = e.currentTarget.files?.[0];
          if (f) setText(await f.text());
        }}
      />
      <textarea class="code-area" name="json" rows={10} placeholder='{"title": "...", "panels": [...]}' value={text} onInput={(e) => setText(e.currentTarget.value)} />
      <div class="form-actions">
        <button type="submit" class="btn primary" disabled={busy || !text.trim()}>
          Import
        </button>
        <button type="button" class="btn" onClick={onCancel}>
          Cancel
        </button>
      </div>
      {error && <ErrorBox error={error} />}
    </form>
  );
}
