import type { Route } from '../lib/url';
import { Link, PageHeader } from '../components/common';
import { useTitle } from '../lib/hooks';

export default function NotFoundPage({ route }: { route: Route }) {
  useTitle('Not found');
  return (
    <div class="page" data-page="notfound" data-ready="true">
      <PageHeader title="Page not found" />
      <div class="panel placeholder">
        Nothing at <code>{route.page === 'notfound' ? route.path : ''}</code>. <Link href="/ui/">Go to the overview</Link>.
      </div>
    </div>
  );
}
