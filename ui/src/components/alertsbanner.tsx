import { alerts } from '../lib/api';
import { useAsync } from '../lib/hooks';
import { useTime } from '../lib/store';
import { Link } from './common';
import { carrySearch } from '../lib/url';

/** Firing alerts (from /api/v1/alerts), on every page, linking to the alerts page. */
export function AlertsBanner({ search }: { search: string }) {
  const time = useTime();
  const res = useAsync((signal) => alerts(signal), [time.tick]);
  const firing = (res.data ?? []).filter((a) => a.state === 'firing');
  if (res.error) {
    return (
      <div class="alerts-banner error" role="status" data-testid="alerts-banner" data-firing="?">
        Alerts unavailable: {res.error.message}
      </div>
    );
  }
  if (firing.length === 0) return null;
  const names = [...new Set(firing.map((a) => a.labels.alertname ?? 'alert'))];
  return (
    <div class="alerts-banner" role="status" data-testid="alerts-banner" data-firing={String(firing.length)}>
      <Link href={`/ui/alerts${carrySearch(search)}`}>
        <strong>
          {firing.length} firing alert{firing.length === 1 ? '' : 's'}:
        </strong>{' '}
        {names.slice(0, 6).join(', ')}
        {names.length > 6 ? ` and ${names.length - 6} more` : ''}
      </Link>
    </div>
  );
}
