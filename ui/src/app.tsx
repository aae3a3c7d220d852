import type { ComponentType } from 'preact';
import { useAsync } from './lib/hooks';
import { useAutoRefresh, useRoute, useSearch } from './lib/store';
import { carrySearch, type Route } from './lib/url';
import { Link, ErrorBox, Loading } from './components/common';
import { TimePicker } from './components/timepicker';
import { AlertsBanner } from './components/alertsbanner';

type PageModule = { default: ComponentType<{ route: Route }> };

// Every page is its own chunk, loaded on first visit.
const PAGES: Record<Route['page'], () => Promise<PageModule>> = {
  overview: () => import('./pages/overview'),
  service: () => import('./pages/service'),
  hosts: () => import('./pages/hosts'),
  dashboards: () => import('./pages/dashboards'),
  dashboard: () => import('./pages/dashboard'),
  metrics: () => import('./pages/metrics'),
  alerts: () => import('./pages/alerts'),
  traces: () => import('./pages/traces'),
  trace: () => import('./pages/trace'),
  logs: () => import('./pages/logs'),
  errors: () => import('./pages/errors'),
  error: () => import('./pages/error'),
  servicemap: () => import('./pages/servicemap'),
  notfound: () => import('./pages/notfound'),
};

const NAV: { label: string; href: string; pages: Route['page'][] }[] = [
  { label: 'Overview', href: '/ui/', pages: ['overview', 'service'] },
  { label: 'Hosts', href: '/ui/hosts', pages: ['hosts'] },
  { label: 'Dashboards', href: '/ui/dashboards', pages: ['dashboards', 'dashboard'] },
  { label: 'Metrics', href: '/ui/metrics', pages: ['metrics'] },
  { label: 'Traces', href: '/ui/traces', pages: ['traces', 'trace'] },
  { label: 'Logs', href: '/ui/logs', pages: ['logs'] },
  { label: 'Errors', href: '/ui/errors', pages: ['errors', 'error'] },
  { label: 'Service map', href: '/ui/service-map', pages: ['servicemap'] },
  { label: 'Alerts', href: '/ui/alerts', pages: ['alerts'] },
];

const loaded = new Map<Route['page'], PageModule>();

function PageLoader({ route }: { route: Route }) {
  const mod = useAsync(async () => {
    const m = loaded.get(route.page) ?? (await PAGES[route.page]());
    loaded.set(route.page, m);
    return m;
  }, [route.page]);
  const m = loaded.get(route.page);
  if (!m) return mod.error ? <ErrorBox error={mod.error} /> : <Loading />;
  const Page = m.default;
  return <Page route={route} />;
}

export function App() {
  const route = useRoute();
  const search = useSearch();
  useAutoRefresh();
  return (
    <div class="app">
      <header class="topbar">
        <Link class="brand" href={`/ui/${carrySearch(search)}`}>
          Lookout
        </Link>
        <nav class="mainnav">
          {NAV.map((n) => (
            <Link
              href={`${n.href}${carrySearch(search)}`}
              class={n.pages.includes(route.page) ? 'active' : ''}
              aria-current={n.pages.includes(route.page) ? 'page' : undefined}
            >
              {n.label}
            </Link>
          ))}
        </nav>
        <div class="topbar-right">
          <TimePicker />
        </div>
      </header>
      <AlertsBanner search={search} />
      <main class="content">
        <PageLoader route={route} />
      </main>
    </div>
  );
}
